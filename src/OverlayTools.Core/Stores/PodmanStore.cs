using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace OverlayTools.Stores;

/// <summary>
/// Podman's store (containers/storage with the overlay driver), read from disk:
/// overlay-layers/layers.json (layers: id, parent, diff-digest, diff-size, flags),
/// overlay-images/images.json (images: id, names, top layer) and the image config stored as the
/// image's big data "sha256:&lt;id&gt;", overlay-containers/containers.json (containers: id, names,
/// image, layer), and overlay/&lt;layer id&gt;/diff (content). The lock files are never touched.
/// </summary>
internal sealed class PodmanStore : ILayerStore
{
    private readonly StoreDir _root;
    private readonly OverlayDriverDir _driver;
    private Dictionary<string, PLayer>? _layerIndex;
    private List<PImage>? _imageIndex;
    private List<PContainer>? _containerIndex;
    private List<StoreImageInfo>? _images;
    private List<StoreContainerInfo>? _containers;
    private readonly Dictionary<string, object> _checked = new(StringComparer.Ordinal); // layer id -> LayerDir or OverlayException
    private readonly Dictionary<string, object> _configs = new(StringComparer.Ordinal);

    private sealed record PLayer(string Id, string? Parent, string? DiffDigest, long? DiffSize, DateTime? Created, bool Incomplete);

    private sealed record PImage(string Id, List<string> Names, string? TopLayer, DateTime? Created, List<string> Digests);

    private sealed record PContainer(string Id, List<string> Names, string? Image, string? Layer, string? ImageName, DateTime? Created);

    private sealed record ImageConfig(List<string> DiffIds, (string? CreatedBy, DateTime? Created)[] History, DateTime? Created);

    internal PodmanStore(StoreDir root)
    {
        _root = root;
        Root = root.Path;
        try
        {
            var home = root.OpenDirFollowing("overlay") ?? throw new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{Root}' has no overlay dir.", Root, "Give the graph root of a containers/storage store that uses the overlay driver.");
            _driver = new OverlayDriverDir(home);
        }
        catch (Exception e) when (e is not OverlayException)
        {
            _root.Dispose();
            throw StoreFormat.FromIo(e, Root);
        }
        catch
        {
            _root.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string Backend => PodmanBackend.BackendName;

    /// <inheritdoc/>
    public string Root { get; }

    // ---- indexes --------------------------------------------------------------------------------

    private JsonDocument? ReadIndex(string rel)
    {
        string path = _root.Join(rel);
        byte[]? bytes;
        try
        {
            bytes = _root.ReadFile(rel, StoreFormat.MaxIndexBytes);
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, path);
        }
        if (bytes is null || bytes.Length == 0)
        {
            return null;
        }
        var doc = StoreFormat.ParseJson(bytes, path);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            doc.Dispose();
            throw StoreFormat.Invalid(path, "it is not a JSON array");
        }
        return doc;
    }

    private Dictionary<string, PLayer> Layers()
    {
        if (_layerIndex is not null)
        {
            return _layerIndex;
        }
        var map = new Dictionary<string, PLayer>(StringComparer.Ordinal);
        foreach (var file in new[] { "overlay-layers/layers.json", "overlay-layers/volatile-layers.json" })
        {
            using var doc = ReadIndex(file);
            if (doc is null)
            {
                continue;
            }
            foreach (var l in doc.RootElement.EnumerateArray())
            {
                string? id = StoreFormat.GetString(l, "id");
                if (!StoreFormat.IsHexId(id))
                {
                    continue; // never used as a path; an image that needs it reports it missing
                }
                bool incomplete = StoreFormat.GetObject(l, "flags") is { } flags && StoreFormat.GetBool(flags, "incomplete");
                map[id!] = new PLayer(id!, StoreFormat.GetString(l, "parent"), StoreFormat.GetString(l, "diff-digest"), StoreFormat.GetLong(l, "diff-size"),
                    StoreFormat.ParseTime(StoreFormat.GetString(l, "created")), incomplete);
            }
        }
        return _layerIndex = map;
    }

