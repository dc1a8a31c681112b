using System;
using System.Collections.Generic;
using System.Text.Json;
using OverlayTools.Interop;

namespace OverlayTools.Stores.Containerd;

/// <summary>A content descriptor (OCI descriptor): media type, digest, size and, in an index, a platform.</summary>
internal sealed record Descriptor(string MediaType, string Digest, long Size, string? Os = null, string? Architecture = null, string? Variant = null);

/// <summary>An image index (or Docker manifest list).</summary>
internal sealed record ImageIndex(IReadOnlyList<Descriptor> Manifests);

/// <summary>An image manifest: the config and the layer blobs, bottom first.</summary>
internal sealed record ImageManifest(Descriptor Config, IReadOnlyList<Descriptor> Layers);

/// <summary>One history entry of an image config.</summary>
internal sealed record HistoryEntry(DateTime? Created, string? CreatedBy, string? Comment, bool EmptyLayer);

/// <summary>The parts of an image config the module uses.</summary>
internal sealed record ImageConfig(IReadOnlyList<string> DiffIds, IReadOnlyList<HistoryEntry> History, DateTime? Created, string? Os, string? Architecture, string? Variant);

/// <summary>
/// Reads manifests, indexes and configs from containerd's content store
/// (&lt;root&gt;/io.containerd.content.v1.content/blobs/sha256/&lt;hex&gt;): digests are validated before
/// they become names, blobs are read through <see cref="StoreDir"/> (blobs/sha256 opened once, no
/// symbolic link followed below the content root, regular files only, sizes capped) and every blob
/// is checked against its digest before it is parsed.
/// </summary>
internal sealed class ContentStore : IDisposable
{
    /// <summary>Largest manifest, index or config read (containerd's own limit for manifests is 4 MiB).</summary>
    internal const int MaxBlobBytes = 16 * 1024 * 1024;

    internal const string OciIndex = "application/vnd.oci.image.index.v1+json";
    internal const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    internal const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    internal const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    private readonly string _contentRoot;
    private readonly string _blobDir;
    private readonly Dictionary<string, object> _parsed = new(StringComparer.Ordinal);
    private StoreDir? _blobs;
    private bool _blobsMissing;

    internal ContentStore(string contentRoot)
    {
        _contentRoot = contentRoot;
        _blobDir = contentRoot + "/blobs/sha256";
    }

    internal static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;

    internal static bool IsManifest(string mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>The blob's path; the digest must already be a valid sha256 digest.</summary>
    internal string PathOf(string digest)
    {
        if (!StoreFormat.IsDigest(digest))
        {
            throw new OverlayException(ErrorIds.ContainerdMetadataInvalid, OverlayErrorCategory.InvalidData,
                $"'{digest}' is not a sha256 digest, so it cannot name a content blob.", digest, StoreAdvice);
        }
        return _blobDir + "/" + digest["sha256:".Length..];
    }

    /// <summary>True when the blob is present (a regular file or anything else: it is checked when read).</summary>
    internal bool Exists(string digest)
    {
        if (!StoreFormat.IsDigest(digest))
        {
            return false;
        }
        try
        {
            return Blobs() is { } blobs && blobs.Stat(digest["sha256:".Length..]) is not null;
        }
        catch (ErrnoException)
        {
            return true; // something stands there; reading it says what is wrong
        }
    }

    internal ImageIndex ReadIndex(string digest) => Cached(digest, ParseIndex);

    internal ImageManifest ReadManifest(string digest) => Cached(digest, ParseManifest);

    internal ImageConfig ReadConfig(string digest) => Cached(digest, ParseConfig);

    /// <summary>
    /// An <see cref="ImageIndex"/> or an <see cref="ImageManifest"/>, told apart by the JSON itself
    /// (an index has "manifests"): for a descriptor without a media type. One read, one parse.
    /// </summary>
    internal object ReadIndexOrManifest(string digest)
        => _parsed.TryGetValue(digest, out var o) && o is ImageIndex or ImageManifest
            ? o
            : ReadAndParse<object>(digest, (d, root) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty("manifests", out _) ? ParseIndex(d, root) : (object)ParseManifest(d, root));

    private T Cached<T>(string digest, Func<string, JsonElement, T> parse)
        where T : class
        => _parsed.TryGetValue(digest, out var o) && o is T hit ? hit : ReadAndParse(digest, parse);

    private T ReadAndParse<T>(string digest, Func<string, JsonElement, T> parse)
        where T : class
    {
        using var doc = Parse(digest, ReadBlob(digest));
        T value;
        try
        {
            value = parse(digest, doc.RootElement);
        }
        catch (InvalidOperationException e)
        {
            throw Invalid(digest, "its JSON does not have the expected shape: " + e.Message);
        }
        _parsed[digest] = value;
        return value;
    }

    private JsonDocument Parse(string digest, byte[] bytes)
    {
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Invalid(digest, "it is not valid JSON: " + e.Message);
        }
    }

    /// <summary>blobs/sha256, opened once (the content root may be a link, nothing below it); null when the store has none.</summary>
    private StoreDir? Blobs()
    {
        if (_blobs is not null || _blobsMissing)
        {
            return _blobs;
        }
        using var root = StoreDir.TryOpen(_contentRoot, out int errno);
        if (root is null)
        {
            _blobsMissing = errno == Errno.ENOENT;
            return _blobsMissing ? null : throw new ErrnoException("open", errno, _contentRoot);
        }
        _blobs = root.OpenDir("blobs/sha256");
        _blobsMissing = _blobs is null;
        return _blobs;
    }

