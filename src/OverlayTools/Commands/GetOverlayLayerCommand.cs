using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Interop;
using OverlayTools.Stores;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Lists the layers of Docker, Podman and containerd images and containers, read from their stores on disk, top first.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "OverlayLayer", DefaultParameterSetName = ImageSet, HelpUri = HelpBase + "Get-OverlayLayer.md")]
[OutputType(typeof(OverlayLayer))]
public sealed class GetOverlayLayerCommand : OverlayCmdlet
{
    private const string ImageSet = "Image";
    private const string ContainerSet = "Container";
    private const string PathSet = "Path";
    private const string TargetSet = "Target";
    private const string PathInfoSet = "PathInfo";
    private const string DeserializedPathInfoSet = "DeserializedPathInfo";
    private const string ItemSet = "Item";
    private const string DeserializedItemSet = "DeserializedItem";

    private readonly LayerPathStores _pathStores;
    private List<ILayerStore>? _stores;
    private OverlayException? _noDefaultStore;
    private volatile bool _stopping;
    private readonly Stopwatch _progressClock = new();

    /// <summary>A new command.</summary>
    public GetOverlayLayerCommand()
        => _pathStores = new(s => WriteVerboseOrDebug($"Reading the {s.Backend} store at {s.Root} (read-only, without the engine)."));

