using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using OverlayTools.Interop;
using OverlayTools.Mounts;

namespace OverlayTools.Layers;

/// <summary>What a layer is to its overlay.</summary>
internal enum LayerRole
{
    /// <summary>The writable layer.</summary>
    Upper,
    /// <summary>A read-only layer whose entries are visible.</summary>
    Lower,
    /// <summary>A data-only layer: reachable only as the data of metadata-only copies.</summary>
    Data,
}

/// <summary>One layer directory, opened once.</summary>
internal sealed class Layer : IDisposable
{
    internal Layer(string path, LayerRole role, int position, Fd root)
    {
        Path = path;
        Role = role;
        Position = position;
        Root = root;
    }

    /// <summary>The layer directory as given (absolute).</summary>
    internal string Path { get; }

    internal LayerRole Role { get; }

    /// <summary>0 for the upper, then 1, 2... for the lowers top first, then the data layers.</summary>
    internal int Position { get; }

    internal Fd Root { get; }

    /// <summary>The real path of an entry in this layer ("" is the layer itself).</summary>
    internal string Join(string pathInLayer) => pathInLayer.Length == 0 ? Path : Path.TrimEnd('/') + "/" + pathInLayer;

    public void Dispose() => Root.Dispose();
}

/// <summary>
/// An entry of a layer reached from the layer's root by its layer-relative path, for calls on the
/// entry relative to its directory: the parent opened beneath the root one component at a time
/// (Posix.TryOpenBeneath: no symbolic link followed, no "." or ".."), or the root itself for a
/// top-level entry, and the entry's own name, never followed. The one place the Core goes from a
/// layer-relative path to an entry; where the parent is already open, use it instead.
/// </summary>
internal readonly struct LayerEntry : IDisposable
{
    private readonly Fd? _opened;

    private LayerEntry(Fd dir, Fd? opened, byte[] nameZ)
    {
        Dir = dir;
        _opened = opened;
        NameZ = nameZ;
    }

    /// <summary>An entry of a directory already open (which stays the caller's).</summary>
    internal static LayerEntry In(Fd dir, byte[] nameZ) => new(dir, null, nameZ);

    /// <summary>The entry's directory: the layer's root or a directory opened beneath it (O_RDONLY).</summary>
    internal Fd Dir { get; }

    /// <summary>The entry's name, NUL-terminated ("." for the layer's root itself).</summary>
    internal byte[] NameZ { get; }

    /// <summary>
    /// Opens the directory of <paramref name="pathInLayer"/> ("" is the layer's root); false when a
    /// parent is missing, not a directory or a symbolic link, or a component is "." or "..".
    /// </summary>
    internal static bool TryOpen(Layer layer, string pathInLayer, out LayerEntry entry)
    {
        entry = default;
        var parts = pathInLayer.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            entry = new LayerEntry(layer.Root, null, Native.Utf8Z("."));
            return true;
        }
        string leaf = parts[^1];
        if (leaf is "." or "..")
        {
            return false;
        }
        Fd? dir = null;
        if (parts.Length > 1)
        {
            dir = Posix.TryOpenBeneath(layer.Root.Value, string.Join('/', parts, 0, parts.Length - 1), Native.O_RDONLY | Native.O_DIRECTORY, out _);
            if (dir is null)
            {
                return false;
            }
        }
        entry = new LayerEntry(dir ?? layer.Root, dir, Native.Utf8Z(leaf));
        return true;
    }

    /// <summary>lstat of the entry; false when it is not there.</summary>
    internal bool TryStat(out EntryStat st) => Posix.TryStatAt(Dir.Value, NameZ, out st, out _);

    /// <summary>An xattr of the entry itself (a link is not followed); null when not set.</summary>
    internal byte[]? GetXattr(string name) => Posix.GetXattrAt(Dir.Value, NameZ, name);

    public void Dispose() => _opened?.Dispose();
}

