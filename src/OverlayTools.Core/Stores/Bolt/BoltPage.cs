using System;
using System.Buffers.Binary;

namespace OverlayTools.Stores.Bolt;

/// <summary>One key/value pair of a leaf page; <see cref="IsBucket"/> when the value is a nested bucket.</summary>
internal readonly record struct BoltEntry(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> Value, bool IsBucket)
{
    /// <summary>The key as text (invalid UTF-8 becomes U+FFFD; callers validate what they use).</summary>
    internal string Name => System.Text.Encoding.UTF8.GetString(Key.Span);
}

/// <summary>
/// A checked view of a branch or leaf page (a file page with its overflow, or an inline bucket's
/// page). Element i sits at 16 + 16·i; its key and value offsets are relative to the element and
/// are bounds-checked against the page before any slice is taken.
/// </summary>
internal readonly struct BoltPage
{
    private readonly BoltDb _db;
    private readonly ReadOnlyMemory<byte> _data;

    private BoltPage(BoltDb db, ReadOnlyMemory<byte> data, ulong id, ushort flags, int count)
    {
        _db = db;
        _data = data;
        Id = id;
        Flags = flags;
        Count = count;
    }

    internal ulong Id { get; }
    internal ushort Flags { get; }
    internal int Count { get; }
    internal bool IsLeaf => Flags == BoltDb.LeafPageFlag;
    internal bool IsBranch => Flags == BoltDb.BranchPageFlag;

    private string Where => Id == 0 ? "an inline bucket page" : $"page {Id}";

    /// <summary>Checks the header of a page held in <paramref name="data"/> (a whole page run, or an inline page).</summary>
    internal static BoltPage Parse(BoltDb db, ReadOnlyMemory<byte> data, ulong id, bool inline)
    {
        var span = data.Span;
        string where = inline ? "an inline bucket page" : $"page {id}";
        if (span.Length < BoltDb.PageHeaderSize)
        {
            throw BoltDb.Corrupt(db.Path, $"{where} is shorter than a page header");
        }
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[8..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(span[10..]);
        if (inline ? flags != BoltDb.LeafPageFlag : flags is not (BoltDb.LeafPageFlag or BoltDb.BranchPageFlag))
        {
            throw BoltDb.Corrupt(db.Path, $"{where} has type 0x{flags:x2} where a {(inline ? "leaf" : "branch or leaf")} page belongs");
        }
        if (flags == BoltDb.BranchPageFlag && count == 0)
        {
            throw BoltDb.Corrupt(db.Path, $"{where} is a branch page without elements");
        }
        if (BoltDb.PageHeaderSize + (long)count * BoltDb.ElementSize > span.Length)
        {
            throw BoltDb.Corrupt(db.Path, $"{where} claims {count} elements, more than fit in {span.Length} bytes");
        }
        return new BoltPage(db, data, inline ? 0 : id, flags, count);
    }

    /// <summary>Leaf element <paramref name="index"/>: key, value, bucket flag.</summary>
    internal BoltEntry Leaf(int index)
    {
        _db.Charge();
        var span = _data.Span;
        int at = BoltDb.PageHeaderSize + index * BoltDb.ElementSize;
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
        uint pos = BinaryPrimitives.ReadUInt32LittleEndian(span[(at + 4)..]);
        uint ksize = BinaryPrimitives.ReadUInt32LittleEndian(span[(at + 8)..]);
        uint vsize = BinaryPrimitives.ReadUInt32LittleEndian(span[(at + 12)..]);
        if ((flags & ~BoltDb.BucketLeafFlag) != 0)
        {
            throw BoltDb.Corrupt(_db.Path, $"element {index} of {Where} has unknown flags 0x{flags:x}");
        }
        long keyStart = at + (long)pos;
        long end = keyStart + ksize + vsize;
        if (ksize == 0 || pos < BoltDb.ElementSize * (uint)(Count - index) || end > span.Length)
        {
            throw BoltDb.Corrupt(_db.Path, $"element {index} of {Where} points outside the page (offset {pos}, key {ksize} bytes, value {vsize} bytes)");
        }
        return new BoltEntry(_data.Slice((int)keyStart, (int)ksize), _data.Slice((int)keyStart + (int)ksize, (int)vsize), (flags & BoltDb.BucketLeafFlag) != 0);
    }

    /// <summary>Branch element <paramref name="index"/>: the first key of a child page and its id.</summary>
    internal (ReadOnlyMemory<byte> Key, ulong Child) Branch(int index)
    {
        _db.Charge();
        var span = _data.Span;
        int at = BoltDb.PageHeaderSize + index * BoltDb.ElementSize;
        uint pos = BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
        uint ksize = BinaryPrimitives.ReadUInt32LittleEndian(span[(at + 4)..]);
        ulong child = BinaryPrimitives.ReadUInt64LittleEndian(span[(at + 8)..]);
        long keyStart = at + (long)pos;
        if (ksize == 0 || pos < BoltDb.ElementSize * (uint)(Count - index) || keyStart + ksize > span.Length)
        {
            throw BoltDb.Corrupt(_db.Path, $"element {index} of {Where} points outside the page (offset {pos}, key {ksize} bytes)");
        }
        if (child == Id)
        {
            throw BoltDb.Corrupt(_db.Path, $"{Where} names itself as its child");
        }
        return (_data.Slice((int)keyStart, (int)ksize), child);
    }
}
