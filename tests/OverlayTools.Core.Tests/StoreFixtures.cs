using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OverlayTools.Stores;

namespace OverlayTools.Core.Tests;

/// <summary>Builds small on-disk stores laid out as the engines lay them out (no root needed).</summary>
internal abstract class StoreFixture : IDisposable
{
    private static int s_links;

    protected StoreFixture(string kind)
    {
        Root = Path.Combine(Path.GetTempPath(), $"ot-xunit-{kind}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public static string Digest(string seed) => "sha256:" + Hex(seed);

    public static string Hex(string seed) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seed))).ToLowerInvariant();

    protected static string NewLink()
    {
        int n = System.Threading.Interlocked.Increment(ref s_links);
        return ("LINK" + n.ToString("D6") + new string('A', 26)).Substring(0, 26);
    }

    public static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    /// <summary>An image config with rootfs.diff_ids and history (one ENV entry marked empty_layer).</summary>
    public static byte[] Config(IReadOnlyList<string> diffIds, IReadOnlyList<string> createdBy)
    {
        var history = new List<object>();
        for (int i = 0; i < diffIds.Count; i++)
        {
            history.Add(new Dictionary<string, object> { ["created"] = $"2026-01-0{(i % 9) + 1}T10:00:00.123456789Z", ["created_by"] = createdBy[i] });
            if (i == 0)
            {
                history.Add(new Dictionary<string, object> { ["created"] = "2026-01-01T10:00:01Z", ["created_by"] = "/bin/sh -c #(nop)  ENV A=b", ["empty_layer"] = true });
            }
        }
        var config = new Dictionary<string, object>
        {
            ["architecture"] = "amd64",
            ["created"] = "2026-01-09T10:00:00Z",
            ["history"] = history,
            ["os"] = "linux",
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds },
        };
        return JsonSerializer.SerializeToUtf8Bytes(config);
    }

    /// <summary>An overlay driver layer dir: diff/, link, lower, and its l/ short link.</summary>
    protected (string Link, string? Lower) DriverLayer(string home, string dir, (string Link, string? Lower)? parent)
    {
        Directory.CreateDirectory(Path.Combine(home, dir, "diff"));
        Directory.CreateDirectory(Path.Combine(home, dir, "work"));
        string link = NewLink();
        Write(Path.Combine(home, dir, "link"), link);
        Directory.CreateDirectory(Path.Combine(home, "l"));
        File.CreateSymbolicLink(Path.Combine(home, "l", link), "../" + dir + "/diff");
        string? lower = parent is null ? null : parent.Value.Lower is null ? "l/" + parent.Value.Link : "l/" + parent.Value.Link + ":" + parent.Value.Lower;
        if (lower is not null)
        {
            Write(Path.Combine(home, dir, "lower"), lower);
        }
        return (link, lower);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A Docker data root with the overlay2 driver.</summary>
internal sealed class DockerFixture : StoreFixture
{
    private readonly Dictionary<string, (string Link, string? Lower)> _dirs = new();
    private readonly Dictionary<string, List<string>> _tags = new();

    public DockerFixture() : base("docker")
    {
        foreach (var d in new[] { "image/overlay2/layerdb/sha256", "image/overlay2/layerdb/mounts", "image/overlay2/imagedb/content/sha256",
                     "image/overlay2/imagedb/metadata/sha256", "overlay2/l", "containers", "volumes" })
        {
            Directory.CreateDirectory(Path.Combine(Root, d));
        }
    }

    public string Home => Path.Combine(Root, "overlay2");

    public string LayerDb(string chainId) => Path.Combine(Root, "image/overlay2/layerdb/sha256", chainId[7..]);

    public Dictionary<string, string> CacheIds { get; } = new(); // chain id -> cache id

    /// <summary>Adds the layers of a stack (bottom first) that are not there yet; returns the chain ids.</summary>
    public string[] AddLayers(IReadOnlyList<string> diffIds, long size = 100)
    {
        var chains = StoreFormat.ChainIds(diffIds);
        for (int i = 0; i < chains.Length; i++)
        {
            if (CacheIds.ContainsKey(chains[i]))
            {
                continue;
            }
            string cache = Hex("cache" + chains[i]);
            string db = LayerDb(chains[i]);
            Write(Path.Combine(db, "diff"), diffIds[i]);
            Write(Path.Combine(db, "cache-id"), cache);
            Write(Path.Combine(db, "size"), (size + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (i > 0)
            {
                Write(Path.Combine(db, "parent"), chains[i - 1]);
            }
            _dirs[cache] = DriverLayer(Home, cache, i == 0 ? null : _dirs[CacheIds[chains[i - 1]]]);
            CacheIds[chains[i]] = cache;
        }
        return chains;
    }

    /// <summary>Adds an image (config, layers, tag); returns its id (hex).</summary>
    public string AddImage(string? tag, params string[] diffIds)
    {
        AddLayers(diffIds);
        var bytes = Config(diffIds, diffIds.Select((d, i) => "step " + i + " of " + tag).ToList());
        string id = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(Root, "image/overlay2/imagedb/content/sha256", id), bytes);
        if (tag is not null)
        {
            string repo = tag[..tag.LastIndexOf(':')];
            if (!_tags.TryGetValue(repo, out var list))
            {
                _tags[repo] = list = [];
            }
            list.Add(tag + "=" + id);
            var repos = _tags.ToDictionary(kv => kv.Key, kv => kv.Value.ToDictionary(t => t[..t.IndexOf('=')], t => "sha256:" + t[(t.IndexOf('=') + 1)..]));
            File.WriteAllBytes(Path.Combine(Root, "image/overlay2/repositories.json"), JsonSerializer.SerializeToUtf8Bytes(new { Repositories = repos }));
        }
        return id;
    }

    public void SetParent(string imageId, string parentId) => Write(Path.Combine(Root, "image/overlay2/imagedb/metadata/sha256", imageId, "parent"), "sha256:" + parentId);

    /// <summary>Adds a container on an image's top layer: mount-id, init-id, parent, the two driver dirs, config.v2.json.</summary>
    public (string Id, string MountId) AddContainer(string name, string imageId, string topChain)
    {
        string id = Hex("container " + name);
        string mountId = Hex("mount " + name);
        string mounts = Path.Combine(Root, "image/overlay2/layerdb/mounts", id);
        Write(Path.Combine(mounts, "mount-id"), mountId);
        Write(Path.Combine(mounts, "init-id"), mountId + "-init");
        Write(Path.Combine(mounts, "parent"), topChain);
        var init = DriverLayer(Home, mountId + "-init", _dirs[CacheIds[topChain]]);
        DriverLayer(Home, mountId, init);
        Write(Path.Combine(Home, mountId, "diff", "changed.txt"), "12345");
        Write(Path.Combine(Home, mountId + "-init", "diff", "etc", "hosts"), "");
        Directory.CreateDirectory(Path.Combine(Root, "containers", id));
        File.WriteAllBytes(Path.Combine(Root, "containers", id, "config.v2.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            ID = id,
            Name = "/" + name,
            Image = "sha256:" + imageId,
            Created = "2026-02-01T10:00:00.5Z",
            Driver = "overlay2",
            Config = new { Image = "app:1" },
        }));
        return (id, mountId);
    }
}

/// <summary>A containers/storage graph root with the overlay driver.</summary>
internal sealed class PodmanFixture : StoreFixture
{
    private readonly List<Dictionary<string, object>> _layers = [];
    private readonly List<Dictionary<string, object>> _images = [];
    private readonly List<Dictionary<string, object>> _containers = [];
    private readonly Dictionary<string, (string Link, string? Lower)> _dirs = new();

    public PodmanFixture() : base("podman")
    {
        foreach (var d in new[] { "overlay/l", "overlay-layers", "overlay-images", "overlay-containers" })
        {
            Directory.CreateDirectory(Path.Combine(Root, d));
        }
    }

    public string Home => Path.Combine(Root, "overlay");

    public IReadOnlyList<Dictionary<string, object>> LayerRecords => _layers;

    /// <summary>Adds a layer record and dir; returns its id.</summary>
    public string AddLayer(string? parent, string? diffDigest, long? size, string? name = null)
    {
        string id = Hex("layer " + parent + diffDigest + name);
        var rec = new Dictionary<string, object> { ["id"] = id, ["created"] = "2026-03-01T00:00:00Z" };
        if (parent is not null)
        {
            rec["parent"] = parent;
        }
        if (diffDigest is not null)
        {
            rec["diff-digest"] = diffDigest;
        }
        if (size is not null)
        {
            rec["diff-size"] = size.Value;
        }
        if (name is not null)
        {
            rec["names"] = new[] { name };
        }
        _layers.Add(rec);
        _dirs[id] = DriverLayer(Home, id, parent is null ? null : _dirs[parent]);
        if (parent is null)
        {
            Directory.CreateDirectory(Path.Combine(Home, id, "empty"));
        }
        Save();
        return id;
    }

    /// <summary>Adds an image: its layers (bottom first), config big data, images.json entry; returns (id, top layer).</summary>
    public (string Id, string Top) AddImage(string[] names, params string[] diffIds)
    {
        string? parent = null;
        for (int i = 0; i < diffIds.Length; i++)
        {
            string want = Hex("layer " + parent + diffIds[i] + null);
            parent = _layers.Any(l => (string)l["id"] == want) ? want : AddLayer(parent, diffIds[i], 1000 + i);
        }
        var bytes = Config(diffIds, diffIds.Select((d, i) => "step " + i).ToList());
        string id = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        string file = "=" + Convert.ToBase64String(Encoding.UTF8.GetBytes("sha256:" + id));
        Directory.CreateDirectory(Path.Combine(Root, "overlay-images", id));
        File.WriteAllBytes(Path.Combine(Root, "overlay-images", id, file), bytes);
        _images.Add(new Dictionary<string, object> { ["id"] = id, ["names"] = names, ["layer"] = parent!, ["created"] = "2026-03-02T00:00:00Z" });
        Save();
        return (id, parent!);
    }

    public (string Id, string Layer) AddContainer(string name, string imageId, string imageTop)
    {
        string layer = AddLayer(imageTop, null, null, name + "-layer");
        Write(Path.Combine(Home, layer, "diff", "new.txt"), "1234");
        string id = Hex("container " + name);
        _containers.Add(new Dictionary<string, object>
        {
            ["id"] = id,
            ["names"] = new[] { name },
            ["image"] = imageId,
            ["layer"] = layer,
            ["metadata"] = JsonSerializer.Serialize(new Dictionary<string, string> { ["image-name"] = "localhost/app:1" }),
            ["created"] = "2026-03-03T00:00:00Z",
        });
        Save();
        return (id, layer);
    }

    /// <summary>Sets a field of an image's images.json record (digest, digests...).</summary>
    public void SetImageField(string id, string field, object value)
    {
        _images.Single(i => (string)i["id"] == id)[field] = value;
        Save();
    }

    public void Save()
    {
        File.WriteAllBytes(Path.Combine(Root, "overlay-layers/layers.json"), JsonSerializer.SerializeToUtf8Bytes(_layers));
        File.WriteAllBytes(Path.Combine(Root, "overlay-images/images.json"), JsonSerializer.SerializeToUtf8Bytes(_images));
        File.WriteAllBytes(Path.Combine(Root, "overlay-containers/containers.json"), JsonSerializer.SerializeToUtf8Bytes(_containers));
    }
}
