using System;
using System.Collections.Generic;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// The resources of one mount attempt: descriptors (closed at the end either way), the lock on
/// the upper, and the directories the attempt created, which a failure removes again with
/// rmdir only (never recursively, never through a symlink: rmdir does not follow the last
/// component and fails on anything non-empty or mounted).
/// </summary>
internal sealed class MountScope(IOperationLog log) : IDisposable
{
    private readonly List<Fd> _fds = [];
    private readonly List<(string Parent, string Name, bool IsWork)> _created = [];
    private Fd? _createdWork;
    private Fd? _lock;
    private bool _committed;

    internal Fd Own(Fd fd)
    {
        _fds.Add(fd);
        return fd;
    }

    internal void Created(string parent, string name, bool isWorkDir) => _created.Add((parent, name, isWorkDir));

    internal void SetCreatedWorkFd(Fd fd) => _createdWork = fd;

    internal IReadOnlyList<string> CreatedPaths
    {
        get
        {
            var list = new List<string>();
            foreach (var (parent, name, _) in _created)
            {
                list.Add(parent == "/" ? "/" + name : parent + "/" + name);
            }
            return list;
        }
    }

    /// <summary>
    /// Serialises Mount-Overlay calls for one upper (flock on the upper dir), so that of two
    /// racing mounts exactly one sees the upper free. Held until the mount is attached.
    /// </summary>
    internal void LockUpper(string upperRealPath)
    {
        var fd = FileSystem.TryOpen(upperRealPath, Native.O_RDONLY | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            log.Debug($"open('{upperRealPath}') for flock = -1 {Errno.Name(errno)}; continuing without the lock");
            return;
        }
        if (Native.Flock(fd.Value, Native.LOCK_EX) != 0)
        {
            fd.Dispose();
            return;
        }
        _lock = fd;
    }

    internal void Commit() => _committed = true;

    /// <summary>Removes what this attempt created, newest first.</summary>
    internal void Rollback()
    {
        if (_committed)
        {
            return;
        }
        // The kernel may have made work/ and index/ (and work/incompat/volatile) in a work dir we created.
        if (_createdWork is not null)
        {
            foreach (var inner in new[] { "work/incompat/volatile", "work/incompat", "work", "index" })
            {
                int e = FileSystem.RmdirAt(_createdWork.Value, inner);
                if (e == 0)
                {
                    log.Debug($"rmdir('{inner}') in the created work dir = 0");
                }
            }
        }
        for (int i = _created.Count - 1; i >= 0; i--)
        {
            var (parent, name, _) = _created[i];
            using var parentFd = FileSystem.TryOpen(parent, Native.O_PATH | Native.O_DIRECTORY, out _);
            if (parentFd is null)
            {
                continue;
            }
            int e = FileSystem.RmdirAt(parentFd.Value, name);
            log.Debug($"rmdir('{parent}/{name}') = {(e == 0 ? "0" : "-1 " + Errno.Name(e))}");
        }
    }

    public void Dispose()
    {
        _lock?.Dispose();
        foreach (var fd in _fds)
        {
            fd.Dispose();
        }
    }
}
