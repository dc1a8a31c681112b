using System;
using System.Collections.Generic;

namespace OverlayTools.Stores;

/// <summary>
/// One container engine's layer store on disk (Docker overlay2, Podman's containers/storage
/// overlay, later containerd's overlayfs snapshotter), read without the engine: never written,
/// never locked, the daemon may be stopped. An instance holds open descriptors (dispose it) and
/// caches what it read, so it is a snapshot for one operation; it is not shared between threads.
/// </summary>
/// <remarks>
/// Listing is cheap (names and ids only); <see cref="GetImage"/> and <see cref="GetContainer"/>
/// read and validate the layers of one item and throw an <see cref="OverlayException"/> for that
/// item alone (a tampered, half-deleted or incomplete layer), so a caller reports it and goes on
/// with the next item. Every path a store returns has been checked to lie inside the store.
/// </remarks>
public interface ILayerStore : IDisposable
{
    /// <summary>The backend name shown to users: "overlay2", "podman" or "containerd".</summary>
    string Backend { get; }

    /// <summary>The data root, as the engine uses it (its real path), e.g. /var/lib/docker.</summary>
    string Root { get; }

    /// <summary>Every image of the store, without layers. Throws OverlayException when the store's index is unreadable.</summary>
    IReadOnlyList<StoreImageInfo> ListImages();

    /// <summary>Every container of the store, without layers. Throws OverlayException when the store's index is unreadable.</summary>
    IReadOnlyList<StoreContainerInfo> ListContainers();

    /// <summary>One image with its layers, top first. Throws OverlayException for this image only.</summary>
    StoreImage GetImage(StoreImageInfo image);

    /// <summary>One container with its layers (upper, init, then the image's), top first. Throws OverlayException for this container only.</summary>
    StoreContainer GetContainer(StoreContainerInfo container);

    /// <summary>
    /// Like <see cref="GetContainer"/>, but the sizes of the container's own layers (upper,
    /// init), which take a walk of each, may be left null: for callers that only need the
    /// layers' paths (a diff, a mount). Throws OverlayException for this container only.
    /// </summary>
    StoreContainer GetContainerPaths(StoreContainerInfo container) => GetContainer(container);

    /// <summary>
    /// Whether the engine has removed <paramref name="container"/> since it was listed, or is
    /// removing it, judged from the store's own records read again now (not from what this
    /// instance kept): for a caller whose read of the container failed, to tell a container that
    /// went away from a damaged one. False when the records say it is still there, or cannot say.
    /// </summary>
    bool IsRemoved(StoreContainerInfo container) => false;

    /// <summary>Like <see cref="IsRemoved(StoreContainerInfo)"/>, for an image whose read failed.</summary>
    bool IsRemoved(StoreImageInfo image) => false;

    /// <summary>
    /// Ids of the containers listed without names because their own record could not be read
    /// (Docker's config.v2.json): a container looked for by name may be one of them.
    /// </summary>
    IReadOnlyCollection<string> UnreadableContainerIds => [];

    /// <summary>
    /// The layer of this store whose content dir is <paramref name="path"/>: the form the engine
    /// shows (…/diff), the layer dir itself, or a short link (…/l/ID, or "l/ID" relative to the
    /// driver dir as it appears in a mount made with relative paths). Null when the path is not a
    /// layer of this store. Throws OverlayException when it is, but the layer is damaged.
    /// </summary>
    StoreLayerMatch? FindLayer(string path);
}

/// <summary>
/// A kind of layer store: how to recognise one, where it lives by default, how to open it. A new
/// backend (containerd) implements this and is added to <see cref="LayerStores.Backends"/>.
/// </summary>
public interface ILayerStoreBackend
{
    /// <summary>The backend name ("overlay2", "podman", "containerd").</summary>
    string Name { get; }

    /// <summary>Where this engine keeps its store by default on this machine (configured roots first); they need not exist.</summary>
    IEnumerable<string> DefaultRoots();

    /// <summary>
    /// True when <paramref name="root"/> is a store of this engine. <paramref name="problem"/> is
    /// set when it is this engine's but cannot be read (another storage driver, say); the store is
    /// then not opened and the problem is reported.
    /// </summary>
    bool Probe(string root, out string? problem);

