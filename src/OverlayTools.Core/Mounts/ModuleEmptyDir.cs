using System;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// The empty directory the module stacks beneath a single lower layer when there is no upper:
/// the kernel refuses a one-layer overlay ("at least 2 lowerdir are needed while upperdir
/// nonexistent"). It is root-owned, read-only and must stay empty; Get-OverlayMount hides it.
/// </summary>
public static class ModuleEmptyDir
{
    /// <summary>Where it lives (on the /run tmpfs, so it never holds data across boots).</summary>
    public const string DirPath = "/run/overlaytools/empty";

    /// <summary>The module's directory under /run (root-owned, 0755): the empty layer and the create lock live there.</summary>
    internal const string RunDirPath = "/run/overlaytools";

    /// <summary>Opens /run/overlaytools, creating it if needed, and checks that only root can write to it.</summary>
    internal static Fd OpenRunDir()
    {
        using var run = FileSystem.TryOpen("/run", Native.O_PATH | Native.O_DIRECTORY, out int errno)
            ?? throw Unusable("/run", errno);
        int e = FileSystem.MkdirAt(run.Value, "overlaytools", 0x1ED /* 0755 */);
        if (e is not 0 and not Errno.EEXIST)
        {
            throw Unusable(RunDirPath, e);
        }
        var parent = FileSystem.TryOpenAt(run.Value, "overlaytools", Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno)
            ?? throw Unusable(RunDirPath, errno);
        try
        {
            CheckOwned(parent, RunDirPath);
            return parent;
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    /// <summary>Opens it, creating it if needed, and checks it is safe to stack.</summary>
    internal static Fd Open()
    {
        // Usually it exists: one open (/run is root's alone, so nothing else can plant a link on
        // the way); else create /run/overlaytools (checked) and the dir in it.
        var dir = FileSystem.TryOpen(DirPath, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out int errno);
        if (dir is null)
        {
            using var parent = OpenRunDir();
            int e = FileSystem.MkdirAt(parent.Value, "empty", 0x16D /* 0555 */);
            if (e is not 0 and not Errno.EEXIST)
            {
                throw Unusable(DirPath, e);
            }
            dir = FileSystem.TryOpenAt(parent.Value, "empty", Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno)
                ?? throw Unusable(DirPath, errno);
        }
        try
        {
            CheckOwned(dir, DirPath);
            if (FileSystem.ProbeDirectory(dir, 1, DirPath).Names.Count > 0)
            {
                throw new OverlayException(ErrorIds.EmptyLowerUnusable, OverlayErrorCategory.InvalidData,
                    $"The module's empty layer '{DirPath}' is not empty, so it cannot be stacked beneath a single lower layer.",
                    DirPath, $"Remove what is in '{DirPath}', or mount with a second -Lower or an -Upper.");
            }
            return dir;
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    private static void CheckOwned(Fd fd, string path)
    {
        var st = FileSystem.Stat(fd, path);
        if (!st.IsDirectory || st.Uid != 0 || (st.Mode & 0x12) != 0 /* group or other writable */)
        {
            throw new OverlayException(ErrorIds.EmptyLowerUnusable, OverlayErrorCategory.SecurityError,
                $"'{path}' is not a root-owned directory that only root can write to, so the module will not stack it.",
                path, $"Remove '{path}'; the module recreates it.");
        }
    }

    private static OverlayException Unusable(string path, int errno)
        => new(ErrorIds.EmptyLowerUnusable, OverlayException.CategoryFor(errno),
            $"The module's empty layer '{path}' cannot be created or opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).",
            path, "Mount with a second -Lower or an -Upper, or make /run writable for root.",
            new ErrnoException("open", errno, path));
}
