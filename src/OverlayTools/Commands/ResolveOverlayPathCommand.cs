using System;
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
public sealed class ResolveOverlayPathCommand : MergedPathCmdlet
{
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

    private bool _warnedXattrs;

    private void ResolveOne(string path)
    {
        using var location = OverlayLocator.Locate(path, MountTable, mustExist: false);
        var mount = location.Mount;
        var layers = Layers.Get(mount, path);
        if (!OverlayLocator.UsesUserXattr(mount) && !_warnedXattrs && !Interop.FileSystem.HasCapSysAdmin)
        {
            _warnedXattrs = true;
            WriteWarning(Interop.FileSystem.TrustedXattrsUnreadable);
        }
        bool exists = location.Stat is not null;
        var infos = WithLayers(mount, () => PathResolver.Resolve(layers, location.MergedPath, location.RelativePath, mount.Target, All || !exists));
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
