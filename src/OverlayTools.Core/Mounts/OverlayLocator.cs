using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>Where a path of a merged view lives: its overlay mount, and its path inside the overlay.</summary>
internal sealed class OverlayLocation : IDisposable
{
    internal OverlayLocation(OverlayMount mount, string mergedPath, string relativePath, Fd parent, string name, Fd? item, EntryStat? stat)
    {
        Mount = mount;
        MergedPath = mergedPath;
        RelativePath = relativePath;
        Parent = parent;
        Name = name;
        Item = item;
        Stat = stat;
    }

    /// <summary>The overlay, with its layers decoded.</summary>
    internal OverlayMount Mount { get; }

    /// <summary>The path in the merged view, parents resolved (symbolic links followed), the last component as given.</summary>
    internal string MergedPath { get; }

    /// <summary>The path inside the overlay, rooted at "/" (what a container sees).</summary>
    internal string RelativePath { get; }

    /// <summary>The merged view's directory holding the entry (O_PATH).</summary>
    internal Fd Parent { get; }

    /// <summary>The entry's name in <see cref="Parent"/>; "." for the overlay's root.</summary>
    internal string Name { get; }

    /// <summary>The entry itself (O_PATH, not following a symbolic link); null when it does not exist.</summary>
    internal Fd? Item { get; }

    /// <summary>lstat of the entry as the merged view shows it; null when it does not exist.</summary>
    internal EntryStat? Stat { get; }


    public void Dispose()
    {
        Item?.Dispose();
        Parent.Dispose();
    }
}

