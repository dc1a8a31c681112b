using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>How a dismount ended.</summary>
public enum DismountOutcome
{
    /// <summary>Unmounted.</summary>
    Unmounted,
    /// <summary>Busy, so detached lazily (MNT_DETACH): gone from view, freed when the last user leaves.</summary>
    Detached,
}

/// <summary>Unmounts overlays: only overlays, only mount roots, never through a symlink.</summary>
public static class OverlayUnmounter
{
    /// <summary>How often a busy mount is retried before giving up or detaching.</summary>
    public const int BusyRetries = 5;

    /// <summary>The pause between retries.</summary>
    public static readonly TimeSpan BusyRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Unmounts the overlay at <paramref name="target"/>; with force, a busy one is detached lazily.
    /// <paramref name="dismounting"/>, when given, receives the overlay's mountinfo line (null if
    /// the table does not list it) before the dismount is tried, read while a descriptor holds the
    /// mount, so it is that overlay's line even if the kernel reused mount ids meanwhile.
    /// </summary>
    public static DismountOutcome Dismount(string target, bool force, IOperationLog? log = null, CancellationToken cancel = default,
        Action<MountInfoEntry?>? dismounting = null)
    {
        log ??= NullOperationLog.Instance;
        target = FileSystem.TrimTrailingSlashes(target); // "link/" would follow a final symlink
        var (root, rootFsId, entry) = CheckOverlayRoot(target, dismounting is not null);
        if (!FileSystem.IsRoot)
        {
            throw new OverlayException(ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied,
                "Dismounting an overlay needs root (CAP_SYS_ADMIN); this PowerShell does not run as root.", target, "Run pwsh as root, for example with sudo.");
        }
        dismounting?.Invoke(entry);
        log.Verbose($"Dismounting overlay at '{target}'. Equivalent: umount {OverlayMounter.ShellQuote(target)}");
        int errno = 0;
        for (int attempt = 0; attempt <= BusyRetries; attempt++)
        {
            if (attempt > 0)
            {
                cancel.WaitHandle.WaitOne(BusyRetryDelay);
                cancel.ThrowIfCancellationRequested();
            }
            errno = Umount(target, Native.UMOUNT_NOFOLLOW, log);
            if (errno == 0)
            {
                WarnIfStillMountedElsewhere(target, root, rootFsId, log, cancel);
                return DismountOutcome.Unmounted;
            }
            if (errno != Errno.EBUSY)
            {
                break;
            }
        }
        if (errno == Errno.EINVAL)
        {
            throw GoneOrLocked(target, root, errno);
        }
        if (errno != Errno.EBUSY)
        {
            throw Refused(target, errno, "dismount");
        }

        var holders = MountHolders.Find(target);
        string who = holders.Count > 0 ? string.Join("; ", holders.Take(10)) + (holders.Count > 10 ? $"; and {holders.Count - 10} more" : "") : "no process found in this PID namespace (perhaps a mount below it, or a process in another namespace)";
        if (!force)
        {
            throw new OverlayException(ErrorIds.OverlayBusy, OverlayErrorCategory.ResourceBusy,
                $"The overlay at '{target}' is busy: {who}.", target,
                "Stop those processes or move them out of the directory and retry, or use -Force to detach it lazily.",
                new ErrnoException("umount2", Errno.EBUSY, target));
        }
        errno = Umount(target, Native.UMOUNT_NOFOLLOW | Native.MNT_DETACH, log);
        if (errno != 0)
        {
            throw errno == Errno.EINVAL ? GoneOrLocked(target, root, errno) : Refused(target, errno, "detach");
        }
        log.Warning($"The overlay at '{target}' was busy and has been detached lazily; the kernel frees it when the last user leaves. Held by: {who}.");
        WarnIfStillMountedElsewhere(target, root, rootFsId, log, cancel);
        return DismountOutcome.Detached;
    }