/// <summary>The names of the overlay xattrs under one prefix ("trusted.overlay." or, with userxattr, "user.overlay.").</summary>
internal sealed class OverlayXattrs
{
    internal OverlayXattrs(bool user)
    {
        Prefix = user ? "user.overlay." : "trusted.overlay.";
        Opaque = Prefix + "opaque";
        Redirect = Prefix + "redirect";
        Metacopy = Prefix + "metacopy";
        Whiteout = Prefix + "whiteout";
        MetacopyZ = Native.Utf8Z(Metacopy);
        WhiteoutZ = Native.Utf8Z(Whiteout);
    }

    internal string Prefix { get; }
    internal string Opaque { get; }
    internal string Redirect { get; }
    internal string Metacopy { get; }
    internal string Whiteout { get; }
    internal byte[] MetacopyZ { get; }
    internal byte[] WhiteoutZ { get; }
}

/// <summary>
/// The layers of one overlay (an upper, lowers top first, data-only layers), each opened once
/// as a directory. Lookups follow the kernel's rules (fs/overlayfs/namei.c): the top-most
/// entry wins; a whiteout (char device 0/0, or an empty file marked "whiteout" in a directory
/// marked opaque="x") ends the search; directories merge until one is opaque="y" or a
/// non-directory lies below; a redirect xattr on a directory moves the search in the layers
/// below to another path (absolute, or a sibling name when relative).
/// </summary>
internal sealed class LayerSet : IDisposable
{
    private readonly List<Layer> _all;

    // Each layer root's opaque="x" mark (by Position), read on first use and kept for the set's
    // life: see RootDir.
    private readonly bool?[] _rootXWhiteouts;

    private LayerSet(Layer? upper, List<Layer> lowers, List<Layer> data, OverlayXattrs xattrs)
    {
        Upper = upper;
        Lowers = lowers;
        Data = data;
        Xattrs = xattrs;
        _all = new List<Layer>();
        if (upper is not null)
        {
            _all.Add(upper);
        }
        _all.AddRange(lowers);
        _all.AddRange(data);
        _rootXWhiteouts = new bool?[lowers.Count + data.Count + 1];
    }

    internal Layer? Upper { get; }
    internal IReadOnlyList<Layer> Lowers { get; }
    internal IReadOnlyList<Layer> Data { get; }
    internal OverlayXattrs Xattrs { get; }

    /// <summary>Opens the layers; throws an OverlayException naming the first one that cannot be used.</summary>
    internal static LayerSet Open(string? upper, IReadOnlyList<string> lowers, IReadOnlyList<string>? data, bool userXattr)
        => Open(upper, lowers, data, userXattr, mounted: null, errorTarget: null);

    /// <summary>
    /// Opens the layers of a mounted overlay as its mount table entry names them (the data-only
    /// layers too with <paramref name="dataLayers"/>), after checking that they can be found from
    /// here (OverlayLocator.CheckLayersReachable). The user never gave these paths, so a layer
    /// that is not there is OverlayLayersUnreachable naming the overlay, with
    /// <paramref name="path"/> (what the user gave) as the error's target.
    /// </summary>
    internal static LayerSet OpenMounted(OverlayMount mount, string path, bool dataLayers = true)
    {
        OverlayLocator.CheckLayersReachable(mount, path);
        return Open(mount.Upper, mount.Lower, dataLayers ? mount.DataLower : null, OverlayLocator.UsesUserXattr(mount), mount, path);
    }

    private static LayerSet Open(string? upper, IReadOnlyList<string> lowers, IReadOnlyList<string>? data, bool userXattr, OverlayMount? mounted, string? errorTarget)
    {
        Layer? up = null;
        var low = new List<Layer>();
        var dat = new List<Layer>();
        try
        {
            if (upper is not null)
            {
                up = OpenLayer(upper, LayerRole.Upper, 0, mounted, errorTarget);
            }
            foreach (var l in lowers)
            {
                low.Add(OpenLayer(l, LayerRole.Lower, low.Count + 1, mounted, errorTarget));
            }
            foreach (var d in data ?? [])
            {
                dat.Add(OpenLayer(d, LayerRole.Data, low.Count + dat.Count + 1, mounted, errorTarget));
            }
            return new LayerSet(up, low, dat, new OverlayXattrs(userXattr));
        }
        catch
        {
            up?.Dispose();
            foreach (var l in low.Concat(dat))
            {
                l.Dispose();
            }
            throw;
        }
    }