    /// <summary>Opens the store at a root that <see cref="Probe"/> accepted.</summary>
    ILayerStore Open(string root);

    /// <summary>The store root a layer path of this engine implies (".../overlay2/&lt;id&gt;/diff" -> "..."), or null.</summary>
    string? RootFromLayerPath(string path);
}

/// <summary>Where a layer sits in a container's or mount's stack.</summary>
public enum LayerRole
{
    /// <summary>A read-only layer (an image layer).</summary>
    Lower,

    /// <summary>Docker's per-container init layer (/etc/hosts, /etc/resolv.conf... placeholders) between the image and the upper.</summary>
    Init,

    /// <summary>The writable layer of a container (or of a mount).</summary>
    Upper,

    /// <summary>A data-only lower layer of a mount (Mount-Overlay -DataLower, the kernel's datadir+): reachable only as the data of metadata-only copies.</summary>
    Data,
}

/// <summary>One layer as a store knows it.</summary>
public sealed class StoreLayer
{
    /// <summary>Its role in the container (Upper, Init) or Lower for an image layer.</summary>
    public required LayerRole Role { get; init; }

    /// <summary>The content dir, exactly as the engine's inspect shows it in UpperDir/LowerDir.</summary>
    public required string Path { get; init; }

    /// <summary>The digest of the layer's uncompressed tar ("sha256:…"); null for a container's own layers.</summary>
    public string? DiffId { get; init; }

    /// <summary>The OCI chain id of the stack up to this layer ("sha256:…"); null for a container's own layers.</summary>
    public string? ChainId { get; init; }

    /// <summary>The name of the layer's directory in the driver dir (Docker's cache-id or mount-id, Podman's layer id).</summary>
    public string? CacheId { get; init; }

    /// <summary>Bytes, as the engine reports them (history size; for a container's layers, the size of the dir as docker ps --size counts it).</summary>
    public long? Size { get; init; }

    /// <summary>The image history's created_by of the step that made the layer.</summary>
    public string? CreatedBy { get; init; }

    /// <summary>When the layer was created (image history; for a container's layers, the container's creation).</summary>
    public DateTime? Created { get; init; }

    /// <summary>The overlay work dir beside a container's upper; null for other layers.</summary>
    public string? Work { get; init; }

    /// <summary>Where the engine mounts a container's merged view; set on the container's upper only.</summary>
    public string? Merged { get; init; }
}

/// <summary>An image as the store lists it (no layers read yet).</summary>
public sealed class StoreImageInfo
{
    /// <summary>The image id: 64 lower-case hex digits, without "sha256:".</summary>
    public required string Id { get; init; }

    /// <summary>The id as the engine's inspect shows it ("sha256:…" for Docker, bare hex for Podman).</summary>
    public required string DisplayId { get; init; }

    /// <summary>Names as the engine shows them (repo:tag), possibly none.</summary>
    public IReadOnlyList<string> Names { get; init; } = [];

    /// <summary>Other spellings the engine accepts for the same names (Podman's "demo:1" for "localhost/demo:1", Docker's "docker.io/library/x:t" for "x:t", digests).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>
    /// For each alias that spells a reference of the image another way, that reference as the
    /// engine shows it (docker.io/other/repo:v2 -> other/repo:v2 for Docker; demo:1 ->
    /// localhost/demo:1 for Podman): the name a query given by an alias shows the image by.
    /// </summary>
    public IReadOnlyDictionary<string, string> AliasNames { get; init; } = new Dictionary<string, string>();

    /// <summary>True for an untagged image that is the parent of another (hidden by docker images without -a).</summary>
    public bool Intermediate { get; init; }

    /// <summary>
    /// True when a reference that matched no name, alias or id may still find this image as
    /// Podman does, by its manifest digest or by the end of a name's repository (y:2 for
    /// quay.io/x/y:2): see <see cref="StoreLookup.TryPodmanLastResort"/>.
    /// </summary>
    public bool PodmanLookup { get; init; }

