using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Layers;
using OverlayTools.Mounts;
using OverlayTools.Stores;

namespace OverlayTools.Changes;

/// <summary>Whose `diff` the change list matches.</summary>
public enum ChangeStyle
{
    /// <summary>
    /// `docker diff` (Docker 20.10's overlay2 compares the container's view with the image's):
    /// an entry the lowers do not have is Added; one they have is Changed when its type, mode,
    /// owner, device, file capabilities or (not for directories) size or modification time
    /// differ, so an item only copied up is no change; a directory with a change below it is
    /// Changed; a whiteout, and every entry an opaque directory hides, is Deleted (a deleted
    /// directory once); a renamed directory is Deleted at its old path and Added, with what it
    /// shows, at the new one.
    /// </summary>
    Docker,

    /// <summary>
    /// `podman diff` (containers/storage reads the upper layer only): every entry of the upper
    /// is Added or Changed, even one only copied up, except a directory whose own mode, size and
    /// modification time equal the lower one's, which is listed only when an entry below it was
    /// added or deleted; a re-created (opaque) directory is Deleted, then its entries Added or
    /// Changed; whiteouts are Deleted; the paths podman manages itself (/etc/mtab, /etc/hosts,
    /// /run, /run/.containerenv...) are left out. Whether the lowers had an entry is decided as
    /// containers/storage does: each lower layer in turn, following symbolic links (so a link
    /// whose target is missing counts as absent), ignoring opaque directories of the lowers,
    /// stopping at a layer that whites out the entry or a parent. Sorted at the end.
    /// </summary>
    Podman,

    /// <summary>
    /// Everything the upper layer holds: like Docker (whiteouts and what opaque or renamed
    /// directories hide are Deleted, directories with a change inside are Changed), but every
    /// entry of the upper is listed, Added or Changed, also one that was only copied up and
    /// still looks as it does in the lowers.
    /// </summary>
    Upper,
}

/// <summary>What to compare: an upper layer against the lower layers it was stacked on.</summary>
public sealed class ChangeWalkRequest
{
    /// <summary>The upper layer directory (absolute).</summary>
    public string Upper { get; init; } = "";

    /// <summary>The lower layer directories, highest priority first (absolute).</summary>
    public IReadOnlyList<string> Lower { get; init; } = [];

    /// <summary>Docker (default), Podman or Upper semantics.</summary>
    public ChangeStyle Style { get; init; } = ChangeStyle.Docker;

    /// <summary>The container the upper belongs to, copied to each change's Container; null for other overlays.</summary>
    public string? Container { get; init; }

    /// <summary>True when the overlay uses user.overlay.* xattrs (the userxattr option, rootless engines).</summary>
    public bool UserXattr { get; init; }

    /// <summary>Look for metadata-only copies (one extra xattr read per non-empty upper file). Off only when metacopy is known to be off.</summary>
    public bool CheckMetacopy { get; init; } = true;

    /// <summary>
    /// The mounted overlay <see cref="Upper"/> and <see cref="Lower"/> come from (Get-OverlayChange -Target), or null:
    /// its layers are then opened as the mount table names them, and a missing one is reported against the overlay.
    /// </summary>
    internal OverlayMount? Mount { get; init; }

    /// <summary>Paths left out of the result; null for the style's default (Podman hides the files it manages).</summary>
    public IReadOnlyCollection<string>? HiddenPaths { get; init; }