/// <summary>Finds the overlay mount and the layer-relative path of any path in a merged view.</summary>
internal static class OverlayLocator
{
    /// <summary>
    /// Locates <paramref name="path"/> (absolute). With <paramref name="mustExist"/> false, a
    /// missing entry (for instance a deleted file) is located through its nearest existing
    /// ancestor. <paramref name="mountTable"/> gives this process's whole mount table, kept by
    /// the caller and current: it is asked for only once the path's descriptor holds its mount,
    /// so the entry with that descriptor's mount id is that mount's (the kernel reuses the id of
    /// a mount that went at once, so a table read before the namespace last changed could name
    /// another mount by it). Called with true it reads the table again anyway, which happens only
    /// when the path is on overlayfs but the table has no overlay of that mount id. Throws
    /// OverlayException when the path is not on an overlay.
    /// </summary>
    internal static OverlayLocation Locate(string path, Func<bool, IReadOnlyList<MountInfoEntry>> mountTable, bool mustExist)
    {
        FileSystem.CheckNoNul(path);
        string trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        // 'dir/.' is 'dir': drop trailing "." components, so the entry is found by its own name in its parent.
        while (trimmed.EndsWith("/.", StringComparison.Ordinal))
        {
            trimmed = trimmed[..^2].TrimEnd('/');
        }
        if (trimmed.Length == 0)
        {
            trimmed = "/";
        }
        var missing = new List<string>();
        string dir = trimmed == "/" ? "/" : ParentOf(trimmed);
        string name = trimmed == "/" ? "." : trimmed[(trimmed.LastIndexOf('/') + 1)..];
        if (name is ".." )
        {
            throw new OverlayException(ErrorIds.OverlayPathNotFound, OverlayErrorCategory.InvalidArgument,
                $"'{path}' ends in '..'; give the directory itself.", path, "Give a path without '..' at the end.");
        }

        Fd? parent;
        while (true)
        {
            parent = FileSystem.TryOpen(dir, Native.O_PATH | Native.O_DIRECTORY, out int errno);
            if (parent is not null)
            {
                break;
            }
            if (mustExist || errno is not (Errno.ENOENT or Errno.ENOTDIR) || dir == "/")
            {
                throw NotFound(path, errno);
            }
            // Deleted in the merged view: locate the nearest ancestor that exists.
            missing.Insert(0, name);
            name = dir[(dir.LastIndexOf('/') + 1)..];
            dir = ParentOf(dir);
        }

        Fd? item = null;
        try
        {
            item = Posix.TryOpenAt(parent.Value, Native.Utf8Z(name), Native.O_PATH | Native.O_NOFOLLOW, out int errno);
            if (item is null && (mustExist || errno is not (Errno.ENOENT or Errno.ENOTDIR)))
            {
                throw NotFound(path, errno);
            }
            if (item is null)
            {
                missing.Insert(0, name);
            }

            EntryStat? stat = item is null || missing.Count > 0 ? null : Posix.StatFd(item, path);
            var anchor = item ?? parent;
            // When the entry exists it is the anchor, and already stat'ed.
            var anchorStat = stat ?? Posix.StatFd(anchor, path);
            var anchorFs = FileSystem.StatFs(anchor, path);
            bool onOverlayFs = anchorFs.Type == Native.OVERLAYFS_SUPER_MAGIC;
            // Asked for only now that anchor holds the mount (see above).
            var table = mountTable(false);
            var entry = FindMount(table, anchorStat.MountId);
            if (onOverlayFs && entry is not { FsType: "overlay" })
            {
                // On overlayfs, but not an overlay of the table: mounted since it was read? Read it once more.
                table = mountTable(true);
                entry = FindMount(table, anchorStat.MountId);
            }
            if (!onOverlayFs || entry is not { FsType: "overlay" })
            {
                // The path as given and as the kernel resolves it (symbolic links followed), for the error only.
                var anchorPath = FileSystem.TryReadLink(anchor.ProcPath, out _);
                var resolved = anchorPath is null || missing.Count == 0 ? anchorPath : (anchorPath == "/" ? "" : anchorPath) + "/" + string.Join('/', missing);
                throw NotOnOverlay(path, onOverlayFs, anchorStat.MountId, entry, table, trimmed, resolved);
            }

            // The path of the anchor inside the overlay: its real path below the mount point, under the mount's root.
            string real = FileSystem.RealPath(anchor);
            string mountPoint = entry.MountPoint;
            string below;
            if (real == mountPoint)
            {
                below = "";
            }
            else if (real.StartsWith(mountPoint == "/" ? "/" : mountPoint + "/", StringComparison.Ordinal))
            {
                below = real[(mountPoint == "/" ? 0 : mountPoint.Length)..].TrimStart('/');
            }
            else
            {
                throw new OverlayException(ErrorIds.OverlayLayersUnreachable, OverlayErrorCategory.InvalidOperation,
                    $"'{path}' resolves to '{real}', which is not below the overlay's mount point '{mountPoint}' as this process sees it.", path,
                    "Run the command in the mount namespace (and root) of the process that mounted the overlay.");
            }
            var parts = new List<string>();
            parts.AddRange(entry.Root.Split('/', StringSplitOptions.RemoveEmptyEntries));
            parts.AddRange(below.Split('/', StringSplitOptions.RemoveEmptyEntries));
            parts.AddRange(missing);
            string relative = "/" + string.Join('/', parts);
            string merged = missing.Count == 0 ? real : (real == "/" ? "" : real) + "/" + string.Join('/', missing);
            if (item is not null && missing.Count > 0)
            {
                item.Dispose();
                item = null;
            }
            if (missing.Count == 0 && parts.Count == 0 && name != ".")
            {
                // The overlay's root (its mount point): its parent is outside the overlay, so it is "." in itself.
                var root = Posix.TryOpenAt(item!.Value, Native.Utf8Z("."), Native.O_PATH | Native.O_NOFOLLOW, out int rootErrno) ?? throw NotFound(path, rootErrno);
                parent.Dispose();
                parent = item;
                item = root;
                name = ".";
            }
            var location = new OverlayLocation(OverlayMount.FromEntry(entry), merged, relative, parent, missing.Count > 0 ? missing[^1] : name, item, stat);
            parent = null;
            item = null;
            return location;
        }
        finally
        {
            item?.Dispose();
            parent?.Dispose();
        }
    }

    private static MountInfoEntry? FindMount(IReadOnlyList<MountInfoEntry> table, ulong mountId)
    {
        for (int i = table.Count - 1; i >= 0; i--)
        {
            if ((ulong)table[i].MountId == mountId)
            {
                return table[i];
            }
        }
        return null;
    }

    private static OverlayException NotOnOverlay(string path, bool onOverlayFs, ulong mountId, MountInfoEntry? entry,
        IReadOnlyList<MountInfoEntry> table, string asGiven, string? resolved)
    {
        if (onOverlayFs)
        {
            return new OverlayException(ErrorIds.PathNotOnOverlay, OverlayErrorCategory.InvalidArgument,
                $"'{path}' is on an overlay file system that this process's mount table does not list (mount id {mountId}): it belongs to another mount namespace, lies outside this process's root, or was detached.", path,
                "Run the command in the mount namespace of the process that mounted the overlay, and give the path there.");
        }
        if (FindInLayer(table, asGiven, resolved) is { } inLayer)
        {
            var (mount, role, layer, merged, others) = inLayer;
            string what = role switch { "Upper" => "upper layer", "Lower" => "lower layer", _ => "data-only layer" };
            string also = others == 0 ? "" : $" (also a layer of {others} other overlay{(others == 1 ? "" : "s")})";
            return new OverlayException(ErrorIds.PathNotOnOverlay, OverlayErrorCategory.InvalidArgument,
                $"'{path}' is not on an overlay: it is inside the {what} '{layer}' of the overlay at '{mount.Target}'{also}"
                + (merged is null ? ", which shows its files only as the data of metadata-only copies." : $"; its merged path is '{merged}'."), path,
                merged is null
                    ? "Give a path inside the merged directory of a mounted overlay (Get-OverlayMount lists them)."
                    : $"Give the merged path '{merged}' (Resolve-OverlayPath -All on it tells whether this layer's entry is the one seen there).");
        }
        return new OverlayException(ErrorIds.PathNotOnOverlay, OverlayErrorCategory.InvalidArgument,
            $"'{path}' is not on an overlay: it is on {(entry is null ? "another file system" : $"the {entry.FsType} mount at '{entry.MountPoint}'")}.", path,
            "Give a path inside the merged directory of a mounted overlay (Get-OverlayMount lists them).");
    }