    /// <summary>Images by name (repo:tag, as the engine shows them), full or short id; wildcards. None: every image.</summary>
    [Parameter(Position = 0, ParameterSetName = ImageSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.ImageNameCompleter))]
    public string[]? Image { get; set; }

    /// <summary>Containers by name, full or short id; wildcards.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ContainerSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.ContainerNameCompleter))]
    public string[] Container { get; set; } = [];

    /// <summary>A layer dir (its diff dir, the layer dir, or a short l/ link) to describe.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>
    /// A piped OverlayPathInfo (Resolve-OverlayPath): the layer it names, described as -Path
    /// describes a layer dir, so a file's supplying layer is told by its image or container.
    /// Hidden plumbing, typed: such an object carries both a PSPath (its merged path) and a
    /// Target (its mount point), which would bind -Path and -Target at once.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = PathInfoSet, ValueFromPipeline = true, DontShow = true)]
    public OverlayPathInfo? InputPathInfo { get; set; }

    /// <summary>
    /// A deserialized OverlayPathInfo piped in (Import-Clixml, remoting), taken by its Layer as
    /// <see cref="InputPathInfo"/> is. Hidden plumbing; only objects of that type name bind it.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = DeserializedPathInfoSet, ValueFromPipeline = true, DontShow = true)]
    [PSTypeName("Deserialized.OverlayTools.OverlayPathInfo")]
    public PSObject? DeserializedPathInfo { get; set; }

    /// <summary>
    /// A piped directory (Get-Item, Get-ChildItem): the layers of the overlay mounted there, as
    /// -Target lists them, or else the layer it is, as -Path describes one. Hidden plumbing,
    /// typed: a directory object carries both a PSPath and a Target (a symbolic link's target,
    /// null for a directory), which would bind -Path and -Target at once.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = ItemSet, ValueFromPipeline = true, DontShow = true)]
    public System.IO.FileSystemInfo? InputItem { get; set; }

    /// <summary>
    /// A deserialized directory object piped in (Import-Clixml, or Get-Item run over remoting),
    /// taken by its FullName as <see cref="InputItem"/> is. Hidden plumbing; only objects of that
    /// type name bind it.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = DeserializedItemSet, ValueFromPipeline = true, DontShow = true)]
    [PSTypeName("Deserialized.System.IO.FileSystemInfo")]
    public PSObject? DeserializedItem { get; set; }

    /// <summary>Mount points of live overlays (wildcards): their layers, matched back to images and containers.</summary>
    [Parameter(Mandatory = true, ParameterSetName = TargetSet, ValueFromPipelineByPropertyName = true)]
    [Alias("MergedDir", "MountPoint")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayTargetCompleter))]
    public string[] Target { get; set; } = [];

    /// <summary>The store(s) to read: a Docker data root, a Podman graph root or a containerd root. Default: the engines' default roots.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? DataRoot { get; set; }

    /// <summary>containerd namespaces to read (moby for Docker, k8s.io for Kubernetes); wildcards. Default: all. When given, only containerd items are listed.</summary>
    [Parameter(ParameterSetName = ImageSet)]
    [Parameter(ParameterSetName = ContainerSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.NamespaceCompleter))]
    public string[]? Namespace { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        try
        {
            switch (ParameterSetName)
            {
                case ContainerSet:
                    foreach (var c in Container)
                    {
                        WriteContainers(c);
                    }
                    break;
                case PathSet:
                    foreach (var p in Path)
                    {
                        WritePath(p);
                    }
                    break;
                case TargetSet:
                    // -Target takes no pipeline input by value: bound from a piped object's
                    // property (an OverlayMount, GraphDriver.Data's MergedDir), it is data.
                    WriteTargets(Target, literal: !TargetOnCommandLine);
                    break;
                case ItemSet:
                case DeserializedItemSet:
                    if (PipedItemPath((object?)InputItem ?? DeserializedItem) is { } itemPath)
                    {
                        string path = FileSystem.TrimTrailingSlashes(itemPath);
                        if ((_mounts ??= ReadMounts(null)).Any(m => m.Target == path))
                        {
                            WriteTargets([path], literal: true);
                        }
                        else
                        {
                            WritePath(path);
                        }
                    }
                    break;
                case PathInfoSet:
                case DeserializedPathInfoSet:
                    if ((InputPathInfo?.Layer ?? DeserializedPathInfo?.Properties[nameof(OverlayPathInfo.Layer)]?.Value?.ToString()) is { Length: > 0 } layer)
                    {
                        WritePath(layer);
                    }
                    break;
                default:
                    foreach (var i in Image is { Length: > 0 } ? Image : ["*"])
                    {
                        WriteImages(i);
                    }
                    break;
            }
        }
        catch (PipelineStoppedException)
        {
            throw;
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        if (_progressClock.IsRunning)
        {
            WriteProgress(new ProgressRecord(1, "Reading layers", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _stopping = true;

    // ---- stores -----------------------------------------------------------------------------------

    /// <summary>
    /// The stores named by -DataRoot (each failing one reported), or those at the default roots;
    /// opened once per command and shared with <see cref="StoresFor"/>.
    /// </summary>
    private List<ILayerStore> Stores()
        => _stores ??= OpenStores(DataRoot, e => _noDefaultStore = e).Select(_pathStores.Add).Distinct().ToList();

    /// <summary>
    /// Stores for one layer path: the one the path itself names, then -DataRoot's. The default
    /// stores only for a relative path (a mount made with paths relative to a driver dir): an
    /// absolute path outside a store's driver dir is in none of them.
    /// </summary>
    private IEnumerable<ILayerStore> StoresFor(string path)
    {
        var seen = new HashSet<ILayerStore>();
        foreach (var s in _pathStores.StoresFor(path))
        {
            if (seen.Add(s))
            {
                yield return s;
            }
        }
        if (DataRoot is { Length: > 0 } || !path.StartsWith('/'))
        {
            foreach (var s in Stores())
            {
                if (seen.Add(s))
                {
                    yield return s;
                }
            }
        }
    }

    /// <summary>The stores for -Image and -Container; null (after one error for the default roots) when there is none.</summary>
    private List<ILayerStore>? StoresOrError()
    {
        var stores = Stores();
        if (stores.Count == 0)
        {
            // Each -DataRoot reported its own error; for the default roots say it once.
            if (_noDefaultStore is not null)
            {
                WriteOverlayError(_noDefaultStore);
                _noDefaultStore = null;
            }
            return null;
        }
        return stores;
    }

    // ---- images and containers -------------------------------------------------------------------

    private void WriteImages(string query)
    {
        if (StoresOrError() is not { } stores)
        {
            return;
        }
        CheckNamespaces(stores, Namespace);
        bool wildcard = HasWildcards(query);
        Func<string, bool>? isMatch = wildcard ? Pattern(query).IsMatch : null;
        var work = StoreSelection.Images(stores, query, isMatch, ToNamespaceFilter(Namespace), WriteOverlayError);
        for (int n = 0; n < work.Count && !_stopping; n++)
        {
            var (store, info) = work[n];
            Progress($"Image {info.DisplayName}", n, work.Count);
            if (StoreSelection.ReadImage(store, info, wildcard, WriteOverlayError, WriteVerboseOrDebug) is { } image)
            {
                WriteLayers(LayerOutput.FromImage(image, StoreLookup.ShownName(info, query, isMatch)));
            }
        }
    }

    private void WriteContainers(string query)
    {
        if (StoresOrError() is not { } stores)
        {
            return;
        }
        CheckNamespaces(stores, Namespace);
        bool wildcard = HasWildcards(query);
        var work = StoreSelection.Containers(stores, query, wildcard ? Pattern(query).IsMatch : null, ToNamespaceFilter(Namespace), WriteOverlayError);
        for (int n = 0; n < work.Count && !_stopping; n++)
        {
            var (store, info) = work[n];
            Progress($"Container {info.DisplayName}", n, work.Count);
            if (StoreSelection.ReadContainer(store, info, pathsOnly: false, wildcard, WriteOverlayError, WriteVerboseOrDebug) is { } container)
            {
                WriteLayers(LayerOutput.FromContainer(container));
            }
        }
    }

    private void WriteLayers(List<OverlayLayer> layers)
    {
        foreach (var l in layers)
        {
            WriteObject(l);
        }
    }

    private void Progress(string what, int done, int total)
    {
        if (total < 2)
        {
            return;
        }
        if (!_progressClock.IsRunning)
        {
            _progressClock.Start();
            return;
        }
        if (_progressClock.ElapsedMilliseconds < 200)
        {
            return;
        }
        _progressClock.Restart();
        WriteProgress(new ProgressRecord(1, "Reading layers", what) { PercentComplete = done * 100 / total });
    }

    // ---- paths and mounts ---------------------------------------------------------------------------

    private void WritePath(string raw)
    {
        string path;
        try
        {
            path = ResolvePath(raw, nameof(Path));
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        var layer = LayerOutput.FromPath(path, StoresFor, out var error);
        if (error is not null)
        {
            WriteOverlayError(error);
            return;
        }
        if (layer is null)
        {
            WriteOverlayError(new OverlayException(ErrorIds.LayerNotInStore, OverlayErrorCategory.ObjectNotFound,
                $"'{path}' is not a layer of a Docker overlay2, Podman overlay or containerd store.", path,
                "Give a layer's diff dir (as docker inspect shows it in GraphDriver.Data), its layer dir or its l/ link, or a containerd snapshot's fs dir; give -DataRoot when the store is elsewhere."));
            return;
        }
        WriteObject(layer);
    }

    private List<OverlayMount>? _mounts;

    private void WriteTargets(string[] targets, bool literal)
    {
        var mounts = _mounts ??= ReadMounts(null);
        var written = new HashSet<int>();
        foreach (var raw in targets)
        {
            List<OverlayMount> selected;
            try
            {
                var (found, exact) = SelectMounts(raw, mounts, literal: literal);
                // Of mounts stacked at one literal path, the top one is the one that is visible.
                selected = exact ? [found[^1]] : found;
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
                continue;
            }
            foreach (var m in selected.Where(m => written.Add(m.MountId)))
            {
                if (_stopping)
                {
                    return;
                }
                var matched = LayerOutput.FromMount(m, StoresFor);
                foreach (var e in matched.Errors)
                {
                    WriteOverlayError(e);
                }
                WriteLayers(matched.Layers);
            }
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        // Holds every store: those of -DataRoot and the defaults too (Stores adds them).
        _pathStores.Dispose();
        _stores = null;
    }
}
