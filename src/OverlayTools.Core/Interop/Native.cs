using System;
using System.Runtime.InteropServices;
using Tmds.Linux;

namespace OverlayTools.Interop;

/// <summary>
/// Linux calls: the classic ones through Tmds.LibC, and those it does not bind (the new mount API, fstatfs, statx with
/// stx_mnt_id, flock, xattrs). New syscalls (424 and up) share one number on every
/// architecture, so they go through syscall(2) and need no glibc wrapper.
/// </summary>
internal static unsafe partial class Native
{
    internal const string LibC = "libc.so.6";

    // Unified syscall numbers (include/uapi/asm-generic/unistd.h, same on x86_64 and arm64).
    internal const long SYS_move_mount = 429;
    internal const long SYS_fsopen = 430;
    internal const long SYS_fsconfig = 431;
    internal const long SYS_fsmount = 432;

    // fsopen / fsmount / move_mount flags (include/uapi/linux/mount.h).
    internal const uint FSOPEN_CLOEXEC = 0x1;
    internal const uint FSMOUNT_CLOEXEC = 0x1;
    internal const uint MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    internal const uint MOVE_MOUNT_T_EMPTY_PATH = 0x40;

    internal const uint FSCONFIG_SET_FLAG = 0;
    internal const uint FSCONFIG_SET_STRING = 1;
    internal const uint FSCONFIG_SET_FD = 5;
    internal const uint FSCONFIG_CMD_CREATE = 6;

    internal const uint MOUNT_ATTR_RDONLY = 0x1;
    internal const uint MOUNT_ATTR_NOSUID = 0x2;
    internal const uint MOUNT_ATTR_NODEV = 0x4;
    internal const uint MOUNT_ATTR_NOEXEC = 0x8;
    internal const uint MOUNT_ATTR_NOATIME = 0x10;
    internal const uint MOUNT_ATTR_STRICTATIME = 0x20;
    internal const uint MOUNT_ATTR_NODIRATIME = 0x80;

    // mount(2) flags for the fallback path.
    internal const ulong MS_RDONLY = 1;
    internal const ulong MS_NOSUID = 2;
    internal const ulong MS_NODEV = 4;
    internal const ulong MS_NOEXEC = 8;
    internal const ulong MS_NOATIME = 1024;
    internal const ulong MS_NODIRATIME = 2048;
    internal const ulong MS_STRICTATIME = 1 << 24;

    internal const int MNT_DETACH = 2;
    internal const int UMOUNT_NOFOLLOW = 8;

    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_PATH = 0x200000;

    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_REMOVEDIR = 0x200;
    internal const int AT_EMPTY_PATH = 0x1000;

    /// <summary>The longest path a system call takes, with its NUL.</summary>
    internal const int PATH_MAX = 4096;

    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_MODE = 0x2;
    internal const uint STATX_UID = 0x8;
    internal const uint STATX_INO = 0x100;
    internal const uint STATX_MNT_ID = 0x1000;
    internal const ulong STATX_ATTR_MOUNT_ROOT = 0x2000;

    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;

    internal const int SEEK_END = 2;

    internal const long OVERLAYFS_SUPER_MAGIC = 0x794c7630;
    internal const long ST_RDONLY = 1;

