using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text.Json;

namespace OverlayTools.Core.Tests;

/// <summary>
/// The containerd fixture (Fixtures/containerd, made by New-ContainerdFixture.ps1 with a real
/// containerd 1.6): the two bbolt databases, the manifests and configs, ctr's view of them and
/// damaged copies of meta.db.
/// </summary>
internal static class ContainerdFixture
{
    internal static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "containerd");

    internal static byte[] Gunzip(string path)
    {
        using var input = File.OpenRead(path);
        using var gz = new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        gz.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>meta.db as containerd wrote it.</summary>
    internal static byte[] MetaDb() => Gunzip(Path.Combine(Dir, "meta.db.gz"));

    /// <summary>The overlayfs snapshotter's metadata.db as containerd wrote it.</summary>
    internal static byte[] SnapshotDb() => Gunzip(Path.Combine(Dir, "metadata.db.gz"));

    /// <summary>A damaged copy of meta.db (corrupt/&lt;name&gt;.db.gz).</summary>
    internal static byte[] Corrupt(string name) => Gunzip(Path.Combine(Dir, "corrupt", name + ".db.gz"));

    internal static JsonElement Expected()
        => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "expected.json"))).RootElement;

    /// <summary>
    /// Lays the fixture out as a containerd root in a new temp dir (databases, blobs) and returns
    /// the root; the snapshot directories themselves are not needed by the reader.
    /// </summary>
    internal static TempStore Extract(byte[]? meta = null, byte[]? snap = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "overlaytools-xunit-" + Guid.NewGuid().ToString("N")[..12]);
        string root = Path.Combine(dir, "root");
        Directory.CreateDirectory(Path.Combine(root, "io.containerd.metadata.v1.bolt"));
        Directory.CreateDirectory(Path.Combine(root, "io.containerd.snapshotter.v1.overlayfs", "snapshots"));
        string blobs = Path.Combine(root, "io.containerd.content.v1.content", "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(root, "io.containerd.metadata.v1.bolt", "meta.db"), meta ?? MetaDb());
        File.WriteAllBytes(Path.Combine(root, "io.containerd.snapshotter.v1.overlayfs", "metadata.db"), snap ?? SnapshotDb());
        foreach (var f in Directory.GetFiles(Path.Combine(Dir, "blobs", "sha256")))
        {
            File.Copy(f, Path.Combine(blobs, Path.GetFileName(f)));
        }
        // The snapshot dirs (empty): the reader checks that each one it returns is a real directory.
        foreach (ulong id in SnapshotIds(snap ?? SnapshotDb()))
        {
            Directory.CreateDirectory(Path.Combine(root, "io.containerd.snapshotter.v1.overlayfs", "snapshots", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "fs"));
            Directory.CreateDirectory(Path.Combine(root, "io.containerd.snapshotter.v1.overlayfs", "snapshots", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "work"));
        }
        return new TempStore(dir, root);
    }

    /// <summary>The numeric ids of the snapshots a metadata.db records (none when it cannot be read).</summary>
    internal static List<ulong> SnapshotIds(byte[] snapshotDb)
    {
        var ids = new List<ulong>();
        try
        {
            using var db = OverlayTools.Stores.Bolt.BoltDb.FromBytes(snapshotDb);
            var snapshots = db.Root.Bucket("v1")?.Bucket("snapshots");
            foreach (var e in snapshots?.Entries() ?? [])
            {
                if (e.IsBucket && snapshots!.Open(e).Value("id") is { } v && OverlayTools.Stores.Containerd.GoEncoding.TryUvarint(v.Span, out ulong id) && id is > 0 and < 1_000_000)
                {
                    ids.Add(id);
                }
            }
        }
        catch (OverlayException)
        {
            // A damaged copy: the test is about the damage, not the dirs.
        }
        return ids;
    }

    internal sealed class TempStore(string dir, string root) : IDisposable
    {
        public string Root { get; } = root;
        public string MetaDbPath => Path.Combine(Root, "io.containerd.metadata.v1.bolt", "meta.db");
        public string SnapshotDbPath => Path.Combine(Root, "io.containerd.snapshotter.v1.overlayfs", "metadata.db");
        public string BlobPath(string digest) => Path.Combine(Root, "io.containerd.content.v1.content", "blobs", "sha256", digest["sha256:".Length..]);
        public string Expand(string s) => s.Replace("{root}", Root, StringComparison.Ordinal);

        public void Dispose()
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
