using System;
using System.Buffers;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace OverlayTools.Interop;

/// <summary>A mount as statmount(2) describes it: unique ids (never reused), the ids mountinfo shows, the super block's device.</summary>
internal readonly record struct MountBasic(ulong Id, ulong ParentId, uint OldId, uint OldParentId, uint DevMajor, uint DevMinor)
{
    /// <summary>With <c>strings: true</c>: the file system type, mount point and source, where the kernel gave them.</summary>
    internal string? FsType { get; init; }

    internal string? MountPoint { get; init; }

    internal string? Source { get; init; }
}

/// <summary>statx's unique mount id, statmount(2) and listmount(2) (Linux 6.8 and later): one mount's facts without reading the whole mount table.</summary>
internal static unsafe partial class Native
{
    internal const long SYS_statmount = 457;
    internal const long SYS_listmount = 458;
    internal const ulong LSMT_ROOT = ulong.MaxValue;
    internal const uint STATX_MNT_ID_UNIQUE = 0x4000;
    internal const ulong STATMOUNT_SB_BASIC = 0x1;
    internal const ulong STATMOUNT_MNT_BASIC = 0x2;
    internal const ulong STATMOUNT_MNT_POINT = 0x10;
    internal const ulong STATMOUNT_FS_TYPE = 0x20;
    internal const ulong STATMOUNT_MNT_OPTS = 0x80;
    internal const ulong STATMOUNT_SB_SOURCE = 0x200;
}

internal static unsafe partial class FileSystem
{
    /// <summary>
    /// The unique (never reused) id of the mount <paramref name="fd"/> is on (statx
    /// STATX_MNT_ID_UNIQUE); null on a kernel without it (before 6.8).
    /// </summary>
    internal static ulong? UniqueMountId(Fd fd)
    {
        byte* buf = stackalloc byte[256];
        byte empty = 0;
        if (Native.Statx(fd.Value, &empty, Native.AT_EMPTY_PATH, Native.STATX_MNT_ID_UNIQUE, buf) != 0)
        {
            return null;
        }
        // struct statx: stx_mask @0, stx_mnt_id @144.
        return (*(uint*)buf & Native.STATX_MNT_ID_UNIQUE) != 0 ? *(ulong*)(buf + 144) : null;
    }

