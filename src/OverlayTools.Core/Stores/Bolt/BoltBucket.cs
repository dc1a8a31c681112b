using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;

namespace OverlayTools.Stores.Bolt;

/// <summary>
/// A bucket: a B+tree rooted at a page, or (root 0) a single inline leaf page stored in the parent's
/// value. Lookups and walks remember the pages they visit, so a page cycle or a tree deeper than
/// <see cref="BoltDb.MaxTreeDepth"/> is reported as damage instead of looping.
/// </summary>
internal sealed class BoltBucket
{
    private readonly BoltDb _db;
    private readonly ulong _root;
    private readonly ReadOnlyMemory<byte> _inlinePage;

    internal BoltBucket(BoltDb db, ulong root, ReadOnlyMemory<byte> inlinePage, string name)
    {
        _db = db;
        _root = root;
        _inlinePage = inlinePage;
        Name = name;
    }

    /// <summary>The bucket's path from the root, such as v1/k8s.io/images (for messages).</summary>
    internal string Name { get; }

    /// <summary>True when the bucket's only page is stored inline in its parent.</summary>
    internal bool IsInline => _root == 0;

    /// <summary>Every entry in key order.</summary>
    internal List<BoltEntry> Entries()
    {
        var result = new List<BoltEntry>();
        if (IsInline)
        {
            var page = BoltPage.Parse(_db, _inlinePage, 0, inline: true);
            for (int i = 0; i < page.Count; i++)
            {
                result.Add(page.Leaf(i));
            }
            return result;
        }
        Collect(_root, 0, new HashSet<ulong>(), result);
        return result;
    }

    private void Collect(ulong pageId, int depth, HashSet<ulong> visited, List<BoltEntry> result)
    {
        if (depth > BoltDb.MaxTreeDepth)
        {
            throw BoltDb.Corrupt(_db.Path, $"bucket '{Name}' is more than {BoltDb.MaxTreeDepth} levels deep");
        }
        if (!visited.Add(pageId))
        {
            throw BoltDb.Corrupt(_db.Path, $"bucket '{Name}' reaches page {pageId} twice (a page cycle)");
        }
        var page = _db.ReadTreePage(pageId);
        if (page.IsLeaf)
        {
            for (int i = 0; i < page.Count; i++)
            {
                result.Add(page.Leaf(i));
            }
            return;
        }
        for (int i = 0; i < page.Count; i++)
        {
            Collect(page.Branch(i).Child, depth + 1, visited, result);
        }
    }

    /// <summary>Finds a key; false when it is absent.</summary>
    internal bool TryGet(ReadOnlySpan<byte> key, out BoltEntry entry)
    {
        entry = default;
        BoltPage page;
        if (IsInline)
        {
            page = BoltPage.Parse(_db, _inlinePage, 0, inline: true);
        }
        else
        {
            // Descend: at each branch, the last child whose first key is <= the key.
            var visited = new HashSet<ulong>();
            ulong id = _root;
            int depth = 0;
            while (true)
            {
                if (depth++ > BoltDb.MaxTreeDepth)
                {
                    throw BoltDb.Corrupt(_db.Path, $"bucket '{Name}' is more than {BoltDb.MaxTreeDepth} levels deep");
                }
                if (!visited.Add(id))
                {
                    throw BoltDb.Corrupt(_db.Path, $"bucket '{Name}' reaches page {id} twice (a page cycle)");
                }
                page = _db.ReadTreePage(id);
                if (page.IsLeaf)
                {
                    break;
                }
                int lo = 0, hi = page.Count - 1, pick = 0;
                while (lo <= hi)
                {
                    int mid = lo + ((hi - lo) / 2);
                    if (page.Branch(mid).Key.Span.SequenceCompareTo(key) <= 0)
                    {
                        pick = mid;
                        lo = mid + 1;
                    }
                    else
                    {
                        hi = mid - 1;
                    }
                }
                id = page.Branch(pick).Child;
            }
        }

        int l = 0, h = page.Count - 1;
        while (l <= h)
        {
            int mid = l + ((h - l) / 2);
            var e = page.Leaf(mid);
            int c = e.Key.Span.SequenceCompareTo(key);
            if (c == 0)
            {
                entry = e;
                return true;
            }
            if (c < 0)
            {
                l = mid + 1;
            }
            else
            {
                h = mid - 1;
            }
        }
        return false;
    }