    /// <summary>
    /// The walk for a container found in a layer store: its upper against its lower layers.
    /// When the container's overlay is mounted now (<paramref name="liveMount"/>), its options
    /// say whether it uses user.* attributes and metadata-only copies. Otherwise metadata-only
    /// copies are looked for unless the store is Docker's overlay2, which never asks for
    /// metacopy, and the kernel's default leaves it off (it saves one xattr read per file).
    /// </summary>
    public static ChangeWalkRequest ForContainer(StoreContainer container, string name, ChangeStyle style, OverlayMount? liveMount)
    {
        ArgumentNullException.ThrowIfNull(container);
        return new ChangeWalkRequest
        {
            Upper = container.UpperDir,
            Lower = container.LowerDirs,
            Style = style,
            Container = name,
            UserXattr = liveMount is not null && OverlayLocator.UsesUserXattr(liveMount),
            CheckMetacopy = liveMount is not null ? OverlayLocator.MetacopyEnabled(liveMount)
                : container.Backend != "overlay2" || OverlayLocator.ModuleDefault("metacopy"),
        };
    }
}

/// <summary>How far a walk has got, for progress reports.</summary>
public readonly record struct ChangeWalkProgress(long Entries, long Changes, string Directory);

/// <summary>
/// Lists what an upper layer changes, reading the upper and lower directories directly: no
/// mount is needed, and nothing but directories is ever opened (FIFOs and devices are only
/// lstat'ed). The same walker serves mounted overlays, bare layer directories and container
/// layers found by the store readers.
/// </summary>
public static class ChangeWalker
{
    /// <summary>
    /// Paths podman creates in every container (mount points and files it manages) and leaves
    /// out of `podman diff` (libpod's initInodes, podman 3 to 5).
    /// </summary>
    public static readonly IReadOnlyCollection<string> PodmanManagedPaths =
    [
        "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/run", "/run/notify",
        "/run/.containerenv", "/run/secrets", "/run/podman-init", "/sys", "/etc/mtab",
    ];

    private const int ListLowerThreshold = 32;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The changes, parents before children and names in ordinal order. Streams: each change is
    /// produced as it is found. Throws OverlayException for unusable layers or a failing walk.
    /// </summary>
    public static IEnumerable<OverlayChange> Walk(ChangeWalkRequest request, IOperationLog log, Action<ChangeWalkProgress>? progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        return Iterate(request, log, progress, cancel);
    }

    private static IEnumerable<OverlayChange> Iterate(ChangeWalkRequest request, IOperationLog log, Action<ChangeWalkProgress>? progress, CancellationToken cancel)
    {
        // Opened on the first MoveNext, so an enumeration that never starts holds no descriptors.
        var layers = request.Mount is { } mount
            ? LayerSet.OpenMounted(mount, mount.Target, dataLayers: false)
            : LayerSet.Open(request.Upper, request.Lower, null, request.UserXattr);
        if (!request.UserXattr && !FileSystem.HasCapSysAdmin)
        {
            log.Warning(FileSystem.TrustedXattrsUnreadable);
        }
        var changes = new Walker(layers, request, log, progress, cancel).Run();
        if (request.Style == ChangeStyle.Podman)
        {
            // A directory podman lists only because of an addition or deletion below it is found
            // after its subdirectories were listed: sort, so parents still come first.
            var all = changes.ToList();
            all.Sort(static (a, b) => ChangeRules.ComparePaths(a.Path, b.Path));
            changes = all;
        }
        foreach (var change in changes)
        {
            yield return change;
        }
    }

    private sealed class Walker
    {
        private readonly LayerSet _layers;
        private readonly ChangeWalkRequest _request;
        private readonly IOperationLog _log;
        private readonly Action<ChangeWalkProgress>? _progress;
        private readonly CancellationToken _cancel;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private readonly HashSet<string> _hidden;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly List<Node> _stack = [];
        private readonly List<OverlayChange> _out = [];
        private TimeSpan _lastProgress;
        private long _entries;
        private long _changes;

        internal Walker(LayerSet layers, ChangeWalkRequest request, IOperationLog log, Action<ChangeWalkProgress>? progress, CancellationToken cancel)
        {
            _layers = layers;
            _request = request;
            _log = log;
            _progress = progress;
            _cancel = cancel;
            _hidden = new HashSet<string>(request.HiddenPaths ?? ChangeRules.DefaultHiddenPaths(request.Style), StringComparer.Ordinal);
        }

