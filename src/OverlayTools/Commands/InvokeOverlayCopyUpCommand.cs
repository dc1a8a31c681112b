using System;
using System.IO;
using System.Management.Automation;
using System.Threading;
using OverlayTools.CopyUp;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Makes the kernel copy files and directories of a merged view into the upper layer, changing nothing else.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "OverlayCopyUp", DefaultParameterSetName = PathSet, SupportsShouldProcess = true, HelpUri = HelpBase + "Invoke-OverlayCopyUp.md")]
[Alias("Invoke-CopyUp")]
[OutputType(typeof(CopyUpResult))]
public sealed class InvokeOverlayCopyUpCommand : MergedPathCmdlet
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>Also copy up everything below a directory.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Copy only the metadata of regular files (the overlay must be mounted with metacopy=on); the data follows at the first write.</summary>
    [Parameter]
    public SwitchParameter MetadataOnly { get; set; }

    /// <summary>Emit a CopyUpResult for each item.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        foreach (var path in ExpandPaths())
        {
            if (_cancel.IsCancellationRequested)
            {
                return;
            }
            try
            {
                CopyUp(path);
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(ToErrorRecord(e, ErrorIds.CopyUpFailed, path));
            }
        }
    }

    private void CopyUp(string path)
    {
        using var location = OverlayLocator.Locate(path, MountTable, mustExist: true);
        WithLayers(location.Mount, () => CopyUp(location));
    }

    private void CopyUp(OverlayLocation location)
    {
        var engine = CopyUpEngine.Open(location, MetadataOnly, this, Layers);
        bool isDir = location.Stat?.IsDirectory ?? false;
        string action = Recurse && isDir
            ? $"Copy up the directory and everything below it into the upper layer '{engine.UpperPath}'"
            : $"Copy up into the upper layer '{engine.UpperPath}'{(MetadataOnly ? " (metadata only)" : "")}";
        if (!ShouldProcess(location.MergedPath, action))
        {
            return;
        }
        using var progress = new ProgressActivity(this, 1, "Invoke-OverlayCopyUp", $"Copying up '{location.MergedPath}'");
        void Report(CopyUpProgress p) => progress.Report($"{p.Items:N0} items, {p.Bytes:N0} bytes copied up", p.Current);
        foreach (var outcome in engine.Run(Recurse, Report, _cancel.Token))
        {
            if (outcome.Error is not null)
            {
                WriteOverlayError(outcome.Error);
            }
            if (outcome.Result is not null && PassThru)
            {
                WriteObject(outcome.Result);
            }
        }
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancel.Cancel();

    /// <summary>Also releases the cancellation source (the base closes the layers).</summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _cancel.Dispose();
    }
}
