using System;
using System.Buffers.Binary;
using OverlayTools.Stores.Bolt;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// Damaged and truncated bbolt files: each gives an OverlayException with its own ErrorId, never
/// another exception, a hang or a huge allocation. Fuzzing is bounded and seeded, so every run
/// tries the same files.
/// </summary>
public class BoltCorruptionTests
{
    /// <summary>Opens and walks a whole file; returns the entries seen, or the OverlayException.</summary>
    private static (int Entries, OverlayException? Error) ReadAll(byte[] file)
    {
        try
        {
            using var db = BoltDb.FromBytes(file, "fuzz.db");
            int n = 0;
            db.Root.Walk((_, _) => n++);
            return (n, null);
        }
        catch (OverlayException e)
        {
            return (0, e);
        }
    }

    [Theory]
    [InlineData("truncated", "BoltDatabaseTruncated")]
    [InlineData("both-meta-bad", "BoltDatabaseCorrupt")]
    [InlineData("branch-self-reference", "BoltDatabaseCorrupt")]
    [InlineData("bucket-root-out-of-range", "BoltDatabaseCorrupt")]
    [InlineData("element-past-page", "BoltDatabaseCorrupt")]
    [InlineData("overflow-past-end", "BoltDatabaseCorrupt")]
    [InlineData("not-bolt", "BoltNotADatabase")]
    [InlineData("empty", "BoltNotADatabase")]
    public void Each_hand_damaged_copy_gives_its_error(string name, string errorId)
    {
        var (_, error) = ReadAll(ContainerdFixture.Corrupt(name));
        Assert.NotNull(error);
        Assert.Equal(errorId, error.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidData, error.Category);
        Assert.Equal("fuzz.db", error.Target);
        Assert.False(string.IsNullOrEmpty(error.RecommendedAction));
    }

    [Fact]
    public void A_damaged_newest_meta_page_falls_back_to_the_older_one()
    {
        var good = ContainerdFixture.MetaDb();
        using var reference = BoltDb.FromBytes(good);
        var (entries, error) = ReadAll(ContainerdFixture.Corrupt("newest-meta-bad"));
        Assert.Null(error);
        Assert.True(entries > 1000);
        using var db = BoltDb.FromBytes(ContainerdFixture.Corrupt("newest-meta-bad"));
        Assert.Equal(reference.TxId - 1, db.TxId);
    }

    [Fact]
    public void A_newer_format_version_is_named()
    {
        var file = ContainerdFixture.MetaDb();
        int ps = 4096;
        for (int i = 0; i < 2; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan((i * ps) + 16 + 4), 3);
            BoltBuilder.Reseal(file, i, ps);
        }
        var (_, error) = ReadAll(file);
        Assert.Equal(ErrorIds.BoltVersionUnsupported, error?.ErrorId);
    }

    [Fact]
    public void Truncation_at_every_page_boundary_is_reported_as_truncation()
    {
        var file = ContainerdFixture.MetaDb();
        using var db = BoltDb.FromBytes(file);
        ulong pages = db.Meta.HighWater;
        for (ulong n = 0; n < pages; n++)
        {
            var cut = file.AsSpan(0, (int)(n * 4096)).ToArray();
            var (_, error) = ReadAll(cut);
            Assert.NotNull(error);
            Assert.True(error.ErrorId is "BoltDatabaseTruncated" or "BoltNotADatabase", $"{n} pages: {error.ErrorId} {error.Message}");
        }
        Assert.Null(ReadAll(file.AsSpan(0, (int)(pages * 4096)).ToArray()).Error);
    }

    [Fact]
    public void Truncation_inside_a_page_is_reported()
    {
        var file = ContainerdFixture.MetaDb();
        var rng = new Random(1234);
        for (int i = 0; i < 200; i++)
        {
            int length = rng.Next(0, 197 * 4096);
            var (_, error) = ReadAll(file.AsSpan(0, length).ToArray());
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void Random_bit_flips_give_an_error_or_a_read_never_another_exception()
    {
        var original = ContainerdFixture.MetaDb();
        var rng = new Random(20261127);
        int failures = 0;
        for (int round = 0; round < 300; round++)
        {
            var file = (byte[])original.Clone();
            int flips = 1 + rng.Next(8);
            for (int f = 0; f < flips; f++)
            {
                // Half the flips hit headers and element tables, where damage matters most.
                int page = rng.Next(197);
                int offset = rng.Next(2) == 0 ? (page * 4096) + rng.Next(16 + (16 * 24)) : rng.Next(file.Length);
                file[offset] ^= (byte)(1 << rng.Next(8));
            }
            var (_, error) = ReadAll(file); // anything but OverlayException fails the test
            failures += error is null ? 0 : 1;
        }
        Assert.True(failures > 0, "some flips must be detected");
    }

    [Fact]
    public void Random_bytes_over_whole_pages_never_escape_as_another_exception()
    {
        var original = ContainerdFixture.MetaDb();
        var rng = new Random(7);
        for (int round = 0; round < 150; round++)
        {
            var file = (byte[])original.Clone();
            int page = 2 + rng.Next(195);
            rng.NextBytes(file.AsSpan(page * 4096, 4096));
            ReadAll(file);
        }
    }

    [Fact]
    public void Flipped_page_ids_and_counts_in_the_snapshot_db_are_contained()
    {
        var original = ContainerdFixture.SnapshotDb();
        var rng = new Random(99);
        for (int round = 0; round < 300; round++)
        {
            var file = (byte[])original.Clone();
            int page = rng.Next(file.Length / 4096);
            int field = rng.Next(4) switch { 0 => 0, 1 => 8, 2 => 10, _ => 12 }; // id, flags, count, overflow
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan((page * 4096) + field), (uint)rng.Next());
            ReadAll(file);
        }
    }
}
