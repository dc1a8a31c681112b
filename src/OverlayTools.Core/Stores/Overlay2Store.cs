using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using OverlayTools.Interop;

namespace OverlayTools.Stores;

/// <summary>
/// Docker's overlay2 store, read from disk (moby daemon/graphdriver/overlay2 and the layer store):
/// image/overlay2/repositories.json (names), imagedb/content/sha256/&lt;id&gt; (image configs, whose
/// sha256 is the id), layerdb/sha256/&lt;chainID&gt;/{diff,parent,cache-id,size} (layers),
/// layerdb/mounts/&lt;container&gt;/{mount-id,init-id,parent} (container layers),
/// containers/&lt;id&gt;/config.v2.json (container names) and overlay2/&lt;cache-id&gt;/diff (content).
/// </summary>
internal sealed class Overlay2Store : ILayerStore
{
    private readonly StoreDir _root;
    private readonly OverlayDriverDir _driver;
    private readonly StoreDir _imageDb;
    private readonly StoreDir? _containersDir;
    private StoreDir? _layerDb;
    private bool _layerDbOpened;
    private readonly Dictionary<string, object> _layers = new(StringComparer.Ordinal); // chain id -> Layer or OverlayException
    private readonly Dictionary<string, object> _configs = new(StringComparer.Ordinal); // image id -> ImageConfig or OverlayException
    private readonly Dictionary<string, OverlayException> _containerErrors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _containerDrivers = new(StringComparer.Ordinal);
    private List<StoreImageInfo>? _images;
    private List<StoreContainerInfo>? _containers;
    private Dictionary<string, string>? _chainByCacheId;
    private Dictionary<string, string>? _containerByDir;

    private sealed record Layer(string ChainId, string DiffId, string? Parent, string CacheId, long? Size, OverlayDriverDir.LayerDir Dir);

    private sealed record ImageConfig(List<string> DiffIds, string[] ChainIds, (string? CreatedBy, DateTime? Created)[] History, DateTime? Created);

    internal Overlay2Store(StoreDir root)
    {
        _root = root;
        Root = root.Path;
        try
        {
            var home = root.OpenDirFollowing("overlay2") ?? throw new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{Root}' has no overlay2 dir.", Root, "Give the data root of a Docker daemon that uses the overlay2 storage driver.");
            _driver = new OverlayDriverDir(home);
            using var image = root.OpenDirFollowing("image") ?? throw new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{Root}' has no image dir.", Root, "Give the data root of a Docker daemon that uses the overlay2 storage driver.");
            _imageDb = image.OpenDir("overlay2") ?? throw new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{Root}/image' has no overlay2 image store.", Root, "Give the data root of a Docker daemon that uses the overlay2 storage driver.");
            _containersDir = root.OpenDirFollowing("containers");
        }
        catch (Exception e) when (e is not OverlayException)
        {
            Dispose();
            throw StoreFormat.FromIo(e, Root);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string Backend => Overlay2Backend.BackendName;

    /// <inheritdoc/>
    public string Root { get; }

    // ---- listing ------------------------------------------------------------------------------

    /// <inheritdoc/>
    public IReadOnlyList<StoreImageInfo> ListImages()
    {
        if (_images is not null)
        {
            return _images;
        }
        try
        {
            var ids = (_imageDb.List("imagedb/content/sha256") ?? []).Where(StoreFormat.IsHexId).ToList();
            var names = ReadRepositories();
            var parents = new HashSet<string>(StringComparer.Ordinal);
            foreach (var id in ids)
            {
                if (!names.ContainsKey(id))
                {
                    // Only untagged images can be intermediate: read parents only when one exists.
                    foreach (var other in ids)
                    {
                        var p = _imageDb.ReadText("imagedb/metadata/sha256/" + other + "/parent", 256);
                        if (StoreFormat.IsDigest(p))
                        {
                            parents.Add(p![7..]);
                        }
                    }
                    break;
                }
            }
            var list = new List<StoreImageInfo>(ids.Count);
            foreach (var id in ids)
            {
                names.TryGetValue(id, out var refs);
                var tags = refs?.Where(r => !r.Contains('@', StringComparison.Ordinal)).OrderBy(r => r, StringComparer.Ordinal).ToList() ?? [];
                var aliases = new List<string>();
                var aliasNames = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var r in refs ?? [])
                {
                    if (r.Contains('@', StringComparison.Ordinal))
                    {
                        aliases.Add(r);
                        aliasNames.TryAdd(r, r);
                    }
                    foreach (var a in DockerAliases(r))
                    {
                        aliases.Add(a);
                        aliasNames.TryAdd(a, r);
                    }
                }
                list.Add(new StoreImageInfo
                {
                    Id = id,
                    DisplayId = "sha256:" + id,
                    Names = tags,
                    Aliases = aliases,
                    AliasNames = aliasNames,
                    Intermediate = tags.Count == 0 && parents.Contains(id),
                });
            }
            return _images = list;
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _imageDb.Path);
        }
    }

