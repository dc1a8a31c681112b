using System;
using System.Collections.Generic;
using System.IO;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>An overlay mount found in some mount namespace: where, and a process that lives in that namespace.</summary>
public sealed record OverlayUser(int? ProcessId, string ProcessName, string MountPoint, string Role)
{
    /// <summary>True when the mount is in another mount namespace than this process's.</summary>
    public bool OtherNamespace => ProcessId is not null;

    /// <inheritdoc/>
    public override string ToString() => ProcessId is null
        ? $"the overlay mounted at '{MountPoint}'"
        : $"the overlay mounted at '{MountPoint}' in the mount namespace of pid {ProcessId} ({ProcessName})";
}

/// <summary>
/// Looks for overlays in this and other mount namespaces. Only used on failure paths (an upper
/// the kernel reports in use, a super block that outlived its dismount), never on the happy path:
/// it reads /proc/&lt;pid&gt;/mountinfo once per namespace.
/// </summary>
public static class MountNamespaces
{
    /// <summary>One process per mount namespace other than this process's, lowest pid first.</summary>
    public static List<(int ProcessId, string ProcessName)> OtherNamespaces()
    {
        var result = new List<(int, string)>();
        string? mine = FileSystem.TryReadLink("/proc/self/ns/mnt", out _);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (mine is not null)
        {
            seen.Add(mine);
        }
        foreach (int pid in ProcFs.Pids())
        {
            var ns = FileSystem.TryReadLink($"/proc/{pid}/ns/mnt", out _);
            if (ns is not null && seen.Add(ns))
            {
                result.Add((pid, ProcFs.ReadComm(pid)));
            }
        }
        return result;
    }

    /// <summary>
    /// Overlays whose upper or work dir is <paramref name="upper"/> or <paramref name="work"/>
    /// (real paths): first in this namespace, then (unless <paramref name="otherNamespaces"/> is
    /// false) in every other one. With <paramref name="upperStatus"/> or <paramref name="workStatus"/>,
    /// an overlay whose dirs have other names is matched by what they are (device and inode), as
    /// the kernel does: the same directory reached through a bind mount of a parent.
    /// </summary>
    internal static List<OverlayUser> FindUsers(string? upper, string? work, int? excludeOwnMountId = null, bool otherNamespaces = true,
        FileStatus? upperStatus = null, FileStatus? workStatus = null)
    {
        var result = new List<OverlayUser>();
        ScanOverlays(excludeOwnMountId, otherNamespaces, (pid, comm, m) =>
        {
            if ((Role(m.Upper, m.Work, upper, work)
                ?? (upperStatus is null && workStatus is null ? null : Role(StatIn(pid, m.Upper), StatIn(pid, m.Work), upperStatus, workStatus))) is { } role)
            {
                result.Add(new OverlayUser(pid, comm, m.Target, role));
            }
        });
        return result;
    }

    /// <summary>
    /// Overlays whose upper or work dir is one of <paramref name="above"/> (the directories above a
    /// new overlay's upper or work dir, which the kernel then counts as in use), by what the
    /// directories are: first in this namespace, then in every other one.
    /// </summary>
    internal static List<OverlayUser> FindUsersAbove(List<FileStatus> above, int? excludeOwnMountId)
    {
        var result = new List<OverlayUser>();
        if (above.Count == 0)
        {
            return result;
        }
        bool IsAbove(FileStatus? dir) => dir is { } d && above.Exists(a => a.SameFile(d));
        ScanOverlays(excludeOwnMountId, otherNamespaces: true, (pid, comm, m) =>
        {
            string? role = IsAbove(StatIn(pid, m.Upper)) ? "upper" : IsAbove(StatIn(pid, m.Work)) ? "work dir" : null;
            if (role is not null)
            {
                result.Add(new OverlayUser(pid, comm, m.Target, role));
            }
        });
        return result;
    }

