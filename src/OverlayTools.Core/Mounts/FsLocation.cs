using System;
using System.Collections.Generic;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// Where a directory is within its file system: the device and the path from that file
/// system's root, whichever mount (a bind mount of a subdirectory, say) it was reached through.
/// Two directories on one file system are nested exactly when these paths are, which the
/// <c>..</c> walk of one mount cannot see past that mount's root.
/// </summary>
internal readonly record struct FsLocation(uint Major, uint Minor, string Path)
{
    /// <summary>True when this directory is strictly inside <paramref name="outer"/>.</summary>
    internal bool IsInside(FsLocation outer)
        => Major == outer.Major && Minor == outer.Minor && Path.Length > outer.Path.Length
            && Path.StartsWith(outer.Path == "/" ? "/" : outer.Path + "/", StringComparison.Ordinal);

    /// <summary>
    /// The location of the directory with real path <paramref name="realPath"/> and status
    /// <paramref name="status"/>, by its mount's line in <paramref name="mounts"/> (this
    /// namespace's mount table by mount id: the mount's root within its file system and where it
    /// is mounted); null when the table does not list that mount or the path is not under it.
    /// </summary>
    internal static FsLocation? Of(string realPath, FileStatus status, IReadOnlyDictionary<int, MountInfoEntry> mounts)
    {
        if (!mounts.TryGetValue((int)status.MountId, out var m) || !realPath.StartsWith('/'))
        {
            return null;
        }
        string rel;
        if (realPath == m.MountPoint)
        {
            rel = "";
        }
        else if (m.MountPoint == "/")
        {
            rel = realPath;
        }
        else if (realPath.StartsWith(m.MountPoint + "/", StringComparison.Ordinal))
        {
            rel = realPath[m.MountPoint.Length..];
        }
        else
        {
            return null;
        }
        string path = m.Root == "/" ? (rel.Length == 0 ? "/" : rel) : m.Root + rel;
        return new FsLocation(status.DevMajor, status.DevMinor, path);
    }

    /// <summary>This namespace's mount table by mount id.</summary>
    internal static Dictionary<int, MountInfoEntry> MountTable()
    {
        var table = new Dictionary<int, MountInfoEntry>();
        foreach (var e in MountInfo.Read(null))
        {
            table[e.MountId] = e;
        }
        return table;
    }
}
