using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OverlayTools.Interop;

namespace OverlayTools.Stores;

/// <summary>
/// What the store readers check before trusting a value: ids, digests, short link names; the OCI
/// chain id; RFC 3339 times; and the errors they raise. Pure functions, unit-tested.
/// </summary>
public static class StoreFormat
{
    /// <summary>Largest image config, container config or index file read (bytes).</summary>
    public const int MaxJsonBytes = 64 * 1024 * 1024;

    /// <summary>Largest layers.json / images.json / containers.json / repositories.json read (bytes).</summary>
    public const int MaxIndexBytes = 512 * 1024 * 1024;

    /// <summary>True for 64 lower-case hex digits (a sha256 in hex: Docker and Podman ids).</summary>
    public static bool IsHexId(string? s)
    {
        if (s is null || s.Length != 64)
        {
            return false;
        }
        foreach (char c in s)
        {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True for 1 to 64 lower-case hex digits (an id prefix).</summary>
    public static bool IsHexPrefix(string? s)
    {
        if (string.IsNullOrEmpty(s) || s.Length > 64)
        {
            return false;
        }
        foreach (char c in s)
        {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True for "sha256:" followed by 64 lower-case hex digits.</summary>
    public static bool IsDigest(string? s) => s is not null && s.Length == 71 && s.StartsWith("sha256:", StringComparison.Ordinal) && IsHexId(s[7..]);

    /// <summary>True for a short link name of the overlay drivers: 26 characters of A-Z and 0-9 (base32).</summary>
    public static bool IsLinkId(string? s)
    {
        if (s is null || s.Length != 26)
        {
            return false;
        }
        foreach (char c in s)
        {
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The first 12 characters of an id, as the engines show short ids (the whole id when shorter).</summary>
    public static string ShortId(string id) => id.Length > 12 ? id[..12] : id;

    /// <summary>The hex part of an id given as "sha256:hex" or "hex"; the input when it is neither.</summary>
    public static string StripAlgorithm(string s) => s.StartsWith("sha256:", StringComparison.Ordinal) ? s[7..] : s;

    /// <summary>
    /// The OCI chain id of a stack of diff ids, bottom first: ChainID(L0) = DiffID(L0),
    /// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
    /// </summary>
    public static string ChainId(string? parentChainId, string diffId)
    {
        if (parentChainId is null)
        {
            return diffId;
        }
        var hash = SHA256.HashData(Encoding.ASCII.GetBytes(parentChainId + " " + diffId));
        return "sha256:" + Convert.ToHexString(hash).ToLowerInvariant();
    }

    /// <summary>The chain ids of a whole stack of diff ids, bottom first.</summary>
    public static string[] ChainIds(IReadOnlyList<string> diffIds)
    {
        var result = new string[diffIds.Count];
        string? parent = null;
        for (int i = 0; i < diffIds.Count; i++)
        {
            parent = result[i] = ChainId(parent, diffIds[i]);
        }
        return result;
    }

    /// <summary>"sha256:" + the hex sha256 of some bytes.</summary>
    public static string Sha256Digest(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    /// <summary>
    /// Parses the RFC 3339 times Go writes (up to nine fraction digits, Z or an offset) to UTC;
    /// null for null, empty, Go's zero time or anything else.
    /// </summary>
    public static DateTime? ParseTime(string? s)
    {
        if (string.IsNullOrEmpty(s) || s.StartsWith("0001-01-01", StringComparison.Ordinal))
        {
            return null;
        }
        int t = s.IndexOf('T', StringComparison.Ordinal);
        if (t != 10 || s.Length < 20)
        {
            return null;
        }
        // Split off the zone, cut the fraction to the 7 digits .NET keeps.
        int zone = s.Length - 1;
        if (s[zone] != 'Z')
        {
            zone = s.Length - 6;
            if (zone < 19 || (s[zone] != '+' && s[zone] != '-'))
            {
                return null;
            }
        }
        string main = s[..zone];
        string offset = s[zone..] == "Z" ? "+00:00" : s[zone..];
        int dot = main.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            string frac = main[(dot + 1)..];
            if (frac.Length == 0 || frac.Length > 9)
            {
                return null;
            }
            main = main[..dot] + "." + (frac.Length > 7 ? frac[..7] : frac.PadRight(7, '0'));
        }
        else
        {
            main += ".0000000";
        }
        return DateTimeOffset.TryParseExact(main + offset, "yyyy-MM-dd'T'HH:mm:ss.fffffffzzz", CultureInfo.InvariantCulture, DateTimeStyles.None, out var dto)
            ? dto.UtcDateTime
            : null;
    }

    /// <summary>
    /// Parses JSON (System.Text.Json), turning a syntax error into an OverlayException about the file.
    /// Every string and property name is decoded once here: System.Text.Json accepts invalid UTF-8
    /// and lone surrogate escapes inside strings at parse time and fails only when a string is read,
    /// which would otherwise surface as an InvalidOperationException far from the file.
    /// </summary>
    public static JsonDocument ParseJson(byte[] bytes, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"it is not valid JSON ({e.Message})", e);
        }
        try
        {
            CheckStrings(doc.RootElement);
        }
        catch (InvalidOperationException e)
        {
            doc.Dispose();
            throw Invalid(path, "it holds a string that is not valid Unicode text", e);
        }
        return doc;
    }

    /// <summary>Decodes every string and property name below an element (iteratively); throws InvalidOperationException on text that cannot be decoded.</summary>
    private static void CheckStrings(JsonElement root)
    {
        var stack = new Stack<JsonElement>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var e = stack.Pop();
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        _ = p.Name;
                        stack.Push(p.Value);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray())
                    {
                        stack.Push(item);
                    }
                    break;
                case JsonValueKind.String:
                    _ = e.GetString();
                    break;
            }
        }
    }

    /// <summary>A string property, or null when absent or not a string.</summary>
    public static string? GetString(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An array of strings (non-strings skipped); empty when absent.</summary>
    public static List<string> GetStrings(JsonElement e, string name)
    {
        var list = new List<string>();
        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String && item.GetString() is { } s)
                {
                    list.Add(s);
                }
            }
        }
        return list;
    }

    /// <summary>A non-negative integer property, or null.</summary>
    public static long? GetLong(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= 0 ? n : null;

    /// <summary>A boolean property; false when absent.</summary>
    public static bool GetBool(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>An object property, or null.</summary>
    public static JsonElement? GetObject(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;

    /// <summary>
    /// One history entry per layer, bottom first, from an image config's history: the entries
    /// that are not empty_layer, matched in order with the layers (as docker history does).
    /// Entries beyond the layers are ignored; missing ones stay null.
    /// </summary>
    public static (string? CreatedBy, DateTime? Created)[] LayerHistory(JsonElement config, int layerCount)
    {
        var result = new (string?, DateTime?)[layerCount];
        if (config.ValueKind != JsonValueKind.Object || !config.TryGetProperty("history", out var history) || history.ValueKind != JsonValueKind.Array)
        {
            return result;
        }
        int i = 0;
        foreach (var h in history.EnumerateArray())
        {
            if (i >= layerCount)
            {
                break;
            }
            if (GetBool(h, "empty_layer"))
            {
                continue;
            }
            result[i++] = (GetString(h, "created_by"), ParseTime(GetString(h, "created")));
        }
        return result;
    }

    /// <summary>The rootfs.diff_ids of an image config, validated; throws when absent or malformed.</summary>
    public static List<string> DiffIds(JsonElement config, string path)
    {
        var rootfs = GetObject(config, "rootfs") ?? throw Invalid(path, "it has no rootfs");
        if (!rootfs.TryGetProperty("diff_ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(path, "its rootfs has no diff_ids");
        }
        var list = new List<string>();
        foreach (var id in ids.EnumerateArray())
        {
            string? s = id.ValueKind == JsonValueKind.String ? id.GetString() : null;
            if (!IsDigest(s))
            {
                throw Invalid(path, $"its rootfs.diff_ids holds '{s ?? id.GetRawText()}', which is not a sha256 digest");
            }
            list.Add(s!);
        }
        return list;
    }

    // ---- errors -----------------------------------------------------------------------------

    /// <summary>A store file holds something the engine would not have written.</summary>
    public static OverlayException Invalid(string path, string what, Exception? inner = null)
        => new(ErrorIds.LayerStoreMetadataInvalid, OverlayErrorCategory.InvalidData,
            $"The store file '{path}' cannot be used: {what}.", path,
            "The store may be damaged or edited by hand; check it with the engine (docker/podman inspect, podman system check).", inner);

    /// <summary>A value read from a store that would lead outside the store when used as a path.</summary>
    public static OverlayException OutsideStore(string path, string what)
        => new(ErrorIds.LayerPathOutsideStore, OverlayErrorCategory.SecurityError,
            $"Refusing the layer at '{path}': {what}. A store path must stay inside the store.", path,
            "The store has been tampered with or is damaged; inspect it before trusting any of its layers.");

    /// <summary>An id read from a store file that is no id. Values holding '/' or '.' are treated as attempts to leave the store.</summary>
    public static OverlayException BadId(string file, string kind, string? value)
    {
        string shown = value is null ? "nothing" : "'" + value + "'";
        return value is not null && (value.Contains('/', StringComparison.Ordinal) || value.Contains("..", StringComparison.Ordinal))
            ? OutsideStore(file, $"its {kind} is {shown}, a path rather than an id")
            : Invalid(file, $"its {kind} is {shown}, which is not an id");
    }

    /// <summary>The store's records of a stack disagree.</summary>
    public static OverlayException ChainMismatch(string path, string what)
        => new(ErrorIds.LayerChainMismatch, OverlayErrorCategory.InvalidData,
            $"The layer at '{path}' does not fit its stack: {what}.", path,
            "The store is damaged or has been edited; the engine itself would not mount this layer as recorded.");

    /// <summary>The content dir of a layer is gone.</summary>
    public static OverlayException ContentMissing(string path, string what)
        => new(ErrorIds.LayerContentMissing, OverlayErrorCategory.ObjectNotFound,
            $"The layer content at '{path}' is missing: {what}.", path,
            "The layer was deleted behind the engine's back or by an interrupted removal; remove and pull or build the image again.");

    /// <summary>
    /// An I/O failure on a store file: a symlink in place of a store entry (ELOOP: StoreDir turns
    /// the ENOTDIR an O_DIRECTORY|O_NOFOLLOW open gives for a link into ELOOP after an lstat) is
    /// LayerPathOutsideStore; anything else in place of a directory (ENOTDIR) is
    /// LayerStoreMetadataInvalid; permissions and I/O errors are LayerStoreUnreadable.
    /// </summary>
    public static OverlayException FromIo(Exception e, string fallbackPath)
    {
        if (e is OverlayException oe)
        {
            return oe;
        }
        if (e is ErrnoException ee)
        {
            string path = ee.Path ?? fallbackPath;
            if (ee.Errno == Errno.ELOOP)
            {
                return OutsideStore(path, "a symbolic link stands where the store keeps a plain file or directory");
            }
            if (ee.Errno == Errno.ENOTDIR)
            {
                return Invalid(path, "something other than a directory stands where the store keeps a directory", e);
            }
            if (ee.Errno is Errno.EACCES or Errno.EPERM)
            {
                return new OverlayException(ErrorIds.LayerStoreUnreadable, OverlayErrorCategory.PermissionDenied,
                    $"Cannot read '{path}': {ee.Message}", path, "Run as root: container stores are readable by root only.", e);
            }
            return new OverlayException(ErrorIds.LayerStoreUnreadable, OverlayErrorCategory.ReadError,
                $"Cannot read '{path}': {ee.Message}", path, "Check the store's file system.", e);
        }
        return new OverlayException(ErrorIds.LayerStoreUnreadable, OverlayErrorCategory.ReadError,
            $"Cannot read '{fallbackPath}': {e.Message}", fallbackPath, "Check the store's file system.", e);
    }

    /// <summary>
    /// Reads an image config file from a store and checks that its sha256 is the image id, as
    /// the engines do; a missing file is <paramref name="missingErrorId"/>, a mismatch
    /// ImageConfigInvalid, read errors as <see cref="FromIo"/> says.
    /// </summary>
    internal static byte[] ReadImageConfig(StoreDir dir, string rel, string id, string path, string missingErrorId, string missingAction, string engine)
    {
        byte[] bytes;
        try
        {
            bytes = dir.ReadFile(rel, MaxJsonBytes)
                ?? throw new OverlayException(missingErrorId, OverlayErrorCategory.ObjectNotFound,
                    $"The image {id} has no config in the store ('{path}' does not exist).", path, missingAction);
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw FromIo(e, path);
        }
        string digest = Sha256Digest(bytes);
        if (digest != "sha256:" + id)
        {
            throw new OverlayException(ErrorIds.ImageConfigInvalid, OverlayErrorCategory.InvalidData,
                $"The image config '{path}' does not match its id: its sha256 is {digest}.", path,
                $"The config was changed behind {engine}'s back, and {engine} itself refuses such an image; remove it and pull or build it again.");
        }
        return bytes;
    }
}