        private string UpperPath => _layers.Upper!.Path;

        internal IEnumerable<OverlayChange> Run()
        {
            try
            {
                var image = _layers.RootFrame(includeUpper: false);
                _log.Verbose($"Comparing upper layer '{UpperPath}' with {_layers.Lowers.Count} lower layer(s) ({_request.Style} semantics).");
                Push(new Node("", _layers.RootDir(_layers.Upper!), image, image, emitted: true, pending: null)
                {
                    // containers/storage looks at each lower layer's root.
                    PodmanBelow = _request.Style == ChangeStyle.Podman ? Enumerable.Repeat(BelowState.Directory, _layers.Lowers.Count).ToArray() : null,
                });
                while (_stack.Count > 0)
                {
                    var node = _stack[^1];
                    if (node.Next >= node.Items!.Count)
                    {
                        _stack.RemoveAt(_stack.Count - 1);
                        node.Dispose();
                        continue;
                    }
                    var item = node.Items[node.Next++];
                    _entries++;
                    if ((_entries & 255) == 0)
                    {
                        _cancel.ThrowIfCancellationRequested();
                        ReportProgress(node.Path);
                    }
                    try
                    {
                        ProcessItem(node, item);
                    }
                    catch (ErrnoException e)
                    {
                        throw new OverlayException(ErrorIds.ChangeWalkFailed, OverlayException.CategoryFor(e.Errno),
                            $"Reading the layers failed at '{ChangeRules.ChildPath(node.Path, item.Name)}': {e.Message}", e.Path ?? UpperPath,
                            "Check that the layer directories are readable (run as root) and not being changed.", e);
                    }
                    foreach (var c in _out)
                    {
                        _changes++;
                        yield return c;
                    }
                    _out.Clear();
                }
            }
            finally
            {
                foreach (var n in _stack)
                {
                    n.Dispose();
                }
                _stack.Clear();
                _layers.Dispose();
            }
        }

        private void ReportProgress(string directory)
        {
            if (_progress is null)
            {
                return;
            }
            var now = _clock.Elapsed;
            if (now - _lastProgress >= ProgressInterval)
            {
                _lastProgress = now;
                _progress(new ChangeWalkProgress(_entries, _changes, directory.Length == 0 ? "/" : directory));
            }
        }

        private void Push(Node node)
        {
            try
            {
                node.Items = ListItems(node);
            }
            catch
            {
                node.Dispose();
                throw;
            }
            _stack.Add(node);
        }

        /// <summary>The names to look at in a directory, sorted: the upper's, plus the lowers' where the two views can differ.</summary>
        private List<Item> ListItems(Node node)
        {
            List<DirEntry> upper = node.Upper is null ? [] : node.Upper.Entries(_buffer);
            node.Fast = node.Upper is not null && node.ML.SameAs(node.IL);
            var items = new List<Item>(upper.Count);
            if (node.Fast)
            {
                foreach (var e in upper)
                {
                    items.Add(new Item(e.Name, e, inMerged: false, inImage: false));
                }
                node.ListImage = !node.IL.IsEmpty && upper.Count > ListLowerThreshold;
            }
            else
            {
                var merged = node.ML.Visible(_layers, _buffer);
                var image = node.IL.Visible(_layers, _buffer);
                var names = new Dictionary<string, Item>(StringComparer.Ordinal);
                foreach (var e in upper)
                {
                    names[e.Name] = new Item(e.Name, e, merged.ContainsKey(e.Name), image.ContainsKey(e.Name));
                }
                foreach (var name in merged.Keys.Concat(image.Keys))
                {
                    if (!names.ContainsKey(name))
                    {
                        names[name] = new Item(name, null, merged.ContainsKey(name), image.ContainsKey(name));
                    }
                }
                items.AddRange(names.Values);
                node.ListImage = true;
            }
            items.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return items;
        }