    /// <summary>repositories.json: image id -> the references that name it.</summary>
    private Dictionary<string, List<string>> ReadRepositories()
    {
        var map = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        string path = _imageDb.Join("repositories.json");
        var bytes = _imageDb.ReadFile("repositories.json", StoreFormat.MaxIndexBytes);
        if (bytes is null)
        {
            return map;
        }
        using var doc = StoreFormat.ParseJson(bytes, path);
        var repos = StoreFormat.GetObject(doc.RootElement, "Repositories");
        if (repos is null)
        {
            return map;
        }
        foreach (var repo in repos.Value.EnumerateObject())
        {
            if (repo.Value.ValueKind != JsonValueKind.Object)
            {
                continue;
            }
            foreach (var reference in repo.Value.EnumerateObject())
            {
                string? id = reference.Value.ValueKind == JsonValueKind.String ? reference.Value.GetString() : null;
                if (!StoreFormat.IsDigest(id))
                {
                    continue;
                }
                if (!map.TryGetValue(id![7..], out var list))
                {
                    map[id[7..]] = list = [];
                }
                list.Add(reference.Name);
            }
        }
        return map;
    }

    /// <summary>Other spellings Docker accepts for a familiar name: docker.io/library/x:t for x:t, docker.io/u/x:t for u/x:t.</summary>
    internal static IEnumerable<string> DockerAliases(string reference)
    {
        int slash = reference.IndexOf('/', StringComparison.Ordinal);
        string first = slash < 0 ? "" : reference[..slash];
        bool hasDomain = slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost");
        if (hasDomain)
        {
            yield break;
        }
        if (slash < 0)
        {
            yield return "library/" + reference;
            yield return "docker.io/library/" + reference;
        }
        else
        {
            yield return "docker.io/" + reference;
        }
    }

    /// <inheritdoc/>
    /// <inheritdoc/>
    public IReadOnlyCollection<string> UnreadableContainerIds
    {
        get
        {
            ListContainers();
            return _containerErrors.Keys;
        }
    }

