using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Mounts;
using OverlayTools.Stores.Bolt;

namespace OverlayTools.Stores.Containerd;

/// <summary>
/// One read of a containerd store from two open bbolt databases. The layout (containerd 1.x and 2.x):
/// <code>
/// meta.db      v1/&lt;ns&gt;/images/&lt;name&gt;/target/{digest,mediatype,size}
///              v1/&lt;ns&gt;/containers/&lt;id&gt;/{image,snapshotter,snapshotKey,createdat}
///              v1/&lt;ns&gt;/snapshots/&lt;snapshotter&gt;/&lt;name&gt;/{name,parent,labels/}
///              v1/&lt;ns&gt;/content/blob/&lt;digest&gt;/labels/
/// metadata.db  v1/snapshots/&lt;ns&gt;/&lt;n&gt;/&lt;name&gt;/{id,kind,parent,size,inodes}
/// </code>
/// A snapshot's content is &lt;snapshotter root&gt;/snapshots/&lt;id&gt;/fs, its work dir .../work.
/// </summary>
internal sealed class ContainerdStoreReader : IDisposable
{
    private const byte KindView = 1;
    private const byte KindActive = 2;
    private const byte KindCommitted = 3;

    /// <summary>Longest parent chain followed (containerd has no limit; the kernel mounts 500 lowers).</summary>
    internal const int MaxChain = 4096;

    internal const string SnapshotRefLabel = "containerd.io/snapshot.ref";

    private readonly string _root;
    private readonly IOperationLog _log;
    private readonly string _snapshotterRoot;
    private readonly ContentStore _content;
    private BoltDb _meta;
    private BoltDb? _snap;
    private BoltBucket? _snapshots;
    private List<string> _namespaces;
    private readonly Dictionary<string, SnapshotRecord> _records = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NamespaceView> _views = new(StringComparer.Ordinal);
    private Dictionary<ulong, string>? _keysById;
    private readonly Dictionary<string, Dictionary<string, List<string>>> _usersBySnapshot = new(StringComparer.Ordinal); // ns -> snapshot name -> container ids
    private StoreDir? _snapshotterDir;

    private ContainerdStoreReader(string root, IOperationLog log)
    {
        _root = root;
        _log = log;
        _snapshotterRoot = ContainerdStore.SnapshotterRoot(root);
        _content = new ContentStore(ContainerdStore.ContentRoot(root));
        (_meta, _snap, _snapshots, _namespaces) = OpenDatabases(root);
    }

    /// <summary>
    /// Opens a store: both databases read-only and unlocked, their meta pages and the namespace
    /// list read. Throws <see cref="OverlayException"/> when there is no store or meta.db is
    /// unreadable. The reader is a snapshot for one operation; dispose it.
    /// </summary>
    public static ContainerdStoreReader Open(string dataRoot, IOperationLog? log = null)
    {
        ArgumentNullException.ThrowIfNull(dataRoot);
        ContainerdStore.CheckRoot(dataRoot);
        var reader = new ContainerdStoreReader(dataRoot.TrimEnd('/'), log ?? NullOperationLog.Instance);
        reader._log.Verbose($"Reading the containerd store at '{reader.DataRoot}': meta.db at transaction {reader.MetadataTransaction}" +
            (reader._snap is null ? ", no overlayfs snapshotter database." : $", the overlayfs snapshotter's metadata.db at transaction {reader.SnapshotterTransaction}."));
        return reader;
    }

    private static (BoltDb, BoltDb?, BoltBucket?, List<string>) OpenDatabases(string root)
    {
        // The namespace list is the first thing read: like every read, it counts only when
        // containerd did not commit meanwhile (see Stable).
        for (int attempt = 1; ; attempt++)
        {
            var meta = BoltDb.Open(ContainerdStore.MetadataDbPath(root));
            BoltDb? snap = null;
            try
            {
                if (FileSystem.TryLStat(ContainerdStore.SnapshotterDbPath(root), out _) is not null)
                {
                    snap = BoltDb.Open(ContainerdStore.SnapshotterDbPath(root));
                }
                List<string>? namespaces = null;
                BoltBucket? snapshots = null;
                try
                {
                    namespaces = meta.Root.Bucket("v1")?.Entries().Where(e => e.IsBucket).Select(e => e.Name).ToList() ?? [];
                    snapshots = snap?.Root.Bucket("v1")?.Bucket("snapshots");
                }
                catch (OverlayException) when (attempt < ContainerdStore.MaxAttempts && Moved(meta, snap))
                {
                    namespaces = null;
                }
                if (namespaces is not null && (attempt >= ContainerdStore.MaxAttempts || !Moved(meta, snap)))
                {
                    return (meta, snap, snapshots, namespaces);
                }
            }
            catch
            {
                meta.Dispose();
                snap?.Dispose();
                throw;
            }
            meta.Dispose();
            snap?.Dispose();
        }
    }