    private List<PImage> ImageIndex()
    {
        if (_imageIndex is not null)
        {
            return _imageIndex;
        }
        var list = new List<PImage>();
        using (var doc = ReadIndex("overlay-images/images.json"))
        {
            foreach (var i in doc is null ? [] : doc.RootElement.EnumerateArray().ToList())
            {
                string? id = StoreFormat.GetString(i, "id");
                if (StoreFormat.IsHexId(id))
                {
                    // The manifest digests (digest, and digests since c/storage 1.32): repo@digest answers to the image, as podman's RepoDigests show.
                    var digests = StoreFormat.GetStrings(i, "digests").Prepend(StoreFormat.GetString(i, "digest") ?? "")
                        .Where(StoreFormat.IsDigest).Distinct(StringComparer.Ordinal).ToList();
                    list.Add(new PImage(id!, StoreFormat.GetStrings(i, "names"), StoreFormat.GetString(i, "layer"), StoreFormat.ParseTime(StoreFormat.GetString(i, "created")), digests));
                }
            }
        }
        return _imageIndex = list;
    }

    private List<PContainer> ContainerIndex()
    {
        if (_containerIndex is not null)
        {
            return _containerIndex;
        }
        var list = new List<PContainer>();
        foreach (var file in new[] { "overlay-containers/containers.json", "overlay-containers/volatile-containers.json" })
        {
            using var doc = ReadIndex(file);
            foreach (var c in doc is null ? [] : doc.RootElement.EnumerateArray().ToList())
            {
                string? id = StoreFormat.GetString(c, "id");
                if (!StoreFormat.IsHexId(id))
                {
                    continue;
                }
                string? imageName = null;
                if (StoreFormat.GetString(c, "metadata") is { Length: > 0 } metadata)
                {
                    try
                    {
                        using var meta = JsonDocument.Parse(metadata);
                        imageName = StoreFormat.GetString(meta.RootElement, "image-name");
                    }
                    catch (Exception e) when (e is JsonException or InvalidOperationException)
                    {
                        // Metadata is the engine's free-form string; without it (or with undecodable text in it) the image name is unknown.
                    }
                }
                list.Add(new PContainer(id!, StoreFormat.GetStrings(c, "names"), StoreFormat.GetString(c, "image"), StoreFormat.GetString(c, "layer"),
                    imageName, StoreFormat.ParseTime(StoreFormat.GetString(c, "created"))));
            }
        }
        return _containerIndex = list;
    }

    // ---- listing -------------------------------------------------------------------------------