    /// <summary>Reads a whole blob (<see cref="StoreDir.ReadFile"/>: capped, no symlinks, regular files only) and checks its digest.</summary>
    internal byte[] ReadBlob(string digest)
    {
        string path = PathOf(digest);
        byte[]? bytes;
        try
        {
            bytes = Blobs()?.ReadFile(digest["sha256:".Length..], MaxBlobBytes);
        }
        catch (ErrnoException e)
        {
            throw Invalid(digest, e.Message, e.Errno);
        }
        if (bytes is null)
        {
            throw new OverlayException(ErrorIds.ContainerdBlobMissing, OverlayErrorCategory.ObjectNotFound,
                $"The content blob {digest} is missing from the content store ({path}).", path,
                "The image is incomplete: pull it again (ctr images pull, or docker pull), or remove it.");
        }
        string actual = StoreFormat.Sha256Digest(bytes);
        if (!string.Equals(actual, digest, StringComparison.Ordinal))
        {
            throw Invalid(digest, $"its content hashes to {actual}");
        }
        return bytes;
    }

    /// <inheritdoc/>
    public void Dispose() => _blobs?.Dispose();

    // ---- JSON shapes ------------------------------------------------------------------------------

    private static ImageIndex ParseIndex(string digest, JsonElement root)
    {
        var list = new List<Descriptor>();
        foreach (var m in Array(root, "manifests"))
        {
            var d = ParseDescriptor(m);
            if (m.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
            {
                d = d with { Os = StoreFormat.GetString(p, "os"), Architecture = StoreFormat.GetString(p, "architecture"), Variant = StoreFormat.GetString(p, "variant") };
            }
            list.Add(d);
        }
        return new ImageIndex(list);
    }

    private static ImageManifest ParseManifest(string digest, JsonElement root)
    {
        if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidOperationException("no config descriptor");
        }
        var layers = new List<Descriptor>();
        foreach (var l in Array(root, "layers"))
        {
            layers.Add(ParseDescriptor(l));
        }
        return new ImageManifest(ParseDescriptor(config), layers);
    }

    private static ImageConfig ParseConfig(string digest, JsonElement root)
    {
        var diffIds = new List<string>();
        if (!root.TryGetProperty("rootfs", out var rootfs) || rootfs.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidOperationException("no rootfs");
        }
        foreach (var d in Array(rootfs, "diff_ids"))
        {
            string id = d.ValueKind == JsonValueKind.String ? d.GetString()! : throw new InvalidOperationException("a diff id is not a string");
            if (!StoreFormat.IsDigest(id))
            {
                throw new InvalidOperationException($"diff id '{id}' is not a sha256 digest");
            }
            diffIds.Add(id);
        }
        var history = new List<HistoryEntry>();
        if (root.TryGetProperty("history", out var h) && h.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in h.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }
                bool empty = e.TryGetProperty("empty_layer", out var el) && el.ValueKind == JsonValueKind.True;
                history.Add(new HistoryEntry(OptTime(e, "created"), StoreFormat.GetString(e, "created_by"), StoreFormat.GetString(e, "comment"), empty));
            }
        }
        return new ImageConfig(diffIds, history, OptTime(root, "created"), StoreFormat.GetString(root, "os"), StoreFormat.GetString(root, "architecture"), StoreFormat.GetString(root, "variant"));
    }

    private static Descriptor ParseDescriptor(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidOperationException("a descriptor is not an object");
        }
        string digest = StoreFormat.GetString(e, "digest") ?? throw new InvalidOperationException("a descriptor has no digest");
        if (!StoreFormat.IsDigest(digest))
        {
            throw new InvalidOperationException($"descriptor digest '{digest}' is not a sha256 digest");
        }
        long size = e.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out long v) ? v : -1;
        return new Descriptor(StoreFormat.GetString(e, "mediaType") ?? "", digest, size);
    }

    private static IEnumerable<JsonElement> Array(JsonElement parent, string name)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out var a) || a.ValueKind == JsonValueKind.Null)
        {
            return [];
        }
        if (a.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidOperationException($"'{name}' is not an array");
        }
        return a.EnumerateArray();
    }

    private static DateTime? OptTime(JsonElement e, string name) => StoreFormat.ParseTime(StoreFormat.GetString(e, name));

    internal const string StoreAdvice = "The store's records are damaged or were written by something else than containerd; check them with 'ctr' while the daemon runs.";

    private OverlayException Invalid(string digest, string why, int errno = 0)
    {
        string path = StoreFormat.IsDigest(digest) ? PathOf(digest) : digest;
        return new OverlayException(ErrorIds.ContainerdBlobInvalid, errno is Errno.EACCES or Errno.EPERM ? OverlayErrorCategory.PermissionDenied : OverlayErrorCategory.InvalidData,
            $"The content blob {digest} cannot be used: {why}.", path,
            errno is Errno.EACCES or Errno.EPERM ? "Run as root: containerd's content store is readable by root only." : "The image is damaged: pull it again, or remove it.");
    }
}