    /// <summary>The image's manifest digests (sha256:…), for <see cref="PodmanLookup"/>; empty for other stores.</summary>
    public IReadOnlyList<string> Digests { get; init; } = [];

    /// <summary>The containerd namespace (moby, k8s.io...); null for stores without namespaces.</summary>
    public string? Namespace { get; init; }

    /// <summary>The name to show: the first name, or the short id for an untagged image.</summary>
    public string DisplayName => Names.Count > 0 ? Names[0] : StoreFormat.ShortId(Id);
}

/// <summary>A container as the store lists it (no layers read yet).</summary>
public sealed class StoreContainerInfo
{
    /// <summary>The container id: 64 lower-case hex digits (containerd: any id containerd accepts).</summary>
    public required string Id { get; init; }

    /// <summary>Names as the engine shows them (without Docker's leading '/').</summary>
    public IReadOnlyList<string> Names { get; init; } = [];

    /// <summary>The id of the container's image (64 hex), when the store records one.</summary>
    public string? ImageId { get; init; }

    /// <summary>The image name the container was created from, when the store records one.</summary>
    public string? ImageName { get; init; }

    /// <summary>When the container was created.</summary>
    public DateTime? Created { get; init; }

    /// <summary>The containerd namespace (moby, k8s.io...); null for stores without namespaces.</summary>
    public string? Namespace { get; init; }

    /// <summary>The name to show: the first name, or the short id.</summary>
    public string DisplayName => Names.Count > 0 ? Names[0] : StoreFormat.ShortId(Id);
}

/// <summary>An image with its layers.</summary>
public sealed class StoreImage
{
    /// <summary>The store's backend name.</summary>
    public required string Backend { get; init; }

    /// <summary>The store's data root.</summary>
    public required string Root { get; init; }

    /// <summary>What the listing said about the image.</summary>
    public required StoreImageInfo Info { get; init; }

    /// <summary>When the image was created (its config).</summary>
    public DateTime? Created { get; init; }

    /// <summary>The layers, top first (the kernel's lowerdir order).</summary>
    public required IReadOnlyList<StoreLayer> Layers { get; init; }
}

/// <summary>
/// A container with its layers. For tools that need the overlay of a container (diffs, mounts):
/// <see cref="UpperDir"/>, <see cref="WorkDir"/>, <see cref="MergedDir"/> and <see cref="LowerDirs"/>
/// are what docker inspect calls GraphDriver.Data.
/// </summary>
public sealed class StoreContainer
{
    /// <summary>The store's backend name.</summary>
    public required string Backend { get; init; }

    /// <summary>The store's data root.</summary>
    public required string Root { get; init; }

    /// <summary>What the listing said about the container.</summary>
    public required StoreContainerInfo Info { get; init; }

    /// <summary>The container's image, when it still exists in the store.</summary>
    public StoreImageInfo? Image { get; init; }

    /// <summary>All layers, top first: the upper, Docker's init layer, then the image layers.</summary>
    public required IReadOnlyList<StoreLayer> Layers { get; init; }

    /// <summary>The container's writable layer (Layers[0]).</summary>
    public StoreLayer Upper => Layers[0];

    /// <summary>The upper dir (where the container's changes are).</summary>
    public string UpperDir => Upper.Path;

    /// <summary>The container's overlay work dir.</summary>
    public string? WorkDir => Upper.Work;

    /// <summary>Where the engine mounts the container's merged view.</summary>
    public string? MergedDir => Upper.Merged;

    /// <summary>The lower dirs below the upper, top first (init layer included), as the kernel's lowerdir.</summary>
    public IReadOnlyList<string> LowerDirs
    {
        get
        {
            var list = new List<string>(Layers.Count - 1);
            for (int i = 1; i < Layers.Count; i++)
            {
                list.Add(Layers[i].Path);
            }
            return list;
        }
    }
}

/// <summary>A layer found by its path, and what it belongs to.</summary>
public sealed class StoreLayerMatch
{
    /// <summary>The layer (Role Upper or Init for a container's own layers, Lower for image layers).</summary>
    public required StoreLayer Layer { get; init; }

    /// <summary>The container whose upper or init layer this is.</summary>
    public StoreContainerInfo? Container { get; init; }
}