    public IReadOnlyList<StoreContainerInfo> ListContainers()
    {
        if (_containers is not null)
        {
            return _containers;
        }
        var list = new List<StoreContainerInfo>();
        if (_containersDir is null)
        {
            return _containers = list;
        }
        List<string> ids;
        try
        {
            ids = (_containersDir.List() ?? []).Where(StoreFormat.IsHexId).ToList();
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _containersDir.Path);
        }
        foreach (var id in ids)
        {
            string path = _containersDir.Join(id + "/config.v2.json");
            try
            {
                var bytes = _containersDir.ReadFile(id + "/config.v2.json", StoreFormat.MaxJsonBytes);
                if (bytes is null)
                {
                    continue; // a container being created or removed
                }
                using var doc = StoreFormat.ParseJson(bytes, path);
                var c = doc.RootElement;
                string? name = StoreFormat.GetString(c, "Name");
                string? image = StoreFormat.GetString(c, "Image");
                string? imageName = StoreFormat.GetObject(c, "Config") is { } cfg ? StoreFormat.GetString(cfg, "Image") : null;
                _containerDrivers[id] = StoreFormat.GetString(c, "Driver");
                list.Add(new StoreContainerInfo
                {
                    Id = id,
                    Names = string.IsNullOrEmpty(name) ? [] : [name.TrimStart('/')],
                    ImageId = StoreFormat.IsDigest(image) ? image![7..] : null,
                    ImageName = imageName,
                    Created = StoreFormat.ParseTime(StoreFormat.GetString(c, "Created")),
                });
            }
            catch (Exception e)
            {
                _containerErrors[id] = StoreFormat.FromIo(e, path);
                list.Add(new StoreContainerInfo { Id = id });
            }
        }
        return _containers = list;
    }

    // ---- layers -------------------------------------------------------------------------------

    private Layer LoadLayer(string chainId, int depth = 0)
    {
        if (_layers.TryGetValue(chainId, out var known))
        {
            return known as Layer ?? throw (OverlayException)known;
        }
        try
        {
            var layer = ReadLayer(chainId, depth);
            _layers[chainId] = layer;
            return layer;
        }
        catch (OverlayException e)
        {
            _layers[chainId] = e;
            throw;
        }
    }

    private Layer ReadLayer(string chainId, int depth)
    {
        string hex = chainId[7..];
        string rel = "layerdb/sha256/" + hex;
        string metaPath = _imageDb.Join(rel);
        if (depth > 500)
        {
            throw StoreFormat.ChainMismatch(metaPath, "its parents form a cycle or a stack deeper than Docker allows");
        }
        try
        {
            // The layer's dir is opened once; its files are read relative to that descriptor.
            using var dir = OpenLayerDir(hex, metaPath);
            if (dir is null)
            {
                var removing = (LayerDb()?.List() ?? [])
                    .FirstOrDefault(n => n.StartsWith(hex + "-", StringComparison.Ordinal) && n.EndsWith("-removing", StringComparison.Ordinal));
                if (removing is not null)
                {
                    throw new OverlayException(ErrorIds.LayerBeingRemoved, OverlayErrorCategory.ResourceUnavailable,
                        $"The layer {chainId} is being removed by Docker ('{_imageDb.Join("layerdb/sha256/" + removing)}').", _imageDb.Join("layerdb/sha256/" + removing),
                        "Wait for the removal to finish (or for the daemon to clean it up at its next start), then list again.");
                }
                throw new OverlayException(ErrorIds.LayerMissing, OverlayErrorCategory.ObjectNotFound,
                    $"The layer {chainId} is not in Docker's layer database ('{metaPath}' does not exist).", metaPath,
                    "The image refers to a layer that is gone; remove the image and pull or build it again.");
            }
            string? diff = dir.ReadText("diff", 256);
            if (!StoreFormat.IsDigest(diff))
            {
                throw StoreFormat.Invalid(metaPath + "/diff", $"it holds '{diff ?? "nothing"}', not a sha256 digest");
            }
            string? parent = dir.ReadText("parent", 256);
            if (parent is not null && !StoreFormat.IsDigest(parent))
            {
                throw StoreFormat.BadId(metaPath + "/parent", "parent", parent);
            }
            string? cacheId = dir.ReadText("cache-id", 256);
            if (!StoreFormat.IsHexId(cacheId))
            {
                throw StoreFormat.BadId(metaPath + "/cache-id", "cache-id", cacheId);
            }
            string? sizeText = dir.ReadText("size", 64);
            long? size = null;
            if (sizeText is not null)
            {
                size = long.TryParse(sizeText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n)
                    ? n
                    : throw StoreFormat.Invalid(metaPath + "/size", $"it holds '{sizeText}', not a size in bytes");
            }
            string expected = StoreFormat.ChainId(parent, diff!);
            if (!string.Equals(expected, chainId, StringComparison.Ordinal))
            {
                throw StoreFormat.ChainMismatch(metaPath, $"its parent and diff give the chain id {expected}, not {chainId}");
            }
            var parentLayer = parent is null ? null : LoadLayer(parent, depth + 1);
            var layerDir = _driver.Check(cacheId!, parentLayer?.Dir);
            return new Layer(chainId, diff!, parent, cacheId!, size, layerDir);
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw StoreFormat.FromIo(e, metaPath);
        }
    }

    /// <summary>layerdb/sha256, opened once per store; null when the store has none.</summary>
    private StoreDir? LayerDb()
    {
        if (!_layerDbOpened)
        {
            _layerDb = _imageDb.OpenDir("layerdb/sha256");
            _layerDbOpened = true;
        }
        return _layerDb;
    }

    /// <summary>
    /// A layer's metadata dir (layerdb/sha256/&lt;hex&gt;), opened without following a link; null when
    /// it does not exist. A symbolic link or anything but a directory in its place is refused.
    /// </summary>
    private StoreDir? OpenLayerDir(string hex, string metaPath)
    {
        try
        {
            return LayerDb()?.OpenDir(hex);
        }
        catch (ErrnoException e) when (e.Path == metaPath && e.Errno is Errno.ELOOP or Errno.ENOTDIR)
        {
            throw e.Errno == Errno.ELOOP ? StoreFormat.OutsideStore(metaPath, "the layer's metadata dir is a symbolic link") : StoreFormat.Invalid(metaPath, "it is not a directory");
        }
    }

    private ImageConfig LoadConfig(string id)
    {
        if (_configs.TryGetValue(id, out var known))
        {
            return known as ImageConfig ?? throw (OverlayException)known;
        }
        string path = _imageDb.Join("imagedb/content/sha256/" + id);
        try
        {
            byte[] bytes = StoreFormat.ReadImageConfig(_imageDb, "imagedb/content/sha256/" + id, id, path,
                ErrorIds.ImageNotFound, "The image was removed; list the images again.", "Docker");
            using var doc = StoreFormat.ParseJson(bytes, path);
            var diffIds = StoreFormat.DiffIds(doc.RootElement, path);
            var config = new ImageConfig(diffIds, StoreFormat.ChainIds(diffIds), StoreFormat.LayerHistory(doc.RootElement, diffIds.Count),
                StoreFormat.ParseTime(StoreFormat.GetString(doc.RootElement, "created")));
            _configs[id] = config;
            return config;
        }
        catch (OverlayException e)
        {
            _configs[id] = e;
            throw;
        }
    }

    /// <inheritdoc/>
    public StoreImage GetImage(StoreImageInfo image)
    {
        var config = LoadConfig(image.Id);
        var layers = new List<StoreLayer>(config.DiffIds.Count);
        for (int i = config.DiffIds.Count - 1; i >= 0; i--)
        {
            var l = LoadLayer(config.ChainIds[i]);
            layers.Add(ToStoreLayer(l, config.History[i]));
        }
        return new StoreImage { Backend = Backend, Root = Root, Info = image, Created = config.Created, Layers = layers };
    }

    private static StoreLayer ToStoreLayer(Layer l, (string? CreatedBy, DateTime? Created) history) => new()
    {
        Role = LayerRole.Lower,
        Path = l.Dir.DiffPath,
        DiffId = l.DiffId,
        ChainId = l.ChainId,
        CacheId = l.CacheId,
        Size = l.Size,
        CreatedBy = history.CreatedBy,
        Created = history.Created,
    };

    /// <inheritdoc/>
    public StoreContainer GetContainer(StoreContainerInfo container) => GetContainer(container, measure: true);

    /// <inheritdoc/>
    public StoreContainer GetContainerPaths(StoreContainerInfo container) => GetContainer(container, measure: false);

    private StoreContainer GetContainer(StoreContainerInfo container, bool measure)
    {
        ListContainers();
        if (_containerErrors.TryGetValue(container.Id, out var error))
        {
            throw error;
        }
        if (_containerDrivers.TryGetValue(container.Id, out var driver) && driver is not null && driver != "overlay2")
        {
            throw new OverlayException(ErrorIds.LayerStoreUnsupported, OverlayErrorCategory.NotImplemented,
                $"The container {container.DisplayName} uses the '{driver}' storage driver; only overlay2 containers can be read.", container.Id,
                "Use the engine's own tools for this container.");
        }
        string rel = "layerdb/mounts/" + container.Id;
        string metaPath = _imageDb.Join(rel);
        string? mountId, initId, parent;
        try
        {
            // The container's dir is opened once; its files are read relative to that descriptor.
            using var dir = _imageDb.OpenDir(rel);
            mountId = dir?.ReadText("mount-id", 256);
            initId = dir?.ReadText("init-id", 256);
            parent = dir?.ReadText("parent", 256);
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, metaPath);
        }
        if (mountId is null)
        {
            throw new OverlayException(ErrorIds.LayerMissing, OverlayErrorCategory.ObjectNotFound,
                $"The container {container.DisplayName} has no layer in Docker's layer database ('{metaPath}/mount-id' does not exist).", metaPath,
                "The container is being created or removed, or its layer was deleted; check it with docker ps -a.");
        }
        if (!StoreFormat.IsHexId(mountId))
        {
            throw StoreFormat.BadId(metaPath + "/mount-id", "mount-id", mountId);
        }
        if (initId is not null && initId != mountId + "-init")
        {
            throw StoreFormat.BadId(metaPath + "/init-id", "init-id", initId);
        }
        if (parent is not null && !StoreFormat.IsDigest(parent))
        {
            throw StoreFormat.BadId(metaPath + "/parent", "parent", parent);
        }

        var top = parent is null ? null : LoadLayer(parent);
        var initDir = initId is null ? null : _driver.Check(initId, top?.Dir);
        var upperDir = _driver.Check(mountId, initDir ?? top?.Dir);
        _driver.CheckOwnDirs(upperDir);

        // The image's history, when the container's image is still the one below it.
        StoreImageInfo? image = container.ImageId is null ? null : ListImages().FirstOrDefault(i => i.Id == container.ImageId);
        ImageConfig? config = null;
        if (image is not null)
        {
            try
            {
                config = LoadConfig(image.Id);
                if (config.ChainIds.Length == 0 ? parent is not null : config.ChainIds[^1] != parent)
                {
                    config = null;
                }
            }
            catch (OverlayException)
            {
                config = null;
            }
        }

        var layers = new List<StoreLayer>
        {
            new()
            {
                Role = LayerRole.Upper, Path = upperDir.DiffPath, CacheId = mountId, Size = measure ? _driver.DiffSize(mountId) : null,
                Created = container.Created, Work = upperDir.WorkPath, Merged = upperDir.MergedPath,
            },
        };
        if (initDir is not null)
        {
            layers.Add(new StoreLayer { Role = LayerRole.Init, Path = initDir.DiffPath, CacheId = initId, Size = measure ? _driver.DiffSize(initId!) : null, Created = container.Created });
        }
        var stack = new List<Layer>();
        for (var l = top; l is not null; l = l.Parent is null ? null : LoadLayer(l.Parent))
        {
            stack.Add(l);
        }
        for (int i = 0; i < stack.Count; i++)
        {
            int bottomIndex = stack.Count - 1 - i;
            layers.Add(ToStoreLayer(stack[i], config is null ? default : config.History[bottomIndex]));
        }
        return new StoreContainer { Backend = Backend, Root = Root, Info = container, Image = image, Layers = layers };
    }

    /// <summary>
    /// docker rm marks the container Dead in its config.v2.json (State.Dead, RemovalInProgress),
    /// then releases its layer (the driver dir, then layerdb/mounts/&lt;id&gt;), then deletes
    /// containers/&lt;id&gt;: a container whose config is gone, or says so, is being removed.
    /// </summary>
    public bool IsRemoved(StoreContainerInfo container)
    {
        if (_containersDir is null || !StoreFormat.IsHexId(container.Id))
        {
            return false;
        }
        string rel = container.Id + "/config.v2.json";
        try
        {
            var bytes = _containersDir.ReadFile(rel, StoreFormat.MaxJsonBytes);
            if (bytes is null)
            {
                return true;
            }
            using var doc = StoreFormat.ParseJson(bytes, _containersDir.Join(rel));
            return StoreFormat.GetObject(doc.RootElement, "State") is { } state
                && (StoreFormat.GetBool(state, "Dead") || StoreFormat.GetBool(state, "RemovalInProgress"));
        }
        catch (Exception e) when (e is OverlayException or ErrnoException or System.IO.IOException)
        {
            return false;
        }
    }

    /// <summary>An image whose config (imagedb/content/sha256/&lt;id&gt;) is gone was removed (docker rmi).</summary>
    public bool IsRemoved(StoreImageInfo image)
    {
        try
        {
            return StoreFormat.IsHexId(image.Id) && _imageDb.Stat("imagedb/content/sha256/" + image.Id) is null;
        }
        catch (Exception e) when (e is ErrnoException or System.IO.IOException)
        {
            return false;
        }
    }

    // ---- reverse lookup -------------------------------------------------------------------------

    /// <inheritdoc/>
    public StoreLayerMatch? FindLayer(string path)
    {
        string? dir = _driver.DirNameFromPath(path);
        if (dir is null)
        {
            return null;
        }
        _containerByDir ??= ReadMountIds();
        if (_containerByDir.TryGetValue(dir, out var containerId))
        {
            var info = ListContainers().FirstOrDefault(c => c.Id == containerId) ?? new StoreContainerInfo { Id = containerId };
            var c = GetContainer(info, measure: false) /* naming the owner needs no walk of its upper */;
            var layer = c.Layers.First(l => l.CacheId == dir);
            return new StoreLayerMatch { Layer = layer, Container = info };
        }
        _chainByCacheId ??= ReadCacheIds();
        if (_chainByCacheId.TryGetValue(dir, out var chainId))
        {
            return new StoreLayerMatch { Layer = ToStoreLayer(LoadLayer(chainId), default) };
        }
        return OrphanLayer(dir);
    }

    /// <summary>A layer dir no image or container records (left behind by an interrupted removal): reported with what the dir itself shows.</summary>
    private StoreLayerMatch? OrphanLayer(string dir)
        => _driver.PlainDiffPath(dir) is { } diff ? new StoreLayerMatch { Layer = new StoreLayer { Role = LayerRole.Lower, Path = diff, CacheId = dir } } : null;

    private Dictionary<string, string> ReadCacheIds()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var layerDb = LayerDb();
            foreach (var name in layerDb?.List() ?? [])
            {
                if (StoreFormat.IsHexId(name) && layerDb!.ReadText(name + "/cache-id", 256) is { } cacheId && StoreFormat.IsHexId(cacheId))
                {
                    map[cacheId] = "sha256:" + name;
                }
            }
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _imageDb.Join("layerdb/sha256"));
        }
        return map;
    }

    private Dictionary<string, string> ReadMountIds()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var mounts = _imageDb.OpenDir("layerdb/mounts");
            foreach (var id in mounts?.List() ?? [])
            {
                if (!StoreFormat.IsHexId(id))
                {
                    continue;
                }
                if (mounts!.ReadText(id + "/mount-id", 256) is { } mountId && StoreFormat.IsHexId(mountId))
                {
                    map[mountId] = id;
                    map[mountId + "-init"] = id;
                }
            }
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _imageDb.Join("layerdb/mounts"));
        }
        return map;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _driver?.Dispose();
        _layerDb?.Dispose();
        _imageDb?.Dispose();
        _containersDir?.Dispose();
        _root.Dispose();
    }
}
