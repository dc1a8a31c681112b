using System;
using System.Threading;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// Serialises the module's own dismounts of one mount, between processes and between runspaces
/// of one process: an open-file-description lock (fcntl F_OFD_SETLK) on one byte of
/// /run/overlaytools/dismount.lock, the byte at the mount's id. It is held only for the last
/// check of the mount at the path and the umount2 right after it, so that of two
/// Dismount-Overlay calls for the same overlay the second one checks after the first has
/// dismounted it, and finds it gone, instead of dismounting what was beneath it.
/// A lock on the overlay itself is impossible: any descriptor of it makes umount2 fail with
/// EBUSY. OFD locks, unlike POSIX record locks, belong to the open file, so runspaces of one
/// process exclude each other too; one byte per mount id keeps dismounts of different overlays
/// (and the syncs of their uppers inside umount2) in parallel.
/// </summary>
internal sealed class DismountLock : IDisposable
{
    internal const string FileName = "dismount.lock";

    /// <summary>How long a dismount waits for another one's umount2 of the same mount before giving up.</summary>
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly Fd _fd;

    private DismountLock(Fd fd) => _fd = fd;

    /// <summary>
    /// Opens the lock file, creating it; null if that fails (logged under -Debug): the dismount
    /// then goes on without it, checked before each umount2 all the same.
    /// </summary>
    internal static DismountLock? Open(IOperationLog log)
    {
        string path = ModuleEmptyDir.RunDirPath + "/" + FileName;
        // Usually it exists: one open. /run/overlaytools is root's alone (checked when made).
        var fd = FileSystem.TryOpen(path, Native.O_RDWR | Native.O_NOFOLLOW, out int errno);
        if (fd is null)
        {
            try
            {
                using var dir = ModuleEmptyDir.OpenRunDir();
                fd = FileSystem.TryOpenCreateAt(dir.Value, FileName, Native.O_RDWR | Native.O_NOFOLLOW, 0x180 /* 0600 */, out errno);
            }
            catch (OverlayException e)
            {
                if (log.DebugEnabled)
                {
                    log.Debug($"{e.Message}; dismounting without the dismount lock");
                }
                return null;
            }
            if (fd is null)
            {
                if (log.DebugEnabled)
                {
                    log.Debug($"open('{path}') = -1 {Errno.Name(errno)}; dismounting without the dismount lock");
                }
                return null;
            }
        }
        return new DismountLock(fd);
    }

    /// <summary>
    /// Takes the byte of <paramref name="mountId"/>, waiting while another dismount of that mount
    /// holds it; dispose the result to let it go. Null when the kernel refuses the lock for
    /// another reason than a holder (logged under -Debug). Throws DismountFailed after
    /// <see cref="Wait"/>, and OperationCanceledException when the command is stopped.
    /// </summary>
    internal Held? Take(ulong mountId, string target, IOperationLog log, CancellationToken cancel)
    {
        long at = (long)mountId;
        if (Native.OfdSetLock(_fd.Value, Native.F_WRLCK, at, 1) == 0)
        {
            return new Held(this, at);
        }
        var deadline = DateTime.UtcNow + Wait;
        bool said = false;
        while (true)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno is not (Errno.EAGAIN or Errno.EACCES))
            {
                if (log.DebugEnabled)
                {
                    log.Debug($"fcntl(F_OFD_SETLK, {ModuleEmptyDir.RunDirPath}/{FileName} byte {mountId}) = -1 {Errno.Name(errno)}; dismounting without the dismount lock");
                }
                return null;
            }
            if (!said && log.DebugEnabled)
            {
                log.Debug($"Another dismount of mount {mountId} holds {ModuleEmptyDir.RunDirPath}/{FileName}; waiting for it.");
                said = true;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new OverlayException(ErrorIds.DismountFailed, OverlayErrorCategory.ResourceBusy,
                    $"Another Dismount-Overlay has been dismounting the overlay at '{target}' for over {Wait.TotalSeconds:0} s (it holds the lock on mount {mountId} in {ModuleEmptyDir.RunDirPath}/{FileName}); not dismounting it alongside.", target,
                    "Wait for the other command to end and retry.");
            }
            if (cancel.WaitHandle.WaitOne(1))
            {
                cancel.ThrowIfCancellationRequested();
            }
            if (Native.OfdSetLock(_fd.Value, Native.F_WRLCK, at, 1) == 0)
            {
                return new Held(this, at);
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();

    /// <summary>One held byte; disposing it unlocks it.</summary>
    internal sealed class Held(DismountLock owner, long at) : IDisposable
    {
        private bool _released;

        public void Dispose()
        {
            if (!_released)
            {
                _released = true;
                _ = Native.OfdSetLock(owner._fd.Value, Native.F_UNLCK, at, 1);
            }
        }
    }
}