    /// <summary>
    /// Overlays whose upper or work dir is one of <paramref name="dirs"/> (real paths, such as the
    /// lowers of a mount the kernel refused with index=on), each with the directory it uses:
    /// first in this namespace, then in every other one.
    /// </summary>
    public static List<(OverlayUser User, string Dir)> FindUsersOf(IReadOnlyCollection<string> dirs, int? excludeOwnMountId = null)
    {
        var result = new List<(OverlayUser, string)>();
        if (dirs.Count == 0)
        {
            return result;
        }
        ScanOverlays(excludeOwnMountId, otherNamespaces: true, (pid, comm, m) =>
        {
            foreach (var dir in dirs)
            {
                string? role = Same(m.Upper, dir) ? "upper" : Same(m.Work, dir) ? "work dir" : null;
                if (role is not null)
                {
                    result.Add((new OverlayUser(pid, comm, m.Target, role), dir));
                }
            }
        });
        return result;
    }

    /// <summary>Every overlay in this mount namespace (pid null), then (if <paramref name="otherNamespaces"/>) in every other one.</summary>
    private static void ScanOverlays(int? excludeOwnMountId, bool otherNamespaces, Action<int?, string, OverlayMount> visit)
    {
        void Scan(int? pid, string comm)
        {
            IEnumerable<OverlayMount> mounts;
            try
            {
                mounts = OverlayMount.ReadAll(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return; // the process ended meanwhile
            }
            foreach (var m in mounts)
            {
                if (pid is null && m.MountId == excludeOwnMountId)
                {
                    continue;
                }
                visit(pid, comm, m);
            }
        }
        Scan(null, "");
        if (!otherNamespaces)
        {
            return;
        }
        foreach (var (pid, comm) in OtherNamespaces())
        {
            Scan(pid, comm);
        }
    }

    /// <summary>
    /// Mounts of the overlay super block with device <paramref name="major"/>:<paramref name="minor"/>:
    /// other mounts of it in this namespace (bind mounts; ProcessId null), then copies in other
    /// mount namespaces.
    /// </summary>
    public static List<OverlayUser> FindSuperBlock(uint major, uint minor, Func<int?, MountInfoEntry, bool>? isSame = null)
    {
        var result = new List<OverlayUser>();
        void Scan(int? pid, string comm)
        {
            List<MountInfoEntry> entries;
            try
            {
                entries = MountInfo.Read(pid, "overlay");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return;
            }
            foreach (var e in entries)
            {
                if (e.Major == major && e.Minor == minor && (isSame is null || isSame(pid, e)))
                {
                    result.Add(new OverlayUser(pid, comm, e.MountPoint, "mount"));
                }
            }
        }
        Scan(null, "");
        foreach (var (pid, comm) in OtherNamespaces())
        {
            Scan(pid, comm);
        }
        return result;
    }

    /// <summary>
    /// What an overlay with upper <paramref name="theirUpper"/> and work dir <paramref name="theirWork"/>
    /// uses of the upper <paramref name="upper"/> and work dir <paramref name="work"/> of another
    /// mount: "upper", "work dir", or null for neither (either pair may name the other's dirs).
    /// </summary>
    internal static string? Role(string? theirUpper, string? theirWork, string? upper, string? work)
        => Role(theirUpper, theirWork, upper, work, Same);

    /// <summary>The same, by what the directories are (device and inode) rather than by name.</summary>
    internal static string? Role(FileStatus? theirUpper, FileStatus? theirWork, FileStatus? upper, FileStatus? work)
        => Role(theirUpper, theirWork, upper, work, static (a, b) => a is { } x && b is { } y && x.SameFile(y));

    private static string? Role<T>(T theirUpper, T theirWork, T upper, T work, Func<T, T, bool> same)
        => same(theirUpper, upper) ? "upper"
            : same(theirWork, work) ? "work dir"
            : same(theirUpper, work) ? "upper"
            : same(theirWork, upper) ? "work dir"
            : null;

    /// <summary>statx (following links) of an overlay's dir as its mount table names it, seen from the root of process <paramref name="pid"/> (null: this one).</summary>
    private static FileStatus? StatIn(int? pid, string? path)
        => path is null ? null : FileSystem.TryStatFollow(pid is null ? path : $"/proc/{pid}/root{path}", out _);

    private static bool Same(string? a, string? b)
        => a is not null && b is not null && string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.Ordinal);
}