    private static bool Moved(BoltDb meta, BoltDb? snap)
        => meta.ReadCurrentTxId() != meta.TxId || (snap is not null && snap.ReadCurrentTxId() != snap.TxId);

    /// <summary>The containerd root directory.</summary>
    public string DataRoot => _root.Length == 0 ? "/" : _root;

    /// <summary>The overlayfs snapshotter's directory.</summary>
    public string SnapshotterRoot => _snapshotterRoot;

    /// <summary>Every namespace of the store, in name order.</summary>
    public IReadOnlyList<string> Namespaces => _namespaces;

    /// <summary>Transaction id of the meta.db being read.</summary>
    public ulong MetadataTransaction => _meta.TxId;

    /// <summary>Transaction id of the snapshotter's metadata.db being read (0 when there is none).</summary>
    public ulong SnapshotterTransaction => _snap?.TxId ?? 0;

    /// <summary>True when containerd committed to either database since this reader opened them.</summary>
    public bool HasChanged()
        => Moved(_meta, _snap) || (_snap is null && FileSystem.TryLStat(ContainerdStore.SnapshotterDbPath(_root), out _) is not null);

    /// <summary>Opens both databases again at their current transaction (after <see cref="HasChanged"/>).</summary>
    public void Refresh()
    {
        var (meta, snap, snapshots, namespaces) = OpenDatabases(_root);
        _meta.Dispose();
        _snap?.Dispose();
        (_meta, _snap, _snapshots, _namespaces) = (meta, snap, snapshots, namespaces);
        _records.Clear();
        _views.Clear();
        _keysById = null;
        _usersBySnapshot.Clear();
        _log.Verbose($"containerd committed meanwhile; reading its store again at meta.db transaction {_meta.TxId}.");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _meta.Dispose();
        _snap?.Dispose();
        _snapshotterDir?.Dispose();
        _content.Dispose();
    }

    /// <summary>A snapshot as the overlayfs snapshotter records it.</summary>
    private sealed record SnapshotRecord(string Key, ulong Id, byte Kind, string? Parent, long? Size, long? Inodes);

    /// <summary>What one namespace offers to image and container lookups.</summary>
    private sealed class NamespaceView(string name, BoltBucket bucket, BoltBucket? overlay)
    {
        internal string Name { get; } = name;
        internal BoltBucket Bucket { get; } = bucket;
        internal BoltBucket? Overlay { get; } = overlay;
        internal Dictionary<string, string>? ByRefLabel { get; set; }
    }

    private NamespaceView View(string ns)
    {
        if (_views.TryGetValue(ns, out var v))
        {
            return v;
        }
        var bucket = _meta.Root.Bucket("v1")?.Bucket(ns) ?? throw NamespaceNotFound(ns);
        v = new NamespaceView(ns, bucket, bucket.Bucket("snapshots")?.Bucket(ContainerdStore.OverlaySnapshotter));
        _views[ns] = v;
        return v;
    }

    internal OverlayException NamespaceNotFound(string ns)
        => new(ErrorIds.ContainerdNamespaceNotFound, OverlayErrorCategory.ObjectNotFound,
            $"The containerd store at '{DataRoot}' has no namespace '{ns}'. It has: {(_namespaces.Count == 0 ? "none" : string.Join(", ", _namespaces))}.", ns,
            "Docker keeps its images in 'moby', Kubernetes in 'k8s.io'; list them with 'ctr namespaces ls'.");

