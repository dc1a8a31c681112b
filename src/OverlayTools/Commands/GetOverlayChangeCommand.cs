using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using OverlayTools.Changes;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Lists what an overlay's upper layer changes (docker diff for any overlay), read from the layer directories.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "OverlayChange", DefaultParameterSetName = TargetSet, HelpUri = HelpBase + "Get-OverlayChange.md")]
[OutputType(typeof(OverlayChange))]
public sealed class GetOverlayChangeCommand : OverlayCmdlet
{
    private const string TargetSet = "Target";
    private const string LayersSet = "Layers";

    private readonly CancellationTokenSource _cancel = new();
    private List<OverlayMount>? _mounts;
    private int _activity;

    /// <summary>Mount points of mounted overlays (wildcards match mounted overlays).</summary>
    [Parameter(ParameterSetName = TargetSet, Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("MountPoint")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayTargetCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Target { get; set; } = [];

    /// <summary>An upper layer directory, compared with -Lower without mounting anything.</summary>
    [Parameter(ParameterSetName = LayersSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("UpperDir")]
    [ValidateNotNullOrEmpty]
    public string Upper { get; set; } = "";

    /// <summary>The lower layers the upper was stacked on, highest priority first (also a colon-joined list, as docker inspect prints LowerDir).</summary>
    [Parameter(ParameterSetName = LayersSet, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("LowerDir")]
    [AllowEmptyCollection]
    public string[] Lower { get; set; } = [];

    /// <summary>The layers use user.overlay.* xattrs (mounted with userxattr, as rootless engines do).</summary>
    [Parameter(ParameterSetName = LayersSet)]
    public SwitchParameter UserXattr { get; set; }

    /// <summary>Docker (default) or Podman semantics.</summary>
    [Parameter]
    public ChangeStyle Style { get; set; } = ChangeStyle.Docker;

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName == LayersSet)
        {
            ChangeWalkRequest request;
            try
            {
                request = new ChangeWalkRequest
                {
                    Upper = ResolvePath(Upper, nameof(Upper)),
                    Lower = ExpandLower(Lower),
                    Style = Style,
                    UserXattr = UserXattr,
                };
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
                return;
            }
            Walk(request, request.Upper);
            return;
        }

        foreach (var raw in Target)
        {
            try
            {
                foreach (var mount in MatchMounts(raw))
                {
                    WalkMount(mount);
                }
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
        }
    }

    private IEnumerable<OverlayMount> MatchMounts(string raw)
    {
        _mounts ??= ReadMounts(null);
        if (HasWildcards(raw) && !_mounts.Any(m => m.Target == raw))
        {
            var pattern = Pattern(raw.StartsWith('/') ? raw : ResolvePath(raw, nameof(Target)));
            return _mounts.Where(m => pattern.IsMatch(m.Target)).GroupBy(m => m.Target).Select(g => g.Last()).ToList();
        }
        string path = ResolvePath(raw, nameof(Target));
        string normalized = path.Length > 1 ? path.TrimEnd('/') : path;
        var found = _mounts.LastOrDefault(m => m.Target == normalized);
        if (found is null)
        {
            throw new OverlayException(ErrorIds.MountNotFound, OverlayErrorCategory.ObjectNotFound,
                $"No overlay is mounted at '{normalized}'.", normalized,
                "Give the mount point of an overlay (Get-OverlayMount lists them), or compare layer directories with -Upper and -Lower.");
        }
        return [found];
    }

    private void WalkMount(OverlayMount mount)
    {
        if (mount.Upper is null)
        {
            WriteVerboseOrDebug($"The overlay at '{mount.Target}' has no upper layer, so it changes nothing.");
            return;
        }
        OverlayLocator.CheckLayersReachable(mount, mount.Target);
        Walk(new ChangeWalkRequest
        {
            Upper = mount.Upper,
            Lower = mount.Lower,
            Style = Style,
            UserXattr = OverlayLocator.UsesUserXattr(mount),
            CheckMetacopy = OverlayLocator.MetacopyEnabled(mount),
        }, mount.Target);
    }

    private void Walk(ChangeWalkRequest request, string what)
    {
        int activity = ++_activity;
        var progress = new ProgressRecord(activity, "Get-OverlayChange", $"Comparing the upper layer '{request.Upper}'");
        bool reported = false;
        void Report(ChangeWalkProgress p)
        {
            reported = true;
            progress.StatusDescription = $"Compared {p.Entries:N0} entries of '{request.Upper}', {p.Changes:N0} changes";
            progress.CurrentOperation = p.Directory;
            WriteProgress(progress);
        }
        try
        {
            foreach (var change in ChangeWalker.Walk(request, this, Report, _cancel.Token))
            {
                WriteObject(change);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(ToErrorRecord(e, ErrorIds.ChangeWalkFailed, what));
        }
        finally
        {
            if (reported)
            {
                progress.RecordType = ProgressRecordType.Completed;
                WriteProgress(progress);
            }
        }
    }

    /// <summary>
    /// -Lower values: a directory that exists under that exact name is taken literally; a value
    /// with an unescaped ':' is a colon-joined list as docker inspect prints LowerDir.
    /// </summary>
    private List<string> ExpandLower(string[] values)
    {
        var result = new List<string>();
        foreach (var raw in values)
        {
            if (string.IsNullOrEmpty(raw))
            {
                continue;
            }
            string literal = ResolvePath(raw, nameof(Lower));
            if (!OverlayOptionCodec.HasUnescapedColon(raw) || Directory.Exists(literal))
            {
                result.Add(literal);
                continue;
            }
            var (parts, _) = OverlayOptionCodec.SplitLowerdir(raw);
            result.AddRange(parts.Select(p => ResolvePath(p, nameof(Lower))));
        }
        return result;
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancel.Cancel();

    /// <inheritdoc/>
    protected override void EndProcessing() => _cancel.Dispose();
}