    private static Layer OpenLayer(string path, LayerRole role, int position, OverlayMount? mounted, string? errorTarget)
    {
        FileSystem.CheckNoNul(path);
        // O_NOATIME where allowed: listing a layer leaves its access time alone.
        var fd = FileSystem.TryOpen(path, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOATIME, out int errno);
        if (fd is null && errno == Errno.EPERM)
        {
            fd = FileSystem.TryOpen(path, Native.O_RDONLY | Native.O_DIRECTORY, out errno);
        }
        if (fd is null)
        {
            bool isUpper = role == LayerRole.Upper;
            string what = isUpper ? "upper layer" : role == LayerRole.Data ? "data layer" : "lower layer";
            if (mounted is not null && errno == Errno.ENOENT)
            {
                throw new OverlayException(ErrorIds.OverlayLayersUnreachable, OverlayErrorCategory.ObjectNotFound,
                    $"The overlay at '{mounted.Target}' was mounted with the {what} '{path}', which this process cannot see ({Errno.Name(errno)}): it was moved or deleted after mounting, or it is in another mount namespace.",
                    errorTarget ?? path,
                    "Run the command in the mount namespace of the process that mounted the overlay; a layer moved since must be moved back, or the overlay mounted again.",
                    new ErrnoException("open", errno, path));
            }
            string id = errno switch
            {
                Errno.ENOENT => isUpper ? ErrorIds.UpperNotFound : ErrorIds.LayerNotFound,
                Errno.ENOTDIR => isUpper ? ErrorIds.UpperNotDirectory : ErrorIds.LayerNotDirectory,
                _ => ErrorIds.LayerNotAccessible,
            };
            throw new OverlayException(id, OverlayException.CategoryFor(errno),
                $"The {what} '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path,
                errno == Errno.ENOENT ? "Check the path; layers are read directly from disk." : "Check the path and your permissions (reading overlay metadata needs root).",
                new ErrnoException("open", errno, path));
        }
        return new Layer(path, role, position, fd);
    }

    /// <summary>The root directory as the merged view sees it (upper and lowers) or as the lowers alone show it.</summary>
    internal DirFrame RootFrame(bool includeUpper)
    {
        var dirs = new List<FrameDir>();
        if (includeUpper && Upper is not null)
        {
            dirs.Add(RootDir(Upper));
        }
        foreach (var l in Lowers)
        {
            dirs.Add(RootDir(l));
        }
        return new DirFrame(dirs);
    }

    /// <summary>
    /// A layer's root directory as a frame directory (its descriptor stays the layer's). Whether
    /// the root is marked opaque="x" (it may hold xattr whiteouts) is read once per LayerSet, not
    /// once per lookup: a pipeline of paths on one overlay (LayerSetCache) starts every lookup
    /// here, one getxattr per layer. Nothing this module does changes a layer root's mark (a
    /// copy-up never writes the root's xattrs), and the kernel itself reads the lower roots'
    /// marks once, when the overlay is mounted, so a mark changed afterwards by someone else
    /// would not change the merged view either.
    /// </summary>
    internal FrameDir RootDir(Layer layer)
    {
        bool xwhiteouts = _rootXWhiteouts[layer.Position] ??= IsX(Posix.GetXattr(layer.Root, Xattrs.Opaque));
        return new FrameDir(layer, layer.Root, ownsFd: false, "", xwhiteouts, opaque: false, redirect: null);
    }

    /// <summary>The lower layers after <paramref name="layer"/> in search order (the next step of an absolute redirect).</summary>
    internal IEnumerable<Layer> LowersAfter(Layer? layer, bool includeData)
    {
        foreach (var l in _all)
        {
            if (l.Role == LayerRole.Upper || (!includeData && l.Role == LayerRole.Data))
            {
                continue;
            }
            if (layer is null || l.Position > layer.Position)
            {
                yield return l;
            }
        }
    }

