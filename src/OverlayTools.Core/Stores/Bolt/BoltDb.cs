using System;
using System.Buffers.Binary;
using System.Collections.Generic;

namespace OverlayTools.Stores.Bolt;

/// <summary>One of the two meta pages of a bbolt file, decoded.</summary>
internal readonly record struct BoltMeta(uint Magic, uint Version, uint PageSize, uint Flags, ulong RootPage, ulong RootSequence,
    ulong Freelist, ulong HighWater, ulong TxId, ulong Checksum, ulong ComputedChecksum)
{
    internal bool ChecksumValid => Checksum == ComputedChecksum;
}

/// <summary>
/// A small, read-only reader for bbolt (go.etcd.io/bbolt) files, written from the file format:
/// 16-byte page headers (id, flags, count, overflow), two meta pages whose FNV-1a checksum picks the
/// newest valid one, branch and leaf pages whose elements point at their keys and values relative to
/// themselves, buckets whose value is a 16-byte header (root page, sequence) with an inline leaf
/// page when the root is 0, and overflow pages that extend a page over the following ones.
/// <para>
/// The file is opened read-only with no lock and never written. Every offset, size, count and page
/// id read from the file is checked before use, so a damaged or truncated file gives an
/// <see cref="OverlayException"/> (never an exception of another type, a hang or a huge
/// allocation). Not thread-safe: use one instance per reader.
/// </para>
/// </summary>
internal sealed class BoltDb : IDisposable
{
    internal const uint Magic = 0xED0CDAED;
    internal const uint FormatVersion = 2;
    internal const int PageHeaderSize = 16;
    internal const int MetaSize = 64;
    internal const int ChecksummedMetaBytes = 56;
    internal const int ElementSize = 16;
    internal const int BucketHeaderSize = 16;
    internal const ushort BranchPageFlag = 0x01;
    internal const ushort LeafPageFlag = 0x02;
    internal const ushort MetaPageFlag = 0x04;
    internal const uint BucketLeafFlag = 0x01;

    /// <summary>Smallest and largest page sizes accepted (bbolt uses the OS page size: 4 KiB, 16 KiB, 64 KiB).</summary>
    internal const int MinPageSize = 512;
    internal const int MaxPageSize = 1 << 20;

    /// <summary>Largest page run (a page and its overflow) that is read into memory: bbolt's own allocation limit.</summary>
    internal const long MaxPageRunBytes = 0xFFFFFFF;

    /// <summary>Deepest B+tree (branch levels) accepted; real trees are a handful of levels deep.</summary>
    internal const int MaxTreeDepth = 64;

    private readonly BoltSource _source;
    private readonly Dictionary<ulong, byte[]> _pages = new();
    private readonly long _workBudget;
    private long _work;

    private BoltDb(BoltSource source, int pageSize, BoltMeta meta)
    {
        _source = source;
        PageSize = pageSize;
        Meta = meta;
        // A real file holds at most one element per 16 bytes; damaged files can make elements and
        // buckets overlap, so reading is capped at a generous multiple of that.
        _workBudget = Math.Max(4_000_000, source.Length / BoltDb.ElementSize * 64);
        Root = new BoltBucket(this, meta.RootPage, ReadOnlyMemory<byte>.Empty, "(root)");
    }

    /// <summary>The file's path (or a test name).</summary>
    internal string Path => _source.Name;

    /// <summary>Page size from the meta page.</summary>
    internal int PageSize { get; }

    /// <summary>The meta page in use (valid checksum, highest transaction id).</summary>
    internal BoltMeta Meta { get; }

    /// <summary>Transaction id of the meta page in use; changes with every commit.</summary>
    internal ulong TxId => Meta.TxId;

    /// <summary>The root bucket (its keys are the top-level buckets).</summary>
    internal BoltBucket Root { get; }

    /// <summary>Branch pages among them (tests: the fixtures exercise every page kind).</summary>
    internal int BranchPagesRead { get; private set; }

    /// <summary>Pages read that carry overflow pages.</summary>
    internal int OverflowRunsRead { get; private set; }

    /// <summary>Inline buckets opened.</summary>
    internal int InlineBucketsOpened { get; set; }

    /// <summary>Opens a file read-only, without locking it, and reads its meta pages.</summary>
    internal static BoltDb Open(string path) => Open(BoltSource.OpenFile(path));

    /// <summary>Reads a database held in memory.</summary>
    internal static BoltDb FromBytes(byte[] data, string name = "(memory)") => Open(BoltSource.FromBytes(data, name));