    /// <summary>
    /// Runs one read so that it describes one transaction of each file. containerd may commit while
    /// the read runs, and without a reader lock the pages a commit frees can be reused by the next
    /// one: a read may then fail on what looks like damage, or succeed on a page that now holds
    /// something else (a missing record, a broken chain). So a read is repeated, on fresh meta
    /// pages, when it failed while containerd committed, and when containerd committed by the time
    /// it finished; the last try's result (or error) stands.
    /// </summary>
    private T Stable<T>(Func<T> read)
    {
        for (int attempt = 1; ; attempt++)
        {
            T result;
            try
            {
                result = read();
            }
            catch (OverlayException) when (attempt < ContainerdStore.MaxAttempts && HasChanged())
            {
                Refresh();
                continue;
            }
            if (attempt < ContainerdStore.MaxAttempts && HasChanged())
            {
                Refresh();
                continue;
            }
            return result;
        }
    }

    // ---- listing ----------------------------------------------------------------------------------

    /// <summary>The images of one namespace (or all when null), names and targets only: no blob is read.</summary>
    public IReadOnlyList<ContainerdImageEntry> ListImages(string? ns = null) => Stable(() =>
    {
        var result = new List<ContainerdImageEntry>();
        foreach (string n in NamespacesFor(ns))
        {
            var images = View(n).Bucket.Bucket("images");
            if (images is null)
            {
                continue;
            }
            foreach (var e in images.Entries())
            {
                if (!e.IsBucket)
                {
                    continue;
                }
                var b = images.Open(e);
                var target = b.Bucket("target");
                result.Add(new ContainerdImageEntry
                {
                    Namespace = n,
                    Name = e.Name,
                    Digest = target?.Text("digest") ?? "",
                    MediaType = target?.Text("mediatype") ?? "",
                    Created = b.Value("createdat") is { } t ? GoEncoding.TryTime(t.Span) : null,
                });
            }
        }
        return (IReadOnlyList<ContainerdImageEntry>)result;
    });

    /// <summary>The containers of one namespace (or all when null), without their snapshots.</summary>
    public IReadOnlyList<ContainerdContainerEntry> ListContainers(string? ns = null) => Stable(() => ListContainersOnce(ns));

    private IReadOnlyList<ContainerdContainerEntry> ListContainersOnce(string? ns)
    {
        var result = new List<ContainerdContainerEntry>();
        foreach (string n in NamespacesFor(ns))
        {
            var containers = View(n).Bucket.Bucket("containers");
            if (containers is null)
            {
                continue;
            }
            foreach (var e in containers.Entries())
            {
                if (!e.IsBucket)
                {
                    continue;
                }
                var b = containers.Open(e);
                result.Add(new ContainerdContainerEntry
                {
                    Namespace = n,
                    Id = e.Name,
                    Image = b.Text("image") is { Length: > 0 } img ? img : null,
                    Snapshotter = b.Text("snapshotter") ?? "",
                    SnapshotName = b.Text("snapshotKey") ?? "",
                    Created = b.Value("createdat") is { } t ? GoEncoding.TryTime(t.Span) : null,
                });
            }
        }
        return result;
    }

    private IEnumerable<string> NamespacesFor(string? ns)
    {
        if (ns is null)
        {
            return _namespaces;
        }
        return _namespaces.Contains(ns, StringComparer.Ordinal) ? [ns] : throw NamespaceNotFound(ns);
    }

    /// <summary>One image with its layers, top first. Throws <see cref="OverlayException"/> for this image.</summary>
    public ContainerdImage GetImage(string ns, string name) => Stable(() =>
    {
        var images = View(ns).Bucket.Bucket("images");
        var bucket = images?.Bucket(name) ?? throw new OverlayException(ErrorIds.ImageNotFound, OverlayErrorCategory.ObjectNotFound,
            $"Namespace '{ns}' of the containerd store at '{DataRoot}' has no image '{name}' (removed meanwhile?).", name, "Run Get-OverlayLayer -Image * to see the images.");
        return ReadImage(View(ns), name, bucket);
    });

