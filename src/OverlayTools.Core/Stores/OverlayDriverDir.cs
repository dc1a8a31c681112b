using System;
using System.Collections.Generic;
using OverlayTools.Interop;

namespace OverlayTools.Stores;

/// <summary>
/// The driver dir that Docker's overlay2 and containers/storage's overlay driver share in layout:
/// &lt;home&gt;/&lt;dir&gt;/{diff, link, lower, work, merged} and &lt;home&gt;/l/&lt;LINK&gt; -&gt; ../&lt;dir&gt;/diff.
/// Checks one layer dir before its paths are used: the dir name is an id, diff is a real
/// directory, the link file names a short link that points back at this dir, and the lower file
/// lists exactly the parents' links.
/// </summary>
internal sealed class OverlayDriverDir : IDisposable
{
    private readonly StoreDir _home;
    private readonly Dictionary<string, LayerDir> _checked = new(StringComparer.Ordinal);
    private string? _realHome;

    internal OverlayDriverDir(StoreDir home)
    {
        _home = home;
    }

    /// <summary>The driver dir's path, as the engine uses it (&lt;root&gt;/overlay2, &lt;root&gt;/overlay).</summary>
    internal string HomePath => _home.Path;

    /// <summary>A checked layer dir: its short link and lower chain, and its content dir.</summary>
    internal sealed record LayerDir(string Name, string Link, string? Lower, string DiffPath, string WorkPath, string MergedPath)
    {
        /// <summary>The lower file a child of this layer must have.</summary>
        internal string ChildLower => Lower is null ? "l/" + Link : "l/" + Link + ":" + Lower;
    }

    /// <summary>True for a dir name this driver uses: a 64-hex id, optionally with Docker's -init suffix.</summary>
    internal static bool IsDirName(string name)
        => StoreFormat.IsHexId(name) || (name.Length == 69 && name.EndsWith("-init", StringComparison.Ordinal) && StoreFormat.IsHexId(name[..64]));

    /// <summary>
    /// Checks the layer dir <paramref name="name"/>; <paramref name="parent"/> is its checked parent
    /// (null for a base layer). Throws OverlayException when the dir is missing or damaged.
    /// </summary>
    internal LayerDir Check(string name, LayerDir? parent)
    {
        if (_checked.TryGetValue(name, out var known))
        {
            string? expected = parent?.ChildLower;
            if (!string.Equals(known.Lower, expected, StringComparison.Ordinal))
            {
                throw StoreFormat.ChainMismatch(known.DiffPath, $"its lower file lists '{known.Lower ?? "nothing"}' but its parents are '{expected ?? "none"}'");
            }
            return known;
        }
        if (!IsDirName(name))
        {
            throw StoreFormat.BadId(_home.Path, "layer dir name", name);
        }
        string dirPath = _home.Join(name);
        string diffPath = dirPath + "/diff";
        try
        {
            var dir = _home.Stat(name);
            if (dir is null)
            {
                if (_home.Stat(name + "-removing") is not null)
                {
                    throw new OverlayException(ErrorIds.LayerBeingRemoved, OverlayErrorCategory.ResourceUnavailable,
                        $"The layer dir '{dirPath}' is being removed (it was renamed to '{dirPath}-removing').", dirPath + "-removing",
                        "Wait for the removal to finish (or for the engine to clean it up at its next start), then list again.");
                }
                throw StoreFormat.ContentMissing(diffPath, $"the layer dir '{dirPath}' does not exist");
            }
            if (!dir.Value.IsDirectory)
            {
                throw dir.Value.IsSymlink
                    ? StoreFormat.OutsideStore(dirPath, "the layer dir is a symbolic link")
                    : StoreFormat.Invalid(dirPath, "the layer dir is not a directory");
            }
            var diff = _home.Stat(name + "/diff");
            if (diff is null)
            {
                throw StoreFormat.ContentMissing(diffPath, "the diff dir does not exist");
            }
            if (!diff.Value.IsDirectory)
            {
                throw diff.Value.IsSymlink
                    ? StoreFormat.OutsideStore(diffPath, "the diff dir is a symbolic link")
                    : StoreFormat.Invalid(diffPath, "the diff dir is not a directory");
            }

            string linkFile = dirPath + "/link";
            string? link = _home.ReadText(name + "/link", 256);
            if (link is null)
            {
                throw StoreFormat.ContentMissing(diffPath, $"its link file '{linkFile}' is missing, so the engine cannot stack it");
            }
            if (!StoreFormat.IsLinkId(link))
            {
                throw StoreFormat.BadId(linkFile, "short link name", link);
            }
            string? target = _home.ReadLink("l/" + link);
            if (target is null)
            {
                throw StoreFormat.ContentMissing(diffPath, $"its short link '{_home.Join("l/" + link)}' is missing");
            }
            string? pointsTo = DirFromLinkTarget(target);
            if (pointsTo is null)
            {
                throw StoreFormat.OutsideStore(_home.Join("l/" + link), $"the short link points to '{target}', not to a layer's diff dir in the store");
            }
            if (!string.Equals(pointsTo, name, StringComparison.Ordinal))
            {
                throw StoreFormat.ChainMismatch(diffPath, $"its short link l/{link} points to the layer dir '{pointsTo}'");
            }

            string? lower = _home.ReadText(name + "/lower", 64 * 1024);
            if (lower is not null && lower.Length == 0)
            {
                lower = null;
            }
            if (lower is not null)
            {
                foreach (var entry in lower.Split(':'))
                {
                    if (!entry.StartsWith("l/", StringComparison.Ordinal) || !StoreFormat.IsLinkId(entry[2..]))
                    {
                        throw entry.Contains('/', StringComparison.Ordinal) && !entry.StartsWith("l/", StringComparison.Ordinal) || entry.Contains("..", StringComparison.Ordinal)
                            ? StoreFormat.OutsideStore(dirPath + "/lower", $"its lower file lists '{entry}', which is not a short link of the store")
                            : StoreFormat.Invalid(dirPath + "/lower", $"it lists '{entry}', which is not a short link");
                    }
                }
            }
            string? expectedLower = parent?.ChildLower;
            if (!string.Equals(lower, expectedLower, StringComparison.Ordinal))
            {
                throw StoreFormat.ChainMismatch(diffPath, $"its lower file lists '{lower ?? "nothing"}' but its parents are '{expectedLower ?? "none"}'");
            }
            var result = new LayerDir(name, link, lower, diffPath, dirPath + "/work", dirPath + "/merged");
            _checked[name] = result;
            return result;
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw StoreFormat.FromIo(e, diffPath);
        }
    }

