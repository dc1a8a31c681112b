using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Layers;
using OverlayTools.Mounts;

namespace OverlayTools.CopyUp;

/// <summary>The result of one item: a CopyUpResult, an error, or both (a copy that changed the item).</summary>
internal sealed class CopyUpOutcome
{
    internal CopyUpResult? Result { get; init; }
    internal OverlayException? Error { get; init; }
    /// <summary>True when going on below makes no sense (the upper file system is full).</summary>
    internal bool Fatal { get; init; }
}

/// <summary>Progress of a recursive copy-up.</summary>
internal readonly record struct CopyUpProgress(long Items, long Bytes, string Current);

/// <summary>
/// Makes the kernel copy items of a merged view into the upper layer, changing nothing else.
/// There is no "copy up now" call, so each file type gets a request that makes the kernel copy
/// it and leaves its content and metadata as they were (checked on this kernel, see the help):
/// <list type="bullet">
/// <item>regular file: open(O_WRONLY) without O_TRUNC, closed at once (a write open copies the data up);</item>
/// <item>regular file with -MetadataOnly (metacopy=on): chmod to its own mode (metadata only);</item>
/// <item>directory, symbolic link, FIFO, socket, device: fchownat(-1, -1) (no owner change, only ctime);</item>
/// <item>FIFO, socket or device with setuid/setgid bits: chmod to its own mode (chown would clear them).</item>
/// </list>
/// The parents are copied up by the kernel first, with their times kept.
/// One engine serves one item (and what is below it); the overlay's layers come from the
/// caller, which keeps them open across items.
/// </summary>
internal sealed class CopyUpEngine
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    private readonly OverlayLocation _location;
    private readonly LayerSet _layers;
    private readonly bool _metadataOnly;
    private readonly bool _index;
    private readonly IOperationLog _log;
    // OVERLAYTOOLS_COPYUP_SPACE_CHECK=off leaves the free-space check to the kernel (tests use it to see the kernel's ENOSPC handling).
    private readonly bool _spaceCheck = !string.Equals(Environment.GetEnvironmentVariable("OVERLAYTOOLS_COPYUP_SPACE_CHECK"), "off", StringComparison.OrdinalIgnoreCase);
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastProgress;
    private long _items;
    private long _bytes;

    private CopyUpEngine(OverlayLocation location, LayerSet layers, bool metadataOnly, bool index, IOperationLog log)
    {
        _location = location;
        _layers = layers;
        _metadataOnly = metadataOnly;
        _index = index;
        _log = log;
    }

    internal string UpperPath => _layers.Upper!.Path;

    /// <summary>
    /// Checks the overlay can take copy-ups and gets its layers from <paramref name="layerSets"/>
    /// (opened there once per overlay, and closed by its owner); throws OverlayException when not.
    /// </summary>
    internal static CopyUpEngine Open(OverlayLocation location, bool metadataOnly, IOperationLog log, LayerSetCache layerSets)
    {
        var mount = location.Mount;
        string path = location.MergedPath;
        if (mount.Upper is null)
        {
            throw new OverlayException(ErrorIds.OverlayHasNoUpper, OverlayErrorCategory.InvalidOperation,
                $"'{path}' is on the read-only overlay at '{mount.Target}', which has no upper layer to copy into.", path,
                "Mount the overlay with an upper layer (Mount-Overlay -Upper) to copy files up.");
        }
        if (mount.ReadOnly)
        {
            throw new OverlayException(ErrorIds.OverlayMountedReadOnly, OverlayErrorCategory.InvalidOperation,
                $"'{path}' is on the overlay at '{mount.Target}', which is mounted read-only.", path,
                "Remount the overlay read-write to copy files up.");
        }
        bool metacopyOn = OverlayLocator.MetacopyEnabled(mount);
        if (metadataOnly && !metacopyOn)
        {
            throw new OverlayException(ErrorIds.MetacopyNotEnabled, OverlayErrorCategory.InvalidOperation,
                $"-MetadataOnly needs metacopy, but the overlay at '{mount.Target}' is mounted without metacopy=on.", path,
                "Mount with -Option metacopy=on (and redirect_dir=on), or copy up without -MetadataOnly.");
        }
        var layers = layerSets.Get(mount, path);
        return new CopyUpEngine(location, layers, metadataOnly, OverlayLocator.IndexEnabled(mount), log);
    }

    /// <summary>Copies the located item up and, with <paramref name="recurse"/>, everything below it, parents first.</summary>
    internal IEnumerable<CopyUpOutcome> Run(bool recurse, Action<CopyUpProgress>? progress, CancellationToken cancel)
    {
        var parts = _location.RelativePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var frame = _layers.RootFrame(includeUpper: true);
        var stack = new List<DirState>();
        try
        {
            // The merged frame of the item's parent, as the kernel would look it up.
            for (int i = 0; i < parts.Length - 1; i++)
            {
                using var r = _layers.Lookup(frame, parts[i], Native.Utf8Z(parts[i]), openDirs: true);
                if (!r.Exists || r.Frame is null)
                {
                    yield return new CopyUpOutcome { Error = Vanished(_location.MergedPath) };
                    yield break;
                }
                frame.Dispose();
                frame = r.Frame;
                r.Frame = null;
            }

            ItemOutcome top;
            if (parts.Length == 0)
            {
                top = RootItem(recurse, frame);
                frame = DirFrame.Empty;
            }
            else
            {
                // The entry's name in its merged directory is the typed one (a bind mount of an
                // overlay subdirectory or file is named by its mount point); in the layers it is
                // the overlay's own name, the last component of the path inside the overlay.
                top = CopyItem(_location.Parent, Native.Utf8Z(_location.Name), parts[^1], Native.Utf8Z(parts[^1]), _location.RelativePath, _location.MergedPath, frame, recurse);
            }
            yield return top.Outcome;
            if (top.Children is null || top.Outcome.Fatal)
            {
                top.Dispose();
                yield break;
            }
            stack.Add(top.ToDirState(_location.RelativePath.TrimEnd('/'), _location.MergedPath.TrimEnd('/')));
            while (stack.Count > 0)
            {
                var d = stack[^1];
                if (d.Next >= d.Names.Count)
                {
                    stack.RemoveAt(stack.Count - 1);
                    d.Dispose();
                    continue;
                }
                cancel.ThrowIfCancellationRequested();
                var e = d.Names[d.Next++];
                string rel = d.Relative + "/" + e.Name;
                string merged = d.Merged + "/" + e.Name;
                var item = CopyItem(d.Fd, e.NameZ, e.Name, e.NameZ, rel, merged, d.Frame, recurse: true);
                Report(progress, merged);
                yield return item.Outcome;
                if (item.Outcome.Fatal)
                {
                    item.Dispose();
                    yield break;
                }
                if (item.Children is null)
                {
                    item.Dispose();
                    continue;
                }
                stack.Add(item.ToDirState(rel, merged));
            }
        }
        finally
        {
            foreach (var s in stack)
            {
                s.Dispose();
            }
            frame.Dispose();
        }
    }

    private List<DirEntry> Names(Fd dir, string merged)
    {
        var names = Posix.ReadDirectory(dir, merged, _buffer);
        names.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return names;
    }

    private void Report(Action<CopyUpProgress>? progress, string current)
    {
        if (progress is null)
        {
            return;
        }
        var now = _clock.Elapsed;
        if (now - _lastProgress >= ProgressInterval)
        {
            _lastProgress = now;
            progress(new CopyUpProgress(_items, _bytes, current));
        }
    }

    private ItemOutcome RootItem(bool recurse, DirFrame rootFrame)
    {
        _items++;
        var outcome = new CopyUpOutcome
        {
            Result = new CopyUpResult
            {
                Path = _location.MergedPath,
                UpperPath = UpperPath,
                SourceLayer = UpperPath,
                ItemType = "Directory",
                Status = CopyUpResult.AlreadyUp,
            },
        };
        if (!recurse)
        {
            rootFrame.Dispose();
            return new ItemOutcome(outcome);
        }
        var dir = FileSystem.TryOpen(_location.MergedPath, Native.O_RDONLY | Native.O_DIRECTORY, out int errno);
        if (dir is null)
        {
            rootFrame.Dispose();
            return new ItemOutcome(new CopyUpOutcome { Result = outcome.Result, Error = Failed(_location.MergedPath, "open", errno) });
        }
        return new ItemOutcome(outcome, dir, Names(dir, _location.MergedPath), rootFrame);
    }

    /// <summary>
    /// Copies one entry of a merged directory up. For a directory with <paramref name="recurse"/>
    /// its entries are read first (from the lower layers, so reading them leaves no trace in the
    /// upper), and returned with its merged frame for the walk below it. <paramref name="mergedNameZ"/>
    /// is the entry's name in <paramref name="mergedDir"/>; <paramref name="name"/> and
    /// <paramref name="nameZ"/> its name in the layers (they differ only for a bind mount's root).
    /// </summary>
    private ItemOutcome CopyItem(Fd mergedDir, byte[] mergedNameZ, string name, byte[] nameZ, string relative, string merged, DirFrame parentFrame, bool recurse)
    {
        _items++;
        using var item = Posix.TryOpenAt(mergedDir.Value, mergedNameZ, Native.O_PATH | Native.O_NOFOLLOW, out int openErrno);
        if (item is null)
        {
            if (openErrno == Errno.ENOENT && IsWhitedOut(parentFrame, name, nameZ))
            {
                // An empty file marked overlay.whiteout in a directory not marked opaque="x": the
                // kernel's readdir lists the name but its lookup takes it for a whiteout (seen on
                // 6.18), so the merged view has no such item, as Resolve-OverlayPath says.
                _log.Verbose($"Skipping '{merged}': a whiteout marked with an xattr deletes it, though the directory lists its name.");
                return new ItemOutcome(new CopyUpOutcome());
            }
            return new ItemOutcome(new CopyUpOutcome { Error = openErrno == Errno.ENOENT ? Vanished(merged) : Failed(merged, "open", openErrno) });
        }
        var st = Posix.StatFd(item, merged);
        if (st.MountId != (ulong)_location.Mount.MountId)
        {
            _log.Verbose($"Skipping '{merged}': another file system is mounted there.");
            return new ItemOutcome(new CopyUpOutcome());
        }

        using var found = _layers.Lookup(parentFrame, name, nameZ, openDirs: st.IsDirectory && recurse);
        Fd? dir = null;
        List<DirEntry>? children = null;
        DirFrame? childFrame = null;
        if (st.IsDirectory && recurse)
        {
            childFrame = found.Frame ?? DirFrame.Empty;
            found.Frame = null;
            dir = Posix.TryOpenDirAt(mergedDir.Value, mergedNameZ, out int dirErrno);
            if (dir is null)
            {
                childFrame.Dispose();
                return new ItemOutcome(new CopyUpOutcome { Error = dirErrno == Errno.ENOENT ? Vanished(merged) : Failed(merged, "open", dirErrno) });
            }
            try
            {
                children = Names(dir, merged);
            }
            catch
            {
                dir.Dispose();
                childFrame.Dispose();
                throw;
            }
        }
        ItemOutcome With(CopyUpOutcome outcome) => new(outcome, dir, children, childFrame);
        string upperPath = _layers.Upper!.Join(relative.TrimStart('/'));
        bool inUpper = found.Exists && found.Layer?.Role == LayerRole.Upper;
        bool wantData = st.IsRegular && !_metadataOnly;
        if (inUpper && !(wantData && found.Metacopy))
        {
            _log.Verbose($"'{merged}' is in the upper layer already.");
            return With(Ok(merged, upperPath, UpperPath, st, CopyUpResult.AlreadyUp, 0, TimeSpan.Zero));
        }
        // Completing a metadata-only copy: the data comes from the layer that holds it, not the upper.
        string source = (inUpper ? _layers.FindMetacopyData(found, name)?.Layer.Path : null) ?? found.Layer?.Path ?? "";

        // Room for the data? (The kernel would fail with ENOSPC part-way; it cleans up, but why start.)
        long need = wantData ? Math.Max(st.Blocks * 512, 0) : 0;
        if (need > 0 && _spaceCheck && Posix.FreeBytes(_layers.Upper.Root) is long free && need > free)
        {
            return With(new CopyUpOutcome
            {
                Error = new OverlayException(ErrorIds.CopyUpNoSpace, OverlayErrorCategory.LimitsExceeded,
                    $"Copying up '{merged}' needs {need:N0} bytes, but the upper layer's file system has {free:N0} bytes free. Nothing was copied.", merged,
                    "Free space on the upper layer's file system, or copy up with -MetadataOnly on a metacopy=on overlay."),
                Fatal = true,
            });
        }

        var xattrsBefore = Posix.ListXattrsAt(mergedDir.Value, mergedNameZ);

        string how;
        int errno;
        bool fellBack = false;
        var clock = Stopwatch.StartNew();
        if (st.IsRegular && wantData)
        {
            how = "open(O_WRONLY) without O_TRUNC";
            errno = OpenForWrite(item);
            if (errno == Errno.ETXTBSY)
            {
                // A running program cannot be opened for writing; a no-op chmod still copies it up.
                fellBack = true;
                how = "chmod to its own mode (it is running, so it cannot be opened for writing)";
                errno = Posix.ChmodFd(item, st.Permissions);
            }
        }
        else if (st.IsRegular || ((st.Mode & (EntryStat.S_ISUID | EntryStat.S_ISGID)) != 0 && !st.IsDirectory && !st.IsSymlink))
        {
            how = "chmod to its own mode";
            errno = Posix.ChmodFd(item, st.Permissions);
        }
        else
        {
            how = "fchownat(-1, -1)";
            errno = Posix.ChownNoChange(item);
        }
        clock.Stop();
        if (_log.DebugEnabled)
        {
            _log.Debug($"{how} on '{merged}' = {(errno == 0 ? "0" : "-1 " + Errno.Name(errno))} ({clock.Elapsed.TotalMilliseconds:N3} ms)");
        }
        if (errno != 0)
        {
            return With(new CopyUpOutcome { Error = MapError(merged, upperPath, how, errno, relative), Fatal = errno is Errno.ENOSPC or Errno.EDQUOT or Errno.EROFS });
        }

        // What is in the upper layer now, and did anything change?
        var after = Posix.StatFd(item, merged);
        if (inUpper && found.Metacopy && wantData && (after.MtimeSec != st.MtimeSec || after.MtimeNsec != st.MtimeNsec))
        {
            // Completing a metadata-only copy writes the data into the upper file, and the kernel
            // leaves that write's time on it: put the file's own times back.
            int e = Posix.SetTimes(item, st);
            if (_log.DebugEnabled)
            {
                _log.Debug($"utimensat('{merged}', the times it had) = {(e == 0 ? "0" : "-1 " + Errno.Name(e))}");
            }
            after = Posix.StatFd(item, merged);
        }
        // The upper's copy: its lstat and its metacopy mark, read in one directory.
        EntryStat? upperStat = null;
        bool upperMeta = false;
        if (UpperEntry(parentFrame, nameZ, relative, out var upperEntry))
        {
            using (upperEntry)
            {
                if (upperEntry.TryStat(out var ust))
                {
                    upperStat = ust;
                    upperMeta = ust.IsRegular && upperEntry.GetXattr(_layers.Xattrs.Metacopy) is not null;
                }
            }
        }
        string status = upperStat is null ? "" : st.IsRegular && upperMeta ? CopyUpResult.MetadataOnly : CopyUpResult.CopiedUp;
        var problems = new List<string>();
        if (upperStat is null)
        {
            problems.Add("the upper layer does not hold it afterwards");
        }
        else if (wantData && upperMeta)
        {
            problems.Add("only its metadata was copied");
        }
        Compare(st, after, problems);
        var xattrsAfter = Posix.ListXattrsAt(mergedDir.Value, mergedNameZ);
        foreach (var k in xattrsBefore.Keys.Union(xattrsAfter.Keys))
        {
            if (!xattrsBefore.TryGetValue(k, out var a) || !xattrsAfter.TryGetValue(k, out var b) || !a.AsSpan().SequenceEqual(b))
            {
                problems.Add($"extended attribute {k} differs");
            }
        }

        OverlayException? error = null;
        if (problems.Count > 0)
        {
            error = new OverlayException(ErrorIds.CopyUpChangedItem, OverlayErrorCategory.InvalidResult,
                $"Copying up '{merged}' changed it: {string.Join("; ", problems)}.", merged,
                "Compare the item in the upper layer with the lower one (Resolve-OverlayPath -All); another process may have changed it at the same time.");
        }
        if (upperStat is null)
        {
            // Nothing was copied up as far as the upper shows: the error alone, no result claiming a copy.
            return With(new CopyUpOutcome { Error = error });
        }

        if (st.IsRegular && ((st.Mode & (EntryStat.S_ISUID | EntryStat.S_ISGID)) != 0 || xattrsBefore.ContainsKey("security.capability")))
        {
            var what = new List<string>();
            if ((st.Mode & EntryStat.S_ISUID) != 0)
            {
                what.Add($"setuid (owner uid {st.Uid})");
            }
            if ((st.Mode & EntryStat.S_ISGID) != 0)
            {
                what.Add($"setgid (group gid {st.Gid})");
            }
            if (xattrsBefore.ContainsKey("security.capability"))
            {
                what.Add("file capabilities (security.capability)");
            }
            _log.Warning($"Copied up '{merged}', which is {string.Join(" and ", what)}: the upper layer '{UpperPath}' now holds a privileged executable. Keep the upper layer's parents closed (0700) and mount with nosuid where it is not needed.");
        }
        if (!st.IsDirectory && st.Nlink > 1 && !_index)
        {
            // Without index=on the kernel copies one name of a hard-linked lower file to a file
            // of its own; the other names still show the lower file (checked on 6.18).
            _log.Warning($"Copied up '{merged}', which has {st.Nlink} hard links: the overlay at '{_location.Mount.Target}' is mounted without index=on, so its copy in the upper layer is a file of its own (1 link) and the file's other names still show the lower file, no longer changing with it. Mount with -Option index=on to keep hard links together across copy-up.");
        }
        if (fellBack && status == CopyUpResult.MetadataOnly)
        {
            _log.Warning($"'{merged}' is running, so it could not be opened for writing; only its metadata was copied up (metacopy). Its data follows at the first write.");
        }

        long bytes = status == CopyUpResult.CopiedUp && st.IsRegular ? st.Size : 0;
        _bytes += bytes;
        _log.Verbose($"Copied up '{merged}' from '{source}' with {how}{(bytes > 0 ? $" ({bytes:N0} bytes)" : "")}.");
        var result = new CopyUpResult
        {
            Path = merged,
            UpperPath = upperPath,
            SourceLayer = source,
            ItemType = st.ItemType,
            Bytes = bytes,
            Status = status,
            Duration = clock.Elapsed,
        };
        return With(new CopyUpOutcome { Result = result, Error = error });
    }

    /// <summary>
    /// An item's entry in the upper layer: in the upper directory of its parent's frame when the
    /// lookup opened one (the kernel copies into that directory), otherwise reached from the
    /// upper's root once (the kernel made the parents in the upper during this copy-up).
    /// </summary>
    private bool UpperEntry(DirFrame parentFrame, byte[] nameZ, string relative, out LayerEntry entry)
    {
        string rel = relative.TrimStart('/');
        int slash = rel.LastIndexOf('/');
        string parentRel = slash < 0 ? "" : rel[..slash];
        if (parentFrame.Dirs.Count > 0 && parentFrame.Dirs[0] is { } top && top.Layer == _layers.Upper && top.PathInLayer == parentRel)
        {
            entry = LayerEntry.In(top.Fd, nameZ);
            return true;
        }
        return LayerEntry.TryOpen(_layers.Upper!, rel, out entry);
    }

    /// <summary>True when the layers' lookup of a name the merged directory listed ends at a whiteout.</summary>
    private bool IsWhitedOut(DirFrame parentFrame, string name, byte[] nameZ)
    {
        using var r = _layers.Lookup(parentFrame, name, nameZ, openDirs: false);
        return !r.Exists && r.WhiteoutLayer is not null;
    }

    private static void Compare(in EntryStat before, in EntryStat after, List<string> problems)
    {
        if (before.Mode != after.Mode)
        {
            problems.Add($"mode {Convert.ToString(before.Mode & 0xFFF, 8)} became {Convert.ToString(after.Mode & 0xFFF, 8)}");
        }
        if (before.Uid != after.Uid || before.Gid != after.Gid)
        {
            problems.Add($"owner {before.Uid}:{before.Gid} became {after.Uid}:{after.Gid}");
        }
        if (!before.IsDirectory && before.Size != after.Size)
        {
            problems.Add($"size {before.Size} became {after.Size}");
        }
        if (before.MtimeSec != after.MtimeSec || before.MtimeNsec != after.MtimeNsec)
        {
            problems.Add("the modification time changed");
        }
        if (!before.IsDirectory && (before.AtimeSec != after.AtimeSec || before.AtimeNsec != after.AtimeNsec))
        {
            problems.Add("the access time changed");
        }
        if (before.RdevMajor != after.RdevMajor || before.RdevMinor != after.RdevMinor)
        {
            problems.Add("the device number changed");
        }
    }

    private static unsafe int OpenForWrite(Fd item)
    {
        fixed (byte* p = Native.Utf8Z(item.ProcPath))
        {
            int fd = Native.OpenAt(Native.AT_FDCWD, p, Native.O_WRONLY | Native.O_NONBLOCK | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
            if (fd < 0)
            {
                return Marshal.GetLastPInvokeError();
            }
            Native.Close(fd);
            return 0;
        }
    }

    private OverlayException MapError(string merged, string upperPath, string how, int errno, string relative)
    {
        var inner = new ErrnoException(how, errno, merged);
        switch (errno)
        {
            case Errno.ENOSPC:
            case Errno.EDQUOT:
            case Errno.EFBIG:
                bool left = LayerSet.Stat(_layers.Upper!, relative.TrimStart('/')) is not null;
                return new OverlayException(ErrorIds.CopyUpNoSpace, OverlayErrorCategory.LimitsExceeded,
                    $"The upper layer's file system ran out of space copying up '{merged}' ({Errno.Name(errno)}). " +
                    (left ? $"'{upperPath}' exists in the upper layer." : "The kernel removed its partial copy; nothing of it is in the upper layer."), merged,
                    "Free space on the upper layer's file system and run the command again.", inner);
            case Errno.EROFS:
                return new OverlayException(ErrorIds.OverlayMountedReadOnly, OverlayErrorCategory.InvalidOperation,
                    $"'{merged}' cannot be copied up: the overlay or its upper file system is read-only.", merged,
                    "Remount read-write.", inner);
            case Errno.EOVERFLOW:
                return new OverlayException(ErrorIds.CopyUpFailed, OverlayErrorCategory.InvalidOperation,
                    $"The kernel refused to copy up '{merged}': its owner cannot be mapped into the upper layer's user namespace (EOVERFLOW).", merged,
                    "Check the id mappings of the layers.", inner);
            default:
                return Failed(merged, how, errno);
        }
    }

    private static OverlayException Failed(string merged, string how, int errno)
        => new(ErrorIds.CopyUpFailed, OverlayException.CategoryFor(errno),
            $"The kernel refused to copy up '{merged}' ({how}): {Errno.Describe(errno)} ({Errno.Name(errno)}).", merged,
            errno is Errno.EPERM or Errno.EACCES ? "Check that the item is not immutable and that you run as root." : "Check the kernel log (dmesg).",
            new ErrnoException(how, errno, merged));

    private static OverlayException Vanished(string merged)
        => new(ErrorIds.OverlayPathNotFound, OverlayErrorCategory.ObjectNotFound,
            $"'{merged}' disappeared before it could be copied up.", merged, "Check the path.");

    private static CopyUpOutcome Ok(string merged, string upperPath, string source, in EntryStat st, string status, long bytes, TimeSpan duration)
        => new()
        {
            Result = new CopyUpResult { Path = merged, UpperPath = upperPath, SourceLayer = source, ItemType = st.ItemType, Status = status, Bytes = bytes, Duration = duration },
        };

    /// <summary>One item's outcome, and for a directory to walk: its merged directory, entries and frame.</summary>
    private sealed class ItemOutcome : IDisposable
    {
        internal ItemOutcome(CopyUpOutcome outcome, Fd? dir = null, List<DirEntry>? children = null, DirFrame? frame = null)
        {
            Outcome = outcome;
            Dir = dir;
            Children = children;
            Frame = frame;
        }

        internal CopyUpOutcome Outcome { get; }
        internal Fd? Dir { get; private set; }
        internal List<DirEntry>? Children { get; }
        internal DirFrame? Frame { get; private set; }

        internal DirState ToDirState(string relative, string merged)
        {
            var state = new DirState(Dir!, relative, merged, Frame ?? DirFrame.Empty, Children!);
            Dir = null;
            Frame = null;
            return state;
        }

        public void Dispose()
        {
            Dir?.Dispose();
            Frame?.Dispose();
        }
    }

    private sealed class DirState : IDisposable
    {
        internal DirState(Fd fd, string relative, string merged, DirFrame frame, List<DirEntry> names)
        {
            Fd = fd;
            Relative = relative;
            Merged = merged;
            Frame = frame;
            Names = names;
        }

        internal Fd Fd { get; }
        internal string Relative { get; }
        internal string Merged { get; }
        internal DirFrame Frame { get; }
        internal List<DirEntry> Names { get; }
        internal int Next { get; set; }

        public void Dispose()
        {
            Fd.Dispose();
            Frame.Dispose();
        }
    }
}