    internal static bool IsY(byte[]? v) => v is { Length: 1 } && v[0] == (byte)'y';

    internal static bool IsX(byte[]? v) => v is { Length: 1 } && v[0] == (byte)'x';

    /// <summary>Opens a directory entry and reads its opaque and redirect xattrs.</summary>
    internal FrameDir? OpenDir(Layer layer, int parentFd, byte[] nameZ, string pathInLayer)
    {
        var fd = Posix.TryOpenDirAt(parentFd, nameZ, out int errno);
        if (fd is null)
        {
            if (errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP)
            {
                return null; // replaced meanwhile
            }
            throw new ErrnoException("open", errno, layer.Join(pathInLayer));
        }
        var opaque = Posix.GetXattr(fd, Xattrs.Opaque);
        var redirect = Posix.GetXattr(fd, Xattrs.Redirect);
        return new FrameDir(layer, fd, ownsFd: true, pathInLayer, IsX(opaque), IsY(opaque), DecodeRedirect(redirect));
    }

    internal static string? DecodeRedirect(byte[]? value)
    {
        if (value is null || value.Length == 0)
        {
            return null;
        }
        var s = Native.DecodeName(value);
        // A relative redirect is one name; anything else with a '/' but not absolute is malformed.
        if (!s.StartsWith('/') && s.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }
        if (s.Contains('\0', StringComparison.Ordinal) || s.Split('/').Any(p => p is "." or ".."))
        {
            return null;
        }
        return s;
    }

    /// <summary>
    /// True when an entry found in a directory is a whiteout: a 0/0 device, or an empty file
    /// marked "whiteout" where <paramref name="dirHasXWhiteouts"/> allows those (a lookup always
    /// does; a listing only in a directory marked opaque="x").
    /// </summary>
    internal bool IsWhiteout(int dirFd, byte[] nameZ, in EntryStat st, bool dirHasXWhiteouts)
        => st.IsWhiteoutDevice
            || (dirHasXWhiteouts && st.IsRegular && st.Size == 0 && Posix.HasXattrAt(dirFd, nameZ, Xattrs.WhiteoutZ));

