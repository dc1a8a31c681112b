using System;
using System.Collections.Generic;

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
    /// Podman lists a changed directory only when its own mode, size or modification time
    /// differ from the layer below (a whole-second time equal to either side's truncated time
    /// also counts as equal, as tar round-trips drop nanoseconds). Opaque and renamed
    /// directories are always listed.
    /// </summary>
    internal static bool PodmanListsDirectory(string kind, bool opaque, bool renamed,
        uint mode, long size, long mtimeSec, uint mtimeNsec,
        uint belowMode, long belowSize, long belowMtimeSec, uint belowMtimeNsec)
    {
        if (kind != OverlayChange.Changed || opaque || renamed)
        {
            return true;
        }
        bool sameTime = mtimeSec == belowMtimeSec && (mtimeNsec == belowMtimeNsec || mtimeNsec == 0 || belowMtimeNsec == 0);
        return !(mode == belowMode && size == belowSize && sameTime);
    }

    /// <summary>True when a style lists the directory change (Docker: always).</summary>
    internal static bool ListsDirectory(ChangeStyle style, string kind, bool opaque, bool renamed,
        uint mode, long size, long mtimeSec, uint mtimeNsec,
        uint belowMode, long belowSize, long belowMtimeSec, uint belowMtimeNsec)
        => style == ChangeStyle.Docker
            || PodmanListsDirectory(kind, opaque, renamed, mode, size, mtimeSec, mtimeNsec, belowMode, belowSize, belowMtimeSec, belowMtimeNsec);

    /// <summary>Under Podman semantics an addition or deletion also lists its unlisted parent directories.</summary>
    internal static bool ListsParentsOf(ChangeStyle style, string kind)
        => style == ChangeStyle.Podman && kind is OverlayChange.Added or OverlayChange.Deleted;

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
