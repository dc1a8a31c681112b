using System.Runtime.InteropServices;

namespace OverlayTools.Interop;

/// <summary>
/// The few libc calls the layer-store readers need beyond <see cref="Native"/>: directory
/// listing on a descriptor (getdents64) and readlinkat. Kept in their own class so the store
/// code does not collide with other additions to Native.
/// </summary>
internal static unsafe partial class StoreNative
{
    /// <summary>O_NOATIME: reading does not update the access time (owner or CAP_FOWNER only).</summary>
    internal const int O_NOATIME = 0x40000;

    internal const uint STATX_NLINK = 0x4;
    internal const uint STATX_SIZE = 0x200;
    internal const uint STATX_MTIME = 0x40;

    /// <summary>d_type values of struct linux_dirent64.</summary>
    internal const byte DT_UNKNOWN = 0;
    internal const byte DT_DIR = 4;
    internal const byte DT_REG = 8;
    internal const byte DT_LNK = 10;

    [LibraryImport(Native.LibC, EntryPoint = "getdents64", SetLastError = true)]
    internal static partial nint GetDents64(int fd, byte* buf, nint count);

    [LibraryImport(Native.LibC, EntryPoint = "readlinkat", SetLastError = true)]
    internal static partial nint ReadLinkAt(int dirfd, byte* path, byte* buf, nint size);
}
