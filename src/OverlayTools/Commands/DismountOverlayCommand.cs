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
    [AllowNull]
    [AllowEmptyCollection]
    [AllowEmptyString]
    public string[]? Target { get; set; } = [];

    /// <summary>
    /// Whatever is piped in, as it is. Hidden plumbing: a file or directory object (Get-Item
    /// /merged) binds -Target by property name to its own Target, a symbolic link's target that
    /// is null for anything else, so such objects are taken by their path here; and an object
    /// that only converts to a string is refused instead of dismounting its text.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public object? InputObject { get; set; }

    /// <summary>
    /// The process in whose mount namespace a piped OverlayMount was listed (Get-OverlayMount
    /// -ProcessId); null for this namespace. Hidden: an overlay of another mount namespace is
    /// refused, as the same path here may be another mount.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public int? ProcessId { get; set; }

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

        var targets = PipedItemPath(InputObject) is { } itemPath ? [itemPath] : Target ?? [];
        if (!CheckPipedObject(targets))
        {
            return;
        }
        if (targets.Length == 0)
        {
            // -Target $null or @(), or an object piped in whose Target is null.
            WriteTargetEmpty("give the mount point of an overlay", InputObject);
            return;
        }
        // A path an object carries (an OverlayMount, a directory, Resolve-Path's PathInfo) is
        // data: 'm[1]' of an OverlayMount piped in again after m[1] was dismounted must not
        // select m1. Strings keep their wildcards.
        bool literal = InputObject is not null && PSObject.AsPSObject(InputObject).BaseObject is not string && !TargetOnCommandLine;
        foreach (var raw in targets)
        {
            if (string.IsNullOrEmpty(raw))
            {
                WriteTargetEmpty("give the mount point of an overlay", InputObject ?? raw);
                continue;
            }
            try
            {
                foreach (var target in literal ? [FileSystem.TrimTrailingSlashes(ResolvePath(raw, nameof(Target)))] : Expand(raw, Mounts))
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

    /// <summary>
    /// Refuses what was piped in but names no overlay of this namespace: an object that is no
    /// string, path or file and has no Target property (PowerShell would bind its text), and an
    /// OverlayMount listed in another process's mount namespace.
    /// </summary>
    private bool CheckPipedObject(string[] targets)
    {
        if (InputObject is null)
        {
            return true;
        }
        var piped = PSObject.AsPSObject(InputObject);
        if (piped.BaseObject is not (string or PathInfo) && PipedItemPath(InputObject) is null
            && !new[] { "Target", "MergedDir", "MountPoint" }.Any(n => piped.Properties[n] is not null))
        {
            WriteError(new ErrorRecord(new ParameterBindingException(
                "The input object cannot be bound to any parameters for the command: pipe mount points as strings or paths, or objects with a Target property (Get-OverlayMount output)."),
                "InputObjectNotBound", ErrorCategory.InvalidArgument, InputObject));
            return false;
        }
        if (ProcessId is not { } pid)
        {
            return true;
        }
        string? theirs = FileSystem.TryReadLink($"/proc/{pid}/ns/mnt", out int nsErrno);
        string? ours = FileSystem.TryReadLink("/proc/self/ns/mnt", out _);
        if (theirs is not null && theirs == ours)
        {
            return true;
        }
        string where = string.Join(", ", targets);
        WriteOverlayError(new OverlayException(ErrorIds.ForeignMountNamespace, OverlayErrorCategory.InvalidOperation,
            $"The overlay at '{where}' was listed in the mount namespace of process {pid}{(theirs is not null ? ", not this one" : nsErrno == Errno.ENOENT ? ", which is gone" : $", whose namespace cannot be told apart from this one ({Errno.Name(nsErrno)})")}; Dismount-Overlay dismounts only in its own mount namespace, where that path may be another mount.",
            where, $"Run Dismount-Overlay inside that namespace (for example under nsenter -t {pid} -m), or pipe Get-OverlayMount without -ProcessId to dismount this namespace's overlays."));
        return false;
    }

    private IEnumerable<string> Expand(string raw, Func<List<OverlayMount>> mounts)
    {
        if (HasWildcards(raw))
        {
            string path = FileSystem.TrimTrailingSlashes(ResolvePath(raw, nameof(Target)));
            // A mount whose name really holds '[' or '*' is taken literally; otherwise the pattern
            // matches mounted overlays, deepest and newest first, and matching none is no error.
            // Stacked mounts come once each: every dismount takes off the top one.
            if (mounts().Any(m => m.Target == path))
            {
                return [path];
            }
            var pattern = Pattern(path);
            return mounts().Where(m => pattern.IsMatch(m.Target)).Select(m => m.Target).Reverse().ToList();
        }
        return [FileSystem.TrimTrailingSlashes(ResolveEscapedPath(raw, nameof(Target)))];
    }

    private void DismountOne(string target)
    {
        if (!PassesPreview(() => OverlayUnmounter.Preview(target)) || !ShouldProcess(target, "Dismount overlay"))
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
