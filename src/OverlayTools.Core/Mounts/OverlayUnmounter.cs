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
    /// The checks <see cref="Dismount"/> makes first (the path is the mount point of an overlay,
    /// not a symbolic link), with the same errors, for -WhatIf and -Confirm; dismounts nothing.
    /// </summary>
    public static void Preview(string target) => CheckOverlayRoot(FileSystem.TrimTrailingSlashes(target), readEntry: false);

    /// <summary>
    /// Unmounts the overlay at <paramref name="target"/>; with force, a busy one is detached lazily.
    /// <paramref name="dismounting"/>, when given, receives the overlay's mountinfo line (null if
    /// the table does not list it) before the dismount is tried, read while a descriptor holds the
    /// mount, so it is that overlay's line even if the kernel reused mount ids meanwhile.
    /// </summary>
    /// <remarks>
    /// umount2 takes a path, not a descriptor, and dismounts whatever mount is on top there when
    /// it runs; and the check needs a descriptor, which must be closed again before umount2 (it
    /// would make the mount busy). So before every umount2 (each retry, and the lazy detach) the
    /// path is opened again and must still be the overlay checked (same mount id, device and
    /// inode); the module's own dismounts of one mount take turns for that check and the umount2
    /// (<see cref="DismountLock"/>), so a second Dismount-Overlay finds the overlay gone instead
    /// of dismounting what was beneath it. What remains is the moment between that last check and
    /// the umount2 call, against a process outside the module that dismounts the overlay (umount -l)
    /// or mounts on top of it right then: no system call dismounts by descriptor. After a
    /// successful umount2 the path must show the mount that was beneath the overlay; if it shows
    /// the overlay still, or that mount is gone, umount2 took another mount off and the error
    /// DismountedOtherMount says which.
    /// </remarks>
    public static DismountOutcome Dismount(string target, bool force, IOperationLog? log = null, CancellationToken cancel = default,
        Action<MountInfoEntry?>? dismounting = null)
    {
        log ??= NullOperationLog.Instance;
        target = FileSystem.TrimTrailingSlashes(target); // "link/" would follow a final symlink
        var (root, rootFsId, entry, beneath) = CheckOverlayRoot(target, readEntry: dismounting is not null);
        if (!FileSystem.IsRoot)
        {
            throw new OverlayException(ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied,
                "Dismounting an overlay needs root (CAP_SYS_ADMIN); this PowerShell does not run as root.", target, "Run pwsh as root, for example with sudo.");
        }
        dismounting?.Invoke(entry);
        log.Verbose($"Dismounting overlay at '{target}'. Equivalent: umount {OverlayMounter.ShellQuote(target)}");
        using var turns = DismountLock.Open(log);
        int errno = 0;
        for (int attempt = 0; attempt <= BusyRetries; attempt++)
        {
            if (attempt > 0)
            {
                cancel.WaitHandle.WaitOne(BusyRetryDelay);
                cancel.ThrowIfCancellationRequested();
            }
            errno = UmountChecked(target, root, Native.UMOUNT_NOFOLLOW, turns, log, cancel);
            if (errno == 0)
            {
                CheckTookItOff(target, root, beneath, log);
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
        errno = UmountChecked(target, root, Native.UMOUNT_NOFOLLOW | Native.MNT_DETACH, turns, log, cancel);
        if (errno != 0)
        {
            throw errno == Errno.EINVAL ? GoneOrLocked(target, root, errno) : Refused(target, errno, "detach");
        }
        CheckTookItOff(target, root, beneath, log);
        log.Warning($"The overlay at '{target}' was busy and has been detached lazily; the kernel frees it when the last user leaves. Held by: {who}.");
        WarnIfStillMountedElsewhere(target, root, rootFsId, log, cancel);
        return DismountOutcome.Detached;
    }

    /// <summary>
    /// umount2 of <paramref name="target"/> with <paramref name="flags"/>, in this mount's turn
    /// among the module's dismounts, right after checking that the mount on top at the path is
    /// still the overlay <paramref name="root"/> was read from; returns umount2's errno (0 for
    /// done). Throws OverlayNotMounted when the overlay went meanwhile, DismountFailed when
    /// another mount now covers it: umount2 would take off that mount, not the overlay.
    /// </summary>
    private static int UmountChecked(string target, FileStatus root, int flags, DismountLock? turns, IOperationLog log, CancellationToken cancel)
    {
        using var turn = turns?.Take(root.MountId, target, log, cancel);
        bool still;
        using (var fd = StillMounted(target, root))
        {
            still = fd is not null;  // closed before umount2: a descriptor would keep the mount busy
        }
        if (!still)
        {
            throw GoneOrCovered(target, root);
        }
        if (log.DebugEnabled)
        {
            log.Debug($"'{target}' is still the overlay checked (mount id {root.MountId}, device {root.DevMajor}:{root.DevMinor}); umount2 follows");
        }
        return Umount(target, flags, log);
    }

    /// <summary>
    /// The overlay is no longer on top at <paramref name="target"/>: dismounted meanwhile
    /// (OverlayNotMounted), or covered by a mount made on it since (DismountFailed).
    /// </summary>
    private static OverlayException GoneOrCovered(string target, FileStatus root)
    {
        var line = MountInfo.ReadMount(root.MountId);
        if (line is not null && line.Major == root.DevMajor && line.Minor == root.DevMinor)
        {
            return new OverlayException(ErrorIds.DismountFailed, OverlayErrorCategory.InvalidOperation,
                $"Another mount was made on top of the overlay at '{target}' meanwhile; Dismount-Overlay did not dismount it, as umount2 would have taken that mount off instead of the overlay.", target,
                "Dismount what is mounted on top of it first (findmnt shows it), then the overlay.");
        }
        return NotMounted(target, "it was dismounted meanwhile");
    }

    /// <summary>
    /// After umount2 returned 0: the path must now show the mount the overlay was on (its parent
    /// in the mount table). If it shows the overlay still, a mount made on it at the last moment
    /// was taken off instead; if the mount beneath is gone, the overlay was dismounted by another
    /// process at the last moment and umount2 took off the mount beneath it. Either is an error
    /// (DismountedOtherMount): this command dismounted a mount other than the overlay it checked.
    /// </summary>
    private static void CheckTookItOff(string target, FileStatus root, Beneath? beneath, IOperationLog log)
    {
        if (beneath is null)
        {
            return; // neither statmount nor the table told the overlay's parent: nothing to compare with
        }
        var now = FileSystem.TryLStat(target, out int errno);
        if (log.DebugEnabled)
        {
            log.Debug($"statx(\"{target}\") after umount2: {(now is { } n ? $"mount id {n.MountId} (the overlay's parent: {beneath.OldId})" : "-1 " + Errno.Name(errno))}");
        }
        if (now is not { } st || st.MountId == beneath.OldId)
        {
            return;
        }
        if (st.IsMountRoot && st.MountId == root.MountId && st.SameFile(root))
        {
            throw new OverlayException(ErrorIds.DismountedOtherMount, OverlayErrorCategory.InvalidResult,
                $"umount2 of '{target}' succeeded, but the overlay is still mounted there: another mount was made on top of it at the last moment, and that mount was dismounted instead.", target,
                "Check with findmnt what is mounted there, and what was lost; then dismount the overlay again.");
        }
        if (beneath.StillMounted())
        {
            return; // the mount beneath is still there: what changed at the path is no doing of ours
        }
        throw new OverlayException(ErrorIds.DismountedOtherMount, OverlayErrorCategory.InvalidResult,
            $"The overlay at '{target}' was dismounted by another process at the last moment, and umount2 then dismounted the mount beneath it: {beneath.Description} is gone.", target,
            $"Mount it again if it is still needed ({beneath.Remount}), and keep other tools from dismounting the same overlay at the same time.");
    }

    /// <summary>
    /// The mount an overlay is mounted on (its parent), as known before the dismount: by its
    /// unique id where statmount(2) answers (Linux 6.8 and later: one system call, whatever the
    /// size of the mount table), else by its mountinfo line.
    /// </summary>
    private sealed record Beneath(ulong OldId, ulong? UniqueId, uint Major, uint Minor, string Description, string Remount, bool Known = true)
    {
        /// <summary>Whether that mount is still mounted (the same id and device); true when it was never known.</summary>
        internal bool StillMounted()
        {
            if (!Known)
            {
                return true;
            }
            if (UniqueId is { } id)
            {
                return FileSystem.StatMount(id, out _) is { } m && m.DevMajor == Major && m.DevMinor == Minor;
            }
            var still = MountInfo.ReadMount(OldId);
            return still is not null && still.Major == Major && still.Minor == Minor;
        }

        internal static Beneath FromEntry(MountInfoEntry b) => new((ulong)b.MountId, null, b.Major, b.Minor,
            $"the {b.FsType} '{b.Source}' mounted at '{b.MountPoint}' (mount id {b.MountId})", $"{b.FsType} at '{b.MountPoint}'");
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
    /// says about that root, its mountinfo line (read for <paramref name="readEntry"/>, i.e.
    /// -PassThru, or where statmount is missing) and the mount it is mounted on (its parent,
    /// which the overlay holds, so that mount is still the one with that id).
    /// </summary>
    private static (FileStatus Root, ulong FsId, MountInfoEntry? Entry, Beneath? Beneath) CheckOverlayRoot(string target, bool readEntry)
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
        // The mount beneath, for the check after umount2: statmount answers without reading the
        // whole mount table (which holds every overlay's layers: megabytes on a busy host); the
        // table is read where statmount is missing, or where -PassThru wants the overlay's line.
        if (!readEntry && FileSystem.UniqueMountId(fd) is { } unique
            && FileSystem.StatMount(unique, out _) is { } self && self.OldId == st.MountId
            && FileSystem.StatMount(self.ParentId, out _, strings: true) is { } parent)
        {
            string kind = parent.FsType ?? "mount";
            string at = parent.MountPoint ?? target;
            return (st, fsid, null, new Beneath(self.OldParentId, parent.Id, parent.DevMajor, parent.DevMinor,
                $"the {kind} '{parent.Source ?? "?"}' mounted at '{at}' (mount id {self.OldParentId})", $"{kind} at '{at}'"));
        }
        var (entry, beneath) = ProcFs.ReadAll(MountInfo.PathFor(null), bytes =>
        {
            var e = MountInfo.FindLine(bytes, st.MountId);
            return (e, e is null ? null : MountInfo.FindLine(bytes, (ulong)e.ParentId));
        });
        return (st, fsid, entry, beneath is not null ? Beneath.FromEntry(beneath)
            : entry is not null ? new Beneath((ulong)entry.ParentId, null, 0, 0, "", "", Known: false) : null);
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