    /// <summary>
    /// After a dismount: if the overlay's super block is still alive (one ustat call, so the
    /// common case costs nothing more), looks for copies of it in other mount namespaces (made by
    /// unshare -m, a container runtime, systemd's PrivateTmp...), which keep its upper and work
    /// dir in use, and warns naming the process whose namespace holds each.
    /// </summary>
    private static void WarnIfStillMountedElsewhere(string target, FileStatus root, ulong rootFsId, IOperationLog log, CancellationToken cancel)
    {
        bool? alive = FileSystem.SuperBlockAlive(root.DevMajor, root.DevMinor);
        if (log.DebugEnabled)
        {
            log.Debug($"ustat({root.DevMajor}:{root.DevMinor}) = {(alive switch { true => "0 (the super block lives on)", false => "-1 EINVAL (gone)", null => "not available" })}");
        }
        if (alive != true || rootFsId == 0)
        {
            // No fsid: an overlay without an upper (nothing to keep in use), which a reused device
            // number could not be told apart from another read-only overlay of the same layers.
            return;
        }
        // A reference dropped elsewhere a moment later (another process reading the mount
        // table, say) keeps the super block for an instant: look again before searching.
        for (int i = 0; alive == true && i < 5; i++)
        {
            Thread.Sleep(1);
            alive = FileSystem.SuperBlockAlive(root.DevMajor, root.DevMinor);
        }
        if (alive != true)
        {
            return;
        }
        var copies = FindCopies(root, rootFsId);
        // Container runtimes copy every mount for an instant (runc init, before it pivots); give
        // copies found only in other namespaces a moment to go, as a busy dismount gets.
        for (int i = 0; i < 3 && copies.Count > 0 && copies.TrueForAll(c => c.OtherNamespace); i++)
        {
            if (cancel.WaitHandle.WaitOne(BusyRetryDelay) || FileSystem.SuperBlockAlive(root.DevMajor, root.DevMinor) != true)
            {
                return;
            }
            copies = FindCopies(root, rootFsId);
        }
        foreach (var c in copies.Take(10))
        {
            log.Warning(c.OtherNamespace
                ? $"The overlay at '{target}' was dismounted here, but the same overlay (super block {root.DevMajor}:{root.DevMinor}) is still mounted at '{c.MountPoint}' in the mount namespace of pid {c.ProcessId} ({c.ProcessName}); its upper and work dir stay in use until that copy is dismounted (nsenter -t {c.ProcessId} -m umount '{c.MountPoint}') or that namespace ends."
                : $"The overlay at '{target}' was dismounted, but the same overlay (super block {root.DevMajor}:{root.DevMinor}) is still mounted at '{c.MountPoint}' (a bind mount of it); its upper and work dir stay in use until that is dismounted too.");
        }
    }