    /// <summary>
    /// statmount(2) of the mount with unique id <paramref name="id"/> in this mount namespace:
    /// its ids, its parent's and its super block's device; null and errno on failure (ENOENT:
    /// no such mount; ENOSYS: a kernel before 6.8).
    /// </summary>
    internal static MountBasic? StatMount(ulong id, out int errno, bool strings = false)
    {
        // struct mnt_id_req, first version (24 bytes): size, spare, mnt_id, param (the mask).
        byte* req = stackalloc byte[24];
        *(uint*)req = 24;
        *(uint*)(req + 4) = 0;
        *(ulong*)(req + 8) = id;
        *(ulong*)(req + 16) = Native.STATMOUNT_SB_BASIC | Native.STATMOUNT_MNT_BASIC
            | (strings ? Native.STATMOUNT_MNT_POINT | Native.STATMOUNT_FS_TYPE | Native.STATMOUNT_SB_SOURCE : 0);
        int size = strings ? 512 + 8192 : 512;
        byte* buf = stackalloc byte[size];
        if (Native.Syscall(Native.SYS_statmount, (nint)req, (nint)buf, size, 0, 0) < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        // struct statmount: mask @8, sb_dev_major @16, sb_dev_minor @20, mnt_id @40,
        // mnt_parent_id @48, mnt_id_old @56, mnt_parent_id_old @60.
        ulong mask = *(ulong*)(buf + 8);
        if ((mask & (Native.STATMOUNT_SB_BASIC | Native.STATMOUNT_MNT_BASIC)) != (Native.STATMOUNT_SB_BASIC | Native.STATMOUNT_MNT_BASIC))
        {
            errno = Errno.EINVAL;
            return null;
        }
        var basic = new MountBasic(*(ulong*)(buf + 40), *(ulong*)(buf + 48), *(uint*)(buf + 56), *(uint*)(buf + 60), *(uint*)(buf + 16), *(uint*)(buf + 20));
        if (!strings)
        {
            return basic;
        }
        // Strings follow the 512-byte header; fs_type @36, mnt_point @108 and sb_source @124 are
        // their offsets in that area, valid where their bit is in the returned mask.
        uint total = *(uint*)buf;
        string? Text(ulong bit, int field)
        {
            if ((mask & bit) == 0)
            {
                return null;
            }
            uint at = 512 + *(uint*)(buf + field);
            if (at >= total || at >= size)
            {
                return null;
            }
            var span = new System.ReadOnlySpan<byte>(buf + at, (int)(System.Math.Min(total, (uint)size) - at));
            int end = span.IndexOf((byte)0);
            return Native.DecodeName(end < 0 ? span : span[..end]);
        }
        return basic with
        {
            FsType = Text(Native.STATMOUNT_FS_TYPE, 36),
            MountPoint = Text(Native.STATMOUNT_MNT_POINT, 108),
            Source = Text(Native.STATMOUNT_SB_SOURCE, 124),
        };
    }

    /// <summary>
    /// The unique ids of every mount in this mount namespace that this process's root reaches
    /// (listmount(2) from the root, as mountinfo lists them); null and errno on failure (ENOSYS:
    /// a kernel before 6.8).
    /// </summary>
    internal static List<ulong>? ListMounts(out int errno)
    {
        var ids = new List<ulong>();
        const int chunk = 512;
        ulong* buf = stackalloc ulong[chunk];
        // struct mnt_id_req, first version: size, spare, mnt_id (the mount to list beneath), param (the last id seen).
        byte* req = stackalloc byte[24];
        ulong last = 0;
        while (true)
        {
            *(uint*)req = 24;
            *(uint*)(req + 4) = 0;
            *(ulong*)(req + 8) = Native.LSMT_ROOT;
            *(ulong*)(req + 16) = last;
            long n = Native.Syscall(Native.SYS_listmount, (nint)req, (nint)buf, chunk, 0, 0);
            if (n < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                return null;
            }
            for (int i = 0; i < n; i++)
            {
                ids.Add(buf[i]);
            }
            if (n < chunk)
            {
                errno = 0;
                return ids;
            }
            last = buf[chunk - 1];
        }
    }

    /// <summary>
    /// Whether the mount with unique id <paramref name="id"/> is an overlay and, if so, its super
    /// options as mountinfo shows them (statmount's mnt_opts: the same escaped text). Null and
    /// errno on failure: ENOENT (the mount is gone), or EINVAL where the kernel's statmount does
    /// not give mount options (its mnt_opts came after the first statmount, in 6.8).
    /// </summary>
    internal static (bool IsOverlay, byte[]? Options)? StatMountOverlayOptions(ulong id, out int errno)
    {
        byte* req = stackalloc byte[24];
        *(uint*)req = 24;
        *(uint*)(req + 4) = 0;
        *(ulong*)(req + 8) = id;
        *(ulong*)(req + 16) = Native.STATMOUNT_SB_BASIC | Native.STATMOUNT_MNT_OPTS;
        // The options of an overlay of many long lower paths can fill tens of kilobytes: grow on
        // EOVERFLOW. Pooled: the first look at a mount table asks this for every mount in it.
        for (int size = 16 * 1024; ; size *= 4)
        {
            var buf = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                fixed (byte* b = buf)
                {
                    if (Native.Syscall(Native.SYS_statmount, (nint)req, (nint)b, size, 0, 0) < 0)
                    {
                        errno = Marshal.GetLastPInvokeError();
                        if (errno == Errno.EOVERFLOW && size < 16 * 1024 * 1024)
                        {
                            continue;
                        }
                        return null;
                    }
                    // struct statmount: size @0, mnt_opts @4 (offset into the strings after the 512-byte header), mask @8, sb_magic @24.
                    ulong mask = *(ulong*)(b + 8);
                    if ((mask & Native.STATMOUNT_SB_BASIC) == 0)
                    {
                        errno = Errno.EINVAL;
                        return null;
                    }
                    if (*(ulong*)(b + 24) != (ulong)Native.OVERLAYFS_SUPER_MAGIC)
                    {
                        errno = 0;
                        return (false, null);
                    }
                    if ((mask & Native.STATMOUNT_MNT_OPTS) == 0)
                    {
                        // An overlay always shows options (at least its lower layers): a kernel that gave
                        // none cannot give them.
                        errno = Errno.EINVAL;
                        return null;
                    }
                    uint total = Math.Min(*(uint*)b, (uint)size);
                    uint at = 512 + *(uint*)(b + 4);
                    if (at >= total)
                    {
                        errno = Errno.EINVAL;
                        return null;
                    }
                    var span = new ReadOnlySpan<byte>(b + at, (int)(total - at));
                    int end = span.IndexOf((byte)0);
                    errno = 0;
                    return (true, (end < 0 ? span : span[..end]).ToArray());
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buf);
            }
        }
    }
}
