using System;
using System.Collections.Generic;
using System.Threading;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// The resources of one mount attempt: descriptors (closed at the end either way), the lock on
/// the upper, and the directories the attempt created, which a failure removes again with
/// rmdir only: relative to the descriptor of the parent it was made in, only while that name
/// still is the very directory that was made (same device and inode, not a symlink), never
/// recursively. rmdir itself fails on anything non-empty or mounted on, so whatever got
/// mounted on a created directory meanwhile, or put into it, stays.
/// </summary>
internal sealed class MountScope(IOperationLog log, CancellationToken cancel = default) : IDisposable
{
    private readonly List<Fd> _fds = [];
    private readonly List<CreatedDir> _created = [];
    private Fd? _createdWork;
    private FileStatus _createdWorkStatus;
    private Func<bool>? _createdWorkInUse;
    private Fd? _lock;
    private Fd? _createLock;
    private bool _committed;

    private sealed record CreatedDir(Fd Parent, string ParentPath, string Name, FileStatus Status)
    {
        public string Path => ParentPath == "/" ? "/" + Name : ParentPath + "/" + Name;
    }

    internal Fd Own(Fd fd)
    {
        _fds.Add(fd);
        return fd;
    }

    /// <summary>Records a directory this attempt made: its parent's descriptor (owned by this scope), its name, and what it is.</summary>
    internal void Created(Fd parent, string parentPath, string name, FileStatus status) => _created.Add(new CreatedDir(parent, parentPath, name, status));

    /// <summary>
    /// The work dir this attempt created, and how to tell that an overlay uses it after all (one
    /// mounted meanwhile by something that does not take the module's lock): then a failure
    /// leaves it in place rather than take it from under that overlay.
    /// </summary>
    internal void SetCreatedWorkFd(Fd fd, FileStatus status, Func<bool> inUse)
    {
        _createdWork = fd;
        _createdWorkStatus = status;
        _createdWorkInUse = inUse;
    }

    /// <summary>Stops a wait for a lock, and is checked before the kernel step.</summary>
    internal CancellationToken Cancel => cancel;

    /// <summary>
    /// Serialises Mount-Overlay calls for one upper (flock on the upper dir, opened through its
    /// descriptor), so that of two racing mounts the second sees the first one mounted.
    /// Held until the mount is attached. A lock held longer than <see cref="CreateLockWait"/>
    /// (by something else than a mount) is given up with a warning: the kernel's own in-use
    /// check still stands. A stop (<see cref="Cancel"/>) ends the wait.
    /// </summary>
    internal void LockUpper(Fd upper)
    {
        var fd = FileSystem.TryOpenAt(upper.Value, ".", Native.O_RDONLY | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            if (log.DebugEnabled)
            {
                log.Debug($"open(upper, \".\") for flock = -1 {Errno.Name(errno)}; continuing without the lock");
            }
            return;
        }
        if (!WaitOrDispose(fd, "the upper layer's lock (flock on the upper dir)"))
        {
            return;
        }
        _lock = fd;
    }

    /// <summary>True once <paramref name="fd"/> is locked; otherwise (given up, or stopped) it is closed.</summary>
    private bool WaitOrDispose(Fd fd, string what)
    {
        bool locked = false;
        try
        {
            locked = WaitForLock(fd, what);
            return locked;
        }
        finally
        {
            if (!locked)
            {
                fd.Dispose();
            }
        }
    }

    /// <summary>
    /// flock(LOCK_EX) on <paramref name="fd"/>, waiting at most <see cref="CreateLockWait"/>
    /// (then false, with a warning) and never past a stop (OperationCanceledException).
    /// </summary>
    private bool WaitForLock(Fd fd, string what)
    {
        if (Native.Flock(fd.Value, Native.LOCK_EX | Native.LOCK_NB) == 0)
        {
            return true;
        }
        var deadline = DateTime.UtcNow + CreateLockWait;
        while (Native.Flock(fd.Value, Native.LOCK_EX | Native.LOCK_NB) != 0)
        {
            cancel.ThrowIfCancellationRequested();
            if (DateTime.UtcNow > deadline)
            {
                log.Warning($"Something has held {what} for over {CreateLockWait.TotalSeconds:0} s; mounting without it, so a kernel warning about another mount could be taken for this one.");
                return false;
            }
            Thread.Sleep(1);
        }
        return true;
    }

