using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace OverlayTools.Interop;

/// <summary>What a directory read found: some names (at most the number asked for) and whether the file system reports entry types.</summary>
internal readonly record struct DirectoryProbe(List<string> Names, bool ReportsDType);

internal static unsafe partial class FileSystem
{
    /// <summary>statx of a name in a directory descriptor, not following a final symlink; null and errno on failure.</summary>
    internal static FileStatus? TryStatAt(int dirFd, string name, bool follow, out int errno)
        => TryStatus(dirFd, name, (follow ? 0 : Native.AT_SYMLINK_NOFOLLOW) | (name.Length == 0 ? Native.AT_EMPTY_PATH : 0), out errno);

    /// <summary>openat(2) with O_CREAT and a mode (O_CLOEXEC is always added); null and errno on failure.</summary>
    internal static Fd? TryOpenCreateAt(int dirFd, string name, int flags, uint mode, out int errno)
    {
        CheckNoNul(name);
        fixed (byte* p = Native.Utf8Z(name))
        {
            int fd = Native.OpenAt(dirFd, p, flags | Native.O_CREAT | Native.O_CLOEXEC, mode);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd < 0 ? null : new Fd(fd);
        }
    }

    /// <summary>statx of a path, following symlinks; null and errno on failure.</summary>
    internal static FileStatus? TryStatFollow(string path, out int errno) => TryStatAt(Native.AT_FDCWD, path, follow: true, out errno);

    /// <summary>
    /// The directories above the directory <paramref name="dirFd"/> in its own mount, nearest
    /// first, up to and including that mount's root: the parents the kernel walks when it checks
    /// a new overlay's upper or work dir against the dirs other overlays hold. Each step is one
    /// statx of "..", "../..", ... (a root's ".." is itself; ".." at a mount's root would leave the mount).
    /// </summary>
    internal static List<FileStatus> AncestorsInMount(int dirFd, FileStatus status)
    {
        var result = new List<FileStatus>();
        if (status.IsMountRoot)
        {
            return result;
        }
        var rel = new StringBuilder("..", 64);
        var below = status;
        while (rel.Length < Native.PATH_MAX - 3 && TryStatAt(dirFd, rel.ToString(), follow: true, out _) is { } st
            && st.MountId == status.MountId && !st.SameFile(below))
        {
            result.Add(st);
            if (st.IsMountRoot)
            {
                break;
            }
            below = st;
            rel.Append("/..");
        }
        return result;
    }

    /// <summary>
    /// Reads the entries of a directory given by an O_PATH descriptor, without "." and "..", up
    /// to <paramref name="max"/> names, in one or two getdents64 calls; and tells whether the file
    /// system fills in d_type (overlayfs needs it on the upper: without it whiteouts do not work).
    /// </summary>
    internal static DirectoryProbe ProbeDirectory(Fd dir, int max, string pathForErrors)
    {
        var names = new List<string>();
        bool dtype = false;
        fixed (byte* dot = "."u8)
        {
            // O_NOATIME: reading the work dir must not dirty its inode (relatime would update the
            // atime, since the kernel changes the dir at every mount), which the upper's sync at
            // dismount would then have to write.
            int fd = Native.OpenAt(dir.Value, dot, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC | Native.O_NOATIME, 0);
            if (fd < 0 && Marshal.GetLastPInvokeError() == Errno.EPERM)
            {
                fd = Native.OpenAt(dir.Value, dot, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0);
            }
            if (fd < 0)
            {
                throw new ErrnoException("open", Marshal.GetLastPInvokeError(), pathForErrors);
            }
            using var handle = new Fd(fd);
            byte* buf = stackalloc byte[4096];
            Posix.ReadDirents(fd, buf, 4096, pathForErrors, (name, type) =>
            {
                dtype |= type != Native.DT_UNKNOWN;
                if (names.Count < max && !Posix.IsDotOrDotDot(name))
                {
                    names.Add(Encoding.UTF8.GetString(name));
                }
                return names.Count < max || !dtype;
            }, withDots: true);
        }
        return new DirectoryProbe(names, dtype);
    }

    /// <summary>True while a super block with this device number is alive (ustat); null where the kernel cannot tell.</summary>
    internal static bool? SuperBlockAlive(uint major, uint minor)
    {
        if (Native.Ustat(major, minor) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        return errno == Errno.EINVAL ? false : null;
    }

    /// <summary>fstatfs f_fsid (64-bit struct statfs: offset 56). For an overlay with an upper it comes from the upper's persistent uuid; 0 without one.</summary>
    internal static ulong StatFsId(Fd fd, string pathForErrors) => StatFsWithId(fd, pathForErrors).FsId;

    /// <summary>fstatfs: the file system magic and its f_fsid in one call.</summary>
    internal static (long Type, ulong FsId) StatFsWithId(Fd fd, string pathForErrors)
    {
        var st = FsStat(fd, pathForErrors);
        return (st.Type, st.FsId);
    }

    /// <summary>Removes trailing slashes ("/a/b/" to "/a/b"; "/" stays), so a final symlink is never followed because of one.</summary>
    internal static string TrimTrailingSlashes(string path)
    {
        if (path.Length <= 1 || path[^1] != '/')
        {
            return path;
        }
        var t = path.TrimEnd('/');
        return t.Length == 0 ? "/" : t;
    }

    /// <summary>
    /// An absolute path with "//", "." and ".." taken out by text alone ("/a//b/./c/../d" to
    /// "/a/b/d"; ".." above "/" stays at "/"), as PowerShell resolves a relative path. Not what
    /// the kernel does where a component is a symbolic link: use it to match paths, not to open
    /// them. A relative path is returned as it is.
    /// </summary>
    internal static string NormalizeLexically(string path)
    {
        if (!path.StartsWith('/'))
        {
            return path;
        }
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>
    /// An absolute path with its parent directory replaced by the kernel's real path for it
    /// (symbolic links in the parents followed), the last component kept as it is; null when the
    /// parent cannot be opened or the path is "/".
    /// </summary>
    internal static string? RealParentPath(string path)
    {
        path = TrimTrailingSlashes(path);
        int slash = path.LastIndexOf('/');
        if (slash < 0 || path.Length == 1)
        {
            return null;
        }
        string parent = slash == 0 ? "/" : path[..slash];
        using var fd = TryOpen(parent, Native.O_PATH | Native.O_DIRECTORY, out _);
        if (fd is null)
        {
            return null;
        }
        string real = RealPath(fd);
        return (real == "/" ? "" : real) + path[slash..];
    }
}
