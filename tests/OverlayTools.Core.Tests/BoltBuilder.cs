using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;
using OverlayTools.Stores.Bolt;

namespace OverlayTools.Core.Tests;

/// <summary>
/// Writes small bbolt files page by page for the tests (a real containerd wrote the fixtures; this
/// makes the shapes containerd rarely writes: deep trees, page cycles, other page sizes, nested
/// inline buckets). It follows the format the reader documents, independently of the reader's code.
/// </summary>
internal sealed class BoltBuilder(int pageSize = 4096)
{
    private readonly List<byte[]> _pages = [null!, null!, Freelist(pageSize)]; // 0, 1: meta; 2: empty freelist

    internal int PageSize => pageSize;

    private static byte[] Freelist(int ps)
    {
        var p = new byte[ps];
        BinaryPrimitives.WriteUInt64LittleEndian(p, 2);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(8), 0x10);
        return p;
    }

    internal ulong NextId => (ulong)_pages.Count;

    /// <summary>Adds a leaf page (with extra overflow pages when its data needs them); returns its id.</summary>
    internal ulong Leaf(params (string Key, byte[] Value, bool Bucket)[] entries)
    {
        ulong id = NextId;
        var body = LeafBody(entries);
        int runPages = (body.Length + pageSize - 1) / pageSize;
        var run = new byte[runPages * pageSize];
        body.CopyTo(run, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(run, id);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(12), (uint)(runPages - 1));
        _pages.Add(run);
        for (int i = 1; i < runPages; i++)
        {
            _pages.Add(null!); // covered by the run
        }
        return id;
    }

    /// <summary>Adds a branch page pointing at children by their first keys.</summary>
    internal ulong Branch(params (string Key, ulong Child)[] children)
    {
        ulong id = NextId;
        var p = new byte[pageSize];
        BinaryPrimitives.WriteUInt64LittleEndian(p, id);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(8), BoltDb.BranchPageFlag);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(10), (ushort)children.Length);
        int data = 16 + (16 * children.Length);
        for (int i = 0; i < children.Length; i++)
        {
            int at = 16 + (16 * i);
            var k = Encoding.UTF8.GetBytes(children[i].Key);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at), (uint)(data - at));
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at + 4), (uint)k.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(at + 8), children[i].Child);
            k.CopyTo(p, data);
            data += k.Length;
        }
        _pages.Add(p);
        return id;
    }

    /// <summary>A leaf page's bytes (header with id 0 and no overflow, elements, data).</summary>
    internal static byte[] LeafBody((string Key, byte[] Value, bool Bucket)[] entries)
    {
        int size = 16 + (16 * entries.Length);
        foreach (var e in entries)
        {
            size += Encoding.UTF8.GetByteCount(e.Key) + e.Value.Length;
        }
        var p = new byte[size];
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(8), BoltDb.LeafPageFlag);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(10), (ushort)entries.Length);
        int data = 16 + (16 * entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            int at = 16 + (16 * i);
            var k = Encoding.UTF8.GetBytes(entries[i].Key);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at), entries[i].Bucket ? 1u : 0u);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at + 4), (uint)(data - at));
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at + 8), (uint)k.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(at + 12), (uint)entries[i].Value.Length);
            k.CopyTo(p, data);
            entries[i].Value.CopyTo(p, data + k.Length);
            data += k.Length + entries[i].Value.Length;
        }
        return p;
    }

    /// <summary>The value of a bucket entry whose tree starts at a page.</summary>
    internal static byte[] BucketAt(ulong root)
    {
        var v = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(v, root);
        return v;
    }

    /// <summary>The value of an inline bucket: a zero root, then its leaf page.</summary>
    internal static byte[] Inline(params (string Key, byte[] Value, bool Bucket)[] entries)
    {
        var body = LeafBody(entries);
        var v = new byte[16 + body.Length];
        body.CopyTo(v, 16);
        return v;
    }

    internal static (string, byte[], bool) Kv(string key, string value) => (key, Encoding.UTF8.GetBytes(value), false);

    internal static (string, byte[], bool) Sub(string key, byte[] bucketValue) => (key, bucketValue, true);

    /// <summary>The file: two meta pages (transactions <paramref name="tx0"/> and <paramref name="tx1"/>) rooted at <paramref name="root"/>.</summary>
    internal byte[] Build(ulong root, ulong tx0 = 1, ulong tx1 = 2)
    {
        var file = new byte[_pages.Count * pageSize];
        for (int i = 2; i < _pages.Count; i++)
        {
            _pages[i]?.CopyTo(file, i * pageSize);
        }
        WriteMeta(file, 0, root, tx0);
        WriteMeta(file, 1, root, tx1);
        return file;
    }

    private void WriteMeta(byte[] file, int index, ulong root, ulong txid)
    {
        var p = file.AsSpan(index * pageSize, pageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(p, (ulong)index);
        BinaryPrimitives.WriteUInt16LittleEndian(p[8..], BoltDb.MetaPageFlag);
        var m = p[16..];
        BinaryPrimitives.WriteUInt32LittleEndian(m, BoltDb.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(m[4..], BoltDb.FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(m[8..], (uint)pageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(m[16..], root);
        BinaryPrimitives.WriteUInt64LittleEndian(m[32..], 2);
        BinaryPrimitives.WriteUInt64LittleEndian(m[40..], (ulong)_pages.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(m[48..], txid);
        BinaryPrimitives.WriteUInt64LittleEndian(m[56..], Fnv(m[..56]));
    }

    /// <summary>FNV-1a 64, written out here rather than borrowed from the reader.</summary>
    internal static ulong Fnv(ReadOnlySpan<byte> data)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (byte b in data)
        {
            h = (h ^ b) * 0x100000001b3;
        }
        return h;
    }

    /// <summary>Rewrites the checksum of meta page <paramref name="index"/> after a test changed it.</summary>
    internal static void Reseal(byte[] file, int index, int pageSize)
    {
        var m = file.AsSpan((index * pageSize) + 16, 64);
        BinaryPrimitives.WriteUInt64LittleEndian(m[56..], Fnv(m[..56]));
    }
}
