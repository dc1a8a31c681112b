using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using OverlayTools.Interop;

namespace OverlayTools.Stores.Containerd;

/// <summary>containerd's overlayfs snapshotter store (Docker 29's default image store, Kubernetes nodes).</summary>
internal sealed class ContainerdBackend : ILayerStoreBackend
{
    internal const string BackendName = "containerd";

    private const string SnapshotsMarker = "/io.containerd.snapshotter.v1.overlayfs/snapshots/";

    public string Name => BackendName;

    public IEnumerable<string> DefaultRoots() => DefaultRootsFrom("/etc/containerd/config.toml");

    /// <summary>
    /// The root of containerd's config.toml (a top-level root = "..."), then /var/lib/containerd,
    /// then the root of the containerd that Docker starts itself when no system one is configured.
    /// </summary>
    internal static IEnumerable<string> DefaultRootsFrom(string configToml)
    {
        string? configured = null;
        try
        {
            if (File.Exists(configToml) && new FileInfo(configToml).Length < 1024 * 1024)
            {
                configured = TopLevelRoot(File.ReadAllText(configToml));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            configured = null;
        }
        if (configured is { Length: > 1 } && configured.StartsWith('/'))
        {
            yield return configured.TrimEnd('/');
        }
        yield return ContainerdStore.DefaultDataRoot;
        yield return "/var/lib/docker/containerd/daemon";
    }

    /// <summary>The basic-string value of a top-level 'root' key (before the first table); null when absent.</summary>
    internal static string? TopLevelRoot(string toml)
    {
        foreach (var raw in toml.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            if (line[0] == '[')
            {
                return null;
            }
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || line[..eq].Trim() != "root")
            {
                continue;
            }
            string v = line[(eq + 1)..].Trim();
            if (v.Length >= 2 && (v[0] == '"' || v[0] == '\''))
            {
                int end = v.IndexOf(v[0], 1);
                if (end > 0 && !(v[0] == '"' && v[1..end].Contains('\\', StringComparison.Ordinal)))
                {
                    return v[1..end];
                }
            }
            return null;
        }
        return null;
    }

    public bool Probe(string root, out string? problem)
    {
        problem = null;
        return ContainerdStore.IsStore(root);
    }

    public ILayerStore Open(string root) => new ContainerdLayerStore(Overlay2Backend.RealRoot(root));

    public string? RootFromLayerPath(string path)
    {
        if (!path.StartsWith('/'))
        {
            return null;
        }
        int i = path.LastIndexOf(SnapshotsMarker, StringComparison.Ordinal);
        if (i < 0)
        {
            return null;
        }
        string rest = path[(i + SnapshotsMarker.Length)..].TrimEnd('/');
        return ContainerdLayerStore.IsSnapshotDir(rest) ? (i == 0 ? "/" : path[..i]) : null;
    }
}

/// <summary>
/// containerd's store as an <see cref="ILayerStore"/>: one store for all namespaces (each item
/// carries its namespace). An image is an image record's target, grouped with the other names
/// of the same target in its namespace; its id is the target digest (what docker images shows
/// with the containerd store). A container's layers are its active snapshot (the upper) and the
/// parent chain, as ctr snapshots mounts prints them.
/// </summary>
internal sealed class ContainerdLayerStore : ILayerStore
{
    private readonly ContainerdStoreReader _reader;
    private List<StoreImageInfo>? _images;
    private List<StoreContainerInfo>? _containers;
    private readonly Dictionary<(string Ns, string Id), List<string>> _records = new();
    private readonly Dictionary<(string Ns, string Id), object> _imageReads = new(); // StoreImage or OverlayException, as overlay2 keeps its configs

    internal ContainerdLayerStore(string root)
    {
        _reader = ContainerdStoreReader.Open(root);
    }

    public string Backend => ContainerdBackend.BackendName;

    public string Root => _reader.DataRoot;

    /// <summary>The namespaces of the store.</summary>
    internal IReadOnlyList<string> Namespaces => _reader.Namespaces;

    /// <summary>Docker's namespace first, then Kubernetes', then the others: the order a bare name is looked up in.</summary>
    private IEnumerable<string> OrderedNamespaces()
        => _reader.Namespaces.OrderBy(n => n == "moby" ? 0 : n == "k8s.io" ? 1 : 2).ThenBy(n => n, StringComparer.Ordinal);

    internal static bool IsSnapshotDir(string rel)
    {
        string[] parts = rel.Split('/');
        return parts.Length is 1 or 2 && parts[0].Length is > 0 and <= 20 && parts[0][0] != '0' && parts[0].All(char.IsAsciiDigit)
               && (parts.Length == 1 || parts[1] is "fs" or "work");
    }