        private LookupResult? LookupImage(Node node, Item item, bool openDirs)
        {
            if (node.IL.IsEmpty)
            {
                return null;
            }
            if (node.ListImage)
            {
                var visible = node.IL.Visible(_layers, _buffer);
                if (!visible.TryGetValue(item.Name, out var e))
                {
                    return null;
                }
                var r = _layers.Lookup(node.IL, item.Name, e.NameZ, openDirs);
                return r.Exists ? r : Discard(r);
            }
            var res = _layers.Lookup(node.IL, item.Name, item.NameZ, openDirs);
            return res.Exists ? res : Discard(res);
        }

        private static LookupResult? Discard(LookupResult r)
        {
            r.Dispose();
            return null;
        }

        private void ProcessItem(Node node, Item item)
        {
            string path = ChangeRules.ChildPath(node.Path, item.Name);
            if (item.Upper is { } u)
            {
                var upperDir = node.Upper!.Fd;
                if (!Posix.TryStatAt(upperDir.Value, u.NameZ, out var st, out int errno))
                {
                    if (errno is Errno.ENOENT)
                    {
                        return; // removed while we walk
                    }
                    throw new ErrnoException("statx", errno, UpperPath + path);
                }
                // An empty file marked overlay.whiteout counts in any upper directory, marked
                // opaque="x" or not: the kernel's lookup finds nothing there (seen on 6.18), though a
                // listing of the merged view still shows the name. Resolve-OverlayPath agrees.
                if (_layers.IsWhiteout(upperDir.Value, u.NameZ, st, dirHasXWhiteouts: true))
                {
                    using var gone = LookupImage(node, item, openDirs: false);
                    var kind = _request.Style == ChangeStyle.Podman
                        ? OverlayChange.Deleted // containers/storage lists every whiteout of the upper
                        : ChangeRules.Classify(new NameFacts(InUpper: true, UpperIsWhiteout: true, item.InMerged, InImage: gone is not null, SameEntryBelow: false));
                    if (kind is not null)
                    {
                        Emit(new OverlayChange { Kind = kind, Path = path, ItemType = gone?.Stat.ItemType ?? "Unknown", Layer = UpperPath, Container = _request.Container });
                    }
                    return;
                }
                if (st.IsDirectory)
                {
                    UpperDirectory(node, item, u, st, path);
                    return;
                }
                using var below = LookupImage(node, item, openDirs: false);
                if (below is not null && !ChangeRules.ListsChangedEntry(_request.Style, below.Stat, st, CapabilityDiffers(upperDir, u, below, st)))
                {
                    return; // only copied up: the merged view shows what the lowers have
                }
                bool inImage = _request.Style == ChangeStyle.Podman ? PodmanFind(node, path, out _, null) : below is not null;
                bool metacopy = _request.CheckMetacopy && st.IsRegular && st.Size > 0 && Posix.HasXattrAt(upperDir.Value, u.NameZ, _layers.Xattrs.MetacopyZ);
                Emit(new OverlayChange
                {
                    Kind = ChangeRules.Classify(new NameFacts(InUpper: true, UpperIsWhiteout: false, item.InMerged, InImage: inImage, SameEntryBelow: false))!,
                    Path = path,
                    ItemType = st.ItemType,
                    Size = st.Size,
                    Layer = UpperPath,
                    MetadataOnly = metacopy,
                    RenamedFrom = metacopy ? ChangeRules.RenamedFrom(node.Path, ReadRedirectAt(upperDir, u)) : null,
                    Container = _request.Container,
                });
                return;
            }

            if (_request.Style == ChangeStyle.Podman)
            {
                // containers/storage walks the upper layer only: what a renamed or opaque
                // directory shows or hides from the lowers is not listed.
                return;
            }

            if (item.InMerged)
            {
                // Shown through a renamed (redirected) directory: compare with what the lowers have at this path.
                var m = _layers.Lookup(node.ML, item.Name, item.NameZ, openDirs: true);
                LookupResult? i = null;
                try
                {
                    if (!m.Exists)
                    {
                        return;
                    }
                    i = item.InImage ? LookupImage(node, item, openDirs: true) : null;
                    var kind = ChangeRules.Classify(new NameFacts(InUpper: false, UpperIsWhiteout: false, InMerged: true, InImage: i is not null, SameEntryBelow: i is not null && m.SameEntryAs(i)));
                    if (kind is null)
                    {
                        return;
                    }
                    bool listed = i is null || (m.Stat.IsDirectory
                        ? ChangeRules.ListsDirectoryNow(_request.Style, kind, opaque: false, renamed: false, m.Stat, i.Stat)
                        : ChangeRules.DockerStatDifferent(i.Stat, m.Stat));
                    if (!listed && !m.Stat.IsDirectory)
                    {
                        return;
                    }
                    var change = new OverlayChange
                    {
                        Kind = kind,
                        Path = path,
                        ItemType = m.Stat.ItemType,
                        Size = m.Stat.IsDirectory ? 0 : m.Stat.Size,
                        Layer = UpperPath,
                        MetadataOnly = m.Metacopy,
                        Container = _request.Container,
                    };
                    if (listed)
                    {
                        Emit(change);
                    }
                    if (m.Stat.IsDirectory && m.Frame is not null)
                    {
                        var ml = m.Frame;
                        m.Frame = null;
                        DirFrame il = DirFrame.Empty;
                        if (i is not null && i.Stat.IsDirectory && i.Frame is not null)
                        {
                            il = i.Frame;
                            i.Frame = null;
                        }
                        Push(new Node(path, null, ml, il, emitted: listed, pending: listed ? null : change));
                    }
                }
                finally
                {
                    m.Dispose();
                    i?.Dispose();
                }
                return;
            }

            if (item.InImage)
            {
                // Hidden by an opaque or renamed directory above.
                using var gone = LookupImage(node, item, openDirs: false);
                var kind = ChangeRules.Classify(new NameFacts(InUpper: false, UpperIsWhiteout: false, InMerged: false, InImage: gone is not null, SameEntryBelow: false));
                if (kind is not null)
                {
                    Emit(new OverlayChange { Kind = kind, Path = path, ItemType = gone!.Stat.ItemType, Layer = UpperPath, Container = _request.Container });
                }
            }
        }

