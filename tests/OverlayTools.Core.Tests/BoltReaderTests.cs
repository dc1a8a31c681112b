using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using OverlayTools.Interop;
using OverlayTools.Stores.Bolt;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>The bbolt reader on databases a real containerd 1.6 wrote, and on hand-built ones.</summary>
public class BoltReaderTests
{
    private static List<(string Path, BoltEntry Entry)> WalkAll(BoltDb db)
    {
        var all = new List<(string, BoltEntry)>();
        db.Root.Walk((path, e) => all.Add((string.Join("/", path.Append(e.Name)), e)));
        return all;
    }

    [Fact]
    public void Reads_containerds_meta_db_with_branch_overflow_and_inline_pages()
    {
        using var db = BoltDb.FromBytes(ContainerdFixture.MetaDb(), "meta.db");
        Assert.Equal(4096, db.PageSize);
        var all = WalkAll(db);

        Assert.Equal(new[] { "empty", "k8s.io", "moby", "native" }, db.Root.Bucket("v1")!.Entries().Where(e => e.IsBucket).Select(e => e.Name));
        Assert.Equal(new byte[] { 6 }, db.Root.Bucket("v1")!.Value("version")!.Value.ToArray());
        // 120 tags + app:1.0 + app2 + the id-named image: the images bucket spans several pages.
        Assert.Equal(123, db.Root.Bucket("v1")!.Bucket("k8s.io")!.Bucket("images")!.Entries().Count);
        Assert.True(db.BranchPagesRead > 0, "the fixture should exercise branch pages");
        Assert.True(db.OverflowRunsRead > 0, "the fixture should exercise overflow pages");
        Assert.True(db.InlineBucketsOpened > 0, "the fixture should exercise inline buckets");
        Assert.Contains(all, x => x.Path == "v1/k8s.io/images/example.com/demo/app:t120/target/digest");
    }