    public IReadOnlyList<StoreImageInfo> ListImages()
    {
        if (_images is not null)
        {
            return _images;
        }
        var list = new List<StoreImageInfo>();
        var all = _reader.ListImages(); // one consistent read of every namespace
        foreach (string ns in OrderedNamespaces())
        {
            // Records whose target digest is no digest cannot be read; GetImage would say so, but
            // there is nothing to list them by.
            var byTarget = all.Where(e => e.Namespace == ns && StoreFormat.IsDigest(e.Digest)).GroupBy(e => e.Digest, StringComparer.Ordinal);
            foreach (var g in byTarget)
            {
                string id = g.Key["sha256:".Length..];
                var records = g.Select(e => e.Name).ToList();
                var names = records.Where(n => !n.StartsWith("sha256:", StringComparison.Ordinal)).ToList();
                var aliases = new List<string>();
                var aliasNames = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (string n in names)
                {
                    foreach (string a in ShortForms(n))
                    {
                        if (!names.Contains(a, StringComparer.Ordinal) && !aliases.Contains(a, StringComparer.Ordinal))
                        {
                            aliases.Add(a);
                            aliasNames[a] = n;
                        }
                    }
                }
                // CRI's records named by the config digest answer to that digest.
                aliases.AddRange(records.Where(n => n.StartsWith("sha256:", StringComparison.Ordinal)));
                _records[(ns, id)] = records;
                list.Add(new StoreImageInfo
                {
                    Id = id,
                    DisplayId = g.Key,
                    Names = names,
                    Aliases = aliases,
                    AliasNames = aliasNames,
                    Namespace = ns,
                });
            }
        }
        _images = list;
        return list;
    }

    /// <summary>The shorter spellings Docker accepts for a full reference: nginx:1 for docker.io/library/nginx:1, and so on.</summary>
    internal static IEnumerable<string> ShortForms(string name)
    {
        const string hub = "docker.io/"; // the registry Docker assumes when a name has none
        if (!name.StartsWith(hub, StringComparison.Ordinal))
        {
            yield break;
        }
        string path = name[hub.Length..];
        yield return path;                               // library/nginx:latest, user/app:1
        if (path.StartsWith("library/", StringComparison.Ordinal))
        {
            yield return path["library/".Length..];      // nginx:latest
        }
    }

    public IReadOnlyList<StoreContainerInfo> ListContainers()
    {
        if (_containers is not null)
        {
            return _containers;
        }
        var list = new List<StoreContainerInfo>();
        var all = _reader.ListContainers(); // one consistent read of every namespace
        foreach (string ns in OrderedNamespaces())
        {
            foreach (var c in all.Where(c => c.Namespace == ns))
            {
                list.Add(new StoreContainerInfo
                {
                    Id = c.Id,
                    Names = [c.Id],
                    ImageName = c.Image,
                    Created = c.Created,
                    Namespace = ns,
                });
            }
        }
        _containers = list;
        return list;
    }

    /// <summary>
    /// An image's layers, read once per store (GetContainer and LayerOutput.ImageWithLayer ask for
    /// the same image again and again); a failure is kept as well. Each call's result carries the
    /// <see cref="StoreImageInfo"/> it was asked with.
    /// </summary>
    public StoreImage GetImage(StoreImageInfo image)
    {
        string ns = image.Namespace ?? throw new ArgumentException("A containerd image carries its namespace.", nameof(image));
        var key = (ns, image.Id);
        if (!_imageReads.TryGetValue(key, out var known))
        {
            try
            {
                known = ReadImage(ns, image);
            }
            catch (OverlayException e)
            {
                known = e;
            }
            _imageReads[key] = known;
        }
        var read = known as StoreImage ?? throw (OverlayException)known;
        return ReferenceEquals(read.Info, image) ? read
            : new StoreImage { Backend = read.Backend, Root = read.Root, Info = image, Created = read.Created, Layers = read.Layers };
    }

    private StoreImage ReadImage(string ns, StoreImageInfo image)
    {
        ListImages();
        if (!_records.TryGetValue((ns, image.Id), out var records) || records.Count == 0)
        {
            throw new OverlayException(ErrorIds.ImageNotFound, OverlayErrorCategory.ObjectNotFound,
                $"Namespace '{ns}' of the containerd store at '{Root}' has no image {image.DisplayId}.", image.DisplayId, "Run Get-OverlayLayer -Image * to see the images.");
        }
        var read = _reader.GetImage(ns, records[0]);
        return new StoreImage
        {
            Backend = Backend,
            Root = Root,
            Info = image,
            Created = read.Created,
            Layers = read.Layers.Select(l => new StoreLayer
            {
                Role = LayerRole.Lower,
                Path = l.Path,
                DiffId = l.DiffId,
                ChainId = l.ChainId,
                CacheId = l.SnapshotId,
                Size = l.Size,
                CreatedBy = l.CreatedBy,
                Created = l.Created,
            }).ToList(),
        };
    }

    public StoreContainer GetContainer(StoreContainerInfo container) => GetContainer(container, withImage: true);

    /// <summary>A container's dirs only: its image's manifest, config and history are not read.</summary>
    public StoreContainer GetContainerPaths(StoreContainerInfo container) => GetContainer(container, withImage: false);