    /// <summary>
    /// The layer of an overlay in <paramref name="table"/> that holds a path (as given, or as resolved),
    /// the deepest layer directory first; with the path's merged path when the layer's entries show
    /// there (not for data-only layers, nor below a mount of a subtree that leaves it out), and how
    /// many other overlays share that layer.
    /// </summary>
    private static (OverlayMount Mount, string Role, string Layer, string? Merged, int Others)? FindInLayer(
        IReadOnlyList<MountInfoEntry> table, string asGiven, string? resolved)
    {
        (MountInfoEntry Entry, OverlayMount Mount, string Role, string Layer, string Below)? best = null;
        int users = 0;
        foreach (var e in table)
        {
            if (e.FsType != "overlay")
            {
                continue;
            }
            var mount = OverlayMount.FromEntry(e);
            var layers = mount.Lower.Select(l => (Role: "Lower", Layer: l)).Concat(mount.DataLower.Select(l => (Role: "Data", Layer: l)));
            if (mount.Upper is not null)
            {
                layers = layers.Prepend(("Upper", mount.Upper));
            }
            foreach (var (role, layer) in layers)
            {
                if (!layer.StartsWith('/') || (Below(asGiven, layer) ?? (resolved is null ? null : Below(resolved, layer))) is not { } below)
                {
                    continue;
                }
                if (best is { } b && b.Layer == layer)
                {
                    users++;
                    best = (e, mount, role, layer, below);
                }
                else if (best is null || layer.Length > best.Value.Layer.Length)
                {
                    users = 1;
                    best = (e, mount, role, layer, below);
                }
                break;
            }
        }
        if (best is not { } found)
        {
            return null;
        }
        string? merged = null;
        if (found.Role != "Data")
        {
            // The mount shows its overlay's subtree at Root; what lies outside it has no merged path here.
            string inOverlay = "/" + found.Below;
            string root = found.Entry.Root.TrimEnd('/');
            string? inView = root.Length == 0 ? inOverlay
                : inOverlay == root ? "/"
                : inOverlay.StartsWith(root + "/", StringComparison.Ordinal) ? inOverlay[root.Length..]
                : null;
            if (inView is not null)
            {
                merged = inView == "/" ? found.Mount.Target : (found.Mount.Target == "/" ? "" : found.Mount.Target) + inView;
            }
        }
        return (found.Mount, found.Role, found.Layer, merged, users - 1);
    }

    /// <summary>The part of <paramref name="path"/> below the directory <paramref name="dir"/> ("" for the directory itself); null when not below it.</summary>
    private static string? Below(string path, string dir)
    {
        dir = dir.TrimEnd('/');
        if (path == dir || (dir.Length == 0 && path == "/"))
        {
            return "";
        }
        return path.StartsWith(dir + "/", StringComparison.Ordinal) ? path[(dir.Length + 1)..] : null;
    }

    private static string ParentOf(string p)
    {
        int slash = p.LastIndexOf('/');
        return slash <= 0 ? "/" : p[..slash];
    }

    private static OverlayException NotFound(string path, int errno)
        => errno == Errno.ENAMETOOLONG ? PathTooLong(path) : new(ErrorIds.OverlayPathNotFound, errno is Errno.ENOENT or Errno.ENOTDIR ? OverlayErrorCategory.ObjectNotFound : OverlayException.CategoryFor(errno),
            $"Cannot find '{path}': {Errno.Describe(errno)} ({Errno.Name(errno)}).", path, "Check the path.",
            new ErrnoException("open", errno, path));

    /// <summary>The kernel's limit on a whole path (PATH_MAX), terminating NUL included.</summary>
    internal const int PathMax = 4096;

