using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using OverlayTools.Layers;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// The base of the commands that take paths in a merged view (-Path with wildcards, -LiteralPath
/// binding the PSPath of Get-ChildItem output) and look them up in the overlay's layers:
/// Resolve-OverlayPath and Invoke-OverlayCopyUp. Each overlay's layers are opened once for all
/// the paths of the pipeline (LayerSetCache) and closed when the command ends in any way.
/// </summary>
public abstract class MergedPathCmdlet : OverlayCmdlet
{
    /// <summary>The parameter set of -Path.</summary>
    protected const string PathSet = "Path";

    /// <summary>The parameter set of -LiteralPath.</summary>
    protected const string LiteralPathSet = "LiteralPath";

    /// <summary>Paths in a merged view (wildcards).</summary>
    [Parameter(ParameterSetName = PathSet, Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Paths in a merged view, taken literally; binds the PSPath of Get-ChildItem output.</summary>
    [Parameter(ParameterSetName = LiteralPathSet, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    // Each overlay's layers, opened once for all the paths of the pipeline.
    private protected LayerSetCache Layers { get; } = new();

    /// <summary>The paths of this record, expanded the PowerShell way (-Path) or taken literally.</summary>
    protected IEnumerable<string> ExpandPaths()
        => ParameterSetName == LiteralPathSet
            ? ExpandPaths(LiteralPath, literal: true, nameof(LiteralPath))
            : ExpandPaths(Path, literal: false, nameof(Path));

    /// <summary>
    /// Runs <paramref name="work"/> on the layers of <paramref name="mount"/>; when a layer fails
    /// to read (an I/O or access error), closes them before the error goes on, so the next path
    /// opens them again.
    /// </summary>
    private protected T WithLayers<T>(OverlayMount mount, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Layers.Forget(mount);
            throw;
        }
    }

    /// <inheritdoc cref="WithLayers{T}(OverlayMount, Func{T})"/>
    private protected void WithLayers(OverlayMount mount, Action work)
        => WithLayers(mount, () =>
        {
            work();
            return true;
        });

    /// <inheritdoc/>
    protected override void EndProcessing() => Layers.Dispose();

    /// <summary>
    /// Closes the layers when the command ends in any way (PowerShell disposes a command after a
    /// stop or a terminating error too; StopProcessing runs on another thread while a lookup or a
    /// copy-up may be using them, so it never closes them).
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Layers.Dispose();
    }
}
