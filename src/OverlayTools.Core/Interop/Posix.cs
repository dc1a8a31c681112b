using System;
using System.Buffers;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace OverlayTools.Interop;

/// <summary>Everything statx says about one entry that the copy-on-write tools look at.</summary>
internal readonly struct EntryStat
{
    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFSOCK = 0xC000;
    internal const uint S_IFLNK = 0xA000;
    internal const uint S_IFREG = 0x8000;
    internal const uint S_IFBLK = 0x6000;
    internal const uint S_IFDIR = 0x4000;
    internal const uint S_IFCHR = 0x2000;
    internal const uint S_IFIFO = 0x1000;
    internal const uint S_ISUID = 0x800;
    internal const uint S_ISGID = 0x400;

    internal uint Mode { get; init; }
    internal uint Uid { get; init; }
    internal uint Gid { get; init; }
    internal uint Nlink { get; init; }
    internal ulong Ino { get; init; }
    internal long Size { get; init; }
    internal long Blocks { get; init; }
    internal long AtimeSec { get; init; }
    internal uint AtimeNsec { get; init; }
    internal long MtimeSec { get; init; }
    internal uint MtimeNsec { get; init; }
    internal uint RdevMajor { get; init; }
    internal uint RdevMinor { get; init; }
    internal uint DevMajor { get; init; }
    internal uint DevMinor { get; init; }
    internal ulong MountId { get; init; }

    /// <summary>STATX_ATTR_MOUNT_ROOT: the entry is the root of a mount (false where the kernel does not say).</summary>
    internal bool IsMountRoot { get; init; }

    internal uint Type => Mode & S_IFMT;
    internal uint Permissions => Mode & 0xFFF;
    internal bool IsDirectory => Type == S_IFDIR;
    internal bool IsRegular => Type == S_IFREG;
    internal bool IsSymlink => Type == S_IFLNK;
    internal bool IsCharDevice => Type == S_IFCHR;

    /// <summary>A character device 0/0: the kernel's classic whiteout.</summary>
    internal bool IsWhiteoutDevice => Type == S_IFCHR && RdevMajor == 0 && RdevMinor == 0;

    /// <summary>The module's name for a file type, as ItemType properties show it.</summary>
    internal string ItemType => TypeName(Type);

    internal static string TypeName(uint type) => type switch
    {
        S_IFREG => "File",
        S_IFDIR => "Directory",
        S_IFLNK => "SymbolicLink",
        S_IFIFO => "Fifo",
        S_IFSOCK => "Socket",
        S_IFCHR => "CharacterDevice",
        S_IFBLK => "BlockDevice",
        _ => "Unknown",
    };

    /// <summary>Decodes a struct statx (include/uapi/linux/stat.h): the one place that knows its layout.</summary>
    internal static unsafe EntryStat FromStatx(byte* buf)
    {
        uint mask = *(uint*)buf;
        ulong attributes = *(ulong*)(buf + 8);
        ulong attributesMask = *(ulong*)(buf + 56);
        return new EntryStat
        {
            Nlink = *(uint*)(buf + 16),
            Uid = *(uint*)(buf + 20),
            Gid = *(uint*)(buf + 24),
            Mode = *(ushort*)(buf + 28),
            Ino = *(ulong*)(buf + 32),
            Size = *(long*)(buf + 40),
            Blocks = *(long*)(buf + 48),
            AtimeSec = *(long*)(buf + 64),
            AtimeNsec = *(uint*)(buf + 72),
            MtimeSec = *(long*)(buf + 112),
            MtimeNsec = *(uint*)(buf + 120),
            RdevMajor = *(uint*)(buf + 128),
            RdevMinor = *(uint*)(buf + 132),
            DevMajor = *(uint*)(buf + 136),
            DevMinor = *(uint*)(buf + 140),
            MountId = (mask & Native.STATX_MNT_ID) != 0 ? *(ulong*)(buf + 144) : 0,
            IsMountRoot = (attributesMask & attributes & Native.STATX_ATTR_MOUNT_ROOT) != 0,
        };
    }
}