    private static BoltDb Open(BoltSource source)
    {
        try
        {
            var (pageSize, meta) = ReadMeta(source);
            return new BoltDb(source, pageSize, meta);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads only the meta pages of a file and returns the transaction id in use, so a reader can
    /// tell whether a live database committed while it was being read.
    /// </summary>
    internal ulong ReadCurrentTxId()
    {
        var (_, meta) = ReadMeta(_source);
        return meta.TxId;
    }

    public void Dispose() => _source.Dispose();

    // ---- meta pages ------------------------------------------------------------------------------

    private static (int PageSize, BoltMeta Meta) ReadMeta(BoltSource source)
    {
        string name = source.Name;
        long length = source.Length;
        if (length == 0)
        {
            throw NotADatabase(name, "the file is empty");
        }
        if (length < PageHeaderSize + MetaSize)
        {
            throw NotADatabase(name, $"the file is only {length} bytes long");
        }

        // Page 0 holds the first meta page and, with it, the page size.
        Span<byte> buf = stackalloc byte[PageHeaderSize + MetaSize];
        BoltMeta? meta0 = TryReadMetaAt(source, 0, buf);
        int pageSize = 0;
        if (meta0 is { } m0 && IsUsable(m0, 0))
        {
            pageSize = (int)m0.PageSize;
        }
        else
        {
            // Page 0 is damaged: look for the second meta page at the usual page sizes.
            foreach (int candidate in CandidatePageSizes())
            {
                if (length < (long)candidate + PageHeaderSize + MetaSize)
                {
                    continue;
                }
                if (TryReadMetaAt(source, candidate, buf) is { } m1 && IsUsable(m1, 1) && m1.PageSize == (uint)candidate)
                {
                    pageSize = candidate;
                    break;
                }
            }
        }

        if (pageSize == 0)
        {
            // No valid meta page at all: say why, as precisely as page 0 allows.
            if (meta0 is not { } m || m.Magic != Magic)
            {
                throw NotADatabase(name, "neither meta page carries the bbolt magic number");
            }
            if (m.Version != FormatVersion)
            {
                throw new OverlayException(ErrorIds.BoltVersionUnsupported, OverlayErrorCategory.NotImplemented,
                    $"'{name}' is a bbolt database of format version {m.Version}; this reader knows version {FormatVersion}.", name,
                    "Read the store with the containerd that wrote it, or report the version to the OverlayTools project.");
            }
            throw Corrupt(name, "both meta pages fail their checksum or hold impossible values");
        }

        // Both meta pages at the known page size; the valid one with the highest transaction id wins.
        BoltMeta? best = null;
        for (int i = 0; i < 2; i++)
        {
            if (TryReadMetaAt(source, (long)i * pageSize, buf) is { } mi && IsUsable(mi, i) && mi.PageSize == (uint)pageSize
                && (best is null || mi.TxId > best.Value.TxId))
            {
                best = mi;
            }
        }
        if (best is not { } chosen)
        {
            throw Corrupt(name, "both meta pages fail their checksum or hold impossible values");
        }

        // The high-water mark says how many pages the file holds; a shorter file lost its tail.
        // (The length is taken again first: a running daemon may have grown the file since it was opened.)
        if (chosen.HighWater > (ulong)(length / pageSize) && chosen.HighWater > (ulong)((length = source.CurrentLength()) / pageSize))
        {
            throw new OverlayException(ErrorIds.BoltDatabaseTruncated, OverlayErrorCategory.InvalidData,
                $"'{name}' is truncated: its meta page (transaction {chosen.TxId}) counts {chosen.HighWater} pages of {pageSize} bytes, but the file holds only {length} bytes.",
                name, "The file was cut short (a partial copy or a full disk). Restore it from a backup or copy it again with the daemon stopped.");
        }
        return (pageSize, chosen);
    }

    private static IEnumerable<int> CandidatePageSizes()
    {
        yield return 4096;
        for (int size = MinPageSize; size <= MaxPageSize; size *= 2)
        {
            if (size != 4096)
            {
                yield return size;
            }
        }
    }

    private static BoltMeta? TryReadMetaAt(BoltSource source, long offset, Span<byte> buf)
    {
        if (source.ReadAt(offset, buf) != buf.Length)
        {
            return null;
        }
        var m = buf[PageHeaderSize..];
        ulong computed = Fnv1a64(m[..ChecksummedMetaBytes]);
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(buf[8..]);
        if (flags != MetaPageFlag)
        {
            // Not a meta page at all: report it as a meta with a wrong magic so the caller says "not bbolt".
            return new BoltMeta(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
        }
        return new BoltMeta(
            Magic: BinaryPrimitives.ReadUInt32LittleEndian(m),
            Version: BinaryPrimitives.ReadUInt32LittleEndian(m[4..]),
            PageSize: BinaryPrimitives.ReadUInt32LittleEndian(m[8..]),
            Flags: BinaryPrimitives.ReadUInt32LittleEndian(m[12..]),
            RootPage: BinaryPrimitives.ReadUInt64LittleEndian(m[16..]),
            RootSequence: BinaryPrimitives.ReadUInt64LittleEndian(m[24..]),
            Freelist: BinaryPrimitives.ReadUInt64LittleEndian(m[32..]),
            HighWater: BinaryPrimitives.ReadUInt64LittleEndian(m[40..]),
            TxId: BinaryPrimitives.ReadUInt64LittleEndian(m[48..]),
            Checksum: BinaryPrimitives.ReadUInt64LittleEndian(m[56..]),
            ComputedChecksum: computed);
    }

    private static bool IsUsable(BoltMeta m, int index)
        => m.Magic == Magic && m.Version == FormatVersion && m.ChecksumValid
           && m.PageSize >= MinPageSize && m.PageSize <= MaxPageSize && (m.PageSize & (m.PageSize - 1)) == 0
           && m.HighWater >= 3 && m.RootPage >= 2 && m.RootPage < m.HighWater && index is 0 or 1;

    /// <summary>FNV-1a, 64 bits: the checksum bbolt stores over the first 56 bytes of a meta page.</summary>
    internal static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in data)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }

    // ---- pages ----------------------------------------------------------------------------------

    /// <summary>
    /// A branch or leaf page with its overflow pages, checked: the id is inside the file's
    /// high-water mark, the header names this page, the type is branch or leaf, and the run fits.
    /// </summary>
    internal BoltPage ReadTreePage(ulong id)
    {
        if (id < 2 || id >= Meta.HighWater)
        {
            throw Corrupt(Path, $"a tree points at page {id}, outside the data pages 2..{Meta.HighWater - 1}");
        }
        if (!_pages.TryGetValue(id, out var bytes))
        {
            long offset = checked((long)id * PageSize);
            Span<byte> header = stackalloc byte[PageHeaderSize];
            if (_source.ReadAt(offset, header) != PageHeaderSize)
            {
                throw Corrupt(Path, $"page {id} lies past the end of the file");
            }
            ulong headerId = BinaryPrimitives.ReadUInt64LittleEndian(header);
            uint overflow = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
            if (headerId != id)
            {
                throw Corrupt(Path, $"page {id} says it is page {headerId}");
            }
            ulong runPages = 1UL + overflow;
            if (id + runPages > Meta.HighWater)
            {
                throw Corrupt(Path, $"page {id} claims {overflow} overflow pages, past the high-water mark {Meta.HighWater}");
            }
            long runBytes = (long)runPages * PageSize;
            if (runBytes > MaxPageRunBytes)
            {
                throw Corrupt(Path, $"page {id} claims {overflow} overflow pages ({runBytes} bytes), more than bbolt ever writes");
            }
            bytes = new byte[runBytes];
            if (_source.ReadAt(offset, bytes) != bytes.Length)
            {
                throw Corrupt(Path, $"page {id} and its overflow pages run past the end of the file");
            }
            // The file may change under a live daemon: trust only what was read in one go.
            if (BinaryPrimitives.ReadUInt64LittleEndian(bytes) != id || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12)) != overflow)
            {
                throw Corrupt(Path, $"page {id} changed while it was read");
            }
            _pages[id] = bytes;
            BranchPagesRead += BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) == BranchPageFlag ? 1 : 0;
            OverflowRunsRead += overflow > 0 ? 1 : 0;
        }
        var page = BoltPage.Parse(this, bytes, id, inline: false);
        return page;
    }

    /// <summary>Counts one element read; throws once the reading has gone far beyond what the file can hold.</summary>
    internal void Charge()
    {
        if (++_work > _workBudget)
        {
            throw Corrupt(Path, $"reading it took more than {_workBudget} element reads, far more than its size allows (buckets or elements point at each other)");
        }
    }

    // ---- errors -----------------------------------------------------------------------------------

    internal static OverlayException NotADatabase(string name, string why)
        => new(ErrorIds.BoltNotADatabase, OverlayErrorCategory.InvalidData,
            $"'{name}' is not a bbolt database: {why}.", name,
            "Point -DataRoot at a containerd root directory (default /var/lib/containerd); its databases are io.containerd.metadata.v1.bolt/meta.db and io.containerd.snapshotter.v1.overlayfs/metadata.db.");

    internal static OverlayException Corrupt(string name, string why)
        => new(ErrorIds.BoltDatabaseCorrupt, OverlayErrorCategory.InvalidData,
            $"The bbolt database '{name}' is damaged: {why}.", name,
            "If the daemon is running, try again (it may have been writing). Otherwise check the file with 'bbolt check', and restore it from a backup.");
}