    [LibraryImport(LibC, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5);

    internal static int FsOpen(string fsName, uint flags)
    {
        fixed (byte* name = Utf8Z(fsName))
        {
            return (int)Syscall(SYS_fsopen, (nint)name, (nint)flags, 0, 0, 0);
        }
    }

    internal static int FsConfig(int fd, uint cmd, string? key, string? value, int aux)
    {
        fixed (byte* k = key is null ? null : Utf8Z(key))
        fixed (byte* v = value is null ? null : Utf8Z(value))
        {
            return (int)Syscall(SYS_fsconfig, fd, (nint)cmd, (nint)k, (nint)v, aux);
        }
    }

    internal static int FsMount(int fd, uint flags, uint attrFlags)
        => (int)Syscall(SYS_fsmount, fd, (nint)flags, (nint)attrFlags, 0, 0);

    internal static int MoveMount(int fromDirFd, int toDirFd, uint flags)
    {
        byte empty = 0;
        return (int)Syscall(SYS_move_mount, fromDirFd, (nint)(&empty), toDirFd, (nint)(&empty), (nint)flags);
    }

    [LibraryImport(LibC, EntryPoint = "fstatfs", SetLastError = true)]
    internal static partial int FStatFs(int fd, byte* buf);

    [LibraryImport(LibC, EntryPoint = "statx", SetLastError = true)]
    internal static partial int Statx(int dirfd, byte* path, int flags, uint mask, byte* buf);

    internal const short POLLPRI = 0x2;
    internal const short POLLERR = 0x8;

    /// <summary>struct pollfd.</summary>
    internal struct PollFd
    {
        internal int Fd;
        internal short Events;
        internal short Revents;
    }

    [LibraryImport(LibC, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(LibC, EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(int fd, int operation);

    // The classic calls come from Tmds.LibC (errno through Marshal.GetLastPInvokeError, as for ours).

    internal static int Mount(byte* source, byte* target, byte* fsType, ulong flags, byte* data)
        => Tmds.Linux.LibC.mount(source, target, fsType, (ulong_t)flags, data);

    internal static int Umount2(byte* target, int flags) => Tmds.Linux.LibC.umount2(target, flags);

    internal static int OpenAt(int dirfd, byte* path, int flags, uint mode) => Tmds.Linux.LibC.openat(dirfd, path, flags, (ushort)mode);

    internal static int MkdirAt(int dirfd, byte* path, uint mode) => Tmds.Linux.LibC.mkdirat(dirfd, path, (ushort)mode);

    internal static int UnlinkAt(int dirfd, byte* path, int flags) => Tmds.Linux.LibC.unlinkat(dirfd, path, flags);

    internal static nint ReadLink(byte* path, byte* buf, nint size) => (nint)(long)Tmds.Linux.LibC.readlink(path, buf, (int)size);

    internal static nint Read(int fd, byte* buf, nint count) => (nint)(long)Tmds.Linux.LibC.read(fd, buf, (int)count);

    [LibraryImport(LibC, EntryPoint = "pread64", SetLastError = true)]
    internal static partial nint PRead(int fd, byte* buf, nint count, long offset);

    internal static long LSeek(int fd, long offset, int whence) => Tmds.Linux.LibC.lseek(fd, offset, whence);

    internal static int Close(int fd) => Tmds.Linux.LibC.close(fd);

    internal static uint GetEuid() => Tmds.Linux.LibC.geteuid();

    /// <summary>
    /// UTF-8 bytes of <paramref name="s"/> with a terminating NUL. A lone U+DC80..U+DCFF (what
    /// <see cref="DecodeName"/> makes of a byte that is not UTF-8) becomes that byte again, so a
    /// name read from the disk is found again by the path built from it.
    /// </summary>
    internal static byte[] Utf8Z(string s)
    {
        if (!HasEscapedByte(s))
        {
            var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
            System.Text.Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }
        // Runs of ordinary text (surrogate pairs included: an escaped byte is never the second
        // half of one) are encoded as UTF-8, each escaped byte put back as it was.
        var result = new System.Collections.Generic.List<byte>(s.Length + 8);
        int start = 0;
        for (int i = 0; i <= s.Length; i++)
        {
            if (i == s.Length || IsEscapedByte(s, i))
            {
                result.AddRange(System.Text.Encoding.UTF8.GetBytes(s, start, i - start));
                if (i < s.Length)
                {
                    result.Add((byte)(s[i] - 0xDC00));
                }
                start = i + 1;
            }
        }
        result.Add(0);
        return result.ToArray();
    }

    /// <summary>
    /// A file name's bytes as a string, losing nothing: valid UTF-8 decoded as such, and each
    /// byte that is not part of valid UTF-8 (always 0x80 or above) as the lone surrogate
    /// U+DC00 + byte, which <see cref="Utf8Z"/> turns back into that byte. So two names that
    /// differ only in such bytes stay two names (UTF-8 decoding would make both U+FFFD), and a
    /// path built from one reaches the file. Printed, such a character shows as U+FFFD.
    /// </summary>
    internal static string DecodeName(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
        var sb = new System.Text.StringBuilder(bytes.Length);
        Span<char> chars = stackalloc char[256];
        while (!bytes.IsEmpty)
        {
            var status = System.Text.Unicode.Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: false, isFinalBlock: true);
            sb.Append(chars[..written]);
            bytes = bytes[read..];
            if (status == System.Buffers.OperationStatus.InvalidData)
            {
                sb.Append((char)(0xDC00 + bytes[0]));
                bytes = bytes[1..];
            }
        }
        return sb.ToString();
    }

    private static bool HasEscapedByte(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (IsEscapedByte(s, i))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A lone low surrogate in U+DC80..U+DCFF (not the second half of a pair).</summary>
    private static bool IsEscapedByte(string s, int i)
        => s[i] is >= '\uDC80' and <= '\uDCFF' && (i == 0 || !char.IsHighSurrogate(s[i - 1]));
}