/// <summary>One directory entry: its name as text and as the NUL-terminated bytes the kernel gave.</summary>
internal readonly struct DirEntry
{
    internal DirEntry(string name, byte[] nameZ, byte type)
    {
        Name = name;
        NameZ = nameZ;
        DType = type;
    }

    internal string Name { get; }
    internal byte[] NameZ { get; }
    internal byte DType { get; }
}

/// <summary>
/// Descriptor-relative file calls for walking layers: every lookup is *at() on an open
/// directory, never following a symbolic link, and nothing but directories is ever opened.
/// </summary>
internal static unsafe class Posix
{
    private const uint StatMask = Native.STATX_BASIC_STATS | Native.STATX_MNT_ID;
    private static readonly byte[] s_empty = [0];

    // 0 = not probed, 1 = getxattrat works, 2 = fall back to lgetxattr on /proc/self/fd paths.
    private static int s_getxattrat;

    /// <summary>lstat of an entry in a directory; false and errno when it does not exist or fails.</summary>
    internal static bool TryStatAt(int dirFd, byte[] nameZ, out EntryStat st, out int errno)
        => TryStatx(dirFd, nameZ, Native.AT_SYMLINK_NOFOLLOW | Native.AT_STATX_DONT_SYNC, StatMask, out st, out errno);

    /// <summary>
    /// stat of a relative path below a directory, following symbolic links (an absolute link
    /// target from the root of the host, as os.Stat in containers/storage does), without
    /// triggering automounts; false and errno when it does not resolve. Only for matching
    /// podman's diff: nothing is opened.
    /// </summary>
    internal static bool TryStatFollowAt(int dirFd, byte[] pathZ, out EntryStat st, out int errno)
        => TryStatx(dirFd, pathZ, Native.AT_NO_AUTOMOUNT | Native.AT_STATX_DONT_SYNC, StatMask, out st, out errno);

    /// <summary>statx of an open descriptor (AT_EMPTY_PATH).</summary>
    internal static EntryStat StatFd(Fd fd, string pathForErrors)
        => TryStatx(fd.Value, s_empty, Native.AT_SYMLINK_NOFOLLOW | Native.AT_EMPTY_PATH, StatMask, out var st, out int errno)
            ? st
            : throw new ErrnoException("statx", errno, pathForErrors);

    /// <summary>
    /// statx(2) of <paramref name="pathZ"/> (NUL-terminated) relative to <paramref name="dirFd"/>,
    /// decoded by <see cref="EntryStat.FromStatx"/>; false and errno on failure. The one statx
    /// call in the module: every stat wrapper (here, in FileSystem, in StoreDir) goes through it.
    /// </summary>
    internal static bool TryStatx(int dirFd, byte[] pathZ, int flags, uint mask, out EntryStat st, out int errno)
    {
        byte* buf = stackalloc byte[256];
        fixed (byte* p = pathZ)
        {
            if (Native.Statx(dirFd, p, flags, mask, buf) != 0)
            {
                errno = Marshal.GetLastPInvokeError();
                st = default;
                return false;
            }
        }
        errno = 0;
        st = EntryStat.FromStatx(buf);
        return true;
    }

    /// <summary>
    /// Opens a directory entry as a directory (never a FIFO or device: O_DIRECTORY fails on
    /// those), without following a link. Reading it leaves its access time alone where
    /// O_NOATIME is allowed (owner or CAP_FOWNER), so walking a layer store changes nothing.
    /// </summary>
    internal static Fd? TryOpenDirAt(int dirFd, byte[] nameZ, out int errno)
    {
        const int flags = Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW | Native.O_NONBLOCK;
        var fd = TryOpenAt(dirFd, nameZ, flags | Native.O_NOATIME, out errno);
        return fd is null && errno == Errno.EPERM ? TryOpenAt(dirFd, nameZ, flags, out errno) : fd;
    }

