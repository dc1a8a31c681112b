using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Layers;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Tells which layer supplies a path of a merged view; with -All, every layer that holds it and what hides it.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Resolve, "OverlayPath", DefaultParameterSetName = PathSet, HelpUri = HelpBase + "Resolve-OverlayPath.md")]
[OutputType(typeof(OverlayPathInfo))]
public sealed class ResolveOverlayPathCommand : OverlayCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    // Each overlay's layers, opened once for all the paths of the pipeline.
    private readonly LayerSetCache _layers = new();

    /// <summary>Paths in a merged view (wildcards match existing entries; a path without wildcards may name a deleted entry).</summary>
    [Parameter(ParameterSetName = PathSet, Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Paths in a merged view, taken literally; binds the PSPath of Get-ChildItem output.</summary>
    [Parameter(ParameterSetName = LiteralPathSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>List every layer that holds the path (the file's history across layers), hidden ones included.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        foreach (var path in ExpandPaths())
        {
            try
            {
                ResolveOne(path);
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(ToErrorRecord(e, ErrorIds.OverlayPathNotFound, path));
            }
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing() => _layers.Dispose();

    /// <summary>
    /// Closes the layers when the command ends in any way (PowerShell disposes a command after
    /// a stop or a terminating error too; StopProcessing runs on another thread while a lookup
    /// may be using them, so it does not close them).
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _layers.Dispose();
    }

    private IEnumerable<string> ExpandPaths()
        => ParameterSetName == LiteralPathSet
            ? ExpandPaths(LiteralPath, literal: true, nameof(LiteralPath))
            : ExpandPaths(Path, literal: false, nameof(Path));

    private bool _warnedXattrs;

    private void ResolveOne(string path)
    {
        using var location = OverlayLocator.Locate(path, MountTable, mustExist: false);
        var mount = location.Mount;
        var layers = _layers.Get(mount, path);
        if (!OverlayLocator.UsesUserXattr(mount) && !_warnedXattrs && !Interop.FileSystem.HasCapSysAdmin)
        {
            _warnedXattrs = true;
            WriteWarning(Interop.FileSystem.TrustedXattrsUnreadable);
        }
        bool exists = location.Stat is not null;
        List<OverlayPathInfo> infos;
        try
        {
            infos = PathResolver.Resolve(layers, location.MergedPath, location.RelativePath, mount.Target, All || !exists);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A layer failed to read: the next path opens this overlay's layers again.
            _layers.Forget(mount);
            throw;
        }
        var supplier = infos.FirstOrDefault(i => i.State == OverlayPathInfo.Supplies);
        if (exists && supplier is null)
        {
            throw new OverlayException(ErrorIds.OverlayPathNotFound, OverlayErrorCategory.InvalidResult,
                $"The merged view of '{mount.Target}' shows '{location.MergedPath}', but no layer directory supplies it as the kernel would look it up.", path,
                "The layers may have been changed while mounted; remount the overlay.");
        }
        if (!exists || infos.Count == 0)
        {
            if (All && infos.Count > 0)
            {
                WriteObject(infos, enumerateCollection: true);
            }
            var why = infos.FirstOrDefault(i => i.State == OverlayPathInfo.Whiteout)?.LayerPath is { } wh
                ? $": a whiteout in a layer deletes it ('{wh}')"
                : infos.FirstOrDefault(i => i.HiddenBy is not null) is { } h
                    ? $": the entry in '{h.Layer}' is {(h.HiddenByOpaque ? "hidden by an opaque directory" : h.WhitedOut ? "deleted by a whiteout" : "covered")} in '{h.HiddenBy}'"
                    : "";
            if (!All || infos.Count == 0)
            {
                throw new OverlayException(ErrorIds.OverlayPathNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"'{location.MergedPath}' does not exist in the merged view of '{mount.Target}'{why}.", path,
                    All || infos.Count == 0 ? "Check the path; Get-ChildItem of its parent in the merged view lists what is there." : "Run Resolve-OverlayPath -All to list the layers that still hold it.");
            }
            return;
        }
        if (All)
        {
            WriteObject(infos, enumerateCollection: true);
        }
        else
        {
            WriteObject(supplier);
        }
    }
}