        private void UpperDirectory(Node node, Item item, DirEntry u, in EntryStat st, string path)
        {
            var dir = _layers.OpenDir(_layers.Upper!, node.Upper!.Fd.Value, u.NameZ, path[1..]);
            if (dir is null)
            {
                return; // replaced meanwhile
            }
            LookupResult? below = null;
            DirFrame? ml = null;
            DirFrame? il = null;
            try
            {
                bool opaque = dir.Opaque;
                string? redirect = dir.Redirect;

                below = LookupImage(node, item, openDirs: true);
                il = below is not null && below.Stat.IsDirectory && below.Frame is not null ? below.Frame : DirFrame.Empty;
                if (below is not null)
                {
                    below.Frame = null;
                }
                if (opaque)
                {
                    ml = DirFrame.Empty;
                }
                else if (redirect is not null)
                {
                    ml = RedirectFrame(node, redirect);
                }
                else if (node.Fast)
                {
                    ml = il;
                }
                else
                {
                    using var m = _layers.Lookup(node.ML, item.Name, u.NameZ, openDirs: true);
                    ml = m.Exists && m.Stat.IsDirectory && m.Frame is not null ? m.Frame : DirFrame.Empty;
                    m.Frame = null;
                }

                bool existsBelow = below is not null;
                var belowStat = below?.Stat ?? default;
                BelowState[]? podmanBelow = null;
                if (_request.Style == ChangeStyle.Podman)
                {
                    podmanBelow = new BelowState[_layers.Lowers.Count];
                    existsBelow = PodmanFind(node, path, out belowStat, podmanBelow);
                }
                string kind = ChangeRules.Classify(new NameFacts(InUpper: true, UpperIsWhiteout: false, item.InMerged, InImage: existsBelow, SameEntryBelow: false))!;
                if (ChangeRules.ListsOpaqueDirectoryAsDeleted(_request.Style, opaque, existsBelow))
                {
                    kind = OverlayChange.Deleted;
                }
                bool listed = !existsBelow || ChangeRules.ListsDirectoryNow(_request.Style, kind, opaque, redirect is not null, st, belowStat);
                var change = new OverlayChange
                {
                    Kind = kind,
                    Path = path,
                    ItemType = "Directory",
                    Layer = UpperPath,
                    Opaque = opaque,
                    RenamedFrom = ChangeRules.RenamedFrom(node.Path, redirect),
                    Container = _request.Container,
                };
                if (listed)
                {
                    Emit(change);
                }
                var child = new Node(path, dir, ml, il, emitted: listed, pending: listed ? null : change) { PodmanBelow = podmanBelow };
                dir = null;
                ml = null;
                il = null;
                Push(child);
            }
            finally
            {
                dir?.Dispose();
                below?.Dispose();
                if (ml is not null && !ReferenceEquals(ml, il))
                {
                    ml.Dispose();
                }
                il?.Dispose();
            }
        }