    /// <summary>
    /// Opens a directory entry for reading as a file, without following a link, without blocking
    /// on a FIFO, and leaving its access time alone where O_NOATIME is allowed (owner or
    /// CAP_FOWNER). The caller checks what it opened (fstat). Null and errno on failure.
    /// </summary>
    internal static Fd? TryOpenFileAt(int dirFd, byte[] nameZ, out int errno)
    {
        const int flags = Native.O_RDONLY | Native.O_NOFOLLOW | Native.O_NONBLOCK;
        var fd = TryOpenAt(dirFd, nameZ, flags | Native.O_NOATIME, out errno);
        return fd is null && errno == Errno.EPERM ? TryOpenAt(dirFd, nameZ, flags, out errno) : fd;
    }

    /// <summary>openat(2) with O_CLOEXEC added; null and errno on failure.</summary>
    internal static Fd? TryOpenAt(int dirFd, byte[] nameZ, int flags, out int errno)
    {
        fixed (byte* p = nameZ)
        {
            int fd = Native.OpenAt(dirFd, p, flags | Native.O_CLOEXEC, 0);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd < 0 ? null : new Fd(fd);
        }
    }

    /// <summary>
    /// Opens a relative path below a directory one component at a time, refusing symbolic links
    /// in every component, so the walk stays inside the layer. The last component is opened with
    /// <paramref name="lastFlags"/>; null and errno (ENOENT, ENOTDIR, ELOOP...) on failure.
    /// </summary>
    internal static Fd? TryOpenBeneath(int rootFd, string relative, int lastFlags, out int errno)
    {
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            return TryOpenAt(rootFd, Native.Utf8Z("."), lastFlags, out errno);
        }
        Fd? current = null;
        try
        {
            int dir = rootFd;
            for (int i = 0; i < parts.Length; i++)
            {
                if (parts[i] is "." or "..")
                {
                    errno = Errno.EINVAL;
                    return null;
                }
                bool last = i == parts.Length - 1;
                var next = last
                    ? TryOpenAt(dir, Native.Utf8Z(parts[i]), lastFlags | Native.O_NOFOLLOW, out errno)
                    : TryOpenDirAt(dir, Native.Utf8Z(parts[i]), out errno);
                if (next is null)
                {
                    return null;
                }
                current?.Dispose();
                current = next;
                dir = current.Value;
            }
            var result = current;
            current = null;
            errno = 0;
            return result;
        }
        finally
        {
            current?.Dispose();
        }
    }

    /// <summary>
    /// One read(2) into <paramref name="buffer"/> from <paramref name="offset"/> to its end,
    /// retried on EINTR: the bytes read, 0 at end of file. Throws <see cref="ErrnoException"/>
    /// naming <paramref name="pathForErrors"/>.
    /// </summary>
    internal static int ReadInto(Fd fd, byte[] buffer, int offset, string pathForErrors)
    {
        while (true)
        {
            nint n;
            fixed (byte* b = &buffer[offset])
            {
                n = Native.Read(fd.Value, b, buffer.Length - offset);
            }
            if (n >= 0)
            {
                return (int)n;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                throw new ErrnoException("read", errno, pathForErrors);
            }
        }
    }

    /// <summary>Reads every entry of an open directory except "." and "..", in the order the file system returns them.</summary>
    internal static List<DirEntry> ReadDirectory(Fd dir, string pathForErrors, byte[] buffer)
    {
        var result = new List<DirEntry>();
        fixed (byte* b = buffer)
        {
            ReadDirents(dir.Value, b, buffer.Length, pathForErrors, (name, type) =>
            {
                var nameZ = new byte[name.Length + 1];
                name.CopyTo(nameZ);
                result.Add(new DirEntry(Native.DecodeName(name), nameZ, type));
                return true;
            });
        }
        return result;
    }

    /// <summary>True for the names "." and "..".</summary>
    internal static bool IsDotOrDotDot(ReadOnlySpan<byte> name) => name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);

    /// <summary>Takes one directory entry (its name without the NUL, its d_type); false stops the reading.</summary>
    internal delegate bool DirentVisitor(ReadOnlySpan<byte> name, byte type);

    /// <summary>
    /// The one getdents64 loop: reads the entries of the open directory <paramref name="fd"/>
    /// through <paramref name="buf"/> and hands each but "." and ".." to <paramref name="visit"/>,
    /// in the order the file system returns them (with <paramref name="withDots"/>, those two as
    /// well: their d_type tells whether the file system fills it in even where a directory is
    /// empty). Retries EINTR; a record that does not fit the bytes returned is an error (EIO),
    /// never a read past them.
    /// </summary>
    internal static void ReadDirents(int fd, byte* buf, int size, string pathForErrors, DirentVisitor visit, bool withDots = false)
    {
        const int NameOffset = 19; // d_ino (8), d_off (8), d_reclen (2), d_type (1)
        while (true)
        {
            nint n = Native.GetDents64(fd, buf, size);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    continue;
                }
                throw new ErrnoException("getdents64", errno, pathForErrors);
            }
            if (n == 0)
            {
                return;
            }
            for (nint off = 0; off < n;)
            {
                byte* d = buf + off;
                int reclen = off + NameOffset <= n ? *(ushort*)(d + 16) : 0;
                if (reclen <= NameOffset || off + reclen > n)
                {
                    throw new ErrnoException("getdents64", Errno.EIO, pathForErrors, "the kernel returned a malformed directory record");
                }
                var name = new ReadOnlySpan<byte>(d + NameOffset, reclen - NameOffset);
                int nul = name.IndexOf((byte)0);
                if (nul >= 0)
                {
                    name = name[..nul];
                }
                off += reclen;
                if (!withDots && IsDotOrDotDot(name))
                {
                    continue;
                }
                if (!visit(name, d[18]))
                {
                    return;
                }
            }
        }
    }

    /// <summary>An extended attribute of an open descriptor; null when it is not set (or xattrs are unsupported).</summary>
    internal static byte[]? GetXattr(Fd fd, string name)
    {
        byte* value = stackalloc byte[4096];
        fixed (byte* n = Native.Utf8Z(name))
        {
            nint r = Native.FGetXattr(fd.Value, n, value, 4096);
            if (r < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.ERANGE)
                {
                    return GetXattrLarge(fd, n);
                }
                return null;
            }
            return new ReadOnlySpan<byte>(value, (int)r).ToArray();
        }
    }

    private static byte[]? GetXattrLarge(Fd fd, byte* name)
    {
        nint size = Native.FGetXattr(fd.Value, name, null, 0);
        if (size <= 0)
        {
            return null;
        }
        var buf = new byte[size];
        fixed (byte* v = buf)
        {
            nint r = Native.FGetXattr(fd.Value, name, v, size);
            return r < 0 ? null : buf.AsSpan(0, (int)r).ToArray();
        }
    }

    /// <summary>
    /// True when an entry in a directory carries the xattr (value ignored), without opening the
    /// entry: getxattrat(2) where the kernel has it, lgetxattr through /proc/self/fd otherwise.
    /// </summary>
    internal static bool HasXattrAt(int dirFd, byte[] nameZ, byte[] attrZ)
    {
        fixed (byte* n = nameZ)
        fixed (byte* a = attrZ)
        {
            if (Volatile.Read(ref s_getxattrat) != 2)
            {
                nint r = Native.GetXattrAt(dirFd, n, Native.AT_SYMLINK_NOFOLLOW, a, null, 0);
                if (r >= 0)
                {
                    Volatile.Write(ref s_getxattrat, 1);
                    return true;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.ENOSYS)
                {
                    return errno == Errno.ERANGE;
                }
                Volatile.Write(ref s_getxattrat, 2);
            }
            var path = Native.Utf8Z(ProcPathAt(dirFd, nameZ));
            fixed (byte* p = path)
            {
                nint r = Native.LGetXattr(p, a, null, 0);
                return r >= 0 || Marshal.GetLastPInvokeError() == Errno.ERANGE;
            }
        }
    }

    /// <summary>
    /// The path under which the kernel finds an entry of an open directory without following
    /// the entry if it is a symbolic link: "/proc/self/fd/N/name" (the magic link names the
    /// directory; only the last component is left unfollowed by the l*xattr calls).
    /// </summary>
    internal static string ProcPathAt(int dirFd, byte[] nameZ)
        => "/proc/self/fd/" + dirFd + "/" + Native.DecodeName(nameZ.AsSpan(0, nameZ.Length - 1));

    /// <summary>All extended attributes of an entry of an open directory (a symbolic link itself, not its target).</summary>
    internal static SortedDictionary<string, byte[]> ListXattrsAt(int dirFd, byte[] nameZ) => ListXattrs(ProcPathAt(dirFd, nameZ));

    /// <summary>One extended attribute of an entry of an open directory; null when not set.</summary>
    internal static byte[]? GetXattrAt(int dirFd, byte[] nameZ, string attr)
        => LGetXattr(Native.Utf8Z(ProcPathAt(dirFd, nameZ)), Native.Utf8Z(attr));

    /// <summary>All extended attributes of a path (its last component not followed), names to values.</summary>
    internal static SortedDictionary<string, byte[]> ListXattrs(string path)
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var pathZ = Native.Utf8Z(path);
        byte[] list = ArrayPool<byte>.Shared.Rent(65536);
        try
        {
            nint n;
            fixed (byte* p = pathZ)
            fixed (byte* l = list)
            {
                n = Native.LListXattr(p, l, list.Length);
            }
            if (n <= 0)
            {
                return result;
            }
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (list[i] != 0)
                {
                    continue;
                }
                string name = Encoding.UTF8.GetString(list, start, i - start);
                var nameZ = new byte[i - start + 1];
                Array.Copy(list, start, nameZ, 0, i - start);
                start = i + 1;
                result[name] = LGetXattr(pathZ, nameZ) ?? [];
            }
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(list);
        }
    }

    private static byte[]? LGetXattr(byte[] pathZ, byte[] nameZ)
    {
        fixed (byte* p = pathZ)
        fixed (byte* n = nameZ)
        {
            nint size = Native.LGetXattr(p, n, null, 0);
            if (size < 0)
            {
                return null;
            }
            var buf = new byte[size];
            fixed (byte* v = buf)
            {
                nint r = Native.LGetXattr(p, n, v, size);
                return r < 0 ? null : buf.AsSpan(0, (int)r).ToArray();
            }
        }
    }

    /// <summary>fchownat(fd, "", -1, -1, AT_EMPTY_PATH): touches nothing but ctime; on an overlay it copies the entry up. Returns errno.</summary>
    internal static int ChownNoChange(Fd fd)
    {
        fixed (byte* e = s_empty)
        {
            return Native.FChownAt(fd.Value, e, uint.MaxValue, uint.MaxValue, Native.AT_EMPTY_PATH) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>chmod through /proc/self/fd/N of an O_PATH descriptor (the magic link names the entry itself). Returns errno.</summary>
    internal static int ChmodFd(Fd fd, uint mode)
    {
        fixed (byte* p = Native.Utf8Z(fd.ProcPath))
        {
            return Native.Chmod(p, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>Sets the access and modification times of the entry an O_PATH descriptor names (through its magic link). Returns errno.</summary>
    internal static int SetTimes(Fd fd, in EntryStat times)
    {
        long* ts = stackalloc long[4];
        ts[0] = times.AtimeSec;
        ts[1] = times.AtimeNsec;
        ts[2] = times.MtimeSec;
        ts[3] = times.MtimeNsec;
        fixed (byte* p = Native.Utf8Z(fd.ProcPath))
        {
            return Native.UtimensAt(Native.AT_FDCWD, p, ts, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>Bytes available on the file system holding <paramref name="fd"/> (f_bavail * f_bsize); null when fstatfs fails.</summary>
    internal static long? FreeBytes(Fd fd)
        => FileSystem.TryFsStat(fd, out var st, out _) ? st.BlockSize * st.BlocksAvailable : null;
}