    [Fact]
    public void A_value_spread_over_overflow_pages_reads_whole()
    {
        using var db = BoltDb.FromBytes(ContainerdFixture.MetaDb(), "meta.db");
        var spec = db.Root.Bucket("v1")!.Bucket("k8s.io")!.Bucket("containers")!.Bucket("big")!.Value("spec")!.Value;
        Assert.True(spec.Length > 9000);
        string text = Encoding.ASCII.GetString(spec.Span);
        Assert.Contains("BIG1=" + new string('x', 3000), text, StringComparison.Ordinal);
        Assert.Contains("BIG3=" + new string('z', 3000), text, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookups_agree_with_the_walk_for_every_key()
    {
        using var db = BoltDb.FromBytes(ContainerdFixture.MetaDb(), "meta.db");
        var images = db.Root.Bucket("v1")!.Bucket("k8s.io")!.Bucket("images")!;
        foreach (var e in images.Entries())
        {
            Assert.True(images.TryGet(e.Key.Span, out var found));
            Assert.True(found.Key.Span.SequenceEqual(e.Key.Span));
            Assert.Equal(e.IsBucket, found.IsBucket);
            // A key just after this one (same prefix plus a byte) is not there.
            Assert.False(images.TryGet([.. e.Key.Span, 0], out _));
        }
        Assert.False(images.TryGet("\0"u8, out _));
        Assert.False(images.TryGet("zzzz"u8, out _));
        Assert.Null(images.Bucket("example.com/demo/app:t999"));
        // A key holding a value is not a bucket, and a bucket is not a value.
        Assert.Null(db.Root.Bucket("v1")!.Bucket("version"));
        Assert.Null(db.Root.Bucket("v1")!.Value("k8s.io"));
    }

    [Fact]
    public void Reads_the_snapshotter_metadata_db()
    {
        using var db = BoltDb.FromBytes(ContainerdFixture.SnapshotDb(), "metadata.db");
        var snapshots = db.Root.Bucket("v1")!.Bucket("snapshots")!.Entries().Select(e => e.Name).ToList();
        Assert.Contains("k8s.io/2/sha256:ab9f235f5173068a8d35d073e2ed01b3ef404e6e576445599a66f71692154387", snapshots);
        Assert.Contains(snapshots, s => s.EndsWith("/c1", StringComparison.Ordinal));
        Assert.NotNull(db.Root.Bucket("v1")!.Bucket("parents"));
    }

    [Fact]
    public void Opens_a_file_that_the_daemon_holds_locked_and_never_writes_it()
    {
        string path = Path.Combine(Path.GetTempPath(), "overlaytools-bolt-" + Guid.NewGuid().ToString("N") + ".db");
        var bytes = ContainerdFixture.MetaDb();
        File.WriteAllBytes(path, bytes);
        var mtime = File.GetLastWriteTimeUtc(path);
        try
        {
            // containerd holds an exclusive flock on its databases while it runs.
            using (var holder = FileSystem.Open(path, Native.O_RDONLY))
            {
                Assert.Equal(0, Native.Flock(holder.Value, Native.LOCK_EX | Native.LOCK_NB));
                using (var db = BoltDb.Open(path))
                {
                    Assert.True(WalkAll(db).Count > 1000);
                }
                // .NET's own file API takes a shared flock, which the daemon's lock refuses.
                Assert.Throws<IOException>(() => File.ReadAllBytes(path));
            }
            Assert.Equal(bytes, File.ReadAllBytes(path));
            Assert.Equal(mtime, File.GetLastWriteTimeUtc(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        var e = Assert.Throws<OverlayException>(() => BoltDb.Open("/nonexistent/overlaytools/meta.db"));
        Assert.Equal(ErrorIds.BoltDatabaseUnreadable, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.ObjectNotFound, e.Category);
        Assert.Equal("/nonexistent/overlaytools/meta.db", e.Target);
    }

    [Fact]
    public void A_directory_or_a_symlink_is_not_opened()
    {
        var e = Assert.Throws<OverlayException>(() => BoltDb.Open("/tmp"));
        Assert.Equal(ErrorIds.BoltDatabaseUnreadable, e.ErrorId);
        string link = Path.Combine(Path.GetTempPath(), "overlaytools-bolt-link-" + Guid.NewGuid().ToString("N"));
        File.CreateSymbolicLink(link, "/etc/hostname");
        try
        {
            e = Assert.Throws<OverlayException>(() => BoltDb.Open(link));
            Assert.Equal(ErrorIds.BoltDatabaseUnreadable, e.ErrorId);
        }
        finally
        {
            File.Delete(link);
        }
    }

    // ---- hand-built files -----------------------------------------------------------------------

    [Fact]
    public void Reads_nested_and_inline_buckets_and_overflow_values_it_built()
    {
        var b = new BoltBuilder();
        var big = new string('q', 10000);
        ulong deep = b.Leaf(BoltBuilder.Kv("big", big), BoltBuilder.Kv("small", "s"));
        var inner = BoltBuilder.Inline(BoltBuilder.Kv("k", "v"));
        var outer = BoltBuilder.Inline(BoltBuilder.Sub("inner", inner), BoltBuilder.Kv("x", "y"));
        ulong root = b.Leaf(BoltBuilder.Sub("a", BoltBuilder.BucketAt(deep)), BoltBuilder.Sub("b", outer));
        using var db = BoltDb.FromBytes(b.Build(root));
        Assert.Equal(big, db.Root.Bucket("a")!.Text("big"));
        Assert.Equal("v", db.Root.Bucket("b")!.Bucket("inner")!.Text("k"));
        Assert.Equal("y", db.Root.Bucket("b")!.Text("x"));
        Assert.Equal(1, db.OverflowRunsRead);
        Assert.Equal(3, db.InlineBucketsOpened); // b twice, inner once
    }

    [Fact]
    public void Uses_the_valid_meta_page_with_the_highest_transaction()
    {
        var b = new BoltBuilder();
        ulong old = b.Leaf(BoltBuilder.Kv("state", "old"));
        ulong @new = b.Leaf(BoltBuilder.Kv("state", "new"));
        var file = b.Build(old, tx0: 7, tx1: 8);
        // Meta 1 (transaction 8) points at the new root; meta 0 (transaction 7) at the old one.
        BitConverter.GetBytes(@new).CopyTo(file, 4096 + 16 + 16);
        BoltBuilder.Reseal(file, 1, 4096);
        using (var db = BoltDb.FromBytes((byte[])file.Clone()))
        {
            Assert.Equal(8UL, db.TxId);
            Assert.Equal("new", db.Root.Text("state"));
        }
        // Damage meta 1: the reader falls back to meta 0.
        file[4096 + 16 + 3] ^= 0x40;
        using (var db = BoltDb.FromBytes(file))
        {
            Assert.Equal(7UL, db.TxId);
            Assert.Equal("old", db.Root.Text("state"));
        }
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(16384)]
    [InlineData(65536)]
    public void Finds_the_page_size_from_the_second_meta_when_the_first_is_gone(int pageSize)
    {
        var b = new BoltBuilder(pageSize);
        ulong root = b.Leaf(BoltBuilder.Kv("k", "v"));
        var file = b.Build(root, tx0: 5, tx1: 4);
        Array.Clear(file, 0, 200); // page 0 wiped
        using var db = BoltDb.FromBytes(file);
        Assert.Equal(pageSize, db.PageSize);
        Assert.Equal(4UL, db.TxId);
        Assert.Equal("v", db.Root.Text("k"));
    }

    [Fact]
    public void A_cycle_between_two_branch_pages_is_damage_not_a_hang()
    {
        var b = new BoltBuilder();
        ulong leaf = b.Leaf(BoltBuilder.Kv("a", "1"));
        ulong branchA = b.NextId;
        ulong branchB = branchA + 1;
        b.Branch(("a", leaf), ("m", branchB));
        b.Branch(("m", branchA)); // points back at A
        using var db = BoltDb.FromBytes(b.Build(branchA));
        var e = Assert.Throws<OverlayException>(() => db.Root.Entries());
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, e.ErrorId);
        Assert.Contains("twice", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<OverlayException>(() => db.Root.TryGet("z"u8, out _));
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, e.ErrorId);
    }

    [Fact]
    public void Buckets_that_share_pages_are_damage_in_a_walk()
    {
        var b = new BoltBuilder();
        ulong shared = b.Leaf(BoltBuilder.Kv("k", "v"));
        ulong root = b.Leaf(BoltBuilder.Sub("a", BoltBuilder.BucketAt(shared)), BoltBuilder.Sub("b", BoltBuilder.BucketAt(shared)));
        using var db = BoltDb.FromBytes(b.Build(root));
        Assert.Equal("v", db.Root.Bucket("b")!.Text("k")); // lookups still work
        var e = Assert.Throws<OverlayException>(() => db.Root.Walk((_, _) => { }));
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, e.ErrorId);
    }

    [Fact]
    public void A_bucket_whose_root_is_the_root_page_does_not_recurse_forever()
    {
        var b = new BoltBuilder();
        ulong root = b.NextId;
        b.Leaf(BoltBuilder.Sub("self", BoltBuilder.BucketAt(root)));
        using var db = BoltDb.FromBytes(b.Build(root));
        var e = Assert.Throws<OverlayException>(() => db.Root.Walk((_, _) => { }));
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, e.ErrorId);
    }

    [Fact]
    public void A_tree_deeper_than_the_limit_is_damage()
    {
        var b = new BoltBuilder();
        ulong child = b.Leaf(BoltBuilder.Kv("a", "1"));
        for (int i = 0; i <= BoltDb.MaxTreeDepth + 1; i++)
        {
            child = b.Branch(("a", child));
        }
        using var db = BoltDb.FromBytes(b.Build(child));
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, Assert.Throws<OverlayException>(() => db.Root.Entries()).ErrorId);
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, Assert.Throws<OverlayException>(() => db.Root.Text("a")).ErrorId);
    }