    /// <summary>How long a mount waits for another one's kernel step before going on without the lock.</summary>
    internal static readonly TimeSpan CreateLockWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Serialises the kernel step of every Mount-Overlay on this machine (flock on
    /// /run/overlaytools/create.lock), held until the mount is attached. The kernel reports an
    /// upper or work dir in use, a read-only fallback or a missing d_type only in its global log,
    /// without saying which mount it means; one mount at a time makes those lines ours. A mount
    /// that waits longer than <see cref="CreateLockWait"/> (another one stuck in the kernel) goes
    /// on without it.
    /// </summary>
    internal void LockCreate()
    {
        // Usually the lock file exists: one open. /run/overlaytools is root's alone (checked when made).
        var fd = FileSystem.TryOpen(ModuleEmptyDir.RunDirPath + "/create.lock", Native.O_RDWR | Native.O_NOFOLLOW, out _);
        if (fd is null)
        {
            fd = CreateLockFile();
            if (fd is null)
            {
                return;
            }
        }
        if (!WaitOrDispose(fd, $"'{ModuleEmptyDir.RunDirPath}/create.lock'"))
        {
            return;
        }
        _createLock = fd;
    }

    private Fd? CreateLockFile()
    {
        Fd? fd;
        try
        {
            using var dir = ModuleEmptyDir.OpenRunDir();
            fd = FileSystem.TryOpenCreateAt(dir.Value, "create.lock", Native.O_RDWR | Native.O_NOFOLLOW, 0x180 /* 0600 */, out int errno);
            if (fd is null)
            {
                if (log.DebugEnabled)
                {
                    log.Debug($"open('{ModuleEmptyDir.RunDirPath}/create.lock') = -1 {Errno.Name(errno)}; mounting without the create lock");
                }
                return null;
            }
        }
        catch (OverlayException e)
        {
            if (log.DebugEnabled)
            {
                log.Debug($"{e.Message}; mounting without the create lock");
            }
            return null;
        }
        return fd;
    }

    internal void Commit() => _committed = true;

    /// <summary>Removes what this attempt created, newest first.</summary>
    internal void Rollback()
    {
        if (_committed)
        {
            return;
        }
        // The kernel may have made work/ and index/ (and work/incompat/volatile) in a work dir we
        // created; unless an overlay mounted meanwhile uses it, which then keeps it.
        if (_createdWork is not null && _createdWorkInUse?.Invoke() == true)
        {
            log.Warning("Left the work dir this mount created in place: an overlay mounted meanwhile uses it.");
            _created.RemoveAll(c => c.Status.SameFile(_createdWorkStatus));
            _createdWork = null;
        }
        if (_createdWork is not null)
        {
            foreach (var inner in new[] { "work/incompat/volatile", "work/incompat", "work", "index" })
            {
                int e = FileSystem.RmdirAt(_createdWork.Value, inner);
                if (e == 0 && log.DebugEnabled)
                {
                    log.Debug($"rmdir('{inner}') in the created work dir = 0");
                }
            }
        }
        bool keptOne = false;
        for (int i = _created.Count - 1; i >= 0; i--)
        {
            var c = _created[i];
            var now = FileSystem.TryStatAt(c.Parent.Value, c.Name, follow: false, out int serrno);
            if (now is null)
            {
                if (serrno != Errno.ENOENT)
                {
                    log.Warning($"Left '{c.Path}' in place: it cannot be examined ({Errno.Name(serrno)}).");
                }
                continue;
            }
            if (!now.Value.IsDirectory || !now.Value.SameFile(c.Status))
            {
                string why = now.Value.IsSymlink ? "it was replaced by a symbolic link"
                    : now.Value.IsMountRoot ? "something was mounted on it meanwhile"
                    : "it was replaced by something else";
                log.Warning($"Left '{c.Path}' in place: {why}.");
                keptOne = true;
                continue;
            }
            int e = FileSystem.RmdirAt(c.Parent.Value, c.Name);
            if (log.DebugEnabled)
            {
                log.Debug($"rmdir('{c.Path}') = {(e == 0 ? "0" : "-1 " + Errno.Name(e))}");
            }
            if (e is Errno.EBUSY)
            {
                log.Warning($"Left '{c.Path}' in place: something was mounted on it meanwhile.");
                keptOne = true;
            }
            else if (e is Errno.ENOTEMPTY or Errno.EEXIST)
            {
                // Expected when a directory created inside it was left in place.
                if (!keptOne)
                {
                    log.Warning($"Left '{c.Path}' in place: something was put into it meanwhile.");
                }
                keptOne = true;
            }
        }
    }

    public void Dispose()
    {
        _createLock?.Dispose();
        _lock?.Dispose();
        foreach (var fd in _fds)
        {
            fd.Dispose();
        }
    }
}
