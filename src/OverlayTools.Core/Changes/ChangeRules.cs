using System;
using System.Collections.Generic;
using OverlayTools.Interop;

namespace OverlayTools.Changes;

/// <summary>What the walker knows about one name of a directory, for classification.</summary>
internal readonly record struct NameFacts(
    bool InUpper,
    bool UpperIsWhiteout,
    bool InMerged,
    bool InImage,
    bool SameEntryBelow);

/// <summary>
/// The pure rules behind Get-OverlayChange: how a name is classified, which directories a
/// style lists, how paths are joined. Kept free of I/O so they are tested on their own.
/// </summary>
internal static class ChangeRules
{
    /// <summary>
    /// The kind of change for one name, or null when the name is no change. "Merged" is the
    /// merged view (upper over the lowers), "image" the lowers alone.
    /// </summary>
    internal static string? Classify(in NameFacts f)
    {
        if (f.InUpper && f.UpperIsWhiteout)
        {
            // A whiteout deletes only what the layers below show.
            return f.InImage ? OverlayChange.Deleted : null;
        }
        if (f.InUpper)
        {
            // Every entry of the upper layer is a change: new, or a new version of what is below.
            return f.InImage ? OverlayChange.Changed : OverlayChange.Added;
        }
        if (f.InMerged)
        {
            // Shown through a renamed directory: a change unless it is the very entry the image has there.
            if (f.InImage && f.SameEntryBelow)
            {
                return null;
            }
            return f.InImage ? OverlayChange.Changed : OverlayChange.Added;
        }
        // Only the image has it: an opaque or renamed directory above hides it.
        return f.InImage ? OverlayChange.Deleted : null;
    }

    /// <summary>
    /// Docker's test for a changed entry (its naive diff compares the merged view with the
    /// image by lstat): type and permission bits, owner, group and device number differ, or,
    /// for anything but a directory, size or modification time differ (a whole-second time
    /// equal to either side's truncated time counts as equal, as tar round-trips drop
    /// nanoseconds). Access and change times, link counts and xattrs other than
    /// security.capability are not compared, so an item that was only copied up is no change.
    /// </summary>
    internal static bool DockerStatDifferent(in EntryStat below, in EntryStat now)
    {
        if (below.Mode != now.Mode || below.Uid != now.Uid || below.Gid != now.Gid
            || below.RdevMajor != now.RdevMajor || below.RdevMinor != now.RdevMinor)
        {
            return true;
        }
        if (now.IsDirectory)
        {
            return false;
        }
        return below.Size != now.Size || !SameTime(below.MtimeSec, below.MtimeNsec, now.MtimeSec, now.MtimeNsec);
    }

    /// <summary>Equal times, or equal seconds where either side has no nanoseconds.</summary>
    internal static bool SameTime(long secA, uint nsecA, long secB, uint nsecB)
        => secA == secB && (nsecA == nsecB || nsecA == 0 || nsecB == 0);

    /// <summary>
    /// Whether a non-directory of the upper layer over an entry of the lowers is listed:
    /// Podman lists every such entry (even one only copied up); Docker only one that differs.
    /// </summary>
    internal static bool ListsChangedEntry(ChangeStyle style, in EntryStat below, in EntryStat now, bool capabilityDiffers)
        => style == ChangeStyle.Podman || DockerStatDifferent(below, now) || capabilityDiffers;

    /// <summary>
    /// Podman lists a changed directory only when its own mode, size or modification time
    /// differ from the layer below. Opaque and renamed directories are always listed.
    /// </summary>
    internal static bool PodmanListsDirectory(string kind, bool opaque, bool renamed, in EntryStat now, in EntryStat below)
    {
        if (kind != OverlayChange.Changed || opaque || renamed)
        {
            return true;
        }
        return !(now.Mode == below.Mode && now.Size == below.Size && SameTime(now.MtimeSec, now.MtimeNsec, below.MtimeSec, below.MtimeNsec));
    }

    /// <summary>
    /// Whether a directory change is listed as soon as it is found. Otherwise it is listed only
    /// when a change below it is (see <see cref="ListsParentsOf"/>). Docker lists a directory
    /// whose own type, mode, owner or device differ; Podman one whose mode, size or time differ,
    /// or that is opaque or renamed. New directories are always listed.
    /// </summary>
    internal static bool ListsDirectoryNow(ChangeStyle style, string kind, bool opaque, bool renamed, in EntryStat now, in EntryStat below)
        => kind != OverlayChange.Changed
            || (style == ChangeStyle.Docker ? DockerStatDifferent(below, now) : PodmanListsDirectory(kind, opaque, renamed, now, below));

    /// <summary>
    /// Which changes make their unlisted parent directories listed: under Docker every change
    /// (a directory with a change inside is itself a change), under Podman additions and
    /// deletions only (as containers/storage does).
    /// </summary>
    internal static bool ListsParentsOf(ChangeStyle style, string kind)
        => style == ChangeStyle.Docker || kind is OverlayChange.Added or OverlayChange.Deleted;

    /// <summary>
    /// containers/storage reports a directory that was deleted and created again (an opaque
    /// directory over one the lowers have) as Deleted, then what is in it as Added or Changed,
    /// without listing what it hides; Docker lists it as Changed and each hidden entry as Deleted.
    /// </summary>
    internal static bool ListsOpaqueDirectoryAsDeleted(ChangeStyle style, bool opaque, bool existsBelow)
        => style == ChangeStyle.Podman && opaque && existsBelow;

    /// <summary>The paths a style leaves out (podman hides the files it writes into every container).</summary>
    internal static IReadOnlyCollection<string> DefaultHiddenPaths(ChangeStyle style)
        => style == ChangeStyle.Podman ? ChangeWalker.PodmanManagedPaths : Array.Empty<string>();

    /// <summary>
    /// Orders paths the way the walk emits them: component by component, names in ordinal
    /// order, so a directory comes right before everything inside it ("/a", "/a/b", "/a-b").
    /// </summary>
    internal static int ComparePaths(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x == y)
            {
                continue;
            }
            if (x == '/')
            {
                return -1;
            }
            if (y == '/')
            {
                return 1;
            }
            return x < y ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    /// <summary>A path inside a directory path, rooted at "/" ("" is the root).</summary>
    internal static string ChildPath(string dir, string name) => dir + "/" + name;

    /// <summary>The path a redirect names: absolute as it is, relative (a sibling name) next to the entry.</summary>
    internal static string? RenamedFrom(string parentPath, string? redirect)
        => redirect is null ? null : redirect.StartsWith('/') ? redirect : ChildPath(parentPath, redirect);
}