    /// <summary>
    /// Looks one name up in a directory frame the way the kernel does, returning the top-most
    /// entry, the directories that merge below it (when it is a directory and
    /// <paramref name="openDirs"/>), and what hides the layers that drop out.
    /// </summary>
    /// <remarks>
    /// With <paramref name="absolutePath"/> the search starts as if a redirect to that path had
    /// been found in <paramref name="after"/>: in every lower layer below it, at that path.
    /// </remarks>
    internal LookupResult Lookup(DirFrame parent, string name, byte[] nameZ, bool openDirs, bool trackDrops = false, string? absolutePath = null, Layer? after = null)
    {
        var result = new LookupResult();
        List<FrameDir>? dirs = null;
        string lookName = name;
        byte[] lookNameZ = nameZ;
        string? absRedirect = absolutePath;
        IEnumerator<Layer>? redirectLayers = null;
        int next = 0;
        Layer? lastLayer = after;
        try
        {
            while (true)
            {
                Layer layer;
                string pathInLayer;
                FrameDir? frameDir = null;
                LayerEntry? redirected = null;
                int dirFd;
                byte[] entryZ;
                if (absRedirect is null)
                {
                    if (next >= parent.Dirs.Count)
                    {
                        break;
                    }
                    var pd = parent.Dirs[next++];
                    frameDir = pd;
                    layer = pd.Layer;
                    dirFd = pd.Fd.Value;
                    entryZ = lookNameZ;
                    pathInLayer = JoinPath(pd.PathInLayer, lookName);
                }
                else
                {
                    redirectLayers ??= LowersAfter(lastLayer, includeData: false).GetEnumerator();
                    if (!redirectLayers.MoveNext())
                    {
                        break;
                    }
                    layer = redirectLayers.Current;
                    pathInLayer = absRedirect.TrimStart('/');
                    // "/" names no entry (the root is no entry of a directory).
                    if (pathInLayer.Length == 0 || !LayerEntry.TryOpen(layer, pathInLayer, out var entry))
                    {
                        lastLayer = layer;
                        continue;
                    }
                    redirected = entry;
                    dirFd = entry.Dir.Value;
                    entryZ = entry.NameZ;
                }
                lastLayer = layer;
                try
                {
                    if (!Posix.TryStatAt(dirFd, entryZ, out var st, out int errno))
                    {
                        if (errno is Errno.ENOENT or Errno.ENOTDIR)
                        {
                            continue;
                        }
                        throw new ErrnoException("statx", errno, layer.Join(pathInLayer));
                    }
                    // The kernel's lookup takes an empty file marked "whiteout" for a whiteout in
                    // any directory of any layer, marked opaque="x" or not (seen on 6.18: the
                    // path is gone, though a listing of an unmarked directory still shows the
                    // name); only its readdir asks for the directory's mark.
                    if (IsWhiteout(dirFd, entryZ, st, dirHasXWhiteouts: true))
                    {
                        if (!result.Exists)
                        {
                            result.WhiteoutLayer = layer;
                            result.WhiteoutPath = pathInLayer;
                        }
                        result.StopReason = HiddenReason.WhitedOut;
                        result.StoppedBy = layer;
                        break;
                    }
                    if (!result.Exists)
                    {
                        result.Exists = true;
                        result.Layer = layer;
                        result.PathInLayer = pathInLayer;
                        result.FoundIn = frameDir;
                        result.EntryZ = entryZ;
                        result.Stat = st;
                        if (!st.IsDirectory)
                        {
                            result.StopReason = HiddenReason.Shadowed;
                            result.StoppedBy = layer;
                            if (st.IsRegular && st.Size > 0 && Posix.HasXattrAt(dirFd, entryZ, Xattrs.MetacopyZ))
                            {
                                // Where its data lives (FindMetacopyData) is wanted whenever it is a metacopy, not only with trackDrops.
                                result.Metacopy = true;
                                result.MetacopyRedirect = DecodeRedirect(Posix.GetXattrAt(dirFd, entryZ, Xattrs.Redirect));
                                result.DataSearch = (parent, next);
                            }
                            break;
                        }
                    }
                    else if (!st.IsDirectory)
                    {
                        // A non-directory below a directory is hidden and ends the merge.
                        if (trackDrops)
                        {
                            (result.Drops ??= []).Add(new Drop(layer, pathInLayer, HiddenReason.Shadowed, result.Layer!));
                        }
                        result.StopReason = HiddenReason.Shadowed;
                        result.StoppedBy = result.Layer;
                        break;
                    }
                    if (!openDirs)
                    {
                        // Enough to know the entry is a directory; do not merge further.
                        result.StopReason = HiddenReason.None;
                        next = int.MaxValue;
                        absRedirect = null;
                        break;
                    }
                    var fd = OpenDir(layer, dirFd, entryZ, pathInLayer);
                    if (fd is null)
                    {
                        continue;
                    }
                    (dirs ??= []).Add(fd);
                    if (fd.Opaque)
                    {
                        result.StopReason = HiddenReason.Opaque;
                        result.StoppedBy = layer;
                        break;
                    }
                    if (fd.Redirect is { } r)
                    {
                        if (trackDrops && absRedirect is null)
                        {
                            // A directory renamed into this place: the layers below are looked
                            // up at its old path, so their entries at this name are covered by it.
                            for (int i = next; i < parent.Dirs.Count; i++)
                            {
                                var pd = parent.Dirs[i];
                                string here = JoinPath(pd.PathInLayer, lookName);
                                if (r.StartsWith('/') ? r.AsSpan(1).SequenceEqual(here) : r == lookName)
                                {
                                    continue;
                                }
                                (result.Drops ??= []).Add(new Drop(pd.Layer, here, HiddenReason.Shadowed, layer));
                            }
                        }
                        if (r.StartsWith('/'))
                        {
                            absRedirect = r;
                            redirectLayers?.Dispose();
                            redirectLayers = null;
                        }
                        else if (absRedirect is null)
                        {
                            lookName = r;
                            lookNameZ = Native.Utf8Z(r);
                        }
                    }
                }
                finally
                {
                    redirected?.Dispose();
                }
            }

            if (trackDrops && result.StopReason != HiddenReason.None && result.StoppedBy is not null)
            {
                // Every layer the search did not reach is hidden by what stopped it.
                if (absRedirect is null)
                {
                    for (int i = next; i < parent.Dirs.Count; i++)
                    {
                        var pd = parent.Dirs[i];
                        (result.Drops ??= []).Add(new Drop(pd.Layer, JoinPath(pd.PathInLayer, lookName), result.StopReason, result.StoppedBy));
                    }
                }
                else
                {
                    redirectLayers ??= LowersAfter(lastLayer, includeData: false).GetEnumerator();
                    while (redirectLayers.MoveNext())
                    {
                        (result.Drops ??= []).Add(new Drop(redirectLayers.Current, absRedirect.TrimStart('/'), result.StopReason, result.StoppedBy));
                    }
                }
            }
            if (dirs is not null)
            {
                result.Frame = new DirFrame(dirs);
                dirs = null;
            }
            return result;
        }
        finally
        {
            redirectLayers?.Dispose();
            if (dirs is not null)
            {
                foreach (var d in dirs)
                {
                    d.Dispose();
                }
            }
        }
    }