    [Fact]
    public void Many_inline_buckets_are_walked_once_each()
    {
        var inner = BoltBuilder.Inline(BoltBuilder.Kv("k", "v"));
        var entries = Enumerable.Range(0, 200).Select(i => BoltBuilder.Sub($"b{i:D3}", inner)).ToArray();
        var b = new BoltBuilder(65536);
        ulong root = b.Leaf(entries);
        using var db = BoltDb.FromBytes(b.Build(root));
        int count = 0;
        db.Root.Walk((_, _) => count++);
        Assert.Equal(400, count);
    }

    [Fact]
    public void Elements_that_overlap_into_a_fan_out_bomb_hit_the_work_limit()
    {
        // Each level is an inline bucket whose two elements point at the same bytes: the next
        // level. Followed blindly, 60 levels would be 2^60 visits.
        byte[] value = BoltBuilder.Inline(BoltBuilder.Kv("k", "v"));
        for (int level = 0; level < 60; level++)
        {
            var v = new byte[16 + 16 + 32 + 1 + value.Length];
            BitConverter.GetBytes((ushort)BoltDb.LeafPageFlag).CopyTo(v, 16 + 8);
            BitConverter.GetBytes((ushort)2).CopyTo(v, 16 + 10);
            for (int i = 0; i < 2; i++)
            {
                int at = 16 + 16 + (16 * i);
                int data = 16 + 16 + 32;
                BitConverter.GetBytes(BoltDb.BucketLeafFlag).CopyTo(v, at);
                BitConverter.GetBytes((uint)(data - at)).CopyTo(v, at + 4);
                BitConverter.GetBytes(1u).CopyTo(v, at + 8);
                BitConverter.GetBytes((uint)value.Length).CopyTo(v, at + 12);
            }
            v[16 + 16 + 32] = (byte)'a';
            value.CopyTo(v, 16 + 16 + 32 + 1);
            value = v;
        }
        var b = new BoltBuilder(65536);
        ulong root = b.Leaf(BoltBuilder.Sub("bomb", value));
        using var db = BoltDb.FromBytes(b.Build(root));
        var e = Assert.Throws<OverlayException>(() => db.Root.Walk((_, _) => { }));
        Assert.Equal(ErrorIds.BoltDatabaseCorrupt, e.ErrorId);
        Assert.Contains("element reads", e.Message, StringComparison.Ordinal);
    }
}