    /// <summary>The kernel's limit on one name (NAME_MAX).</summary>
    internal const int NameMax = 255;

    /// <summary>
    /// ENAMETOOLONG for a path: the path itself is too long for the kernel, or one of its names is;
    /// the message says which (a long path is shown by its start and end).
    /// </summary>
    internal static OverlayException PathTooLong(string path)
    {
        int bytes = Encoding.UTF8.GetByteCount(path);
        string? longName = path.Split('/').FirstOrDefault(n => Encoding.UTF8.GetByteCount(n) > NameMax);
        string why = longName is not null
            ? $"its name '{Abbreviate(longName)}' is {Encoding.UTF8.GetByteCount(longName):N0} bytes long, and the kernel takes names of at most {NameMax} bytes"
            : $"it is {bytes:N0} bytes long, and the kernel takes paths of at most {PathMax - 1:N0} bytes (PATH_MAX)";
        return new OverlayException(ErrorIds.PathTooLong, OverlayErrorCategory.InvalidArgument,
            $"The path '{Abbreviate(path)}' is too long to look up: {why} (ENAMETOOLONG).", path,
            longName is not null
                ? "Check the path: Linux file systems take names of at most 255 bytes."
                : "Give a shorter path to a directory above it, or bind-mount a deep directory of the merged view (mount --bind) and give the path through that mount; Get-OverlayChange lists the changes of a tree at any depth.",
            new ErrnoException("open", Errno.ENAMETOOLONG, path));
    }

    /// <summary>Text of at most about 120 characters for a message: the start and the end, "…" between.</summary>
    internal static string Abbreviate(string text)
    {
        if (text.Length <= 120)
        {
            return text;
        }
        // Never cut a surrogate pair in two.
        int head = char.IsHighSurrogate(text[59]) ? 59 : 60;
        int tail = char.IsLowSurrogate(text[^59]) ? 58 : 59;
        return text[..head] + "…" + text[^tail..];
    }

    /// <summary>The layer paths of a mount must be absolute to be read from here (moby's long-option mounts use relative ones).</summary>
    internal static void CheckLayersReachable(OverlayMount mount, string path)
    {
        foreach (var layer in mount.Lower.Concat(mount.DataLower).Concat(mount.Upper is null ? [] : [mount.Upper]))
        {
            if (!layer.StartsWith('/'))
            {
                throw new OverlayException(ErrorIds.OverlayLayersUnreachable, OverlayErrorCategory.InvalidOperation,
                    $"The overlay at '{mount.Target}' names its layer '{layer}' by a relative path (the mounter changed directory first), so its layers cannot be found from here.", path,
                    "Remount it with absolute layer paths, or compare its layers with Get-OverlayChange -Upper/-Lower and their absolute paths.");
            }
            if (layer.StartsWith("/proc/", StringComparison.Ordinal))
            {
                // A descriptor of the process that mounted it (mount(2) with /proc/self/fd/N layers), not one of ours.
                throw new OverlayException(ErrorIds.OverlayLayersUnreachable, OverlayErrorCategory.InvalidOperation,
                    $"The overlay at '{mount.Target}' names its layer '{layer}' by a descriptor of the process that mounted it, so its layers cannot be found from here.", path,
                    "Remount it with real layer paths (Mount-Overlay passes descriptors without this problem), or compare its layers with Get-OverlayChange -Upper/-Lower and their real paths.");
            }
        }
    }

    /// <summary>True when metacopy is on for this mount (the option, or the module's default unless switched off).</summary>
    internal static bool MetacopyEnabled(OverlayMount mount) => FeatureEnabled(mount, "metacopy");

    /// <summary>
    /// True when the overlay keeps an index of copied-up lower inodes (index=on), which is what
    /// keeps the hard links of a lower file together across copy-up.
    /// </summary>
    internal static bool IndexEnabled(OverlayMount mount) => FeatureEnabled(mount, "index");

    /// <summary>An on/off overlay feature of a mount: as its options say, else the overlay kernel module's default (/sys/module/overlay/parameters).</summary>
    private static bool FeatureEnabled(OverlayMount mount, string name)
        => mount.Options.Contains(name + "=on") || (!mount.Options.Contains(name + "=off") && ModuleDefault(name));

    /// <summary>True when the overlay uses user.overlay.* xattrs.</summary>
    internal static bool UsesUserXattr(OverlayMount mount) => mount.Options.Contains("userxattr");

    internal static bool ModuleDefault(string parameter)
    {
        var text = ProcFs.TryReadText("/sys/module/overlay/parameters/" + parameter)?.Trim();
        return text is "Y" or "y" or "1" or "on";
    }
}