    /// <summary>One container with its upper, work and lowers. Throws <see cref="OverlayException"/> for this container.</summary>
    public ContainerdContainer GetContainer(string ns, string id) => Stable(() =>
    {
        var containers = View(ns).Bucket.Bucket("containers");
        var bucket = containers?.Bucket(id) ?? throw new OverlayException(ErrorIds.ContainerNotFound, OverlayErrorCategory.ObjectNotFound,
            $"Namespace '{ns}' of the containerd store at '{DataRoot}' has no container '{id}' (removed meanwhile?).", id, "Run Get-OverlayLayer -Container * to see the containers.");
        return ReadContainer(View(ns), id, bucket);
    });

    /// <summary>
    /// The snapshot whose directory <paramref name="path"/> is (…/snapshots/&lt;id&gt;, …/fs or
    /// …/work below this store's snapshotter root), with its namespace, name and the containers
    /// using it; null when the path is not a snapshot of this store.
    /// </summary>
    public ContainerdLayerMatch? FindLayer(string path) => Stable(() =>
    {
        ArgumentNullException.ThrowIfNull(path);
        string prefix = _snapshotterRoot + "/snapshots/";
        path = path.TrimEnd('/');
        if (!path.StartsWith(prefix, StringComparison.Ordinal) || _snapshots is null)
        {
            return null;
        }
        string[] parts = path[prefix.Length..].Split('/');
        if (parts.Length > 2 || (parts.Length == 2 && parts[1] is not ("fs" or "work"))
            || parts[0].Length is 0 or > 20 || parts[0][0] == '0' || !parts[0].All(char.IsAsciiDigit)
            || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong id))
        {
            return null;
        }
        if (_keysById is null)
        {
            // One pass over the snapshotter's records; a damaged record is simply not found.
            _keysById = new Dictionary<ulong, string>();
            foreach (var e in _snapshots.Entries())
            {
                if (e.IsBucket && _snapshots.Open(e).Value("id") is { } v && GoEncoding.TryUvarint(v.Span, out ulong sid))
                {
                    _keysById.TryAdd(sid, e.Name);
                }
            }
        }
        if (!_keysById.TryGetValue(id, out var key))
        {
            return null;
        }
        var rec = Snapshot(key);
        int a = key.IndexOf('/', StringComparison.Ordinal);
        int b = a < 0 ? -1 : key.IndexOf('/', a + 1);
        string ns = a < 0 ? "" : key[..a];
        string name = b < 0 ? key : key[(b + 1)..];
        List<string> users = rec.Kind != KindCommitted && _namespaces.Contains(ns, StringComparer.Ordinal) ? ContainersUsing(ns, name) : [];
        return new ContainerdLayerMatch
        {
            Namespace = ns,
            SnapshotName = name,
            SnapshotKey = key,
            SnapshotId = IdText(rec.Id),
            Kind = KindName(rec.Kind),
            Path = SnapshotPath(rec.Id, "fs"),
            Work = rec.Kind == KindActive ? SnapshotPath(rec.Id, "work") : null,
            ChainId = rec.Kind == KindCommitted && StoreFormat.IsDigest(name) ? name : null,
            ContainerIds = users,
        };
    });

    /// <summary>
    /// The containers of a namespace whose root file system is the overlayfs snapshot
    /// <paramref name="snapshotName"/>. The namespace's containers are listed once per reader (until
    /// <see cref="Refresh"/>), so that matching many layer paths does not list them again for each.
    /// </summary>
    private List<string> ContainersUsing(string ns, string snapshotName)
    {
        if (!_usersBySnapshot.TryGetValue(ns, out var map))
        {
            map = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var c in ListContainersOnce(ns)) // not ListContainers: no retry inside a retry
            {
                if (c.Snapshotter == ContainerdStore.OverlaySnapshotter)
                {
                    if (!map.TryGetValue(c.SnapshotName, out var ids))
                    {
                        map[c.SnapshotName] = ids = [];
                    }
                    ids.Add(c.Id);
                }
            }
            _usersBySnapshot[ns] = map;
        }
        return map.TryGetValue(snapshotName, out var users) ? [.. users] : [];
    }

    // ---- images -----------------------------------------------------------------------------------

    private ContainerdImage ReadImage(NamespaceView ns, string name, BoltBucket bucket)
    {
        var target = bucket.Bucket("target") ?? throw Invalid($"image '{name}' has no target", name);
        string digest = target.Text("digest") ?? throw Invalid($"image '{name}' has no target digest", name);
        if (!StoreFormat.IsDigest(digest))
        {
            throw Invalid($"image '{name}' has the target digest '{digest}', which is not a sha256 digest", name);
        }
        string mediaType = target.Text("mediatype") ?? "";
        var (manifestDigest, manifest, config) = ResolveManifest(ns, new Descriptor(mediaType, digest, -1), 0);

        // Chain ids: the first is the first diff id, each next one sha256("<chain> <diff>").
        int n = config.DiffIds.Count;
        var chain = StoreFormat.ChainIds(config.DiffIds);
        var keys = new string?[n];
        var missing = new List<string>();
        for (int i = 0; i < n; i++)
        {
            keys[i] = SnapshotKeyFor(ns, chain[i]);
            if (keys[i] is null)
            {
                missing.Add(chain[i]);
            }
        }
        if (missing.Count == n && n > 0)
        {
            throw new OverlayException(ErrorIds.ContainerdImageNotUnpacked, OverlayErrorCategory.ObjectNotFound,
                $"Image '{name}' in namespace '{ns.Name}' is not unpacked in the overlayfs snapshotter (no snapshot {chain[n - 1]}).", name,
                $"Unpack it into the overlayfs snapshotter: pull or import it again in namespace '{ns.Name}' (ctr unpacks into overlayfs by default; Docker and the CRI do too).");
        }
        if (missing.Count > 0)
        {
            throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.ObjectNotFound,
                $"Image '{name}' in namespace '{ns.Name}' lacks the snapshots of {missing.Count} of its {n} layers ({string.Join(", ", missing)}).", name,
                $"Unpack it again: remove the image and pull or import it again in namespace '{ns.Name}'.");
        }

        // History entries that made a layer, in order; used only when they line up with the layers.
        var history = config.History.Where(h => !h.EmptyLayer).ToList();
        bool historyFits = history.Count == n;
        bool blobsFit = manifest.Layers.Count == n;

        var layers = new ContainerdLayer[n];
        string? below = null;
        for (int i = 0; i < n; i++)
        {
            var rec = Snapshot(keys[i]!);
            if (rec.Kind != KindCommitted)
            {
                throw Invalid($"the snapshot {keys[i]} of layer {i} of image '{name}' is {KindName(rec.Kind)}, not committed", name);
            }
            if (!string.Equals(rec.Parent, below, StringComparison.Ordinal))
            {
                throw Invalid($"the snapshot {keys[i]} of layer {i} of image '{name}' has the parent '{rec.Parent ?? "(none)"}', not the layer below ('{below ?? "(none)"}')", name);
            }
            below = keys[i];
            layers[i] = new ContainerdLayer
            {
                Index = i,
                DiffId = config.DiffIds[i],
                ChainId = chain[i],
                BlobDigest = blobsFit ? manifest.Layers[i].Digest : null,
                MediaType = blobsFit ? manifest.Layers[i].MediaType : null,
                CompressedSize = blobsFit && manifest.Layers[i].Size >= 0 ? manifest.Layers[i].Size : null,
                SnapshotKey = rec.Key,
                SnapshotId = IdText(rec.Id),
                Path = SnapshotPath(rec.Id, "fs"),
                Size = rec.Size,
                Inodes = rec.Inodes,
                Created = historyFits ? history[i].Created : null,
                CreatedBy = historyFits ? history[i].CreatedBy : null,
                Comment = historyFits ? history[i].Comment : null,
            };
        }
        Array.Reverse(layers);

        return new ContainerdImage
        {
            Namespace = ns.Name,
            Name = name,
            Digest = digest,
            MediaType = mediaType,
            ManifestDigest = manifestDigest,
            ConfigDigest = manifest.Config.Digest,
            Platform = config.Os is null ? null : config.Os + "/" + config.Architecture + (string.IsNullOrEmpty(config.Variant) ? "" : "/" + config.Variant),
            Created = config.Created,
            Layers = layers,
        };
    }

    /// <summary>
    /// Follows an index down to the manifest for this machine's platform, preferring one whose
    /// layers are unpacked in the overlayfs snapshotter (that is the one containers use).
    /// </summary>
    private (string Digest, ImageManifest Manifest, ImageConfig Config) ResolveManifest(NamespaceView ns, Descriptor desc, int depth)
    {
        if (depth > 4)
        {
            throw Invalid($"the image index {desc.Digest} nests indexes more than 4 deep", desc.Digest);
        }
        string mt = desc.MediaType;
        // Without a media type, the blob's JSON tells an index from a manifest (read and parsed once).
        object read = mt.Length == 0 ? _content.ReadIndexOrManifest(desc.Digest)
            : ContentStore.IsManifest(mt) ? _content.ReadManifest(desc.Digest)
            : ContentStore.IsIndex(mt) ? _content.ReadIndex(desc.Digest)
            : throw new OverlayException(ErrorIds.ContainerdMetadataInvalid, OverlayErrorCategory.NotImplemented,
                $"The image target {desc.Digest} has the media type '{mt}', which this reader does not handle (OCI and Docker v2 manifests and indexes only).", desc.Digest,
                "Convert the image to an OCI or Docker v2 manifest (for instance by pulling it again with a current client).");
        if (read is ImageManifest manifest)
        {
            return (desc.Digest, manifest, _content.ReadConfig(manifest.Config.Digest));
        }

        var index = (ImageIndex)read;
        string arch = HostArchitecture();
        var candidates = index.Manifests
            .Where(m => (m.Os is null || m.Os == "linux") && (m.Architecture is null || m.Architecture == arch))
            .ToList();
        (string, ImageManifest, ImageConfig)? present = null;
        foreach (var c in candidates)
        {
            if (!_content.Exists(c.Digest))
            {
                continue;
            }
            var resolved = ResolveManifest(ns, c, depth + 1);
            present ??= resolved;
            var diffIds = resolved.Config.DiffIds;
            if (diffIds.Count == 0 || SnapshotKeyFor(ns, StoreFormat.ChainIds(diffIds)[^1]) is not null)
            {
                return resolved;
            }
        }
        return present ?? throw new OverlayException(ErrorIds.ContainerdImageNotUnpacked, OverlayErrorCategory.ObjectNotFound,
            $"The image index {desc.Digest} has no manifest for linux/{arch} in the content store.", desc.Digest,
            "Pull the image for this platform (ctr images pull --platform linux/" + arch + ").");
    }

    /// <summary>The snapshotter key of a namespace's snapshot named by a chain id (or labelled with it).</summary>
    private string? SnapshotKeyFor(NamespaceView ns, string chainId)
    {
        if (ns.Overlay is null)
        {
            return null;
        }
        if (ns.Overlay.Bucket(chainId)?.Text("name") is { Length: > 0 } key)
        {
            return key;
        }
        // Remote snapshotters and some unpackers name snapshots otherwise and label them with the chain id.
        if (ns.ByRefLabel is null)
        {
            ns.ByRefLabel = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in ns.Overlay.Entries())
            {
                if (!e.IsBucket)
                {
                    continue;
                }
                var b = ns.Overlay.Open(e);
                if (b.Bucket("labels")?.Text(SnapshotRefLabel) is { } refId && b.Text("name") is { Length: > 0 } k)
                {
                    ns.ByRefLabel.TryAdd(refId, k);
                }
            }
        }
        return ns.ByRefLabel.TryGetValue(chainId, out var labelled) ? labelled : null;
    }

    // ---- containers -------------------------------------------------------------------------------

    private ContainerdContainer ReadContainer(NamespaceView ns, string id, BoltBucket bucket)
    {
        string snapshotter = bucket.Text("snapshotter") ?? "";
        string snapshotKey = bucket.Text("snapshotKey") ?? "";
        string? image = bucket.Text("image");
        DateTime? created = bucket.Value("createdat") is { } t ? GoEncoding.TryTime(t.Span) : null;
        if (snapshotKey.Length == 0)
        {
            throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.ObjectNotFound,
                $"Container '{id}' in namespace '{ns.Name}' has no root file system snapshot.", id,
                "The container was created without a snapshot (for instance with --rootfs); it has no overlay layers.");
        }
        if (snapshotter != ContainerdStore.OverlaySnapshotter)
        {
            throw new OverlayException(ErrorIds.ContainerdUnsupportedSnapshotter, OverlayErrorCategory.NotImplemented,
                $"Container '{id}' in namespace '{ns.Name}' uses the '{snapshotter}' snapshotter; only overlayfs snapshots are overlay layers.", id,
                "Create the container with the overlayfs snapshotter (the default) to use it with OverlayTools.");
        }
        string key = ns.Overlay?.Bucket(snapshotKey)?.Text("name") is { Length: > 0 } k ? k
            : throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.ObjectNotFound,
                $"Container '{id}' in namespace '{ns.Name}' names the snapshot '{snapshotKey}', which the overlayfs snapshotter does not have.", id,
                $"Remove the container (ctr -n {ns.Name} containers rm {id}) or create its snapshot again.");
        var rec = Snapshot(key);
        var chain = Parents(rec);
        string? upper = null, work = null;
        var lowers = new List<string>();
        var lowerIds = new List<string>();
        switch (rec.Kind)
        {
            case KindActive:
                upper = SnapshotPath(rec.Id, "fs");
                work = SnapshotPath(rec.Id, "work");
                break;
            case KindView when chain.Count == 0:
                // A view without parents is its own (empty) read-only directory.
                lowers.Add(SnapshotPath(rec.Id, "fs"));
                lowerIds.Add(IdText(rec.Id));
                break;
            case KindView:
                break;
            default:
                throw Invalid($"container '{id}' has the snapshot {key}, which is {KindName(rec.Kind)} rather than active or a view", id);
        }
        foreach (var p in chain)
        {
            lowers.Add(SnapshotPath(p.Id, "fs"));
            lowerIds.Add(IdText(p.Id));
        }
        return new ContainerdContainer
        {
            Namespace = ns.Name,
            Id = id,
            Image = string.IsNullOrEmpty(image) ? null : image,
            Snapshotter = snapshotter,
            SnapshotName = snapshotKey,
            SnapshotKey = key,
            SnapshotId = IdText(rec.Id),
            Kind = KindName(rec.Kind),
            Upper = upper,
            Work = work,
            Lowers = lowers,
            LowerSnapshotIds = lowerIds,
            Created = created,
        };
    }

    /// <summary>The committed parents of a snapshot, nearest first; loops and overlong chains are damage.</summary>
    private List<SnapshotRecord> Parents(SnapshotRecord rec)
    {
        var chain = new List<SnapshotRecord>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { rec.Key };
        string? parent = rec.Parent;
        while (!string.IsNullOrEmpty(parent))
        {
            if (!seen.Add(parent) || chain.Count >= MaxChain)
            {
                throw Invalid($"the parents of snapshot {rec.Key} loop or run longer than {MaxChain} snapshots", rec.Key);
            }
            var p = Snapshot(parent);
            if (p.Kind != KindCommitted)
            {
                throw Invalid($"the parent {p.Key} of snapshot {rec.Key} is {KindName(p.Kind)}, not committed", rec.Key);
            }
            chain.Add(p);
            parent = p.Parent;
        }
        return chain;
    }

    // ---- snapshotter records ----------------------------------------------------------------------

    private SnapshotRecord Snapshot(string key)
    {
        if (_records.TryGetValue(key, out var cached))
        {
            return cached;
        }
        if (_snapshots is null)
        {
            throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.ObjectNotFound,
                $"The overlayfs snapshotter has no snapshot database ({ContainerdStore.SnapshotterDbPath(_root)}), so snapshot {key} cannot be found.",
                ContainerdStore.SnapshotterDbPath(_root), "The store is incomplete; containerd recreates the database when it starts.");
        }
        var b = _snapshots.Bucket(key) ?? throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.ObjectNotFound,
            $"The overlayfs snapshotter has no snapshot {key}, which meta.db refers to.", key,
            "meta.db and the snapshotter disagree (an interrupted operation); restarting containerd cleans this up.");
        if (b.Value("id") is not { } idBytes || !GoEncoding.TryUvarint(idBytes.Span, out ulong id) || id == 0)
        {
            throw Invalid($"snapshot {key} has no valid numeric id", key);
        }
        byte kind = b.Value("kind") is { Length: 1 } kb ? kb.Span[0] : (byte)0;
        if (kind is not (KindView or KindActive or KindCommitted))
        {
            throw Invalid($"snapshot {key} has an unknown kind", key);
        }
        string? parent = b.Text("parent");
        long? size = b.Value("size") is { } s && GoEncoding.TryVarint(s.Span, out long sv) ? sv : null;
        long? inodes = b.Value("inodes") is { } ino && GoEncoding.TryVarint(ino.Span, out long iv) ? iv : null;
        var rec = new SnapshotRecord(key, id, kind, string.IsNullOrEmpty(parent) ? null : parent, size, inodes);
        _records[key] = rec;
        return rec;
    }

    /// <summary>
    /// &lt;snapshotter root&gt;/snapshots/&lt;id&gt;/&lt;leaf&gt;, built from a number, checked to stay in the
    /// root, and checked on disk: every component below the snapshotter root must be a real
    /// directory (reached one O_NOFOLLOW step at a time), so a snapshot dir replaced by a symbolic
    /// link cannot send a caller out of the store, and a missing one is this item's error
    /// (LayerContentMissing, as for the other backends' diff dirs) rather than a failed mount later.
    /// </summary>
    /// <summary>
    /// Bytes the fs dir of the snapshot <paramref name="snapshotId"/> (an active one: a container's
    /// upper) takes on disk, measured as containerd's snapshotter measures active snapshots (ctr
    /// snapshots usage; docker ps --size with the containerd image store): committed snapshots
    /// have their size recorded, active ones are walked. Null when a directory in it may not be read.
    /// </summary>
    public long? ActiveUsage(string snapshotId)
    {
        if (!ulong.TryParse(snapshotId, NumberStyles.None, CultureInfo.InvariantCulture, out ulong id))
        {
            return null;
        }
        string path = SnapshotPath(id, "fs"); // checked: a real directory below the snapshotter root
        try
        {
            return _snapshotterDir!.BlockUsage("snapshots/" + IdText(id) + "/fs");
        }
        catch (ErrnoException e) when (e.Errno is Errno.EACCES or Errno.EPERM)
        {
            return null;
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw StoreFormat.FromIo(e, path);
        }
    }

    private string SnapshotPath(ulong id, string leaf)
    {
        string rel = "snapshots/" + IdText(id) + "/" + leaf;
        string path = _snapshotterRoot + "/" + rel; // a number and a constant leaf: it cannot leave the root
        try
        {
            if (_snapshotterDir is null)
            {
                // The snapshotter root itself may be a symbolic link (moved to another disk by an admin); nothing below it may.
                _snapshotterDir = StoreDir.TryOpen(_snapshotterRoot, out int errno);
                if (_snapshotterDir is null)
                {
                    throw errno == Errno.ENOENT
                        ? StoreFormat.ContentMissing(path, $"the overlayfs snapshotter dir '{_snapshotterRoot}' does not exist")
                        : new ErrnoException("open", errno, _snapshotterRoot);
                }
            }
            var st = _snapshotterDir.Stat(rel);
            if (st is null)
            {
                throw StoreFormat.ContentMissing(path, $"the snapshot {IdText(id)} has no {leaf} dir on disk (removed behind containerd's back, or by an interrupted removal)");
            }
            if (!st.Value.IsDirectory)
            {
                throw st.Value.IsSymlink
                    ? StoreFormat.OutsideStore(path, $"the snapshot's {leaf} dir is a symbolic link")
                    : StoreFormat.Invalid(path, "it is not a directory");
            }
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw StoreFormat.FromIo(e, path);
        }
        return path;
    }

    private static string IdText(ulong id) => id.ToString(CultureInfo.InvariantCulture);

    private static string KindName(byte kind) => kind switch
    {
        KindView => "View",
        KindActive => "Active",
        KindCommitted => "Committed",
        _ => "Unknown",
    };

    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.X86 => "386",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private OverlayException Invalid(string why, object target)
        => new(ErrorIds.ContainerdMetadataInvalid, OverlayErrorCategory.InvalidData,
            $"The containerd store at '{_root}' holds a record that cannot be used: {why}.", target, ContentStore.StoreAdvice);
}