    /// <summary>
    /// Where the bytes of a metadata-only copy come from, searched as the kernel's lookup goes on
    /// below a metacopy: the next regular file at the same name in the frame's lower directories,
    /// or at its absolute redirect in the lower layers below it. A file found on the way that is
    /// itself a metadata-only copy moves the search on with its own redirect (a sibling name, or
    /// an absolute path from the layers below it): so a copy in the upper of a lower metacopy
    /// reaches that metacopy's data. Data-only layers are reached only by an absolute redirect.
    /// </summary>
    internal (Layer Layer, string PathInLayer)? FindMetacopyData(LookupResult meta, string name)
    {
        if (!meta.Metacopy || meta.Layer is null)
        {
            return null;
        }
        var (frame, next) = meta.DataSearch;
        // Below a relative redirect (or none) the data is at one name in the frame's directories,
        // which are open; below an absolute one it is looked for from each layer's root.
        string dataName = name;
        string? absolute = null;
        bool lastAbsolute = false;
        IEnumerator<Layer>? below = null;
        Layer after = meta.Layer;
        Redirect(meta.MetacopyRedirect);
        try
        {
            while (true)
            {
                Layer layer;
                string path;
                LayerEntry entry;
                if (absolute is null)
                {
                    if (frame is null || next >= frame.Dirs.Count)
                    {
                        return null;
                    }
                    var d = frame.Dirs[next++];
                    layer = d.Layer;
                    path = JoinPath(d.PathInLayer, dataName);
                    entry = LayerEntry.In(d.Fd, Native.Utf8Z(dataName));
                }
                else
                {
                    below ??= LowersAfter(after, includeData: lastAbsolute).GetEnumerator();
                    if (!below.MoveNext())
                    {
                        return null;
                    }
                    layer = below.Current;
                    path = absolute.TrimStart('/');
                    if (path.Length == 0 || !LayerEntry.TryOpen(layer, path, out entry))
                    {
                        continue;
                    }
                }
                using (entry)
                {
                    if (!entry.TryStat(out var st))
                    {
                        continue;
                    }
                    if (!st.IsRegular)
                    {
                        return null;
                    }
                    if (!Posix.HasXattrAt(entry.Dir.Value, entry.NameZ, Xattrs.MetacopyZ))
                    {
                        return (layer, path);
                    }
                    // Itself metadata only: its redirect moves the search for the layers below it.
                    after = layer;
                    if (DecodeRedirect(Posix.GetXattrAt(entry.Dir.Value, entry.NameZ, Xattrs.Redirect)) is { } r)
                    {
                        Redirect(r);
                        below?.Dispose();
                        below = null;
                    }
                }
            }
        }
        finally
        {
            below?.Dispose();
        }

        void Redirect(string? r)
        {
            if (r is null)
            {
                return;
            }
            lastAbsolute = r.StartsWith('/');
            if (lastAbsolute)
            {
                absolute = r;
            }
            else if (absolute is null)
            {
                dataName = r;
            }
            else
            {
                // A relative redirect below an absolute one names a sibling of the redirected path.
                int slash = absolute.LastIndexOf('/');
                absolute = absolute[..(slash + 1)] + r;
            }
        }
    }

