using System.Runtime.InteropServices;

namespace OverlayTools.Interop;

/// <summary>
/// The calls the copy-on-write tools need (directory reading, full statx, xattrs, chown/chmod
/// on descriptors). Kept apart from the mount calls so both grow without touching each other.
/// </summary>
internal static unsafe partial class Native
{
    internal const long SYS_getxattrat = 464;

    internal const int O_NOCTTY = 0x100;

    /// <summary>O_NOATIME: reading does not update the access time (owner or CAP_FOWNER only).</summary>
    internal const int O_NOATIME = 0x40000;

    internal const uint STATX_NLINK = 0x4;
    internal const uint STATX_GID = 0x10;
    internal const uint STATX_ATIME = 0x20;
    internal const uint STATX_MTIME = 0x40;
    internal const uint STATX_SIZE = 0x200;
    internal const uint STATX_BLOCKS = 0x400;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    internal const int AT_STATX_DONT_SYNC = 0x4000;
    internal const int AT_NO_AUTOMOUNT = 0x800;

    /// <summary>The descriptor of a directory entry from getdents64 (linux/dirent.h).</summary>
    internal const byte DT_UNKNOWN = 0;
    internal const byte DT_FIFO = 1;
    internal const byte DT_CHR = 2;
    internal const byte DT_DIR = 4;
    internal const byte DT_BLK = 6;
    internal const byte DT_REG = 8;
    internal const byte DT_LNK = 10;
    internal const byte DT_SOCK = 12;

    [LibraryImport(LibC, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall6(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    [LibraryImport(LibC, EntryPoint = "getdents64", SetLastError = true)]
    internal static partial nint GetDents64(int fd, byte* buf, nint count);

    [LibraryImport(LibC, EntryPoint = "fgetxattr", SetLastError = true)]
    internal static partial nint FGetXattr(int fd, byte* name, byte* value, nint size);

    [LibraryImport(LibC, EntryPoint = "lgetxattr", SetLastError = true)]
    internal static partial nint LGetXattr(byte* path, byte* name, byte* value, nint size);

    [LibraryImport(LibC, EntryPoint = "llistxattr", SetLastError = true)]
    internal static partial nint LListXattr(byte* path, byte* list, nint size);

    [LibraryImport(LibC, EntryPoint = "fchownat", SetLastError = true)]
    internal static partial int FChownAt(int dirfd, byte* path, uint owner, uint group, int flags);

    [LibraryImport(LibC, EntryPoint = "chmod", SetLastError = true)]
    internal static partial int Chmod(byte* path, uint mode);

    [LibraryImport(LibC, EntryPoint = "utimensat", SetLastError = true)]
    internal static partial int UtimensAt(int dirfd, byte* path, long* times, int flags);

    [LibraryImport(LibC, EntryPoint = "readlinkat", SetLastError = true)]
    internal static partial nint ReadLinkAt(int dirfd, byte* path, byte* buf, nint size);

    /// <summary>getxattrat(2) (6.13+): an xattr of an entry named relative to a directory descriptor.</summary>
    internal static nint GetXattrAt(int dirFd, byte* name, int atFlags, byte* attr, byte* value, uint size)
    {
        // struct xattr_args { __aligned_u64 value; __u32 size; __u32 flags; }
        ulong* args = stackalloc ulong[2];
        args[0] = (ulong)value;
        args[1] = size;
        return (nint)Syscall6(SYS_getxattrat, dirFd, (nint)name, atFlags, (nint)attr, (nint)args, 16);
    }
}
