using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using OverlayTools.Stores.Containerd;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// The containerd store model on the fixture a real containerd wrote: the paths and diff ids must be
/// what ctr said about the same store (expected.json).
/// </summary>
public class ContainerdStoreTests
{
    private static string[] Strings(JsonElement a) => a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];

    [Fact]
    public void Container_paths_equal_ctr_snapshots_mounts()
    {
        using var store = ContainerdFixture.Extract();
        var inv = ContainerdStore.Read(store.Root);
        var expected = ContainerdFixture.Expected().GetProperty("containers").EnumerateArray().ToList();
        Assert.Equal(4, expected.Count);
        foreach (var x in expected)
        {
            var c = Assert.Single(inv.Containers, c => c.Namespace == x.GetProperty("namespace").GetString() && c.Id == x.GetProperty("id").GetString());
            Assert.Equal("Active", c.Kind);
            Assert.Equal(store.Expand(x.GetProperty("upper").GetString()!), c.Upper);
            Assert.Equal(store.Expand(x.GetProperty("work").GetString()!), c.Work);
            Assert.Equal(Strings(x.GetProperty("lowers")).Select(store.Expand), c.Lowers);
            Assert.Equal("overlayfs", c.Snapshotter);
            Assert.NotNull(c.Created);
        }
    }

    [Fact]
    public void Image_diff_ids_and_config_digests_equal_the_image_configs()
    {
        using var store = ContainerdFixture.Extract();
        var inv = ContainerdStore.Read(store.Root);
        foreach (var x in ContainerdFixture.Expected().GetProperty("images").EnumerateArray().Where(x => x.GetProperty("namespace").GetString() != "native"))
        {
            var image = Assert.Single(inv.Images, i => i.Namespace == x.GetProperty("namespace").GetString() && i.Name == x.GetProperty("name").GetString());
            Assert.Equal(x.GetProperty("digest").GetString(), image.Digest);
            Assert.Equal(x.GetProperty("configDigest").GetString(), image.ConfigDigest);
            Assert.Equal(Strings(x.GetProperty("diffIds")), image.Layers.Reverse().Select(l => l.DiffId));
            Assert.Equal("linux/amd64", image.Platform);
        }
    }

    [Fact]
    public void Image_layers_are_the_lowers_of_its_containers_top_first_with_history()
    {
        using var store = ContainerdFixture.Extract();
        var inv = ContainerdStore.Read(store.Root);
        var image = inv.Images.Single(i => i.Namespace == "k8s.io" && i.Name == "example.com/demo/app:1.0");
        var c1 = inv.Containers.Single(c => c.Id == "c1");
        Assert.Equal(c1.Lowers, image.Layers.Select(l => l.Path));
        Assert.Equal(new[] { 4, 3, 2, 1, 0 }, image.Layers.Select(l => l.Index));
        Assert.Equal(image.Layers[^1].DiffId, image.Layers[^1].ChainId); // the base layer's chain id is its diff id
        Assert.Equal("/bin/sh -c echo three > /three", image.Layers[0].CreatedBy);
        Assert.All(image.Layers, l => Assert.True(l.Size > 0));
        Assert.All(image.Layers, l => Assert.StartsWith("sha256:", l.BlobDigest, StringComparison.Ordinal));
        Assert.All(image.Layers, l => Assert.NotNull(l.Created));
        // The chain ids name the committed snapshots.
        Assert.All(image.Layers, l => Assert.EndsWith("/" + l.ChainId, l.SnapshotKey, StringComparison.Ordinal));
    }

    [Fact]
    public void Items_that_cannot_be_read_are_errors_of_their_own()
    {
        using var store = ContainerdFixture.Extract();
        var inv = ContainerdStore.Read(store.Root);
        Assert.Equal(new[] { "empty", "k8s.io", "moby", "native" }, inv.Namespaces);
        Assert.Equal(2, inv.Errors.Count);
        Assert.Contains(inv.Errors, e => e.ErrorId == ErrorIds.ContainerdImageNotUnpacked && e.Message.Contains("namespace 'native'", StringComparison.Ordinal));
        Assert.Contains(inv.Errors, e => e.ErrorId == ErrorIds.ContainerdUnsupportedSnapshotter && (string?)e.Target == "n1");
        Assert.DoesNotContain(inv.Containers, c => c.Id == "n1");
        Assert.False(inv.Unsettled);
    }

    [Fact]
    public void Namespaces_and_filters_narrow_the_read()
    {
        using var store = ContainerdFixture.Extract();
        var inv = ContainerdStore.Read(store.Root, new ContainerdReadOptions { Namespaces = ["moby", "nope"] });
        Assert.All(inv.Images.Concat<object>(inv.Containers), o => Assert.Equal("moby", o is ContainerdImage i ? i.Namespace : ((ContainerdContainer)o).Namespace));
        var e = Assert.Single(inv.Errors);
        Assert.Equal(ErrorIds.ContainerdNamespaceNotFound, e.ErrorId);
        Assert.Equal("nope", e.Target);

        inv = ContainerdStore.Read(store.Root, new ContainerdReadOptions
        {
            ImageFilter = n => n == "docker.io/library/busybox:latest",
            Containers = false,
        });
        var busybox = Assert.Single(inv.Images, i => i.Namespace == "moby");
        Assert.Equal("docker.io/library/busybox:latest", busybox.Name);
        Assert.Empty(inv.Containers);
    }

    [Fact]
    public void Finds_the_snapshot_and_container_of_a_layer_path()
    {
        using var store = ContainerdFixture.Extract();
        using var reader = ContainerdStoreReader.Open(store.Root);
        var c1 = reader.GetContainer("k8s.io", "c1");
        var up = reader.FindLayer(c1.Upper!);
        Assert.NotNull(up);
        Assert.Equal("Active", up.Kind);
        Assert.Equal(new[] { "c1" }, up.ContainerIds);
        Assert.Equal(c1.Work, up.Work);
        Assert.Equal(up, reader.FindLayer(Path.GetDirectoryName(c1.Upper!)!), new MatchComparer());
        var low = reader.FindLayer(c1.Lowers[0] + "/");
        Assert.NotNull(low);
        Assert.Equal("Committed", low.Kind);
        Assert.Equal(reader.GetImage("k8s.io", "example.com/demo/app:1.0").Layers[0].ChainId, low.ChainId);
        Assert.Empty(low.ContainerIds);
        Assert.Null(reader.FindLayer("/var/lib/docker/overlay2/abc/diff"));
        Assert.Null(reader.FindLayer(reader.SnapshotterRoot + "/snapshots/007/fs"));
        Assert.Null(reader.FindLayer(reader.SnapshotterRoot + "/snapshots/../../etc"));
        Assert.Null(reader.FindLayer(reader.SnapshotterRoot + "/snapshots/99999/fs"));
    }

    [Fact]
    public void Each_upper_found_by_path_names_its_own_container_from_one_reader()
    {
        // One reader answers for every container's upper (the containers are listed once, then looked up).
        using var store = ContainerdFixture.Extract();
        using var reader = ContainerdStoreReader.Open(store.Root);
        var containers = reader.ListContainers().Where(c => c.Snapshotter == "overlayfs").ToList();
        Assert.True(containers.Count >= 3);
        foreach (var c in containers)
        {
            var read = reader.GetContainer(c.Namespace, c.Id);
            var m = reader.FindLayer(read.Upper!);
            Assert.NotNull(m);
            Assert.Equal(c.Namespace, m.Namespace);
            Assert.Equal(new[] { c.Id }, m.ContainerIds);
            Assert.Equal(new[] { c.Id }, reader.FindLayer(read.Work!)!.ContainerIds);
        }
    }

    private sealed class MatchComparer : IEqualityComparer<ContainerdLayerMatch?>
    {
        public bool Equals(ContainerdLayerMatch? a, ContainerdLayerMatch? b) => a?.SnapshotKey == b?.SnapshotKey && a?.Path == b?.Path;

        public int GetHashCode(ContainerdLayerMatch? m) => m?.SnapshotKey.GetHashCode(StringComparison.Ordinal) ?? 0;
    }

    [Fact]
    public void Listing_reads_no_blob()
    {
        using var store = ContainerdFixture.Extract();
        Directory.Delete(Path.Combine(store.Root, "io.containerd.content.v1.content"), recursive: true);
        using var reader = ContainerdStoreReader.Open(store.Root);
        Assert.Equal(123, reader.ListImages("k8s.io").Count);
        Assert.Equal(125, reader.ListImages().Count);
        Assert.Equal(new[] { "big", "c1", "c2", "m1", "n1" }, reader.ListContainers().Select(c => c.Id));
        var e = Assert.Throws<OverlayException>(() => reader.GetImage("moby", "docker.io/library/busybox:latest"));
        Assert.Equal(ErrorIds.ContainerdBlobMissing, e.ErrorId);
        // Containers need no blob.
        Assert.NotNull(reader.GetContainer("moby", "m1").Upper);
    }

    [Fact]
    public void A_blob_that_does_not_match_its_digest_is_refused()
    {
        using var store = ContainerdFixture.Extract();
        var moby = ContainerdStore.Read(store.Root, new ContainerdReadOptions { Namespaces = ["moby"] }).Images.Single();
        string config = store.BlobPath(moby.ConfigDigest);
        File.WriteAllText(config, File.ReadAllText(config).Replace("busybox", "BUSYBOX", StringComparison.Ordinal));
        var inv = ContainerdStore.Read(store.Root);
        Assert.DoesNotContain(inv.Images, i => i.Namespace == "moby");
        // The config is shared by the moby and native images (one content store for all namespaces).
        var errors = inv.Errors.Where(x => x.ErrorId == ErrorIds.ContainerdBlobInvalid).ToList();
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.Contains("hashes to", e.Message, StringComparison.Ordinal));
        Assert.All(errors, e => Assert.Equal(config, e.Target));
        Assert.Contains(inv.Images, i => i.Namespace == "k8s.io"); // the other namespace is unaffected
    }

    [Fact]
    public void A_blob_replaced_by_a_symlink_or_a_fifo_is_refused()
    {
        using var store = ContainerdFixture.Extract();
        var moby = ContainerdStore.Read(store.Root, new ContainerdReadOptions { Namespaces = ["moby"] }).Images.Single();
        string manifest = store.BlobPath(moby.Digest);
        string real = manifest + ".real";
        File.Move(manifest, real);
        File.CreateSymbolicLink(manifest, real);
        var inv = ContainerdStore.Read(store.Root, new ContainerdReadOptions { Namespaces = ["moby"] });
        Assert.Equal(ErrorIds.ContainerdBlobInvalid, Assert.Single(inv.Errors).ErrorId);

        File.Delete(manifest);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [manifest]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        inv = ContainerdStore.Read(store.Root, new ContainerdReadOptions { Namespaces = ["moby"] });
        Assert.Equal(ErrorIds.ContainerdBlobInvalid, Assert.Single(inv.Errors).ErrorId);
    }

    [Fact]
    public void A_store_without_meta_db_is_not_a_store()
    {
        var e = Assert.Throws<OverlayException>(() => ContainerdStore.Read("/tmp"));
        Assert.Equal(ErrorIds.ContainerdStoreNotFound, e.ErrorId);
        e = Assert.Throws<OverlayException>(() => ContainerdStore.Read("relative/path"));
        Assert.Equal(ErrorIds.ContainerdStoreNotFound, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidArgument, e.Category);
    }

    [Fact]
    public void Reading_changes_nothing_in_the_store()
    {
        using var store = ContainerdFixture.Extract();
        var before = Directory.GetFiles(store.Root, "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, f => (File.ReadAllBytes(f), File.GetLastWriteTimeUtc(f)));
        using (var reader = ContainerdStoreReader.Open(store.Root))
        {
            foreach (var i in reader.ListImages().Where(i => i.Namespace != "native"))
            {
                reader.GetImage(i.Namespace, i.Name);
            }
        }
        foreach (var (f, (bytes, mtime)) in before)
        {
            Assert.Equal(bytes, File.ReadAllBytes(f));
            Assert.Equal(mtime, File.GetLastWriteTimeUtc(f));
        }
    }

    [Fact]
    public void A_damaged_snapshot_record_fails_only_its_items()
    {
        // Flip bytes inside one page of metadata.db at a time: reading must give per-item errors
        // or a store error, never another exception.
        var original = ContainerdFixture.SnapshotDb();
        var rng = new Random(5);
        for (int round = 0; round < 40; round++)
        {
            var snap = (byte[])original.Clone();
            int page = 2 + rng.Next((snap.Length / 4096) - 2);
            for (int i = 0; i < 6; i++)
            {
                snap[(page * 4096) + rng.Next(4096)] ^= (byte)(1 << rng.Next(8));
            }
            using var store = ContainerdFixture.Extract(snap: snap);
            try
            {
                var inv = ContainerdStore.Read(store.Root);
                Assert.All(inv.Errors, e => Assert.False(string.IsNullOrEmpty(e.ErrorId)));
            }
            catch (OverlayException)
            {
            }
        }
    }

    [Fact]
    public void A_damaged_meta_db_gives_item_errors_or_a_store_error()
    {
        var original = ContainerdFixture.MetaDb();
        var rng = new Random(6);
        for (int round = 0; round < 40; round++)
        {
            var meta = (byte[])original.Clone();
            int page = 2 + rng.Next((meta.Length / 4096) - 2);
            for (int i = 0; i < 6; i++)
            {
                meta[(page * 4096) + rng.Next(4096)] ^= (byte)(1 << rng.Next(8));
            }
            using var store = ContainerdFixture.Extract(meta: meta);
            try
            {
                ContainerdStore.Read(store.Root);
            }
            catch (OverlayException)
            {
            }
        }
    }

    [Fact]
    public void A_blob_without_a_media_type_is_told_apart_by_its_json_and_read_once()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ot-content-" + Guid.NewGuid().ToString("N")[..10]);
        string blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        try
        {
            string config = StoreFixture.Digest("config");
            byte[] manifest = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["schemaVersion"] = 2,
                ["config"] = new Dictionary<string, object> { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = config, ["size"] = 2 },
                ["layers"] = Array.Empty<object>(),
            });
            string manifestDigest = OverlayTools.Stores.StoreFormat.Sha256Digest(manifest);
            byte[] index = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["schemaVersion"] = 2,
                ["manifests"] = new[] { new Dictionary<string, object> { ["digest"] = manifestDigest, ["size"] = manifest.Length } },
            });
            string indexDigest = OverlayTools.Stores.StoreFormat.Sha256Digest(index);
            File.WriteAllBytes(Path.Combine(blobs, manifestDigest[7..]), manifest);
            File.WriteAllBytes(Path.Combine(blobs, indexDigest[7..]), index);

            using var content = new ContentStore(dir);
            var m = Assert.IsType<ImageManifest>(content.ReadIndexOrManifest(manifestDigest));
            Assert.Equal(config, m.Config.Digest);
            var i = Assert.IsType<ImageIndex>(content.ReadIndexOrManifest(indexDigest));
            Assert.Equal(manifestDigest, Assert.Single(i.Manifests).Digest);

            // The blobs were read once: with the files gone, what was read still answers.
            File.Delete(Path.Combine(blobs, manifestDigest[7..]));
            File.Delete(Path.Combine(blobs, indexDigest[7..]));
            Assert.Same(m, content.ReadManifest(manifestDigest));
            Assert.Same(i, content.ReadIndex(indexDigest));
            Assert.Equal(ErrorIds.ContainerdBlobMissing, Assert.Throws<OverlayException>(() => content.ReadConfig(config)).ErrorId);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_blob_that_is_a_symbolic_link_or_too_large_is_refused()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ot-content-" + Guid.NewGuid().ToString("N")[..10]);
        string blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        try
        {
            byte[] big = new byte[ContentStore.MaxBlobBytes + 1];
            string bigDigest = OverlayTools.Stores.StoreFormat.Sha256Digest(big);
            File.WriteAllBytes(Path.Combine(blobs, bigDigest[7..]), big);
            string linkDigest = StoreFixture.Digest("link");
            File.CreateSymbolicLink(Path.Combine(blobs, linkDigest[7..]), "/etc/hostname");
            using var content = new ContentStore(dir);
            Assert.Equal(ErrorIds.ContainerdBlobInvalid, Assert.Throws<OverlayException>(() => content.ReadConfig(bigDigest)).ErrorId);
            Assert.Equal(ErrorIds.ContainerdBlobInvalid, Assert.Throws<OverlayException>(() => content.ReadConfig(linkDigest)).ErrorId);
            Assert.True(content.Exists(linkDigest));
            Assert.False(content.Exists(StoreFixture.Digest("absent")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("0001-01-01T00:00:00Z")] // Go's zero time: no time, as overlay2 and podman give
    [InlineData("2026-11-27 12:36:03")] // not RFC 3339
    [InlineData("11/27/2026")]
    [InlineData("2026-11-27T12:36:03.329645235Z")]
    [InlineData("2026-11-27T14:36:03.5+02:00")]
    public void Config_times_are_read_as_the_other_stores_read_them(string created)
    {
        string dir = Path.Combine(Path.GetTempPath(), "ot-content-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        try
        {
            byte[] config = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["created"] = created,
                ["history"] = new[] { new Dictionary<string, object> { ["created"] = created, ["created_by"] = "/bin/sh -c true" } },
                ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = new[] { StoreFixture.Digest("zero") } },
            });
            string digest = OverlayTools.Stores.StoreFormat.Sha256Digest(config);
            File.WriteAllBytes(Path.Combine(dir, "blobs", "sha256", digest[7..]), config);
            using var content = new ContentStore(dir);
            var read = content.ReadConfig(digest);
            var expected = OverlayTools.Stores.StoreFormat.ParseTime(created);
            Assert.Equal(expected, read.Created);
            Assert.Equal(expected, Assert.Single(read.History).Created);
            if (created.StartsWith("0001-", StringComparison.Ordinal) || !created.Contains('T', StringComparison.Ordinal))
            {
                Assert.Null(read.Created);
            }
            else
            {
                Assert.NotNull(read.Created);
                Assert.Equal(DateTimeKind.Utc, read.Created.Value.Kind);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
