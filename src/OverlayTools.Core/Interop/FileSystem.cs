using System;
using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace OverlayTools.Interop;

/// <summary>What statx says about one file, as much as the module needs.</summary>
internal readonly record struct FileStatus(uint Mode, uint Uid, ulong Inode, uint DevMajor, uint DevMinor, ulong MountId, bool IsMountRoot)
{
    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFDIR = 0x4000;
    internal const uint S_IFLNK = 0xA000;
    internal const uint S_IFREG = 0x8000;

    internal bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
    internal bool IsSymlink => (Mode & S_IFMT) == S_IFLNK;
    internal bool IsRegularFile => (Mode & S_IFMT) == S_IFREG;
    internal bool SameFile(FileStatus other) => Inode == other.Inode && DevMajor == other.DevMajor && DevMinor == other.DevMinor;
}

/// <summary>What fstatfs says that the module looks at: magic, block size, blocks free to users, f_fsid, ST_* flags.</summary>
internal readonly record struct FsStat(long Type, long BlockSize, long BlocksAvailable, ulong FsId, long Flags);

/// <summary>Thin, checked wrappers over the calls the mount code uses. Every failure throws ErrnoException.</summary>
internal static unsafe partial class FileSystem
{
    /// <summary>Opens a path with the given flags (O_CLOEXEC is always added).</summary>
    internal static Fd Open(string path, int flags, string call = "open")
    {
        var fd = TryOpen(path, flags, out var errno);
        return fd ?? throw new ErrnoException(call, errno, path);
    }

    /// <summary>Opens a path; null and errno on failure.</summary>
    internal static Fd? TryOpen(string path, int flags, out int errno) => TryOpenAt(Native.AT_FDCWD, path, flags, out errno);

    /// <summary>openat(2) relative to a directory descriptor; null and errno on failure.</summary>
    internal static Fd? TryOpenAt(int dirFd, string path, int flags, out int errno)
    {
        CheckNoNul(path);
        fixed (byte* p = Native.Utf8Z(path))
        {
            int fd = Native.OpenAt(dirFd, p, flags | Native.O_CLOEXEC, 0);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd < 0 ? null : new Fd(fd);
        }
    }

    /// <summary>statx of an open descriptor (AT_EMPTY_PATH).</summary>
    internal static FileStatus Stat(Fd fd, string? pathForErrors = null)
        => StatAt(fd.Value, "", Native.AT_EMPTY_PATH, pathForErrors);

    /// <summary>statx of a path without following its last symlink; null if it does not exist.</summary>
    internal static FileStatus? TryLStat(string path, out int errno)
        => TryStatus(Native.AT_FDCWD, path, Native.AT_SYMLINK_NOFOLLOW, out errno);

    private static FileStatus StatAt(int dirFd, string path, int flags, string? pathForErrors)
        => TryStatus(dirFd, path, flags, out int errno) ?? throw new ErrnoException("statx", errno, pathForErrors ?? path);

    private const uint StatusMask = Native.STATX_TYPE | Native.STATX_MODE | Native.STATX_INO | Native.STATX_UID | Native.STATX_MNT_ID;

    /// <summary>statx (through <see cref="Posix.TryStatx"/>) as a FileStatus; null and errno on failure.</summary>
    private static FileStatus? TryStatus(int dirFd, string path, int flags, out int errno)
    {
        CheckNoNul(path);
        if (!Posix.TryStatx(dirFd, Native.Utf8Z(path), flags, StatusMask, out var s, out errno))
        {
            return null;
        }
        return new FileStatus(s.Mode, s.Uid, s.Ino, s.DevMajor, s.DevMinor, s.MountId, s.IsMountRoot);
    }

    /// <summary>fstatfs: the file system magic and its ST_* mount flags.</summary>
    internal static (long Type, long Flags) StatFs(Fd fd, string pathForErrors)
    {
        var st = FsStat(fd, pathForErrors);
        return (st.Type, st.Flags);
    }