    /// <inheritdoc/>
    public IReadOnlyList<StoreImageInfo> ListImages()
    {
        if (_images is not null)
        {
            return _images;
        }
        var images = ImageIndex();
        // Untagged images whose top layer lies below another image's top are intermediate.
        var below = new HashSet<string>(StringComparer.Ordinal);
        if (images.Any(i => i.Names.Count == 0))
        {
            var layers = Layers();
            foreach (var image in images)
            {
                int guard = 0;
                for (string? id = image.TopLayer is null ? null : layers.GetValueOrDefault(image.TopLayer)?.Parent; id is not null && guard++ < 1000; id = layers.GetValueOrDefault(id)?.Parent)
                {
                    if (!below.Add(id))
                    {
                        break;
                    }
                }
            }
        }
        return _images = images.Select(i =>
        {
            // Each short spelling of a name, and each digest reference in full and short, with the reference it stands for.
            var aliasNames = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (reference, spellings) in i.Names.Select(n => (n, PodmanAliases(n)))
                .Concat(DigestReferences(i.Names, i.Digests).Select(r => (r, PodmanAliases(r).Prepend(r)))))
            {
                foreach (var a in spellings)
                {
                    aliasNames.TryAdd(a, reference);
                }
            }
            return new StoreImageInfo
            {
                Id = i.Id,
                DisplayId = i.Id,
                Names = i.Names,
                Aliases = aliasNames.Keys.Where(a => !i.Names.Contains(a, StringComparer.Ordinal)).ToList(),
                AliasNames = aliasNames,
                Intermediate = i.Names.Count == 0 && i.TopLayer is not null && below.Contains(i.TopLayer),
                PodmanLookup = true,
                Digests = i.Digests,
            };
        }).ToList();
    }

    /// <summary>
    /// The digest references of an image, as podman image inspect lists them in RepoDigests: each
    /// repository it is named in (a name without its tag), with each manifest digest of the image
    /// (localhost/demo@sha256:… for localhost/demo:1).
    /// </summary>
    internal static IEnumerable<string> DigestReferences(IEnumerable<string> names, IEnumerable<string> digests)
    {
        var repos = new List<string>();
        foreach (var name in names)
        {
            int at = name.IndexOf('@', StringComparison.Ordinal);
            string repo = at >= 0 ? name[..at]
                : name.LastIndexOf(':') > name.LastIndexOf('/') ? name[..name.LastIndexOf(':')] : name;
            if (repo.Length > 0 && !repos.Contains(repo, StringComparer.Ordinal))
            {
                repos.Add(repo);
            }
        }
        var list = digests.ToList();
        return repos.SelectMany(r => list.Select(d => r + "@" + d));
    }

    /// <summary>Short spellings podman accepts: demo:1 for localhost/demo:1, busybox:t for docker.io/library/busybox:t.</summary>
    internal static IEnumerable<string> PodmanAliases(string name)
    {
        foreach (var prefix in new[] { "localhost/", "docker.io/library/", "docker.io/" })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length)
            {
                yield return name[prefix.Length..];
                if (prefix == "docker.io/library/")
                {
                    yield return "library/" + name[prefix.Length..];
                }
                yield break;
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<StoreContainerInfo> ListContainers()
        => _containers ??= ContainerIndex().Select(c => new StoreContainerInfo
        {
            Id = c.Id,
            Names = c.Names,
            ImageId = StoreFormat.IsHexId(c.Image) ? c.Image : null,
            ImageName = c.ImageName,
            Created = c.Created,
        }).ToList();

    // ---- layers --------------------------------------------------------------------------------

    /// <summary>The layer ids from <paramref name="top"/> down to the base, each checked.</summary>
    private List<(PLayer Layer, OverlayDriverDir.LayerDir Dir)> Stack(string top, string owner)
    {
        var layers = Layers();
        var ids = new List<PLayer>();
        string layersPath = _root.Join("overlay-layers/layers.json");
        for (string? id = top; id is not null; id = ids[^1].Parent)
        {
            if (!StoreFormat.IsHexId(id))
            {
                throw StoreFormat.BadId(layersPath, "layer id", id);
            }
            if (ids.Count > 1000)
            {
                throw StoreFormat.ChainMismatch(_driver.HomePath + "/" + top, "its parents form a cycle");
            }
            if (!layers.TryGetValue(id, out var l))
            {
                throw new OverlayException(ErrorIds.LayerMissing, OverlayErrorCategory.ObjectNotFound,
                    $"The layer {id} that {owner} needs is not in '{layersPath}'.", _driver.HomePath + "/" + id,
                    "The store is damaged; run podman system check.");
            }
            if (l.Incomplete)
            {
                throw new OverlayException(ErrorIds.LayerIncomplete, OverlayErrorCategory.InvalidData,
                    $"The layer {id} that {owner} needs is marked incomplete in '{layersPath}' (an interrupted pull, build or removal).", _driver.HomePath + "/" + id + "/diff",
                    "Run podman system check --repair, or remove the image and pull or build it again.");
            }
            ids.Add(l);
        }
        var result = new (PLayer, OverlayDriverDir.LayerDir)[ids.Count];
        OverlayDriverDir.LayerDir? parent = null;
        for (int i = ids.Count - 1; i >= 0; i--)
        {
            parent = CheckDir(ids[i].Id, parent);
            result[i] = (ids[i], parent);
        }
        return result.ToList();
    }

    private OverlayDriverDir.LayerDir CheckDir(string id, OverlayDriverDir.LayerDir? parent)
    {
        if (_checked.TryGetValue(id, out var known) && known is OverlayException e)
        {
            throw e;
        }
        try
        {
            var dir = _driver.Check(id, parent);
            _checked[id] = dir;
            return dir;
        }
        catch (OverlayException ex)
        {
            _checked[id] = ex;
            throw;
        }
    }

    private ImageConfig LoadConfig(string id)
    {
        if (_configs.TryGetValue(id, out var known))
        {
            return known as ImageConfig ?? throw (OverlayException)known;
        }
        // containers/storage names a big-data file "=" + base64(key) unless the key is plain [0-9a-z.].
        string rel = "overlay-images/" + id + "/=" + Convert.ToBase64String(Encoding.UTF8.GetBytes("sha256:" + id));
        string path = _root.Join(rel);
        try
        {
            byte[] bytes = StoreFormat.ReadImageConfig(_root, rel, id, path,
                ErrorIds.ImageConfigInvalid, "The image is incomplete; pull or build it again.", "podman");
            using var doc = StoreFormat.ParseJson(bytes, path);
            var diffIds = StoreFormat.DiffIds(doc.RootElement, path);
            var config = new ImageConfig(diffIds, StoreFormat.LayerHistory(doc.RootElement, diffIds.Count), StoreFormat.ParseTime(StoreFormat.GetString(doc.RootElement, "created")));
            _configs[id] = config;
            return config;
        }
        catch (OverlayException e)
        {
            _configs[id] = e;
            throw;
        }
    }

    /// <summary>Image layers as StoreLayers, top first, with diff ids, chain ids and history from the config.</summary>
    private List<StoreLayer> ImageLayers(List<(PLayer Layer, OverlayDriverDir.LayerDir Dir)> stack, ImageConfig? config, string owner)
    {
        var diffIds = new string?[stack.Count];
        for (int i = 0; i < stack.Count; i++)
        {
            int bottomIndex = stack.Count - 1 - i;
            string? fromLayer = StoreFormat.IsDigest(stack[i].Layer.DiffDigest) ? stack[i].Layer.DiffDigest : null;
            string? fromConfig = config?.DiffIds[bottomIndex];
            if (fromLayer is not null && fromConfig is not null && fromLayer != fromConfig)
            {
                throw StoreFormat.ChainMismatch(stack[i].Dir.DiffPath, $"layers.json gives its diff digest as {fromLayer} but {owner}'s config says {fromConfig}");
            }
            diffIds[i] = fromLayer ?? fromConfig;
        }
        // Chain ids bottom up, as long as every diff id below is known.
        var chainIds = new string?[stack.Count];
        string? chain = null;
        bool known = true;
        for (int i = stack.Count - 1; i >= 0; i--)
        {
            known &= diffIds[i] is not null;
            chain = known ? StoreFormat.ChainId(chain, diffIds[i]!) : null;
            chainIds[i] = chain;
        }
        var result = new List<StoreLayer>(stack.Count);
        for (int i = 0; i < stack.Count; i++)
        {
            var h = config is null ? default : config.History[stack.Count - 1 - i];
            result.Add(new StoreLayer
            {
                Role = LayerRole.Lower,
                Path = stack[i].Dir.DiffPath,
                DiffId = diffIds[i],
                ChainId = chainIds[i],
                CacheId = stack[i].Layer.Id,
                Size = stack[i].Layer.DiffSize,
                CreatedBy = h.CreatedBy,
                Created = h.Created ?? (config is null ? stack[i].Layer.Created : null),
            });
        }
        return result;
    }

    /// <inheritdoc/>
    public StoreImage GetImage(StoreImageInfo image)
    {
        var entry = ImageIndex().FirstOrDefault(i => i.Id == image.Id)
            ?? throw new OverlayException(ErrorIds.ImageNotFound, OverlayErrorCategory.ObjectNotFound, $"The image {image.Id} is not in the store.", image.Id, "List the images again.");
        var config = LoadConfig(image.Id);
        var stack = entry.TopLayer is null ? [] : Stack(entry.TopLayer, "image " + image.DisplayName);
        if (stack.Count != config.DiffIds.Count)
        {
            throw StoreFormat.ChainMismatch(stack.Count > 0 ? stack[0].Dir.DiffPath : _driver.HomePath,
                $"the image {image.DisplayName} has {stack.Count} layers in the store but its config lists {config.DiffIds.Count}");
        }
        return new StoreImage { Backend = Backend, Root = Root, Info = image, Created = config.Created ?? entry.Created, Layers = ImageLayers(stack, config, "image " + image.DisplayName) };
    }

    /// <inheritdoc/>
    public StoreContainer GetContainer(StoreContainerInfo container) => GetContainer(container, measure: true);

    /// <inheritdoc/>
    public StoreContainer GetContainerPaths(StoreContainerInfo container) => GetContainer(container, measure: false);

    private StoreContainer GetContainer(StoreContainerInfo container, bool measure)
    {
        var entry = ContainerIndex().FirstOrDefault(c => c.Id == container.Id)
            ?? throw new OverlayException(ErrorIds.ContainerNotFound, OverlayErrorCategory.ObjectNotFound, $"The container {container.Id} is not in the store.", container.Id, "List the containers again.");
        if (entry.Layer is null)
        {
            throw new OverlayException(ErrorIds.LayerMissing, OverlayErrorCategory.ObjectNotFound,
                $"The container {container.DisplayName} has no layer in '{_root.Join("overlay-containers/containers.json")}'.", container.Id, "Check the container with podman ps -a.");
        }
        string owner = "container " + container.DisplayName;
        var stack = Stack(entry.Layer, owner);
        var upper = stack[0];
        _driver.CheckOwnDirs(upper.Dir);
        var imageStack = stack.GetRange(1, stack.Count - 1);

        StoreImageInfo? image = container.ImageId is null ? null : ListImages().FirstOrDefault(i => i.Id == container.ImageId);
        ImageConfig? config = null;
        if (image is not null)
        {
            var imageEntry = ImageIndex().First(i => i.Id == image.Id);
            try
            {
                config = LoadConfig(image.Id);
                if (imageEntry.TopLayer != upper.Layer.Parent || config.DiffIds.Count != imageStack.Count)
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
                Role = LayerRole.Upper, Path = upper.Dir.DiffPath, CacheId = upper.Layer.Id, Size = measure ? _driver.DiffSize(upper.Layer.Id) : null,
                Created = container.Created ?? upper.Layer.Created, Work = upper.Dir.WorkPath, Merged = upper.Dir.MergedPath,
            },
        };
        layers.AddRange(ImageLayers(imageStack, config, owner));
        return new StoreContainer { Backend = Backend, Root = Root, Info = container, Image = image, Layers = layers };
    }

    /// <summary>
    /// podman rm (containers/storage) flags the container's layer incomplete, deletes its dir, drops
    /// it from layers.json, then drops the container from containers.json; a container record is
    /// only written once its layer is complete. So, read again now: a container that is gone, or
    /// whose own layer is incomplete or gone, is being removed.
    /// </summary>
    public bool IsRemoved(StoreContainerInfo container)
    {
        try
        {
            string? layer = null;
            bool found = false;
            foreach (var file in new[] { "overlay-containers/containers.json", "overlay-containers/volatile-containers.json" })
            {
                using var doc = ReadIndex(file);
                foreach (var c in doc is null ? [] : doc.RootElement.EnumerateArray().ToList())
                {
                    if (StoreFormat.GetString(c, "id") == container.Id)
                    {
                        found = true;
                        layer = StoreFormat.GetString(c, "layer");
                    }
                }
            }
            if (!found)
            {
                return true;
            }
            if (!StoreFormat.IsHexId(layer))
            {
                return false; // no layer id at all is damage, not a removal
            }
            foreach (var file in new[] { "overlay-layers/layers.json", "overlay-layers/volatile-layers.json" })
            {
                using var doc = ReadIndex(file);
                foreach (var l in doc is null ? [] : doc.RootElement.EnumerateArray().ToList())
                {
                    if (StoreFormat.GetString(l, "id") == layer)
                    {
                        return StoreFormat.GetObject(l, "flags") is { } flags && StoreFormat.GetBool(flags, "incomplete");
                    }
                }
            }
            return true;
        }
        catch (OverlayException)
        {
            return false;
        }
    }

    /// <summary>An image no longer in images.json, read again now, was removed (podman rmi).</summary>
    public bool IsRemoved(StoreImageInfo image)
    {
        try
        {
            using var doc = ReadIndex("overlay-images/images.json");
            return doc is null || !doc.RootElement.EnumerateArray().Any(i => StoreFormat.GetString(i, "id") == image.Id);
        }
        catch (OverlayException)
        {
            return false;
        }
    }

    // ---- reverse lookup ------------------------------------------------------------------------

    /// <inheritdoc/>
    public StoreLayerMatch? FindLayer(string path)
    {
        string? dir = _driver.DirNameFromPath(path);
        if (dir is null)
        {
            return null;
        }
        var owner = ContainerIndex().FirstOrDefault(c => c.Layer == dir);
        if (owner is not null)
        {
            var info = ListContainers().First(c => c.Id == owner.Id);
            var c = GetContainer(info, measure: false) /* naming the owner needs no walk of its upper */;
            return new StoreLayerMatch { Layer = c.Upper, Container = info };
        }
        if (Layers().ContainsKey(dir))
        {
            var stack = Stack(dir, "layer " + dir);
            return new StoreLayerMatch { Layer = ImageLayers(stack, null, "layer " + dir)[0] };
        }
        return _driver.PlainDiffPath(dir) is { } diff
            ? new StoreLayerMatch { Layer = new StoreLayer { Role = LayerRole.Lower, Path = diff, CacheId = dir } }
            : null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _driver?.Dispose();
        _root.Dispose();
    }
}