    private StoreContainer GetContainer(StoreContainerInfo container, bool withImage)
    {
        string ns = container.Namespace ?? throw new ArgumentException("A containerd container carries its namespace.", nameof(container));
        var read = _reader.GetContainer(ns, container.Id);
        if (read.Upper is null)
        {
            throw new OverlayException(ErrorIds.ContainerdSnapshotMissing, OverlayErrorCategory.InvalidOperation,
                $"Container '{container.Id}' in namespace '{ns}' has a read-only view ({read.SnapshotKey}) and no writable snapshot.", container.Id,
                "Read it as an image instead: Get-OverlayLayer -Image with the container's image shows the same layers.");
        }

        // The image's layers give the container's lowers their diff ids and history, when the image is still there.
        StoreImageInfo? imageInfo = null;
        Dictionary<string, StoreLayer>? byPath = null;
        if (withImage && read.Image is { } imageName)
        {
            imageInfo = ListImages().FirstOrDefault(i => i.Namespace == ns && _records[(ns, i.Id)].Contains(imageName, StringComparer.Ordinal));
            if (imageInfo is not null)
            {
                // Shown by the name the container was created from, among the names of the same target.
                if (imageInfo.Names.Contains(imageName, StringComparer.Ordinal) && imageInfo.Names[0] != imageName)
                {
                    imageInfo = new StoreImageInfo
                    {
                        Id = imageInfo.Id,
                        DisplayId = imageInfo.DisplayId,
                        Names = imageInfo.Names.Where(n => n != imageName).Prepend(imageName).ToList(),
                        Aliases = imageInfo.Aliases,
                        AliasNames = imageInfo.AliasNames,
                        Intermediate = imageInfo.Intermediate,
                        Namespace = imageInfo.Namespace,
                    };
                }
                try
                {
                    byPath = GetImage(imageInfo).Layers.ToDictionary(l => l.Path, StringComparer.Ordinal);
                }
                catch (OverlayException)
                {
                    byPath = null; // the container's own paths stand without the image's details
                }
            }
        }

        var layers = new List<StoreLayer>
        {
            new()
            {
                Role = LayerRole.Upper,
                Path = read.Upper,
                CacheId = read.SnapshotId,
                Size = withImage ? _reader.ActiveUsage(read.SnapshotId) : null, // a walk of the upper: not for callers that need its paths only
                Created = read.Created,
                Work = read.Work,
            },
        };
        for (int i = 0; i < read.Lowers.Count; i++)
        {
            StoreLayer? il = null;
            byPath?.TryGetValue(read.Lowers[i], out il);
            layers.Add(new StoreLayer
            {
                Role = LayerRole.Lower,
                Path = read.Lowers[i],
                DiffId = il?.DiffId,
                ChainId = il?.ChainId,
                CacheId = read.LowerSnapshotIds[i],
                Size = il?.Size,
                CreatedBy = il?.CreatedBy,
                Created = il?.Created,
            });
        }
        return new StoreContainer
        {
            Backend = Backend,
            Root = Root,
            Info = container,
            Image = imageInfo,
            Layers = layers,
        };
    }

    /// <summary>Whether the container is no longer in its namespace, as containerd's meta.db says now (read again if containerd committed since).</summary>
    public bool IsRemoved(StoreContainerInfo container)
        => container.Namespace is { } ns && Fresh(() => !_reader.ListContainers(ns).Any(c => c.Id == container.Id));

    /// <summary>Whether no image record of the namespace points at the image's target any more, as meta.db says now.</summary>
    public bool IsRemoved(StoreImageInfo image)
        => image.Namespace is { } ns && Fresh(() => !_reader.ListImages(ns).Any(e => e.Digest == image.DisplayId));

    private bool Fresh(Func<bool> check)
    {
        try
        {
            if (_reader.HasChanged())
            {
                _reader.Refresh();
            }
            return check();
        }
        catch (OverlayException)
        {
            return false;
        }
    }

    public StoreLayerMatch? FindLayer(string path)
    {
        // containerd mounts long stacks with paths relative to the snapshots dir ("5/fs").
        string full = path.StartsWith('/') ? path : IsSnapshotDir(path.TrimEnd('/')) ? _reader.SnapshotterRoot + "/snapshots/" + path : path;
        var m = _reader.FindLayer(full);
        if (m is null)
        {
            return null;
        }
        StoreContainerInfo? owner = null;
        if (m.ContainerIds.Count == 1)
        {
            owner = ListContainers().FirstOrDefault(c => c.Namespace == m.Namespace && c.Id == m.ContainerIds[0]);
        }
        bool writable = m.Kind == "Active";
        return new StoreLayerMatch
        {
            Layer = new StoreLayer
            {
                Role = writable ? LayerRole.Upper : LayerRole.Lower,
                Path = m.Path,
                ChainId = m.ChainId,
                CacheId = m.SnapshotId,
                Work = m.Work,
            },
            Container = owner,
        };
    }

    public void Dispose() => _reader.Dispose();
}