    /// <summary>
    /// An xattr of the entry a lookup found (not following it): read in the directory the lookup
    /// found it in, which is still open, or (found through an absolute redirect) from the layer's root.
    /// </summary>
    internal byte[]? GetXattr(LookupResult found, string name)
        => found.FoundIn is { } dir && found.EntryZ is { } entryZ
            ? Posix.GetXattrAt(dir.Fd.Value, entryZ, name)
            : found.Layer is null ? null : GetXattr(found.Layer, found.PathInLayer, name);

    /// <summary>An xattr of an entry of a layer (not following the entry itself); null when not set.</summary>
    internal byte[]? GetXattr(Layer layer, string pathInLayer, string name)
    {
        if (!LayerEntry.TryOpen(layer, pathInLayer, out var entry))
        {
            return null;
        }
        using (entry)
        {
            return entry.GetXattr(name);
        }
    }

    /// <summary>lstat of an entry of a layer, never following a symbolic link; null when it is not there.</summary>
    internal static EntryStat? Stat(Layer layer, string pathInLayer)
    {
        if (!LayerEntry.TryOpen(layer, pathInLayer, out var entry))
        {
            return null;
        }
        using (entry)
        {
            return entry.TryStat(out var st) ? st : null;
        }
    }

    internal static string JoinPath(string dir, string name) => dir.Length == 0 ? name : dir + "/" + name;

    public void Dispose()
    {
        foreach (var l in _all)
        {
            l.Dispose();
        }
    }
}

/// <summary>Why a layer's entry does not show in the merged view.</summary>
internal enum HiddenReason
{
    None,
    /// <summary>A whiteout in a layer above deletes it.</summary>
    WhitedOut,
    /// <summary>An opaque directory in a layer above hides everything below it.</summary>
    Opaque,
    /// <summary>An entry above that is not a directory (or is one, above a non-directory) covers it.</summary>
    Shadowed,
}

/// <summary>A layer that dropped out of a lookup, and why.</summary>
internal readonly record struct Drop(Layer Layer, string PathInLayer, HiddenReason Reason, Layer By);

/// <summary>A directory of one layer taking part in a merged directory.</summary>
internal sealed class FrameDir : IDisposable
{
    private readonly bool _ownsFd;
    private List<DirEntry>? _entries;

    internal FrameDir(Layer layer, Fd fd, bool ownsFd, string pathInLayer, bool hasXWhiteouts, bool opaque, string? redirect)
    {
        Layer = layer;
        Fd = fd;
        _ownsFd = ownsFd;
        PathInLayer = pathInLayer;
        HasXWhiteouts = hasXWhiteouts;
        Opaque = opaque;
        Redirect = redirect;
    }

    internal Layer Layer { get; }
    internal Fd Fd { get; }
    internal string PathInLayer { get; }
    /// <summary>opaque="x": the directory may hold xattr whiteouts.</summary>
    internal bool HasXWhiteouts { get; }
    /// <summary>opaque="y".</summary>
    internal bool Opaque { get; }
    internal string? Redirect { get; }

    /// <summary>The entries, read once.</summary>
    internal List<DirEntry> Entries(byte[] buffer)
    {
        if (_entries is null)
        {
            Native.LSeek(Fd.Value, 0, 0);
            _entries = Posix.ReadDirectory(Fd, Layer.Join(PathInLayer), buffer);
        }
        return _entries;
    }

