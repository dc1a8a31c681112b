using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Stores;

/// <summary>
/// A directory of a layer store, opened once. Everything below it is reached from that descriptor
/// one component at a time with O_NOFOLLOW, so a symbolic link planted anywhere below (in place of
/// a layer dir, a metadata file, a diff dir) is refused instead of followed out of the store;
/// files open with O_NOATIME (reading does not even change access times) and O_NONBLOCK (a FIFO
/// planted as a metadata file cannot hang the reader). Nothing is ever written.
/// </summary>
internal sealed unsafe class StoreDir : IDisposable
{
    private readonly Fd _fd;

    private StoreDir(Fd fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The directory's path, for messages and for building the paths the engines show.</summary>
    internal string Path { get; }

    /// <summary>Opens a directory by path (following symlinks: a configured root may be a link). Null and errno on failure.</summary>
    internal static StoreDir? TryOpen(string path, out int errno)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY, out errno);
        return fd is null ? null : new StoreDir(fd, path.Length > 1 ? path.TrimEnd('/') : path);
    }

    /// <summary>Opens a subdirectory (no symlink allowed on the way); null when it does not exist.</summary>
    internal StoreDir? OpenDir(string rel)
    {
        // lastIsDir: at least one step, so the descriptor reached is always one of our own.
        return TryWalk(rel, lastIsDir: true, out var at, out _) ? new StoreDir(at.Owned!, Join(rel)) : null;
    }

    /// <summary>Opens a subdirectory that may itself be a symlink (a store's top-level dirs, moved to another disk by an admin).</summary>
    internal StoreDir? OpenDirFollowing(string name)
    {
        CheckComponent(name, name);
        var fd = FileSystem.TryOpenAt(_fd.Value, name, Native.O_PATH | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            return errno == Errno.ENOENT ? null : throw new ErrnoException("openat", errno, Join(name));
        }
        return new StoreDir(fd, Join(name));
    }

    /// <summary>The directory's real path (symlinks resolved), as the kernel names the open descriptor.</summary>
    internal string RealPath() => FileSystem.RealPath(_fd);

    /// <summary>The full path of an entry below this directory.</summary>
    internal string Join(string rel) => Path == "/" ? "/" + rel : Path + "/" + rel;

    /// <summary>Reads a regular file below this directory; null when it does not exist.</summary>
    internal byte[]? ReadFile(string rel, int maxBytes)
    {
        if (!TryWalk(rel, lastIsDir: false, out var parent, out string name))
        {
            return null;
        }
        using var _ = parent;
        var fd = Posix.TryOpenFileAt(parent.Value, Native.Utf8Z(name), out int errno);
        if (fd is null)
        {
            return errno switch
            {
                Errno.ENOENT => null,
                Errno.ELOOP => throw new ErrnoException("open", Errno.ELOOP, Join(rel), "a symbolic link where the store keeps a file"),
                _ => throw new ErrnoException("open", errno, Join(rel)),
            };
        }
        using (fd)
        {
            var st = Posix.StatFd(fd, Join(rel));
            if (!st.IsRegular)
            {
                throw new ErrnoException("open", Errno.EINVAL, Join(rel), "not a regular file");
            }
            if (st.Size > maxBytes)
            {
                throw new ErrnoException("read", Errno.EOVERFLOW, Join(rel), $"larger than the {maxBytes} bytes a store file may have");
            }
            var buffer = new byte[Math.Max(st.Size, 0) + 1];
            int total = 0;
            while (true)
            {
                if (total == buffer.Length)
                {
                    if (buffer.Length > maxBytes)
                    {
                        throw new ErrnoException("read", Errno.EOVERFLOW, Join(rel), $"larger than the {maxBytes} bytes a store file may have");
                    }
                    Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
                }
                int n = Posix.ReadInto(fd, buffer, total, Join(rel));
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
            return total == buffer.Length ? buffer : buffer.AsSpan(0, total).ToArray();
        }
    }

    /// <summary>A small text file (an id, a link name, a number), without surrounding white space; null when missing.</summary>
    internal string? ReadText(string rel, int maxBytes = 4096)
    {
        var bytes = ReadFile(rel, maxBytes);
        return bytes is null ? null : Encoding.UTF8.GetString(bytes).Trim();
    }

    /// <summary>The target of a symbolic link below this directory; null when it does not exist.</summary>
    internal string? ReadLink(string rel)
    {
        if (!TryWalk(rel, lastIsDir: false, out var parent, out string name))
        {
            return null;
        }
        using var _ = parent;
        byte[] buf = new byte[4096];
        nint n;
        fixed (byte* p = Native.Utf8Z(name))
        fixed (byte* b = buf)
        {
            n = Native.ReadLinkAt(parent.Value, p, b, buf.Length);
        }
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno == Errno.ENOENT ? null : throw new ErrnoException("readlink", errno, Join(rel), errno == Errno.EINVAL ? "not a symbolic link" : null);
        }
        return Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    /// <summary>lstat of an entry below this directory (<see cref="Posix.TryStatAt"/>); null when it does not exist.</summary>
    internal EntryStat? Stat(string rel)
    {
        if (!TryWalk(rel, lastIsDir: false, out var parent, out string name))
        {
            return null;
        }
        using var _ = parent;
        return StatAt(parent.Value, name, Join(rel));
    }

    /// <summary>The names in a directory below this one (or this one for null), without . and ..; null when it does not exist.</summary>
    internal List<string>? List(string? rel = null)
    {
        Fd? dir = OpenForListing(rel);
        if (dir is null)
        {
            return null;
        }
        using (dir)
        {
            var names = new List<string>();
            foreach (var e in Posix.ReadDirectory(dir, rel is null ? Path : Join(rel), new byte[DirentBufferSize]))
            {
                names.Add(e.Name);
            }
            return names;
        }
    }

    /// <summary>
    /// Bytes a directory tree holds, counted as Docker and containers/storage count a layer's
    /// size (directory.Size): the lstat size of every entry that is not a directory, each inode once.
    /// Null when the directory does not exist.
    /// </summary>
    internal long? DiskUsage(string rel) => Usage(rel, blocks: false);

    /// <summary>
    /// Bytes a directory tree takes on disk, counted as containerd's snapshotter measures an
    /// active snapshot (continuity's fs.DiskUsage, what ctr snapshots usage shows): st_blocks
    /// × 512 of every inode once, directories and the root included. Null when the directory
    /// does not exist.
    /// </summary>
    internal long? BlockUsage(string rel) => Usage(rel, blocks: true);

    private long? Usage(string rel, bool blocks)
    {
        Fd? dir = OpenForListing(rel);
        if (dir is null)
        {
            return null;
        }
        var seen = new HashSet<ulong>();
        long total = 0;
        using (dir)
        {
            if (blocks)
            {
                var root = Posix.StatFd(dir, Join(rel));
                seen.Add(root.Ino);
                total += root.Blocks * 512;
            }
            SumTree(dir, Join(rel), seen, ref total, 0, new byte[DirentBufferSize], blocks);
        }
        return total;
    }

    private const int DirentBufferSize = 32 * 1024;

    private static void SumTree(Fd dir, string path, HashSet<ulong> seen, ref long total, int depth, byte[] buffer, bool blocks)
    {
        if (depth > 4096)
        {
            throw new ErrnoException("getdents64", Errno.ELOOP, path, "the tree is deeper than a file system allows");
        }
        var subdirs = new List<DirEntry>();
        foreach (var e in Posix.ReadDirectory(dir, path, buffer))
        {
            if (e.DType == Native.DT_DIR)
            {
                subdirs.Add(e);
                continue;
            }
            var st = StatAt(dir.Value, e.NameZ, path);
            if (st is null)
            {
                continue; // removed while we walk
            }
            if (st.Value.IsDirectory)
            {
                subdirs.Add(e); // DT_UNKNOWN on this file system
                continue;
            }
            if (blocks ? seen.Add(st.Value.Ino) : st.Value.Size > 0 && seen.Add(st.Value.Ino))
            {
                total += blocks ? st.Value.Blocks * 512 : st.Value.Size;
            }
        }
        foreach (var e in subdirs)
        {
            var sub = Posix.TryOpenDirAt(dir.Value, e.NameZ, out int errno);
            if (sub is null)
            {
                if (errno == Errno.ENOENT)
                {
                    continue;
                }
                throw new ErrnoException("open", errno, path + "/" + e.Name);
            }
            using (sub)
            {
                if (blocks)
                {
                    var st = Posix.StatFd(sub, path + "/" + e.Name);
                    if (seen.Add(st.Ino))
                    {
                        total += st.Blocks * 512;
                    }
                }
                SumTree(sub, path + "/" + e.Name, seen, ref total, depth + 1, buffer, blocks);
            }
        }
    }

    private Fd? OpenForListing(string? rel)
    {
        if (rel is null)
        {
            return Posix.TryOpenDirAt(_fd.Value, s_dotZ, out int e0) ?? throw new ErrnoException("open", e0, Path);
        }
        if (!TryWalk(rel, lastIsDir: false, out var parent, out string name))
        {
            return null;
        }
        using var _ = parent;
        var fd = Posix.TryOpenDirAt(parent.Value, Native.Utf8Z(name), out int errno);
        if (fd is null)
        {
            if (errno == Errno.ENOENT)
            {
                return null;
            }
            if (errno == Errno.ENOTDIR)
            {
                // O_DIRECTORY|O_NOFOLLOW gives ENOTDIR for a symbolic link as for a file: tell them
                // apart as Walk does, so that only a real link becomes ELOOP (an attempt to leave the store).
                var st = StatAt(parent.Value, name, Join(rel));
                if (st is null)
                {
                    return null; // removed since the open
                }
                throw st.Value.IsSymlink
                    ? new ErrnoException("open", Errno.ELOOP, Join(rel), "a symbolic link where the store keeps a directory")
                    : new ErrnoException("open", Errno.ENOTDIR, Join(rel), "not a directory (a file where the store keeps a directory)");
            }
            throw errno == Errno.ELOOP
                ? new ErrnoException("open", Errno.ELOOP, Join(rel), "a symbolic link where the store keeps a directory")
                : new ErrnoException("open", errno, Join(rel));
        }
        return fd;
    }

    /// <summary>A directory descriptor to work at: this directory's own (borrowed) or one opened below it (owned, closed by Dispose).</summary>
    private readonly struct At : IDisposable
    {
        internal At(int fd, Fd? owned)
        {
            Value = fd;
            Owned = owned;
        }

        internal int Value { get; }

        internal Fd? Owned { get; }

        public void Dispose() => Owned?.Dispose();
    }

    /// <summary>
    /// Reaches the parent of the last component of <paramref name="rel"/> (or, with lastIsDir, the
    /// last component itself), one O_NOFOLLOW step at a time from this directory's descriptor; a
    /// single name needs no step and uses that descriptor as it is. False when a component is missing.
    /// </summary>
    private bool TryWalk(string rel, bool lastIsDir, out At at, out string last)
    {
        var parts = rel.Split('/');
        foreach (var p in parts)
        {
            CheckComponent(p, rel);
        }
        last = parts[^1];
        int steps = lastIsDir ? parts.Length : parts.Length - 1;
        at = new At(_fd.Value, null);
        Fd? current = null;
        try
        {
            for (int i = 0; i < steps; i++)
            {
                int dir = current?.Value ?? _fd.Value;
                var next = FileSystem.TryOpenAt(dir, parts[i], Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out int errno);
                if (next is null)
                {
                    if (errno == Errno.ENOENT)
                    {
                        return false;
                    }
                    string path = Join(string.Join('/', parts, 0, i + 1));
                    var st = StatAt(dir, parts[i], path);
                    string detail = st is { IsSymlink: true } ? "a symbolic link where the store keeps a directory" : "not a directory";
                    throw new ErrnoException("open", errno == Errno.ENOTDIR && st is { IsSymlink: true } ? Errno.ELOOP : errno, path, detail);
                }
                current?.Dispose();
                current = next;
            }
            if (current is not null)
            {
                at = new At(current.Value, current);
                current = null;
            }
            return true;
        }
        finally
        {
            current?.Dispose();
        }
    }

    private static void CheckComponent(string p, string rel)
    {
        if (p.Length == 0 || p == "." || p == ".." || p.Contains('\0', StringComparison.Ordinal))
        {
            throw new ErrnoException("path check", Errno.EINVAL, rel, "a store path component must be a plain name");
        }
    }

    private static EntryStat? StatAt(int dirFd, string name, string pathForErrors) => StatAt(dirFd, Native.Utf8Z(name), pathForErrors);

    /// <summary>lstat of a name (NUL-terminated) in a directory through <see cref="Posix.TryStatAt"/>; null when it does not exist.</summary>
    private static EntryStat? StatAt(int dirFd, byte[] nameZ, string pathForErrors)
        => Posix.TryStatAt(dirFd, nameZ, out var st, out int errno) ? st
            : errno == Errno.ENOENT ? null : throw new ErrnoException("statx", errno, pathForErrors);

    private static readonly byte[] s_dotZ = [(byte)'.', 0];

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
