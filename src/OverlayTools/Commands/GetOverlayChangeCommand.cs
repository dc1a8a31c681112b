using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using OverlayTools.Changes;
using OverlayTools.Mounts;
using OverlayTools.Stores;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Lists what an overlay's upper layer changes (docker diff for any overlay, and for Docker, Podman and containerd containers), read from the layer directories.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "OverlayChange", DefaultParameterSetName = TargetSet, HelpUri = HelpBase + "Get-OverlayChange.md")]
[OutputType(typeof(OverlayChange))]
public sealed class GetOverlayChangeCommand : OverlayCmdlet
{
    private const string TargetSet = "Target";
    private const string LayersSet = "Layers";
    private const string ContainerSet = "Container";
    private const string LayerObjectSet = "LayerObject";
    private const string DeserializedLayerSet = "DeserializedLayer";
    private const string ItemSet = "Item";
    private const string DeserializedItemSet = "DeserializedItem";

    private readonly CancellationTokenSource _cancel = new();
    private List<OverlayMount>? _mounts;
    private List<ILayerStore>? _stores;
    private MountOwners? _owners;
    private readonly HashSet<OverlayMount> _annotated = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _walkedContainers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ILayerStore?> _layerStores = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reportedLayers = new(StringComparer.Ordinal);
    private int _activity;

    /// <summary>Mount points of mounted overlays (wildcards match mounted overlays).</summary>
    [Parameter(ParameterSetName = TargetSet, Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("MountPoint")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayTargetCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Target { get; set; } = [];

    /// <summary>
    /// A piped OverlayMount (Get-OverlayMount, Mount-Overlay -PassThru), which also binds -Target by
    /// property name. Hidden plumbing: only so that the container it already names is used for the
    /// mount it describes, rather than looked up again. Typed, so that a piped string or another
    /// object still binds -Target, -Upper and -Lower as before.
    /// </summary>
    [Parameter(ParameterSetName = TargetSet, ValueFromPipeline = true, DontShow = true)]
    public OverlayMount? InputObject { get; set; }

    /// <summary>
    /// A deserialized OverlayMount piped in (Import-Clixml, remoting), which binds -Target by
    /// property name. Hidden plumbing: only so that its Target is taken literally, as a live
    /// OverlayMount's is.
    /// </summary>
    [Parameter(ParameterSetName = TargetSet, ValueFromPipeline = true, DontShow = true)]
    [PSTypeName("Deserialized.OverlayTools.OverlayMount")]
    public PSObject? DeserializedMount { get; set; }

    /// <summary>
    /// A piped OverlayLayer (Get-OverlayLayer -Container, -Target): the changes of the container it
    /// belongs to, once for all of that container's layers, as -Container lists them. Hidden
    /// plumbing, typed, so that a layer object binds here rather than to -Target as its Path string.
    /// </summary>
    [Parameter(ParameterSetName = LayerObjectSet, Mandatory = true, ValueFromPipeline = true, DontShow = true)]
    public OverlayLayer? InputLayer { get; set; }

    /// <summary>
    /// A deserialized OverlayLayer piped in (Import-Clixml, remoting), taken as <see
    /// cref="InputLayer"/> is: by the container, store and namespace it names. Hidden plumbing;
    /// only objects of that type name bind it (its Merged property would bind -Target).
    /// </summary>
    [Parameter(ParameterSetName = DeserializedLayerSet, Mandatory = true, ValueFromPipeline = true, DontShow = true)]
    [PSTypeName("Deserialized.OverlayTools.OverlayLayer")]
    public PSObject? DeserializedLayer { get; set; }

    /// <summary>
    /// A piped directory (Get-Item /merged): the changes of the overlay mounted there, as -Target
    /// lists them. Hidden plumbing, typed: a directory object's own Target property (a symbolic
    /// link's target, null for a directory) would bind -Target.
    /// </summary>
    [Parameter(ParameterSetName = ItemSet, Mandatory = true, ValueFromPipeline = true, DontShow = true)]
    public System.IO.FileSystemInfo? InputItem { get; set; }

    /// <summary>
    /// A deserialized directory object piped in (Import-Clixml, or Get-Item run over remoting),
    /// taken by its FullName as <see cref="InputItem"/> is. Hidden plumbing; only objects of that
    /// type name bind it.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = DeserializedItemSet, ValueFromPipeline = true, DontShow = true)]
    [PSTypeName("Deserialized.System.IO.FileSystemInfo")]
    public PSObject? DeserializedItem { get; set; }

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

    /// <summary>Containers by name, full or short id (wildcards), read from their engine's store on disk: Docker overlay2, Podman, containerd.</summary>
    [Parameter(ParameterSetName = ContainerSet, Mandatory = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.ContainerNameCompleter))]
    public string[] Container { get; set; } = [];

    /// <summary>The store(s) -Container reads: a Docker data root, a Podman graph root or a containerd root. Default: the engines' default roots.</summary>
    [Parameter(ParameterSetName = ContainerSet)]
    [ValidateNotNullOrEmpty]
    public string[]? DataRoot { get; set; }

    /// <summary>containerd namespaces to look for -Container in (wildcards). Default: all.</summary>
    [Parameter(ParameterSetName = ContainerSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(OverlayTools.Completers.NamespaceCompleter))]
    public string[]? Namespace { get; set; }

    /// <summary>
    /// Docker (default: what docker diff lists), Podman (what podman diff lists; the default for
    /// Podman containers) or Upper (every entry the upper layer holds, copied-up ones included).
    /// </summary>
    [Parameter]
    public ChangeStyle Style { get; set; } = ChangeStyle.Docker;

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName == ContainerSet)
        {
            foreach (var query in Container)
            {
                WalkContainers(query);
            }
            return;
        }
        if (ParameterSetName is LayerObjectSet or DeserializedLayerSet)
        {
            if ((InputLayer ?? FromDeserialized(DeserializedLayer)) is { } layer)
            {
                WalkLayerContainer(layer);
            }
            return;
        }
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