    /// <summary>fstatfs of an open descriptor; throws ErrnoException.</summary>
    internal static FsStat FsStat(Fd fd, string pathForErrors)
        => TryFsStat(fd, out var st, out int errno) ? st : throw new ErrnoException("fstatfs", errno, pathForErrors);

    /// <summary>fstatfs of an open descriptor; false and errno on failure. The one place that knows struct statfs.</summary>
    internal static bool TryFsStat(Fd fd, out FsStat st, out int errno)
    {
        byte* buf = stackalloc byte[128];
        if (Native.FStatFs(fd.Value, buf) != 0)
        {
            st = default;
            errno = Marshal.GetLastPInvokeError();
            return false;
        }
        // struct statfs on 64-bit Linux: f_type @0, f_bsize @8, f_bavail @32, f_fsid @56, f_flags @80.
        st = new FsStat(*(long*)buf, *(long*)(buf + 8), *(long*)(buf + 32), *(ulong*)(buf + 56), *(long*)(buf + 80));
        errno = 0;
        return true;
    }

    /// <summary>The path the kernel has for an open descriptor (readlink of /proc/self/fd/N).</summary>
    internal static string RealPath(Fd fd) => ReadLink(fd.ProcPath);

    /// <summary>readlink(2) as a string.</summary>
    internal static string ReadLink(string path)
    {
        var s = TryReadLink(path, out int errno);
        return s ?? throw new ErrnoException("readlink", errno, path);
    }

    /// <summary>readlink(2); null and errno on failure.</summary>
    internal static string? TryReadLink(string path, out int errno)
    {
        CheckNoNul(path);
        byte[] buf = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            fixed (byte* p = Native.Utf8Z(path))
            fixed (byte* b = buf)
            {
                nint n = Native.ReadLink(p, b, buf.Length);
                if (n < 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                    return null;
                }
                errno = 0;
                return Native.DecodeName(buf.AsSpan(0, (int)n));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>mkdir(2); returns errno (0 on success).</summary>
    internal static int MkdirAt(int dirFd, string path, uint mode)
    {
        CheckNoNul(path);
        fixed (byte* p = Native.Utf8Z(path))
        {
            return Native.MkdirAt(dirFd, p, mode) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>rmdir of an entry in a directory descriptor; returns errno (0 on success). Never recursive.</summary>
    internal static int RmdirAt(int dirFd, string name)
    {
        CheckNoNul(name);
        fixed (byte* p = Native.Utf8Z(name))
        {
            return Native.UnlinkAt(dirFd, p, Native.AT_REMOVEDIR) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>Throws when a path holds NUL, which would silently cut it short in a syscall.</summary>
    internal static void CheckNoNul(string path)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ErrnoException("path check", Errno.EINVAL, path.Replace("\0", "\\0", StringComparison.Ordinal), "a path cannot hold a NUL character");
        }
    }

    /// <summary>True when this process runs with root's effective uid.</summary>
    internal static bool IsRoot => Native.GetEuid() == 0;

    /// <summary>
    /// True when this process holds CAP_SYS_ADMIN (the CapEff line of /proc/self/status), which
    /// reading overlayfs's trusted.* attributes needs: root in a default container lacks it, and
    /// a uid check alone would not tell.
    /// </summary>
    internal static bool HasCapSysAdmin
    {
        get
        {
            const int CAP_SYS_ADMIN = 21;
            foreach (var line in (ProcFs.TryReadText("/proc/self/status") ?? "").Split('\n'))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                    && ulong.TryParse(line.AsSpan(7).Trim(), System.Globalization.NumberStyles.HexNumber, null, out ulong caps))
                {
                    return (caps & (1UL << CAP_SYS_ADMIN)) != 0;
                }
            }
            return IsRoot;
        }
    }

    /// <summary>What a user is told when the layers' trusted.overlay.* marks cannot be read.</summary>
    internal const string TrustedXattrsUnreadable =
        "Reading trusted.overlay.* attributes needs CAP_SYS_ADMIN (root): without it opaque directories, renamed directories and metadata-only copies are not recognised, so what is reported can differ from what the merged view shows.";
}