    /// <summary>
    /// Other mounts of the overlay whose root was <paramref name="root"/>. A device number is
    /// reused as soon as it is free, so a candidate counts only if it is the same overlay: same
    /// device and same fsid (from the upper's persistent uuid).
    /// </summary>
    private static List<OverlayUser> FindCopies(FileStatus root, ulong rootFsId)
        => MountNamespaces.FindSuperBlock(root.DevMajor, root.DevMinor, (pid, e) =>
        {
            string path = pid is null ? e.MountPoint : $"/proc/{pid}/root{(e.MountPoint == "/" ? "" : e.MountPoint)}";
            using var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_NOFOLLOW, out _);
            if (fd is null)
            {
                return false;
            }
            try
            {
                var st = FileSystem.Stat(fd, path);
                return st.DevMajor == root.DevMajor && st.DevMinor == root.DevMinor && FileSystem.StatFsId(fd, path) == rootFsId;
            }
            catch (ErrnoException)
            {
                return false;
            }
        });


    /// <summary>
    /// Throws unless <paramref name="target"/> is the root of a mounted overlay; returns what statx
    /// says about that root, and with <paramref name="readEntry"/> its mountinfo line.
    /// </summary>
    private static (FileStatus Root, ulong FsId, MountInfoEntry? Entry) CheckOverlayRoot(string target, bool readEntry)
    {
        // One descriptor (O_PATH|O_NOFOLLOW: a final symlink is opened as the link itself) answers
        // every question: link or not, mount root or not, which file system. It holds the mount
        // while the mount table is read, so the line with its mount id is its own.
        using var fd = FileSystem.TryOpen(target, Native.O_PATH | Native.O_NOFOLLOW, out int errno);
        if (fd is null)
        {
            throw errno == Errno.ENOENT
                ? NotMounted(target, "the path does not exist")
                : new OverlayException(ErrorIds.OverlayNotMounted, OverlayException.CategoryFor(errno),
                    $"'{target}' cannot be examined: {Errno.Describe(errno)} ({Errno.Name(errno)}).", target, "Check the path.");
        }
        var st = FileSystem.Stat(fd, target);
        if (st.IsSymlink)
        {
            throw new OverlayException(ErrorIds.TargetIsSymlink, OverlayErrorCategory.SecurityError,
                $"'{target}' is a symbolic link; the module dismounts only the directory it was given, never a link's destination.", target,
                "Give the mount point itself.");
        }
        if (!st.IsMountRoot)
        {
            throw NotMounted(target, "it is not a mount point");
        }
        var (type, fsid) = FileSystem.StatFsWithId(fd, target);
        if (type != Native.OVERLAYFS_SUPER_MAGIC)
        {
            var other = MountInfo.ReadMount(st.MountId);
            throw new OverlayException(ErrorIds.NotAnOverlayMount, OverlayErrorCategory.InvalidArgument,
                $"'{target}' is a {other?.FsType ?? "non-overlay"} mount, not an overlay; Dismount-Overlay only dismounts overlays.", target,
                "Use umount for other file systems.");
        }
        return (st, fsid, readEntry ? MountInfo.ReadMount(st.MountId) : null);
    }

    /// <summary>
    /// umount2 failed with <paramref name="errno"/>: EPERM and EACCES mean what they mean for
    /// Mount-Overlay (NotRoot), anything else is DismountFailed.
    /// </summary>
    private static OverlayException Refused(string target, int errno, string verb)
    {
        var (id, category, action) = OverlayMounter.KernelErrnoMeaning(errno, ErrorIds.DismountFailed,
            $"See umount2(2) for what {Errno.Name(errno)} means; the kernel logs nothing for a refused dismount.");
        string why = id == ErrorIds.NotRoot
            ? " This process lacks CAP_SYS_ADMIN in the user namespace that owns its mount namespace (running as uid 0 is not enough when the capability was dropped, for example by setpriv, capsh, a container or systemd's CapabilityBoundingSet)."
            : "";
        return new OverlayException(id, category,
            $"The kernel refused to {verb} '{target}': {Errno.Describe(errno)} ({Errno.Name(errno)}).{why}", target, action,
            new ErrnoException("umount2", errno, target));
    }

    /// <summary>
    /// EINVAL from umount2 for a path just seen to be an overlay's mount root: it went meanwhile;
    /// or it is still there and locked (MNT_LOCKED: it came into this mount namespace from a more
    /// privileged one, which alone may take it away); or it belongs to another mount namespace
    /// (a path through /proc/&lt;pid&gt;/root).
    /// </summary>
    private static OverlayException GoneOrLocked(string target, FileStatus root, int errno)
    {
        // The descriptor holds the mount while the table is read: the line with its id is its own.
        using var still = StillMounted(target, root);
        if (still is null)
        {
            return NotMounted(target, "it was dismounted meanwhile");
        }
        if (MountInfo.ReadMount(root.MountId) is null)
        {
            return new OverlayException(ErrorIds.DismountFailed, OverlayErrorCategory.InvalidOperation,
                $"The kernel refused to dismount '{target}' ({Errno.Name(errno)}): the overlay there belongs to another mount namespace (reached through /proc/<pid>/root?), and a mount can only be dismounted from its own.", target,
                "Dismount it inside that namespace: nsenter -t <pid> -m umount <path there>.",
                new ErrnoException("umount2", errno, target));
        }
        return new OverlayException(ErrorIds.DismountFailed, OverlayErrorCategory.PermissionDenied,
            $"The kernel refused to dismount '{target}' ({Errno.Name(errno)}): the mount is locked. It came into this mount namespace from a more privileged one (a copy made by unshare -Urm, a rootless container or a sandbox), and only that namespace may take it away.", target,
            "Dismount it in the mount namespace it was mounted in; here it goes away when this namespace ends.",
            new ErrnoException("umount2", errno, target));
    }

    /// <summary>
    /// A descriptor of <paramref name="target"/> if it is still the root of the very mount
    /// <paramref name="root"/> was read from (same mount id, device and inode); null otherwise.
    /// </summary>
    private static Fd? StillMounted(string target, FileStatus root)
    {
        var fd = FileSystem.TryOpen(target, Native.O_PATH | Native.O_NOFOLLOW, out _);
        if (fd is null)
        {
            return null;
        }
        try
        {
            var st = FileSystem.Stat(fd, target);
            if (st.IsMountRoot && st.MountId == root.MountId && st.DevMajor == root.DevMajor && st.DevMinor == root.DevMinor && st.Inode == root.Inode)
            {
                return fd;
            }
        }
        catch (ErrnoException)
        {
        }
        fd.Dispose();
        return null;
    }

    private static OverlayException NotMounted(string target, string why)
        => new(ErrorIds.OverlayNotMounted, OverlayErrorCategory.ObjectNotFound,
            $"No overlay is mounted at '{target}': {why}.", target, "Run Get-OverlayMount to see the mounted overlays.");

    private static unsafe int Umount(string target, int flags, IOperationLog log)
    {
        fixed (byte* t = Native.Utf8Z(target))
        {
            int r = Native.Umount2(t, flags);
            int errno = r == 0 ? 0 : Marshal.GetLastPInvokeError();
            if (log.DebugEnabled)
            {
                log.Debug($"umount2(\"{target}\", 0x{flags:x}) = {(r == 0 ? "0" : "-1 " + Errno.Name(errno))}");
            }
            return errno;
        }
    }
}