        var itemPath = PipedItemPath((object?)InputItem ?? DeserializedItem);
        // A path an object carries (an OverlayMount, a directory) is data, never a pattern.
        bool literal = itemPath is not null || ((InputObject ?? (object?)DeserializedMount) is not null && !TargetOnCommandLine);
        foreach (var raw in itemPath is not null ? [itemPath] : Target)
        {
            try
            {
                foreach (var mount in MatchMounts(raw, literal))
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

    private IEnumerable<OverlayMount> MatchMounts(string raw, bool literal)
    {
        _mounts ??= ReadMounts(null);
        var (found, exact) = SelectMounts(raw, _mounts, action: "Give the mount point of an overlay (Get-OverlayMount lists them), or compare layer directories with -Upper and -Lower.", literal: literal);
        // The mount on top of each mount point is the one that is visible.
        return exact ? [found[^1]] : found.GroupBy(m => m.Target).Select(g => g.Last()).ToList();
    }

    private void WalkMount(OverlayMount mount)
    {
        if (mount.Upper is null)
        {
            WriteVerboseOrDebug($"The overlay at '{mount.Target}' has no upper layer, so it changes nothing.");
            return;
        }
        Walk(new ChangeWalkRequest
        {
            Mount = mount,
            Upper = mount.Upper,
            Lower = mount.Lower,
            Style = Style,
            Container = ContainerOf(mount),
            UserXattr = OverlayLocator.UsesUserXattr(mount),
            CheckMetacopy = OverlayLocator.MetacopyEnabled(mount),
        }, mount.Target);
    }

    /// <summary>
    /// The container whose own root <paramref name="mount"/> is, named as Get-OverlayMount names it
    /// (and -Container: the store's display name); null for other overlays. A piped OverlayMount of
    /// this very mount has been asked already: what it says is taken (Backend set means the stores
    /// were asked, also when they named no container). Otherwise the stores its layer paths name
    /// are asked, opened at most once per command, and only for a mount with an upper layer.
    /// </summary>
    private string? ContainerOf(OverlayMount mount)
    {
        var known = mount;
        if (InputObject is { ProcessId: null } piped && (piped.Container ?? piped.Backend) is not null
            && piped.MountId == mount.MountId && piped.Target == mount.Target && piped.Upper == mount.Upper)
        {
            known = piped;
        }
        else if (_annotated.Add(mount))
        {
            _owners ??= new MountOwners();
            _owners.Annotate(mount);
        }
        if (known.Container is { } name)
        {
            WriteVerboseOrDebug($"The overlay at '{mount.Target}' is the root of the {known.Backend} container {name}.");
        }
        return known.Container;
    }

    private void Walk(ChangeWalkRequest request, string what)
    {
        using var progress = new ProgressActivity(this, ++_activity, "Get-OverlayChange", $"Comparing the upper layer '{request.Upper}'");
        void Report(ChangeWalkProgress p) => progress.Report($"Compared {p.Entries:N0} entries of '{request.Upper}', {p.Changes:N0} changes", p.Directory);
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
            result.AddRange(ExpandLowerValue(raw, nameof(Lower)).Lower);
        }
        return result;
    }

    // ---- containers ------------------------------------------------------------------------------

    private void WalkContainers(string query)
    {
        var stores = Stores();
        if (stores.Count == 0)
        {
            return;
        }
        CheckNamespaces(stores, Namespace);
        bool wildcard = HasWildcards(query);
        var selected = StoreSelection.Containers(stores, query, wildcard ? Pattern(query).IsMatch : null, ToNamespaceFilter(Namespace), WriteOverlayError);
        foreach (var (store, info) in selected)
        {
            if (_cancel.IsCancellationRequested)
            {
                return;
            }
            WalkContainer(store, info, wildcard);
        }
    }

    /// <summary>The properties of a deserialized OverlayLayer that tell whose layer it is.</summary>
    private static OverlayLayer? FromDeserialized(PSObject? o)
    {
        if (o is null)
        {
            return null;
        }
        string? S(string name) => o.Properties[name]?.Value?.ToString();
        return new OverlayLayer
        {
            Path = S(nameof(OverlayLayer.Path)) ?? "",
            Image = S(nameof(OverlayLayer.Image)),
            ImageId = S(nameof(OverlayLayer.ImageId)),
            Container = S(nameof(OverlayLayer.Container)),
            ContainerId = S(nameof(OverlayLayer.ContainerId)),
            Namespace = S(nameof(OverlayLayer.Namespace)),
            Backend = S(nameof(OverlayLayer.Backend)),
            DataRoot = S(nameof(OverlayLayer.DataRoot)),
        };
    }

    /// <summary>
    /// The container a piped layer belongs to, walked once for all its layers, read again from the
    /// layer's store (DataRoot) by its id; a layer of no container is one error per image (or path).
    /// </summary>
    private void WalkLayerContainer(OverlayLayer layer)
    {
        if (layer.ContainerId is not { } id || layer.DataRoot is not { } root || layer.Backend is not { } backend)
        {
            string key = layer.ImageId is { } imageId ? layer.DataRoot + "\0" + layer.Namespace + "\0" + imageId : layer.Path;
            if (_reportedLayers.Add(key))
            {
                WriteOverlayError(new OverlayException(ErrorIds.LayerNotOfContainer, OverlayErrorCategory.InvalidArgument,
                    layer.Image is { } image
                        ? $"The layer '{layer.Path}' is a layer of the image {image}, not of a container: an image's layers change nothing."
                        : $"The layer '{layer.Path}' belongs to no container that a store knows.",
                    layer.Path,
                    "Pipe the layers of a container (Get-OverlayLayer -Container), give -Container, or compare layer dirs with -Upper and -Lower."));
            }
            return;
        }
        if (_walkedContainers.Contains(ContainerKey(backend, root, layer.Namespace, id)) || _cancel.IsCancellationRequested)
        {
            return;
        }
        if (!_layerStores.TryGetValue(root, out var store))
        {
            try
            {
                store = LayerStores.Open(root);
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
            _layerStores[root] = store;
        }
        if (store is null)
        {
            return;
        }
        StoreContainerInfo? info;
        try
        {
            info = store.Backend == backend ? store.ListContainers().FirstOrDefault(c => c.Id == id && c.Namespace == layer.Namespace) : null;
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        if (info is null)
        {
            if (_reportedLayers.Add(root + "\0" + layer.Namespace + "\0" + id))
            {
                WriteOverlayError(new OverlayException(ErrorIds.ContainerNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The container {layer.Container ?? id} of the piped layer '{layer.Path}' is no longer in the {backend} store at {root}.", layer.Container ?? id,
                    "Run Get-OverlayLayer -Container * to see the containers there are now."));
            }
            return;
        }
        WalkContainer(store, info, wildcard: false);
    }

    /// <summary>What tells a container walked in this command from every other: its store and its id there.</summary>
    private static string ContainerKey(string backend, string root, string? ns, string id) => backend + "\0" + root + "\0" + ns + "\0" + id;

    /// <summary>Walks one container of a store (once per command), in its engine's style unless -Style is given.</summary>
    private void WalkContainer(ILayerStore store, StoreContainerInfo info, bool wildcard)
    {
        if (!_walkedContainers.Add(ContainerKey(store.Backend, store.Root, info.Namespace, info.Id)))
        {
            return;
        }
        if (StoreSelection.ReadContainer(store, info, pathsOnly: true, wildcard, WriteOverlayError, WriteVerboseOrDebug) is not { } container)
        {
            return;
        }
        var style = MyInvocation.BoundParameters.ContainsKey(nameof(Style)) ? Style : DefaultStyle(container.Backend);
        string name = info.DisplayName;
        WriteVerboseOrDebug($"Container {name} ({container.Backend}{(info.Namespace is null ? "" : " namespace " + info.Namespace)}, {container.Root}): comparing its upper layer '{container.UpperDir}' with its {container.LowerDirs.Count} lower layer(s), as {style} lists changes.");
        _mounts ??= ReadMounts(null);
        var live = _mounts.LastOrDefault(m => m.Upper == container.UpperDir);
        Walk(ChangeWalkRequest.ForContainer(container, name, style, live), name);
    }

    /// <summary>The style of the engine's own diff: podman diff for Podman containers, docker diff for Docker and containerd ones.</summary>
    internal static ChangeStyle DefaultStyle(string backend) => backend == "podman" ? ChangeStyle.Podman : ChangeStyle.Docker;

    /// <summary>The stores named by -DataRoot (each failing one reported), or those at the default roots; opened once per command.</summary>
    private List<ILayerStore> Stores() => _stores ??= OpenStores(DataRoot, WriteOverlayError);

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancel.Cancel();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        foreach (var s in (_stores ?? []).Concat(_layerStores.Values))
        {
            s?.Dispose();
        }
        _stores = null;
        _layerStores.Clear();
        _owners?.Dispose();
        _owners = null;
        _cancel.Dispose();
    }
}