    /// <summary>The value of a plain key; null when absent or when the key is a bucket.</summary>
    internal ReadOnlyMemory<byte>? Value(string key)
        => TryGet(Encoding.UTF8.GetBytes(key), out var e) && !e.IsBucket ? e.Value : (ReadOnlyMemory<byte>?)null;

    /// <summary>The value of a plain key as UTF-8 text; null when absent or a bucket.</summary>
    internal string? Text(string key) => Value(key) is { } v ? Encoding.UTF8.GetString(v.Span) : null;

    /// <summary>A nested bucket; null when absent or when the key holds a plain value.</summary>
    internal BoltBucket? Bucket(string key)
        => TryGet(Encoding.UTF8.GetBytes(key), out var e) && e.IsBucket ? Open(e) : null;

    /// <summary>Opens the nested bucket an entry holds (16-byte header, then an inline page when the root is 0).</summary>
    internal BoltBucket Open(BoltEntry entry)
    {
        string name = Name == "(root)" ? entry.Name : Name + "/" + entry.Name;
        if (!entry.IsBucket)
        {
            throw new InvalidOperationException($"'{name}' is a value, not a bucket.");
        }
        var v = entry.Value;
        if (v.Length < BoltDb.BucketHeaderSize)
        {
            throw BoltDb.Corrupt(_db.Path, $"bucket '{name}' has a {v.Length}-byte header, shorter than {BoltDb.BucketHeaderSize}");
        }
        ulong root = BinaryPrimitives.ReadUInt64LittleEndian(v.Span);
        if (root == 0)
        {
            _db.InlineBucketsOpened++;
            return new BoltBucket(_db, 0, v[BoltDb.BucketHeaderSize..], name);
        }
        if (root < 2 || root >= _db.Meta.HighWater)
        {
            throw BoltDb.Corrupt(_db.Path, $"bucket '{name}' has its root at page {root}, outside the data pages");
        }
        return new BoltBucket(_db, root, ReadOnlyMemory<byte>.Empty, name);
    }

    /// <summary>
    /// Walks this bucket and every nested bucket, depth first, calling <paramref name="visit"/> with
    /// the path of bucket names and each entry. A page may appear only once in the whole walk (bbolt
    /// never shares pages between trees), which bounds the walk by the file size even when a damaged
    /// file points buckets at each other.
    /// </summary>
    internal void Walk(Action<IReadOnlyList<string>, BoltEntry> visit, int maxNesting = 64)
    {
        var seen = new HashSet<ulong>();
        WalkInto(this, new List<string>(), visit, seen, maxNesting);
    }

    private static void WalkInto(BoltBucket bucket, List<string> path, Action<IReadOnlyList<string>, BoltEntry> visit, HashSet<ulong> seen, int maxNesting)
    {
        if (path.Count > maxNesting)
        {
            throw BoltDb.Corrupt(bucket._db.Path, $"buckets are nested more than {maxNesting} deep at '{bucket.Name}'");
        }
        List<BoltEntry> entries;
        if (bucket.IsInline)
        {
            entries = bucket.Entries();
        }
        else
        {
            entries = new List<BoltEntry>();
            var local = new HashSet<ulong>();
            bucket.Collect(bucket._root, 0, local, entries);
            foreach (ulong id in local)
            {
                if (!seen.Add(id))
                {
                    throw BoltDb.Corrupt(bucket._db.Path, $"page {id} belongs to two buckets (reached again from '{bucket.Name}')");
                }
            }
        }
        foreach (var e in entries)
        {
            visit(path, e);
            if (e.IsBucket)
            {
                path.Add(e.Name);
                WalkInto(bucket.Open(e), path, visit, seen, maxNesting);
                path.RemoveAt(path.Count - 1);
            }
        }
    }
}