    public void Dispose()
    {
        if (_ownsFd)
        {
            Fd.Dispose();
        }
    }
}

/// <summary>The directories of the layers that merge into one directory of a view, top first.</summary>
internal sealed class DirFrame : IDisposable
{
    internal static readonly DirFrame Empty = new([]);
    private static readonly Dictionary<string, DirEntry> s_noEntries = new(StringComparer.Ordinal);

    private Dictionary<string, DirEntry>? _visible;

    internal DirFrame(List<FrameDir> dirs) => Dirs = dirs;

    internal List<FrameDir> Dirs { get; }

    internal bool IsEmpty => Dirs.Count == 0;

    /// <summary>True when both frames are made of the same layer directories.</summary>
    internal bool SameAs(DirFrame other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }
        if (Dirs.Count != other.Dirs.Count)
        {
            return false;
        }
        for (int i = 0; i < Dirs.Count; i++)
        {
            if (Dirs[i].Layer != other.Dirs[i].Layer || Dirs[i].PathInLayer != other.Dirs[i].PathInLayer)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The names this merged directory shows: the union of its layers' entries, the first
    /// occurrence of a name deciding, whiteouts removing names. Read once, then cached.
    /// </summary>
    internal Dictionary<string, DirEntry> Visible(LayerSet layers, byte[] buffer)
    {
        if (_visible is not null)
        {
            return _visible;
        }
        if (Dirs.Count == 0)
        {
            return s_noEntries;
        }
        var visible = new Dictionary<string, DirEntry>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in Dirs)
        {
            foreach (var e in d.Entries(buffer))
            {
                if (!seen.Add(e.Name))
                {
                    continue;
                }
                bool candidate = e.DType is Native.DT_CHR or Native.DT_UNKNOWN || (d.HasXWhiteouts && e.DType == Native.DT_REG);
                if (candidate && Posix.TryStatAt(d.Fd.Value, e.NameZ, out var st, out _) && layers.IsWhiteout(d.Fd.Value, e.NameZ, st, d.HasXWhiteouts))
                {
                    continue;
                }
                visible[e.Name] = e;
            }
        }
        _visible = visible;
        return visible;
    }

    public void Dispose()
    {
        foreach (var d in Dirs)
        {
            d.Dispose();
        }
    }
}

/// <summary>The outcome of looking one name up in a frame.</summary>
internal sealed class LookupResult : IDisposable
{
    internal bool Exists { get; set; }
    internal Layer? Layer { get; set; }
    internal string PathInLayer { get; set; } = "";
    /// <summary>The directory of the frame the entry was found in (open while the frame is); null when found through an absolute redirect.</summary>
    internal FrameDir? FoundIn { get; set; }
    /// <summary>The entry's name in that directory, NUL-terminated (a relative redirect may make it differ from the name looked up).</summary>
    internal byte[]? EntryZ { get; set; }
    internal EntryStat Stat { get; set; }
    internal bool Metacopy { get; set; }
    internal string? MetacopyRedirect { get; set; }
    internal (DirFrame? Frame, int Start) DataSearch { get; set; }
    /// <summary>When the name is deleted: the layer holding the whiteout.</summary>
    internal Layer? WhiteoutLayer { get; set; }
    internal string? WhiteoutPath { get; set; }
    internal HiddenReason StopReason { get; set; }
    internal Layer? StoppedBy { get; set; }
    internal List<Drop>? Drops { get; set; }
    /// <summary>For a directory: the layer directories that merge into it (owned by the caller).</summary>
    internal DirFrame? Frame { get; set; }

    /// <summary>True when both results are the same entry of the same layer.</summary>
    internal bool SameEntryAs(LookupResult other)
        => Exists && other.Exists && Layer == other.Layer && PathInLayer == other.PathInLayer
            && (Frame is null ? other.Frame is null : other.Frame is not null && Frame.SameAs(other.Frame));

    public void Dispose() => Frame?.Dispose();
}