    /// <summary>
    /// Checks the work and merged dirs beside a container's upper before their paths are handed
    /// out: each may be missing (the engine makes merged/ when it mounts), but must not be a
    /// symbolic link or anything other than a directory.
    /// </summary>
    internal void CheckOwnDirs(LayerDir dir)
    {
        foreach (var (leaf, path) in new[] { ("work", dir.WorkPath), ("merged", dir.MergedPath) })
        {
            EntryStat? st;
            try
            {
                st = _home.Stat(dir.Name + "/" + leaf);
            }
            catch (Exception e) when (e is not OverlayException)
            {
                throw StoreFormat.FromIo(e, path);
            }
            if (st is { IsDirectory: false })
            {
                throw st.Value.IsSymlink
                    ? StoreFormat.OutsideStore(path, $"the {leaf} dir beside the container's upper is a symbolic link")
                    : StoreFormat.Invalid(path, $"the {leaf} dir beside the container's upper is not a directory");
            }
        }
    }

    /// <summary>The layer dir a short link points to (its target must be exactly ../&lt;dir&gt;/diff); null when it points elsewhere.</summary>
    internal static string? DirFromLinkTarget(string target)
    {
        if (!target.StartsWith("../", StringComparison.Ordinal) || !target.EndsWith("/diff", StringComparison.Ordinal) || target.Length < 3 + 5 + 64)
        {
            return null;
        }
        string name = target[3..^5];
        return IsDirName(name) ? name : null;
    }

    /// <summary>The layer dir a short link names; null when there is no such link. Throws when the link leads outside the store.</summary>
    internal string? ResolveLink(string link)
    {
        if (!StoreFormat.IsLinkId(link))
        {
            return null;
        }
        string? target;
        try
        {
            target = _home.ReadLink("l/" + link);
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _home.Join("l/" + link));
        }
        if (target is null)
        {
            return null;
        }
        return DirFromLinkTarget(target) ?? throw StoreFormat.OutsideStore(_home.Join("l/" + link), $"the short link points to '{target}', not to a layer's diff dir in the store");
    }

    /// <summary>
    /// The layer dir name a path of this driver names: "&lt;home&gt;/&lt;dir&gt;[/diff]",
    /// "&lt;home&gt;/l/&lt;LINK&gt;", or the same relative to home (as in mounts made with
    /// relative paths). Null when the path is not one of these.
    /// </summary>
    internal string? DirNameFromPath(string path)
    {
        string rel;
        string home = _home.Path;
        path = path.Length > 1 ? path.TrimEnd('/') : path;
        _realHome ??= _home.RealPath();
        if (path.StartsWith(home + "/", StringComparison.Ordinal))
        {
            rel = path[(home.Length + 1)..];
        }
        else if (path.StartsWith(_realHome + "/", StringComparison.Ordinal))
        {
            // The driver dir is a symlink (moved to another disk): its real path names the same layers.
            rel = path[(_realHome.Length + 1)..];
        }
        else if (!path.StartsWith('/'))
        {
            rel = path;
        }
        else
        {
            return null;
        }
        if (rel.StartsWith("l/", StringComparison.Ordinal))
        {
            return ResolveLink(rel[2..]);
        }
        if (rel.EndsWith("/diff", StringComparison.Ordinal))
        {
            rel = rel[..^5];
        }
        return IsDirName(rel) ? rel : null;
    }

    /// <summary>The diff path of a layer dir that exists as a plain directory (not checked against any stack); null when absent.</summary>
    internal string? PlainDiffPath(string name)
    {
        if (!IsDirName(name))
        {
            return null;
        }
        string diffPath = _home.Join(name + "/diff");
        try
        {
            var st = _home.Stat(name + "/diff");
            if (st is null)
            {
                return null;
            }
            if (!st.Value.IsDirectory)
            {
                throw st.Value.IsSymlink
                    ? StoreFormat.OutsideStore(diffPath, "the diff dir is a symbolic link")
                    : StoreFormat.Invalid(diffPath, "the diff dir is not a directory");
            }
            return diffPath;
        }
        catch (Exception e) when (e is not OverlayException)
        {
            throw StoreFormat.FromIo(e, diffPath);
        }
    }

    /// <summary>
    /// The size of a layer's diff dir, counted as docker ps --size counts a container's layer;
    /// null when a directory in it may not be read (a rootless container's files owned by a
    /// sub-uid): the size is only shown, and the layer stays listed.
    /// </summary>
    internal long? DiffSize(string name)
    {
        try
        {
            return _home.DiskUsage(name + "/diff");
        }
        catch (ErrnoException e) when (e.Errno is Errno.EACCES or Errno.EPERM)
        {
            return null;
        }
        catch (Exception e)
        {
            throw StoreFormat.FromIo(e, _home.Join(name + "/diff"));
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _home.Dispose();
}
