using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Dismounts overlays by mount point; pipe Get-OverlayMount into it.</para>
/// </summary>
[Cmdlet(VerbsData.Dismount, "Overlay", SupportsShouldProcess = true, HelpUri = HelpBase + "Dismount-Overlay.md")]
[OutputType(typeof(OverlayMount))]
public sealed class DismountOverlayCommand : OverlayCmdlet
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>Mount points of overlays to dismount (wildcards match mounted overlays).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("MergedDir", "MountPoint")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayTargetCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Target { get; set; } = [];

    /// <summary>Detach a busy overlay lazily (MNT_DETACH) instead of failing; the holders are named in a warning.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Emit each dismounted OverlayMount (as it was before the dismount).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        List<OverlayMount>? mounts = null;
        List<OverlayMount> Mounts() => mounts ??= ReadMounts(null);

        foreach (var raw in Target)
        {
            try
            {
                foreach (var target in Expand(raw, Mounts))
                {
                    DismountOne(target);
                }
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
        }
    }

    private IEnumerable<string> Expand(string raw, Func<List<OverlayMount>> mounts)
    {
        if (HasWildcards(raw))
        {
            // A mount whose name really holds '[' or '*' is taken literally; otherwise the pattern
            // matches mounted overlays, deepest and newest first, and matching none is no error.
            if (mounts().Any(m => m.Target == raw))
            {
                return [raw];
            }
            var pattern = Pattern(FileSystem.TrimTrailingSlashes(ResolvePath(raw, nameof(Target))));
            return mounts().Where(m => pattern.IsMatch(m.Target)).Select(m => m.Target).Reverse().Distinct().ToList();
        }
        return [FileSystem.TrimTrailingSlashes(ResolvePath(raw, nameof(Target)))];
    }

    private void DismountOne(string target)
    {
        if (!ShouldProcess(target, "Dismount overlay"))
        {
            return;
        }
        // -PassThru: the line of the very overlay dismounted, read while the unmounter holds it
        // (a line matched by target or mount id in an earlier read could be another overlay's).
        OverlayMount? before = null;
        try
        {
            OverlayUnmounter.Dismount(target, Force, this, _cancel.Token,
                PassThru ? entry => before = entry is null ? null : OverlayMount.FromEntry(entry) : null);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(ToErrorRecord(e, ErrorIds.DismountFailed, target));
            return;
        }
        if (before is not null)
        {
            _owners ??= new Stores.MountOwners();
            _owners.Annotate(before);
            WriteObject(before);
        }
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancel.Cancel();

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        _cancel.Dispose();
        _owners?.Dispose();
    }

    private Stores.MountOwners? _owners;
}