        /// <summary>The lower directories a renamed upper directory shows: at an absolute path, or at a sibling name.</summary>
        private DirFrame RedirectFrame(Node node, string redirect)
        {
            if (redirect.StartsWith('/'))
            {
                using var r = _layers.Lookup(DirFrame.Empty, "", [0], openDirs: true, trackDrops: false, absolutePath: redirect, after: _layers.Upper);
                var f = r.Exists && r.Stat.IsDirectory ? r.Frame : null;
                r.Frame = null;
                return f ?? DirFrame.Empty;
            }
            using var s = _layers.Lookup(node.ML, redirect, Native.Utf8Z(redirect), openDirs: true);
            var frame = s.Exists && s.Stat.IsDirectory ? s.Frame : null;
            s.Frame = null;
            return frame ?? DirFrame.Empty;
        }

        /// <summary>
        /// Whether the lowers had <paramref name="path"/>, decided as containers/storage does for
        /// `podman diff`: each lower layer in turn, top first, is asked with stat(2), which follows
        /// symbolic links (a link whose target is missing counts as absent, and the next layer is
        /// asked); a layer whose entry there, or at a parent, is a whiteout ends the search;
        /// opaque directories of the lowers are not honoured. <paramref name="below"/> is what the
        /// layer that has it shows. With <paramref name="childStates"/> (for a directory that
        /// will be walked), every layer is asked and its state at this path recorded.
        /// </summary>
        private bool PodmanFind(Node node, string path, out EntryStat below, BelowState[]? childStates)
        {
            var states = node.PodmanBelow!;
            byte[] relZ = Native.Utf8Z(path[1..]);
            below = default;
            bool found = false;
            bool stopped = false;
            for (int i = 0; i < states.Length; i++)
            {
                bool deciding = !found && !stopped;
                if (!deciding && childStates is null)
                {
                    break;
                }
                if (states[i] != BelowState.Directory)
                {
                    // The parent is missing here (the entry cannot be), or whited out (the search ends).
                    stopped |= deciding && states[i] == BelowState.WhitedOut;
                    if (childStates is not null)
                    {
                        childStates[i] = states[i];
                    }
                    continue;
                }
                bool ok = Posix.TryStatFollowAt(_layers.Lowers[i].Root.Value, relZ, out var st, out _);
                if (childStates is not null)
                {
                    childStates[i] = !ok ? BelowState.Absent : st.IsWhiteoutDevice ? BelowState.WhitedOut : st.IsDirectory ? BelowState.Directory : BelowState.Absent;
                }
                if (deciding && ok)
                {
                    if (st.IsWhiteoutDevice)
                    {
                        stopped = true;
                    }
                    else
                    {
                        found = true;
                        below = st;
                    }
                }
            }
            return found;
        }

        /// <summary>Docker also compares file capabilities; only worth reading when nothing else differs.</summary>
        private bool CapabilityDiffers(Fd upperDir, DirEntry e, LookupResult below, in EntryStat st)
        {
            if (_request.Style != ChangeStyle.Docker || !st.IsRegular || ChangeRules.DockerStatDifferent(below.Stat, st) || below.Layer is null)
            {
                return false;
            }
            var now = Posix.GetXattrAt(upperDir.Value, e.NameZ, "security.capability");
            var then = _layers.GetXattr(below, "security.capability");
            return now is null ? then is not null : then is null || !now.AsSpan().SequenceEqual(then);
        }

        private string? ReadRedirectAt(Fd dir, DirEntry e)
            => LayerSet.DecodeRedirect(Posix.GetXattrAt(dir.Value, e.NameZ, _layers.Xattrs.Redirect));

        /// <summary>Emits a change; under Podman semantics an addition or deletion first lists its unlisted parent directories.</summary>
        private void Emit(OverlayChange change)
        {
            if (ChangeRules.ListsParentsOf(_request.Style, change.Kind))
            {
                foreach (var n in _stack)
                {
                    if (!n.Emitted)
                    {
                        n.Emitted = true;
                        if (n.Pending is not null && !_hidden.Contains(n.Pending.Path))
                        {
                            _out.Add(n.Pending);
                        }
                    }
                }
            }
            if (!_hidden.Contains(change.Path))
            {
                _out.Add(change);
            }
        }
    }

    /// <summary>What a lower layer has at a directory's path, for the Podman style's search.</summary>
    private enum BelowState : byte
    {
        /// <summary>Nothing, or not a directory: nothing below it exists in this layer.</summary>
        Absent,

        /// <summary>A directory (stat follows links): entries below it are looked up.</summary>
        Directory,

        /// <summary>A whiteout here or at a parent: the search ends at this layer.</summary>
        WhitedOut,
    }

    private readonly struct Item
    {
        internal Item(string name, DirEntry? upper, bool inMerged, bool inImage)
        {
            Name = name;
            Upper = upper;
            InMerged = inMerged;
            InImage = inImage;
        }

        internal string Name { get; }
        internal DirEntry? Upper { get; }
        internal bool InMerged { get; }
        internal bool InImage { get; }
        internal byte[] NameZ => Upper?.NameZ ?? Native.Utf8Z(Name);
    }

    private sealed class Node : IDisposable
    {
        internal Node(string path, FrameDir? upper, DirFrame ml, DirFrame il, bool emitted, OverlayChange? pending)
        {
            Path = path;
            Upper = upper;
            ML = ml;
            IL = il;
            Emitted = emitted;
            Pending = pending;
        }

        internal string Path { get; }
        /// <summary>The upper layer's directory here (null where only the lowers have it).</summary>
        internal FrameDir? Upper { get; }
        /// <summary>The lower directories the merged view shows here (differs from IL under renamed or opaque directories).</summary>
        internal DirFrame ML { get; }
        /// <summary>The lower directories as the image alone shows this path.</summary>
        internal DirFrame IL { get; }
        internal List<Item>? Items { get; set; }
        internal int Next { get; set; }
        internal bool Fast { get; set; }
        internal bool ListImage { get; set; }
        internal bool Emitted { get; set; }
        internal OverlayChange? Pending { get; }
        /// <summary>Podman style: what each lower layer has at this directory's path, as containers/storage sees it.</summary>
        internal BelowState[]? PodmanBelow { get; init; }

        public void Dispose()
        {
            Upper?.Dispose();
            if (!ReferenceEquals(ML, IL))
            {
                ML.Dispose();
            }
            IL.Dispose();
        }
    }
}
