using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>What a successful mount produced.</summary>
public sealed class MountResult
{
    /// <summary>The kernel's id of the new mount.</summary>
    public ulong MountId { get; init; }

    /// <summary>"new mount API" or "mount(2)".</summary>
    public string Api { get; init; } = "";

    /// <summary>
    /// The new mount's mountinfo line, when asked for: read while a descriptor held the mount
    /// (new mount API), or the line mount(2)'s fallback found its mount by; null when not asked
    /// for or not listed.
    /// </summary>
    public MountInfoEntry? Entry { get; init; }
}

/// <summary>
/// Mounts overlays. Every layer, the upper, the work dir and the target are opened once
/// (O_PATH, O_CLOEXEC) and checked; the new mount API then receives the layers as those
/// descriptors (FSCONFIG_SET_FD) where the kernel takes them, and the finished mount is
/// attached with move_mount onto the target descriptor, so no path is resolved twice and no
/// path ever becomes option syntax. mount(2) with escaped option data is the fallback.
/// </summary>
public static class OverlayMounter
{
    private const int MaxFsconfigString = 255;
    private const int MountDataLimit = 4095;

    /// <summary>
    /// Mounts the overlay the spec describes, or throws OverlayException leaving nothing behind.
    /// With <paramref name="readEntry"/>, the result carries the new mount's mountinfo line.
    /// <paramref name="cancel"/> stops a wait for another mount's lock (OperationCanceledException),
    /// and is checked once more before the kernel step: a stopped command mounts nothing.
    /// </summary>
    public static MountResult Mount(OverlaySpec spec, IOperationLog? log = null, bool readEntry = false, CancellationToken cancel = default)
    {
        log ??= NullOperationLog.Instance;
        if (!FileSystem.IsRoot)
        {
            throw new OverlayException(ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied,
                "Mounting an overlay needs root (CAP_SYS_ADMIN); this PowerShell does not run as root.",
                spec.Target, "Run pwsh as root, for example with sudo.");
        }
        Validate(spec);
        spec = WithoutTrailingSlashes(spec);
        using var scope = new MountScope(log, cancel);
        try
        {
            var result = MountCore(spec, scope, log, readEntry);
            scope.Commit();
            return result;
        }
        catch
        {
            scope.Rollback();
            throw;
        }
    }

    /// <summary>
    /// The checks <see cref="Mount"/> makes before it changes anything (every layer, the upper,
    /// a work dir that exists, the target unless -Force would create it), with the same errors,
    /// for -WhatIf and -Confirm: no directory is created, no lock taken, the kernel not called.
    /// An upper or work dir that an overlay of this mount namespace uses is refused as the mount
    /// refuses it; what only the kernel finds (a user in another namespace, its own refusals) is
    /// not checked.
    /// </summary>
    public static void Preview(OverlaySpec spec)
    {
        Validate(spec);
        spec = WithoutTrailingSlashes(spec);
        using var scope = new MountScope(NullOperationLog.Instance, default);
        var seen = new Dictionary<(ulong, uint, uint), string>();
        var lowers = spec.Lower.Select(p => OpenLayer(p, "lower", scope, seen)).ToList();
        var datas = spec.DataLower.Select(p => OpenLayer(p, "data", scope, seen)).ToList();
        if (spec.Upper is not null)
        {
            var upper = OpenUpper(spec.Upper, scope, seen);
            string workPath = spec.Work ?? OverlaySpec.DefaultWorkFor(spec.Upper);
            Layer? work = null;
            if (FileSystem.TryLStat(workPath, out _) is not null)
            {
                work = OpenOrCreateWork(workPath, spec.Work is null, upper, scope);
            }
            else if (Nesting(upper.Path, upper.Path, workPath, workPath) is { } nested)
            {
                // The mount would make this work dir inside the upper (or around it), then refuse.
                throw nested;
            }
            CheckNotInUse(upper, work, kernelLogReadable: true, mountTableOnly: spec.Api == MountApi.Legacy);
        }
        if (!spec.CreateTarget || FileSystem.TryLStat(spec.Target, out _) is not null)
        {
            var target = OpenTarget(spec.Target, create: false, scope);
            if (spec.Upper is null)
            {
                CheckNotMountedAlready(lowers, datas, target);
            }
        }
    }

    /// <summary>
    /// Refuses a read-only overlay whose layers are already mounted, read-only, on the target
    /// (Get-OverlayMount piped back, or a runbook run twice): the kernel would stack a second copy
    /// on the first, and one Dismount-Overlay would take off only that copy. A read-write overlay
    /// needs no such check: its upper is in use (UpperInUse). Costs nothing unless the target is
    /// the root of a mount, and the descriptor held on it keeps that mount's id its own.
    /// </summary>
    private static void CheckNotMountedAlready(IReadOnlyList<Layer> lowers, IReadOnlyList<Layer> datas, Target target)
    {
        if (!target.Status.IsMountRoot || target.Status.MountId == 0
            || MountInfo.ReadMount(target.Status.MountId) is not { FsType: "overlay" } entry)
        {
            return;
        }
        var mounted = OverlayMount.FromEntry(entry);
        if (mounted.Upper is null
            && mounted.Lower.SequenceEqual(lowers.Select(l => l.RealPath), StringComparer.Ordinal)
            && mounted.DataLower.SequenceEqual(datas.Select(d => d.RealPath), StringComparer.Ordinal))
        {
            throw new OverlayException(ErrorIds.OverlayAlreadyMounted, OverlayErrorCategory.ResourceExists,
                $"The same layers are already mounted read-only at '{target.Path}' (mount id {entry.MountId}): mounting them again would only stack a copy on that overlay.", target.Path,
                $"Use the overlay that is there; to mount it afresh, run Dismount-Overlay '{target.Path}' first.");
        }
    }

    private static void Validate(OverlaySpec spec)
    {
        if (spec.Lower.Count == 0)
        {
            throw new OverlayException(ErrorIds.NoLowerLayer, OverlayErrorCategory.InvalidArgument,
                "An overlay needs at least one lower layer.", spec.Target, "Give one or more directories with -Lower.");
        }
        int layers = spec.Lower.Count + spec.DataLower.Count;
        if (layers > OverlaySpec.MaxLayers)
        {
            throw new OverlayException(ErrorIds.TooManyLayers, OverlayErrorCategory.LimitsExceeded,
                $"{layers} lower layers were given; the kernel stacks at most {OverlaySpec.MaxLayers}.", spec.Target,
                "Merge some layers into one directory, or mount fewer.");
        }
        if (spec.Work is not null && spec.Upper is null)
        {
            throw new OverlayException(ErrorIds.WorkWithoutUpper, OverlayErrorCategory.InvalidArgument,
                "-Work was given without -Upper; a work dir is only used with an upper layer.", spec.Work,
                "Add -Upper, or drop -Work for a read-only overlay.");
        }
        foreach (var p in spec.Lower.Concat(spec.DataLower).Append(spec.Target).Concat(new[] { spec.Upper, spec.Work }.OfType<string>()))
        {
            if (p.Contains('\0', StringComparison.Ordinal))
            {
                throw new OverlayException(ErrorIds.PathContainsNul, OverlayErrorCategory.InvalidArgument,
                    "A path holds a NUL character, which the kernel would read as the end of the path.", p.Replace("\0", "\\0", StringComparison.Ordinal),
                    "Remove the NUL character from the path.");
            }
        }
    }

    /// <summary>
    /// The spec with trailing slashes removed from every path: "link/" would make the kernel
    /// follow a final symlink even with O_NOFOLLOW or UMOUNT_NOFOLLOW.
    /// </summary>
    private static OverlaySpec WithoutTrailingSlashes(OverlaySpec spec)
    {
        static bool Needs(string? p) => p is not null && p.Length > 1 && p[^1] == '/';
        if (!Needs(spec.Target) && !Needs(spec.Upper) && !Needs(spec.Work) && !spec.Lower.Any(Needs) && !spec.DataLower.Any(Needs))
        {
            return spec;
        }
        return new OverlaySpec
        {
            Lower = spec.Lower.Select(FileSystem.TrimTrailingSlashes).ToList(),
            DataLower = spec.DataLower.Select(FileSystem.TrimTrailingSlashes).ToList(),
            Upper = spec.Upper is null ? null : FileSystem.TrimTrailingSlashes(spec.Upper),
            Work = spec.Work is null ? null : FileSystem.TrimTrailingSlashes(spec.Work),
            Target = FileSystem.TrimTrailingSlashes(spec.Target),
            Options = spec.Options,
            ReadOnly = spec.ReadOnly,
            CreateTarget = spec.CreateTarget,
            Api = spec.Api,
        };
    }

    /// <summary>An opened layer. Its real path (readlink of the descriptor) is only read when needed.</summary>
    private sealed class Layer(string path, Fd fd, FileStatus status, string? realPath = null)
    {
        private string? _realPath = realPath;

        public string Path { get; } = path;
        public Fd Fd { get; } = fd;
        public FileStatus Status { get; } = status;
        public string RealPath => _realPath ??= FileSystem.RealPath(Fd);
    }

    private static MountResult MountCore(OverlaySpec spec, MountScope scope, IOperationLog log, bool readEntry)
    {
        // 1. Open and check every layer once.
        var seen = new Dictionary<(ulong, uint, uint), string>();
        var lowers = new List<Layer>();
        foreach (var p in spec.Lower)
        {
            var l = OpenLayer(p, "lower", scope, seen);
            DebugOpened(log, p, "O_PATH|O_DIRECTORY", l.Fd, l.Status);
            lowers.Add(l);
        }
        var datas = new List<Layer>();
        foreach (var p in spec.DataLower)
        {
            var d = OpenLayer(p, "data", scope, seen);
            DebugOpened(log, p, "O_PATH|O_DIRECTORY", d.Fd, d.Status);
            datas.Add(d);
        }

        Layer? upper = null, work = null;
        bool readOnly = spec.ReadOnly || spec.Upper is null || spec.Options.Any(o => o.Name == "ro");
        if (spec.Upper is not null)
        {
            upper = OpenUpper(spec.Upper, scope, seen);
            DebugOpened(log, upper.Path, "O_PATH|O_DIRECTORY", upper.Fd, upper.Status);
            work = OpenOrCreateWork(spec.Work ?? OverlaySpec.DefaultWorkFor(spec.Upper), spec.Work is null, upper, scope);
            DebugOpened(log, work.Path, "O_PATH|O_DIRECTORY", work.Fd, work.Status);
        }

        // 2. The target: opened once, never through a symlink in its last component.
        var target = OpenTarget(spec.Target, spec.CreateTarget, scope);
        DebugOpened(log, target.Path, "O_PATH|O_NOFOLLOW", target.Fd, target.Status);
        if (upper is null)
        {
            CheckNotMountedAlready(lowers, datas, target);
        }

        // 3. One mount per upper at a time; the kernel's own "in use" report (read from its log
        //    after the super block is made) names any other user, in any namespace; this
        //    namespace's overlays are also checked up front (below). Two racing mounts may both find the default work dir missing: one makes it, the
        //    other finds it made (EEXIST); should the maker lose, its rollback leaves the work
        //    dir to the winner (it removes only one that no overlay uses), and it does so still
        //    holding this lock, so no mount of this module can come between.
        //    The kernel's report comes too late for one case: with index=off it only warns, and
        //    goes on to empty (or make) the work dir's work/, under the overlay that uses the
        //    directory as its work dir or upper. So the upper and work dir are checked against
        //    this namespace's overlays first, by what the directories are (a bind mount of a
        //    parent gives the same directory another name), every time: even a work dir this
        //    mount just made may meanwhile be in use by a racing mount that found it made and
        //    took the upper's lock first.
        using var kmsg = KernelLogTail.Start();
        if (upper is not null && work is not null)
        {
            scope.LockUpper(upper.Fd);
            CheckNotInUse(upper, work, kmsg.Available, mountTableOnly: spec.Api == MountApi.Legacy);
        }

        // 4. A single lower without upper needs a second, empty layer beneath it.
        Layer? empty = null;
        if (upper is null && lowers.Count == 1)
        {
            var fd = scope.Own(ModuleEmptyDir.Open());
            empty = new Layer(ModuleEmptyDir.DirPath, fd, FileSystem.Stat(fd, ModuleEmptyDir.DirPath), ModuleEmptyDir.DirPath);
            if (log.VerboseEnabled)
            {
                log.Verbose($"A read-only overlay needs two lower layers; stacking the module's empty layer '{ModuleEmptyDir.DirPath}' beneath '{lowers[0].Path}'.");
            }
        }
        var allLowers = empty is null ? lowers : lowers.Append(empty).ToList();

        var equivalent = new Lazy<string>(() => EquivalentCommand(allLowers, datas, upper, work, spec, readOnly, target.Path));
        if (log.VerboseEnabled)
        {
            log.Verbose($"Mounting overlay at '{target.Path}'. Equivalent: {equivalent.Value}");
        }

        scope.LockCreate();
        scope.Cancel.ThrowIfCancellationRequested();
        ulong mountId = 0;
        MountInfoEntry? entry = null;
        string api = "";
        var layers = new MountLayers(allLowers, datas, upper, work, target, readOnly, kmsg) { ReadEntry = readEntry };
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (spec.Api != MountApi.Legacy && TryMountNewApi(spec, layers, log, out mountId, out entry))
                {
                    api = "new mount API";
                }
                else
                {
                    if (spec.Api is MountApi.NewApi)
                    {
                        throw new OverlayException(ErrorIds.OverlayNotSupported, OverlayErrorCategory.NotImplemented,
                            "This kernel lacks the new mount API pieces the module needs (fsopen, lowerdir+).", spec.Target,
                            "Unset the environment variable OVERLAYTOOLS_MOUNT_API (or set it to auto), which forces the new mount API here, so the module can fall back to mount(2).");
                    }
                    entry = MountLegacy(spec, layers, log);
                    mountId = (ulong)entry.MountId;
                    api = "mount(2)";
                }
                break;
            }
            catch (RetryableInUse e) when (e.Unconfirmed ? attempt == 0 : attempt < InUseRetries)
            {
                // The attempt was undone. With no other user found, the kernel's line may have been
                // another mount's (its log does not say which mount it means): try once more. With
                // users only in other mount namespaces, those may be copies a container runtime
                // makes for an instant (runc init copies every mount before it pivots): wait a
                // little, as for a busy dismount, then refuse.
                Debug(log, e.Unconfirmed
                    ? $"The kernel reported '{e.KernelSays}', but no overlay using this upper or work dir was found; trying once more."
                    : $"The upper or work dir is in use only in other mount namespaces ({e.Error.Message}); retrying in {OverlayUnmounter.BusyRetryDelay.TotalMilliseconds:0} ms.");
                if (!e.Unconfirmed)
                {
                    System.Threading.Thread.Sleep(OverlayUnmounter.BusyRetryDelay);
                }
            }
            catch (RetryableInUse e)
            {
                throw e.Error;
            }
        }
        if (log.VerboseEnabled)
        {
            log.Verbose($"Mounted overlay at '{target.Path}' (mount id {mountId}, {api}).");
        }
        return new MountResult { MountId = mountId, Api = api, Entry = readEntry ? entry : null };
    }

    /// <summary>Everything one mount attempt has opened, handed to the kernel-facing half.</summary>
    private sealed record MountLayers(IReadOnlyList<Layer> Lowers, IReadOnlyList<Layer> Datas, Layer? Upper, Layer? Work, Target Target, bool ReadOnly, KernelLogTail Kmsg)
    {
        /// <summary>The mount this attempt already made (mount(2) path), never reported as another user.</summary>
        public int? OwnMountId { get; init; }

        /// <summary>Read the new mount's mountinfo line (for -PassThru).</summary>
        public bool ReadEntry { get; init; }
    }

    /// <summary>-Debug: which directory a path was opened as (device and inode), so a swap can be told apart.</summary>
    private static void DebugOpened(IOperationLog log, string path, string flags, Fd fd, FileStatus st)
    {
        if (log.DebugEnabled)
        {
            log.Debug($"open('{path}', {flags}) = fd {fd.Value} (dev {st.DevMajor}:{st.DevMinor} ino {st.Inode})");
        }
    }

    /// <summary>
    /// Opens a layer directory O_PATH (owned by <paramref name="scope"/>), or throws the error for a
    /// missing one, a non-directory (each with the role's own ErrorId and hint) or any other errno.
    /// </summary>
    private static Fd OpenLayerDirectory(string path, string role, MountScope scope,
        string notFoundId, string notFoundHint, string notDirectoryId, string notDirectoryHint)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            throw errno switch
            {
                Errno.ENOENT => new OverlayException(notFoundId, OverlayErrorCategory.ObjectNotFound,
                    $"The {role} layer '{path}' does not exist.", path, notFoundHint, new ErrnoException("open", errno, path)),
                Errno.ENOTDIR => new OverlayException(notDirectoryId, OverlayErrorCategory.InvalidArgument,
                    $"The {role} layer '{path}' is not a directory.", path, notDirectoryHint, new ErrnoException("open", errno, path)),
                _ => new OverlayException(ErrorIds.LayerNotAccessible, OverlayException.CategoryFor(errno),
                    $"The {role} layer '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path,
                    "Check the path and its permissions.", new ErrnoException("open", errno, path)),
            };
        }
        scope.Own(fd);
        return fd;
    }

    private static Layer OpenLayer(string path, string role, MountScope scope, Dictionary<(ulong, uint, uint), string> seen)
    {
        var fd = OpenLayerDirectory(path, role, scope,
            ErrorIds.LayerNotFound, "Check the path, or create the directory first.",
            ErrorIds.LayerNotDirectory, "Layers are directories; give the directory that holds the files.");
        var st = FileSystem.Stat(fd, path);
        if (!seen.TryAdd((st.Inode, st.DevMajor, st.DevMinor), path))
        {
            throw new OverlayException(ErrorIds.LayerRepeated, OverlayErrorCategory.InvalidArgument,
                $"The directory '{path}' is given twice as a layer (also as '{seen[(st.Inode, st.DevMajor, st.DevMinor)]}'); the kernel refuses that (ELOOP).", path,
                "Give each layer once.");
        }
        return new Layer(path, fd, st);
    }

    private static Layer OpenUpper(string path, MountScope scope, Dictionary<(ulong, uint, uint), string> lowers)
    {
        var fd = OpenLayerDirectory(path, "upper", scope,
            ErrorIds.UpperNotFound, "Create the directory first (New-Item -ItemType Directory).",
            ErrorIds.UpperNotDirectory, "Give a directory for -Upper.");
        var st = FileSystem.Stat(fd, path);
        var (fsType, flags) = FileSystem.StatFs(fd, path);
        if (fsType == Native.OVERLAYFS_SUPER_MAGIC)
        {
            throw new OverlayException(ErrorIds.UpperOnOverlay, OverlayErrorCategory.InvalidArgument,
                $"The upper layer '{path}' is on an overlay file system; the kernel cannot use an overlay as upper.", path,
                "Put the upper (and work) dir on a regular file system such as ext4, xfs or tmpfs.");
        }
        if ((flags & Native.ST_RDONLY) != 0)
        {
            // The kernel refuses such an upper even for a read-only overlay.
            throw new OverlayException(ErrorIds.UpperReadOnly, OverlayErrorCategory.InvalidArgument,
                $"The upper layer '{path}' is on a read-only file system; the kernel takes no upper there, not even for a read-only overlay.", path,
                "Put the upper on a writable file system, or, for a read-only view, give that directory as the top -Lower and leave out -Upper.");
        }
        if (lowers.ContainsKey((st.Inode, st.DevMajor, st.DevMinor)))
        {
            throw new OverlayException(ErrorIds.UpperIsLower, OverlayErrorCategory.InvalidArgument,
                $"The upper layer '{path}' is also a lower layer.", path, "Use a separate, empty directory as the upper.");
        }
        return new Layer(path, fd, st);
    }

    private static Layer OpenOrCreateWork(string path, bool isDefault, Layer upper, MountScope scope)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY | (isDefault ? Native.O_NOFOLLOW : 0), out int errno);
        bool created = false;
        if (fd is null && errno == Errno.ENOENT)
        {
            var (parent, name) = SplitParent(path);
            var parentFd = FileSystem.TryOpen(parent, Native.O_PATH | Native.O_DIRECTORY, out int perrno)
                ?? throw new OverlayException(ErrorIds.WorkNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The work dir '{path}' cannot be created: its parent '{parent}' does not exist.", path,
                    "Create the parent directory, or give an existing empty directory with -Work.", new ErrnoException("open", perrno, parent));
            scope.Own(parentFd);
            int e = FileSystem.MkdirAt(parentFd.Value, name, 0x1C0 /* 0700 */);
            if (e == Errno.EEXIST)
            {
                // Made meanwhile (by a mount that does not take the module's lock): not ours.
                fd = FileSystem.TryOpenAt(parentFd.Value, name, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno);
            }
            else if (e != 0)
            {
                throw new OverlayException(ErrorIds.WorkNotFound, OverlayException.CategoryFor(e),
                    $"The work dir '{path}' cannot be created: {Errno.Describe(e)} ({Errno.Name(e)}).", path,
                    "Give an existing empty directory on the upper's file system with -Work.", new ErrnoException("mkdir", e, path));
            }
            else
            {
                fd = FileSystem.TryOpenAt(parentFd.Value, name, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno);
                if (fd is not null)
                {
                    scope.Created(parentFd, parent, name, FileSystem.Stat(fd, path));
                    created = true;
                }
            }
        }
        if (fd is null)
        {
            throw errno switch
            {
                Errno.ENOTDIR or Errno.ELOOP => new OverlayException(ErrorIds.WorkNotDirectory, OverlayErrorCategory.InvalidArgument,
                    $"The work dir '{path}' is not a directory.", path, "Give a directory for -Work.", new ErrnoException("open", errno, path)),
                _ => new OverlayException(ErrorIds.LayerNotAccessible, OverlayException.CategoryFor(errno),
                    $"The work dir '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path,
                    "Check the path and its permissions.", new ErrnoException("open", errno, path)),
            };
        }
        scope.Own(fd);
        var st = FileSystem.Stat(fd, path);
        var work = new Layer(path, fd, st);
        if (created)
        {
            scope.SetCreatedWorkFd(fd, st, () => MountNamespaces.FindUsers(null, work.RealPath, workStatus: st).Count > 0);
        }

        if (st.MountId != upper.Status.MountId)
        {
            throw new OverlayException(ErrorIds.UpperWorkDifferentMount, OverlayErrorCategory.InvalidArgument,
                $"The upper '{upper.Path}' and the work dir '{path}' are on different mounts; the kernel needs both on the same mount.", path,
                isDefault
                    ? "The upper is a mount point, so the default work dir beside it is on another mount: give -Work on the upper's mount."
                    : "Give a -Work directory on the same mount as the upper (a sibling of the upper usually is).");
        }
        // Nesting seen in the names given is refused here; nesting through a symbolic link (which
        // needs both real paths, two readlinks every mount would pay) is found when the work dir
        // read below or the kernel refuses, and reported the same way.
        if (Nesting(upper, work, real: false) is { } nested)
        {
            throw nested;
        }

        // One directory read tells both whether the work dir holds anything the kernel would
        // wipe, and whether the file system reports entry types (d_type), without which the
        // kernel mounts anyway but whiteouts (deletions) do not work.
        var probe = FileSystem.ProbeDirectory(fd, 4, path);
        if (!probe.ReportsDType)
        {
            throw new OverlayException(ErrorIds.UpperNoDType, OverlayErrorCategory.InvalidArgument,
                $"The upper '{upper.Path}' is on a file system that does not report entry types (d_type), so deletions in the overlay (whiteouts) would not work; the kernel would only warn.", upper.Path,
                "Put the upper and work dir on a file system with d_type (ext4, tmpfs, xfs made with ftype=1, btrfs).");
        }
        if (!created)
        {
            var foreign = probe.Names.Where(n => n is not ("work" or "index")).Take(3).ToList();
            if (foreign.Count > 0)
            {
                throw Nesting(upper, work, real: true) ?? new OverlayException(ErrorIds.WorkNotEmpty, OverlayErrorCategory.InvalidOperation,
                    $"The work dir '{path}' holds {string.Join(", ", foreign.Select(f => "'" + f + "'"))}; the kernel empties its work dir when mounting, so that would be lost.", path,
                    "Give an empty directory with -Work, or move those entries away.");
            }
        }
        return work;
    }

    /// <summary>
    /// WorkInsideUpper or UpperInsideWork when one of the two directories is (or is inside) the
    /// other, by the paths given or, with <paramref name="real"/>, by the kernel's real paths; else null.
    /// </summary>
    private static OverlayException? Nesting(Layer upper, Layer work, bool real)
        => Nesting(upper.Path, real ? upper.RealPath : upper.Path.TrimEnd('/'), work.Path, real ? work.RealPath : work.Path.TrimEnd('/'));

    /// <summary>The same, for an upper and work dir shown as <paramref name="upperPath"/> and <paramref name="workPath"/> and compared as <paramref name="u"/> and <paramref name="w"/>.</summary>
    private static OverlayException? Nesting(string upperPath, string u, string workPath, string w)
    {
        if (w == u || IsUnder(w, u))
        {
            return new OverlayException(ErrorIds.WorkInsideUpper, OverlayErrorCategory.InvalidArgument,
                $"The work dir '{workPath}' is inside the upper '{upperPath}'; the kernel needs them in separate subtrees.", workPath,
                "Use a work dir beside the upper, not inside it.");
        }
        if (IsUnder(u, w))
        {
            return new OverlayException(ErrorIds.UpperInsideWork, OverlayErrorCategory.InvalidArgument,
                $"The upper '{upperPath}' is inside the work dir '{workPath}'; the kernel needs them in separate subtrees.", workPath,
                "Use a work dir beside the upper, not around it.");
        }
        return null;
    }

    /// <summary>
    /// Refuses an upper or work dir that an overlay in this mount namespace already uses, and a
    /// work dir whose work/ or index/ is another overlay's upper or work dir (the kernel empties
    /// a work dir's work/ when mounting), with the same errors as the kernel's report gets. The
    /// overlays are listed with listmount(2) and statmount(2) (what their dirs are is looked up
    /// once per mount, so a directory renamed after that is still recognised), and compared by
    /// what the directories are (device and inode), else by real path.
    /// </summary>
    /// <remarks>With <paramref name="mountTableOnly"/> (OVERLAYTOOLS_MOUNT_API=legacy, which stands in for a kernel before 6.8) the overlays are read from mountinfo, as on kernels without listmount.</remarks>
    private static void CheckNotInUse(Layer upper, Layer? work, bool kernelLogReadable, bool mountTableOnly)
    {
        string how = kernelLogReadable
            ? "Found in this mount namespace before mounting"
            : "Found in this mount namespace before mounting; the kernel log, which would tell of users in other namespaces, cannot be read here";
        var inner = new List<(string Name, FileStatus Status)>();
        foreach (var name in work is null ? [] : new[] { "work", "index" })
        {
            if (FileSystem.TryStatAt(work!.Fd.Value, name, follow: false, out _) is { IsDirectory: true } st)
            {
                inner.Add((name, st));
            }
        }
        var upperUsers = new List<OverlayUser>();
        var workUsers = new List<OverlayUser>();
        var innerUsers = new List<(OverlayUser User, string Name)>();
        Overlap? overlap = null;
        Surroundings? ours = null;
        foreach (var o in LiveOverlayDirs.Read(mountTableOnly))
        {
            if (Uses(o, upper) is { } ur)
            {
                upperUsers.Add(new OverlayUser(null, "", o.MountPoint, ur));
            }
            else if (work is not null && Uses(o, work) is { } wr)
            {
                workUsers.Add(new OverlayUser(null, "", o.MountPoint, wr));
            }
            else
            {
                foreach (var (name, st) in inner)
                {
                    if (MountNamespaces.Role(o.UpperStatus, o.WorkStatus, st, st) is { } role)
                    {
                        innerUsers.Add((new OverlayUser(null, "", o.MountPoint, role), name));
                        break;
                    }
                }
                if (overlap is null && innerUsers.Count == 0)
                {
                    overlap = FindOverlap(o, upper, work, ours ??= new Surroundings());
                }
            }
        }
        if (upperUsers.Count > 0)
        {
            throw InUseError(upper, isUpper: true, upperUsers, how + ".");
        }
        if (workUsers.Count > 0)
        {
            throw InUseError(work!, isUpper: false, workUsers, how + ": with index=off the kernel would only have warned, and emptied that overlay's work dir under it.");
        }
        if (innerUsers.Count > 0)
        {
            var (user, name) = innerUsers[0];
            throw new OverlayException(ErrorIds.WorkInUse, OverlayErrorCategory.ResourceBusy,
                $"The work dir '{work!.Path}' holds '{name}', which is the {user.Role} of {user}; {(name == "work" ? "the kernel empties a work dir's work/ when mounting" : "the kernel keeps its inode index in a work dir's index/ (index=on)")}, which would destroy or corrupt what that overlay keeps there. ({how}.)",
                work.Path, $"Give another, empty directory with -Work, or dismount '{user.MountPoint}' first.");
        }
        if (overlap is not null)
        {
            throw OverlapError(overlap, how);
        }
    }

    /// <summary>
    /// A new overlay's upper or work dir (<see cref="Ours"/>) that is inside, or holds, the upper
    /// or work dir of the live overlay <see cref="Theirs"/> (<see cref="TheirRole"/>, named
    /// <see cref="TheirDir"/> in its options).
    /// </summary>
    private sealed record Overlap(Layer Ours, bool OursIsUpper, bool OursInside, LiveOverlay Theirs, string TheirRole, string? TheirDir);

    /// <summary>
    /// What the new overlay's upper and work dir are among, looked up once per check and only
    /// when some overlay is mounted: the directories above each within its mount, and this
    /// namespace's mount table with where each is within its file system.
    /// </summary>
    private sealed class Surroundings
    {
        private readonly Dictionary<Layer, List<FileStatus>> _above = [];
        private readonly Dictionary<Layer, FsLocation?> _at = [];
        private Dictionary<int, MountInfoEntry>? _mounts;

        internal List<FileStatus> Above(Layer dir)
            => _above.TryGetValue(dir, out var a) ? a : _above[dir] = FileSystem.AncestorsInMount(dir.Fd.Value, dir.Status);

        internal Dictionary<int, MountInfoEntry> Mounts => _mounts ??= FsLocation.MountTable();

        internal FsLocation? At(Layer dir)
            => _at.TryGetValue(dir, out var l) ? l : _at[dir] = FsLocation.Of(dir.RealPath, dir.Status, Mounts);
    }

    /// <summary>
    /// Whether the upper or work dir of the new overlay lies inside one of the live overlay
    /// <paramref name="o"/>'s (the kernel counts every directory below an overlay's upper or work
    /// dir as in use: with index=off it only warns), or holds one of them (the kernel does not
    /// look: writes through the new overlay, or its work dir's cleanup, would change that
    /// overlay's dirs under it). First by what the directories are: the walk up from ours finds
    /// theirs even if renamed since it was first seen, but stops at the root of our mount; then
    /// by where both are within their file system, which a bind mount of a subdirectory does
    /// not hide.
    /// </summary>
    private static Overlap? FindOverlap(LiveOverlay o, Layer upper, Layer? work, Surroundings ours)
    {
        var mine = work is null ? new[] { (Dir: upper, IsUpper: true) } : [(Dir: upper, IsUpper: true), (Dir: work, IsUpper: false)];
        var theirs = new[] { (Role: "upper", Name: o.Upper, Status: o.UpperStatus), (Role: "work dir", Name: o.Work, Status: o.WorkStatus) };
        foreach (var m in mine)
        {
            foreach (var t in theirs)
            {
                if (t.Status is { } st && ours.Above(m.Dir).Exists(a => a.SameFile(st)))
                {
                    return new Overlap(m.Dir, m.IsUpper, true, o, t.Role, t.Name);
                }
            }
        }
        var (theirUpper, theirWork) = o.Locations(ours.Mounts);
        foreach (var m in mine)
        {
            foreach (var (role, name, at) in new[] { ("upper", o.Upper, theirUpper), ("work dir", o.Work, theirWork) })
            {
                if (ours.At(m.Dir) is not { } here || at is not { } there)
                {
                    continue;
                }
                if (here.IsInside(there) || there.IsInside(here))
                {
                    return new Overlap(m.Dir, m.IsUpper, here.IsInside(there), o, role, name);
                }
            }
        }
        return null;
    }

    /// <summary>UpperInUse or WorkInUse for an upper or work dir inside, or around, a live overlay's.</summary>
    private static OverlayException OverlapError(Overlap x, string how)
    {
        string what = x.OursIsUpper ? "upper" : "work dir";
        string theirs = x.TheirDir is null ? $"the {x.TheirRole}" : $"'{x.TheirDir}', the {x.TheirRole}";
        string mountPoint = x.Theirs.MountPoint;
        string why = x.OursInside
            ? "the kernel counts every directory inside an overlay's upper or work dir as in use by that overlay, and with index=off would only warn"
            : x.OursIsUpper
                ? "writes through the new overlay would change that overlay's layer under it"
                : "the kernel empties a work dir's work/ when mounting, which would destroy what that overlay keeps there";
        string message = x.OursInside
            ? $"The {what} '{x.Ours.Path}' is inside {theirs} of the overlay mounted at '{mountPoint}'; {why}. ({how}.)"
            : $"The {what} '{x.Ours.Path}' holds {theirs} of the overlay mounted at '{mountPoint}'; {why}. ({how}.)";
        string action = x.OursInside
            ? $"Use {(x.OursIsUpper ? "an upper" : "a work dir")} outside {(x.TheirDir is null ? "that directory" : $"'{x.TheirDir}'")}, or dismount '{mountPoint}' first (Dismount-Overlay -Target '{mountPoint}')."
            : $"Use {(x.OursIsUpper ? "an upper" : "a work dir")} that does not hold it, or dismount '{mountPoint}' first (Dismount-Overlay -Target '{mountPoint}').";
        return new OverlayException(x.OursIsUpper ? ErrorIds.UpperInUse : ErrorIds.WorkInUse, OverlayErrorCategory.ResourceBusy,
            message, x.Ours.Path, action);
    }

    /// <summary>
    /// What the live overlay <paramref name="o"/> uses <paramref name="dir"/> as ("upper", "work
    /// dir", or null): by what the directories are, else, where its dirs could not be looked up,
    /// by real path.
    /// </summary>
    private static string? Uses(LiveOverlay o, Layer dir)
        => MountNamespaces.Role(o.UpperStatus, o.WorkStatus, dir.Status, dir.Status)
            ?? (o.UpperStatus is null || o.WorkStatus is null ? MountNamespaces.Role(o.Upper, o.Work, dir.RealPath, dir.RealPath) : null);

    private sealed record Target(string Path, Fd Fd, FileStatus Status);

    /// <summary>
    /// Opens the target once, O_PATH|O_NOFOLLOW: a symlink in its last component is opened as the
    /// link itself and refused, so a link swapped in at any moment can never steer the mount;
    /// the mount is later attached to exactly this descriptor.
    /// </summary>
    private static Target OpenTarget(string path, bool create, MountScope scope)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_NOFOLLOW, out int errno);
        if (fd is null && errno == Errno.ENOENT && create)
        {
            fd = CreateDirectories(path, scope);
        }
        else if (fd is not null)
        {
            scope.Own(fd);
        }
        if (fd is null)
        {
            throw errno == Errno.ENOENT
                ? new OverlayException(ErrorIds.TargetNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The mount target '{path}' does not exist.", path, "Create the directory, or add -Force to have Mount-Overlay create it.", new ErrnoException("open", errno, path))
                : new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(errno),
                    $"The mount target '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path, "Check the path and its permissions.", new ErrnoException("open", errno, path));
        }
        var st = FileSystem.Stat(fd, path);
        if (st.IsSymlink)
        {
            throw SymlinkTarget(path);
        }
        if (!st.IsDirectory)
        {
            throw new OverlayException(ErrorIds.TargetNotDirectory, OverlayErrorCategory.InvalidArgument,
                $"The mount target '{path}' is not a directory.", path, "Mount onto an (empty) directory.");
        }
        return new Target(path, fd, st);
    }

    private static OverlayException SymlinkTarget(string path)
        => new(ErrorIds.TargetIsSymlink, OverlayErrorCategory.SecurityError,
            $"The mount target '{path}' is a symbolic link; the module mounts only onto a real directory, so a swapped link cannot steer a root mount elsewhere.", path,
            "Give the directory the link points to.");

    /// <summary>
    /// Creates the missing directories of <paramref name="path"/>, each with mkdirat in the
    /// descriptor of its parent and opened from there without following a symlink, and returns
    /// the last one's descriptor (owned by the scope), so no created name is looked up again.
    /// </summary>
    private static Fd CreateDirectories(string path, MountScope scope)
    {
        var missing = new Stack<string>();
        string p = path;
        Fd? parent;
        string parentPath;
        while (true)
        {
            var (par, name) = SplitParent(p);
            missing.Push(name);
            parent = FileSystem.TryOpen(par, Native.O_PATH | Native.O_DIRECTORY, out int perrno);
            if (parent is not null)
            {
                parentPath = par;
                break;
            }
            if (perrno != Errno.ENOENT || par is "/" or ".")
            {
                throw new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(perrno),
                    $"The mount target '{path}' cannot be created: '{par}' cannot be opened ({Errno.Name(perrno)}).", path, "Check the path.",
                    new ErrnoException("open", perrno, par));
            }
            p = par;
        }
        scope.Own(parent);
        while (missing.Count > 0)
        {
            var name = missing.Pop();
            string dir = parentPath == "/" ? "/" + name : parentPath + "/" + name;
            int e = FileSystem.MkdirAt(parent.Value, name, 0x1ED /* 0755 */);
            if (e != 0 && e != Errno.EEXIST)
            {
                throw new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(e),
                    $"The mount target '{dir}' cannot be created: {Errno.Describe(e)} ({Errno.Name(e)}).", path, "Check the path and its permissions.", new ErrnoException("mkdir", e, dir));
            }
            var child = FileSystem.TryOpenAt(parent.Value, name, Native.O_PATH | Native.O_NOFOLLOW, out int oerrno)
                ?? throw new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(oerrno),
                    $"The mount target '{dir}' cannot be opened after creating it: {Errno.Describe(oerrno)} ({Errno.Name(oerrno)}).", path, "Check the path.", new ErrnoException("open", oerrno, dir));
            scope.Own(child);
            var st = FileSystem.Stat(child, dir);
            if (st.IsSymlink)
            {
                throw missing.Count == 0 ? SymlinkTarget(dir)
                    : new OverlayException(ErrorIds.TargetNotFound, OverlayErrorCategory.SecurityError,
                        $"The mount target '{path}' cannot be created: '{dir}' turned into a symbolic link while it was being created.", path, "Check who else writes to that directory.");
            }
            if (!st.IsDirectory)
            {
                throw new OverlayException(ErrorIds.TargetNotDirectory, OverlayErrorCategory.InvalidArgument,
                    $"The mount target '{path}' cannot be created: '{dir}' is not a directory.", path, "Check the path.");
            }
            if (e == 0)
            {
                scope.Created(parent, parentPath, name, st);
            }
            parent = child;
            parentPath = dir;
        }
        return parent;
    }

    internal static (string Parent, string Name) SplitParent(string path)
    {
        var trimmed = path.Length > 1 ? path.TrimEnd('/') : path;
        int slash = trimmed.LastIndexOf('/');
        if (slash < 0)
        {
            return (".", trimmed);
        }
        return (slash == 0 ? "/" : trimmed[..slash], trimmed[(slash + 1)..]);
    }

    private static bool IsUnder(string path, string dir)
    {
        var d = dir.TrimEnd('/');
        return path.Length > d.Length + 1 && path.StartsWith(d + "/", StringComparison.Ordinal);
    }

    // ---- new mount API -------------------------------------------------------------------

    private static bool TryMountNewApi(OverlaySpec spec, MountLayers ls, IOperationLog log, out ulong mountId, out MountInfoEntry? entry)
    {
        mountId = 0;
        entry = null;
        int raw = Native.FsOpen("overlay", Native.FSOPEN_CLOEXEC);
        if (raw < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"fsopen(\"overlay\") = -1 {Errno.Name(errno)}");
            if (errno == Errno.ENODEV)
            {
                throw new OverlayException(ErrorIds.OverlayNotSupported, OverlayErrorCategory.NotImplemented,
                    "This kernel has no overlay file system.", spec.Target, "Load it with 'modprobe overlay'.");
            }
            if (errno == Errno.EPERM)
            {
                throw new OverlayException(ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied,
                    "The kernel refused to open an overlay file system context (EPERM): CAP_SYS_ADMIN is missing.", spec.Target,
                    "Run pwsh as root with CAP_SYS_ADMIN (not in a restricted container).");
            }
            return false; // ENOSYS: no new mount API; use mount(2).
        }
        using var fs = new Fd(raw);
        Debug(log, $"fsopen(\"overlay\", FSOPEN_CLOEXEC) = {raw}");

        var config = new FsConfigurator(fs, log, setFd: spec.Api != MountApi.NewApiStrings);
        config.SetString("source", "overlay");
        foreach (var l in ls.Lowers)
        {
            if (!config.SetLayer("lowerdir+", l, escape: false))
            {
                return false; // kernel before 6.8: no lowerdir+; mount(2) can still do it.
            }
        }
        foreach (var d in ls.Datas)
        {
            if (!config.SetLayer("datadir+", d, escape: false))
            {
                return false;
            }
        }
        if (ls.Upper is not null && ls.Work is not null)
        {
            if (!config.SetLayer("upperdir", ls.Upper, escape: true) || !config.SetLayer("workdir", ls.Work, escape: true))
            {
                return false;
            }
        }
        uint attrs = 0;
        foreach (var o in spec.Options)
        {
            var info = OverlayOptions.Info(o.Name);
            switch (info.Kind)
            {
                case OptionKind.Value:
                    config.SetString(o.Name, o.Value!);
                    break;
                case OptionKind.Flag:
                    config.SetFlag(o.Name);
                    break;
                default:
                    attrs |= info.MountAttr;
                    break;
            }
        }
        if (ls.ReadOnly)
        {
            attrs |= Native.MOUNT_ATTR_RDONLY;
            if (ls.Upper is not null)
            {
                config.SetFlag("ro");
            }
        }

        ls.Kmsg.Skip(); // only what the kernel says about this super block
        if (Native.FsConfig(fs.Value, Native.FSCONFIG_CMD_CREATE, null, null, 0) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"fsconfig({raw}, FSCONFIG_CMD_CREATE) = -1 {Errno.Name(errno)}");
            var messages = KernelLogTail.ReadFsContextLog(fs).Concat(ls.Kmsg.ReadOverlayMessages()).Distinct().ToList();
            throw KernelRefused(spec, ls, errno, messages, "fsconfig(FSCONFIG_CMD_CREATE)");
        }
        Debug(log, $"fsconfig({raw}, FSCONFIG_CMD_CREATE) = 0");
        var warnings = ls.Kmsg.ReadOverlayMessages();
        CheckKernelWarnings(spec, ls, warnings, log);
        VerifyLayersPassedAsStrings(config.PassedAsStrings);

        int m = Native.FsMount(fs.Value, Native.FSMOUNT_CLOEXEC, attrs);
        if (m < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"fsmount({raw}, FSMOUNT_CLOEXEC, 0x{attrs:x}) = -1 {Errno.Name(errno)}");
            throw KernelRefused(spec, ls, errno, KernelLogTail.ReadFsContextLog(fs), "fsmount");
        }
        using var mnt = new Fd(m);
        Debug(log, $"fsmount({raw}, FSMOUNT_CLOEXEC, 0x{attrs:x}) = {m}");

        // The kernel may quietly make the super block read-only (e.g. the work dir could not be set up).
        var (_, sbFlags) = FileSystem.StatFs(mnt, spec.Target);
        if (!ls.ReadOnly && (sbFlags & Native.ST_RDONLY) != 0)
        {
            throw FellBackToReadOnly(spec, warnings);
        }

        if (Native.MoveMount(mnt.Value, ls.Target.Fd.Value, Native.MOVE_MOUNT_F_EMPTY_PATH | Native.MOVE_MOUNT_T_EMPTY_PATH) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"move_mount({m}, \"\", {ls.Target.Fd.Value} '{ls.Target.Path}', \"\", F_EMPTY_PATH|T_EMPTY_PATH) = -1 {Errno.Name(errno)}");
            throw KernelRefused(spec, ls, errno, [], "move_mount");
        }
        Debug(log, $"move_mount({m}, \"\", {ls.Target.Fd.Value} '{ls.Target.Path}', \"\", F_EMPTY_PATH|T_EMPTY_PATH) = 0");
        mountId = FileSystem.Stat(mnt, spec.Target).MountId;
        if (ls.ReadEntry)
        {
            // mnt still holds the mount, so its id is not free for another mount to take: the line
            // with this id is this mount's. Only that line is parsed. The mount is made: a table
            // that cannot be read leaves the line null rather than failing (and undoing) the mount.
            try
            {
                entry = MountInfo.ReadMount(mountId);
            }
            catch (ErrnoException e)
            {
                Debug(log, $"Reading the new mount's line from mountinfo failed: {e.Message}");
            }
        }
        return true;
    }

    /// <summary>
    /// Where layers went to the kernel as path strings (kernels before 6.13, or forced), the
    /// kernel looked each path up again. Checks that every such path still names the directory
    /// the module opened and checked (same device and inode); a path swapped meanwhile (for a
    /// symlink, say) is refused. Layers passed as descriptors need no such check.
    /// </summary>
    private static void VerifyLayersPassedAsStrings(IEnumerable<Layer> layers)
    {
        foreach (var l in layers)
        {
            var now = FileSystem.TryStatFollow(l.RealPath, out int errno);
            if (now is null || !now.Value.SameFile(l.Status))
            {
                throw new OverlayException(ErrorIds.LayerChanged, OverlayErrorCategory.SecurityError,
                    $"The layer '{l.Path}' was replaced while it was being mounted: '{l.RealPath}' {(now is null ? $"is gone ({Errno.Name(errno)})" : "now names another directory")}. The mount was not kept.", l.Path,
                    "Check who else changes that directory tree; on kernels before 6.13 layers are passed to the kernel by path, so keep them where nobody else can rename them.");
            }
        }
    }

    /// <summary>fsconfig calls with the fd-first, string-second fallback for layers.</summary>
    private sealed class FsConfigurator(Fd fs, IOperationLog log, bool setFd)
    {
        private bool _setFdWorks = setFd;

        /// <summary>Layers handed over as their path (not as a descriptor or its magic link), to check afterwards.</summary>
        internal List<Layer> PassedAsStrings { get; } = [];

        internal void SetString(string key, string value)
        {
            if (Native.FsConfig(fs.Value, Native.FSCONFIG_SET_STRING, key, value, 0) < 0)
            {
                Fail($"fsconfig(SET_STRING, {key}={value})", key + "=" + value);
            }
            Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_STRING, \"{key}\", \"{value}\") = 0");
        }

        internal void SetFlag(string key)
        {
            if (Native.FsConfig(fs.Value, Native.FSCONFIG_SET_FLAG, key, null, 0) < 0)
            {
                Fail($"fsconfig(SET_FLAG, {key})", key);
            }
            Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_FLAG, \"{key}\") = 0");
        }

        /// <summary>Passes one layer; false when the kernel does not know the key (before 6.8).</summary>
        internal bool SetLayer(string key, Layer l, bool escape)
        {
            var layer = l.Fd;
            if (_setFdWorks)
            {
                if (Native.FsConfig(fs.Value, Native.FSCONFIG_SET_FD, key, null, layer.Value) == 0)
                {
                    if (log.DebugEnabled)
                    {
                        log.Debug($"fsconfig({fs.Value}, FSCONFIG_SET_FD, \"{key}\", fd {layer.Value} '{l.RealPath}') = 0");
                    }
                    return true;
                }
                int errno = Marshal.GetLastPInvokeError();
                KernelLogTail.ReadFsContextLog(fs); // drop the complaint
                Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_FD, \"{key}\", fd {layer.Value}) = -1 {Errno.Name(errno)}; passing paths as strings");
                if (errno != Errno.EINVAL)
                {
                    FailLayer(key, l.Path, errno);
                }
                _setFdWorks = false; // kernel before 6.13
            }
            // A string value: the path itself if it fits fsconfig's 255 bytes, else the descriptor's magic link.
            // upperdir/workdir strings are unescaped by the kernel (ovl_mount_dir) but echoed in
            // mountinfo as given, escaped, where nothing tells them from a literal path. So an
            // upper or work dir holding a backslash goes through mount(2) instead, whose
            // mountinfo form is known to be escaped. lowerdir+/datadir+ strings are literal.
            string realPath = l.RealPath;
            string value = escape ? realPath.Replace("\\", "\\\\", StringComparison.Ordinal) : realPath;
            bool byPath = true;
            if (Encoding.UTF8.GetByteCount(value) > MaxFsconfigString)
            {
                value = layer.ProcPath;
                byPath = false;
            }
            else if (escape && realPath.Contains('\\', StringComparison.Ordinal))
            {
                Debug(log, $"'{realPath}' holds a backslash, which the kernel would echo escaped in mountinfo; using mount(2)");
                return false;
            }
            if (Native.FsConfig(fs.Value, Native.FSCONFIG_SET_STRING, key, value, 0) == 0)
            {
                Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_STRING, \"{key}\", \"{value}\") = 0");
                if (byPath)
                {
                    PassedAsStrings.Add(l);
                }
                return true;
            }
            int err = Marshal.GetLastPInvokeError();
            var messages = KernelLogTail.ReadFsContextLog(fs);
            Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_STRING, \"{key}\", \"{value}\") = -1 {Errno.Name(err)} {string.Join("; ", messages)}");
            if (err == Errno.EINVAL && messages.Any(m => m.Contains("Unknown parameter", StringComparison.OrdinalIgnoreCase)))
            {
                return false;
            }
            FailLayer(key, realPath, err, messages);
            return false;
        }

        private void FailLayer(string key, string path, int errno, List<string>? messages = null)
        {
            messages ??= KernelLogTail.ReadFsContextLog(fs);
            throw new OverlayException(errno == Errno.ENOENT ? ErrorIds.LayerNotFound : ErrorIds.MountFailed, OverlayException.CategoryFor(errno),
                $"The kernel refused the layer '{path}' ({key}): {KernelText(errno, messages)}", path,
                "Check the layer directory.", new ErrnoException($"fsconfig({key})", errno, path));
        }

        private void Fail(string call, string option)
        {
            int errno = Marshal.GetLastPInvokeError();
            var messages = KernelLogTail.ReadFsContextLog(fs);
            Debug(log, $"{call} = -1 {Errno.Name(errno)} {string.Join("; ", messages)}");
            throw new OverlayException(ErrorIds.InvalidOption, OverlayException.CategoryFor(errno),
                $"The kernel refused the option '{option}': {KernelText(errno, messages)}", option,
                "Check that this kernel supports the option and value (see Get-Help Mount-Overlay -Parameter Option).",
                new ErrnoException(call, errno));
        }
    }

    // ---- mount(2) fallback ---------------------------------------------------------------

    private static MountInfoEntry MountLegacy(OverlaySpec spec, MountLayers ls, IOperationLog log)
    {
        ulong flags = ls.ReadOnly ? Native.MS_RDONLY : 0;
        foreach (var o in spec.Options)
        {
            flags |= OverlayOptions.Info(o.Name).MsFlag; // 0 for all but mount flags
        }

        // Paths as the kernel resolved them when opened; swap the longest for their descriptor's
        // magic link (/proc/self/fd/N) until the data fits the page mount(2) copies.
        var names = ls.Lowers.Concat(ls.Datas).Concat(new[] { ls.Upper, ls.Work }.OfType<Layer>())
            .ToDictionary(l => l, l => l.RealPath);
        string data = LegacyData(spec, ls.Lowers, ls.Datas, ls.Upper, ls.Work, names);
        foreach (var layer in names.Keys.OrderByDescending(l => l.RealPath.Length).ToList())
        {
            if (Encoding.UTF8.GetByteCount(data) <= MountDataLimit)
            {
                break;
            }
            names[layer] = layer.Fd.ProcPath;
            data = LegacyData(spec, ls.Lowers, ls.Datas, ls.Upper, ls.Work, names);
        }
        int bytes = Encoding.UTF8.GetByteCount(data);
        if (bytes > MountDataLimit)
        {
            throw new OverlayException(ErrorIds.MountOptionsTooLong, OverlayErrorCategory.LimitsExceeded,
                $"The mount(2) option data would be {bytes} bytes; the kernel silently cuts it at {MountDataLimit}, which could drop layers or the upper.", spec.Target,
                "Mount fewer layers, or use a kernel with the new mount API (6.8 or later), where the layer count is the only limit.");
        }

        // The target goes to mount(2) as its descriptor's magic link, so the kernel mounts on
        // exactly the directory that was opened, wherever a racer has moved or relinked its name.
        ls.Kmsg.Skip();
        unsafe
        {
            fixed (byte* src = Native.Utf8Z("overlay"))
            fixed (byte* tgt = Native.Utf8Z(ls.Target.Fd.ProcPath))
            fixed (byte* type = Native.Utf8Z("overlay"))
            fixed (byte* d = Native.Utf8Z(data))
            {
                if (Native.Mount(src, tgt, type, flags, d) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    Debug(log, $"mount(\"overlay\", \"{ls.Target.Fd.ProcPath}\", \"overlay\", 0x{flags:x}, \"{data}\") = -1 {Errno.Name(errno)}");
                    throw KernelRefused(spec, ls, errno, ls.Kmsg.ReadOverlayMessages(), "mount");
                }
            }
        }
        Debug(log, $"mount(\"overlay\", \"{ls.Target.Fd.ProcPath}\", \"overlay\", 0x{flags:x}, \"{data}\") = 0");
        var warnings = ls.Kmsg.ReadOverlayMessages();

        // Find the new mount: the newest overlay on the directory the target descriptor names
        // (its name now, which a racer may have changed); never look the target name up again.
        // A rename between reading that name and reading mountinfo is retried; failing that, the
        // newest overlay whose layers are exactly ours is the one.
        var entry = FindLegacyMount(ls, data);
        if (entry is null)
        {
            throw new OverlayException(ErrorIds.MountFailed, OverlayErrorCategory.InvalidResult,
                $"mount(2) returned success but the new overlay cannot be found in mountinfo (its mount point was renamed meanwhile?). It may still be mounted at '{FileSystem.RealPath(ls.Target.Fd)}'.",
                spec.Target, "Run Get-OverlayMount to find it, and Dismount-Overlay to remove it.");
        }
        try
        {
            CheckKernelWarnings(spec, ls with { OwnMountId = entry.MountId }, warnings, log);
            var layers = OverlayOptionCodec.DecodeSuperOptions(entry.RawSuperOptions);
            if (!ls.ReadOnly && layers.Options.Contains("ro"))
            {
                throw FellBackToReadOnly(spec, warnings);
            }
            VerifyLayersPassedAsStrings(names.Where(kv => kv.Value == kv.Key.RealPath).Select(kv => kv.Key));
        }
        catch
        {
            DetachAfterFailure(entry, log);
            throw;
        }
        return entry;
    }

    private static MountInfoEntry? FindLegacyMount(MountLayers ls, string data)
    {
        string lowerValue = data.StartsWith("lowerdir=", StringComparison.Ordinal)
            ? data["lowerdir=".Length..].Split(',', 2)[0]
            : "";
        for (int attempt = 0; attempt < 5; attempt++)
        {
            string mountPoint = FileSystem.RealPath(ls.Target.Fd);
            var overlays = MountInfo.Read(null, "overlay");
            var entry = overlays.LastOrDefault(e => e.MountPoint == mountPoint);
            if (entry is not null)
            {
                return entry;
            }
            if (attempt == 4)
            {
                // The mount point keeps moving: take the newest overlay with exactly our layers.
                var (lower, datas) = OverlayOptionCodec.SplitLowerdir(lowerValue);
                return overlays.LastOrDefault(e =>
                {
                    var l = OverlayOptionCodec.DecodeSuperOptions(e.RawSuperOptions);
                    return l.LegacyLowerdir && l.Lower.SequenceEqual(lower) && l.DataLower.SequenceEqual(datas);
                });
            }
        }
        return null;
    }

    /// <summary>
    /// Detaches a mount this attempt made and must not keep: opens its mount point without
    /// following a symlink, checks that it is the root of exactly that mount (mount id and
    /// device), and unmounts through the descriptor's magic link, so nothing else can be
    /// unmounted in its place.
    /// </summary>
    private static void DetachAfterFailure(MountInfoEntry entry, IOperationLog log)
    {
        using var fd = FileSystem.TryOpen(entry.MountPoint, Native.O_PATH | Native.O_NOFOLLOW, out int errno);
        var st = fd is null ? (FileStatus?)null : FileSystem.Stat(fd, entry.MountPoint);
        // Mount id and the superblock's device both: the kernel reuses either one on its own
        // once a mount is gone, so someone else's overlay made here meanwhile matches neither pair.
        if (fd is null || st is null || !st.Value.IsMountRoot || st.Value.MountId != (ulong)entry.MountId
            || st.Value.DevMajor != entry.Major || st.Value.DevMinor != entry.Minor)
        {
            log.Warning($"The overlay this attempt mounted at '{entry.MountPoint}' could not be detached safely ({(fd is null ? Errno.Name(errno) : "its mount point now names something else")}); dismount it with Dismount-Overlay.");
            return;
        }
        unsafe
        {
            fixed (byte* t = Native.Utf8Z(fd.ProcPath))
            {
                int r = Native.Umount2(t, Native.MNT_DETACH);
                int e = r == 0 ? 0 : Marshal.GetLastPInvokeError();
                Debug(log, $"umount2(\"{fd.ProcPath}\" '{entry.MountPoint}', MNT_DETACH) = {(r == 0 ? "0" : "-1 " + Errno.Name(e))}");
                if (r != 0)
                {
                    log.Warning($"The overlay this attempt mounted at '{entry.MountPoint}' could not be detached ({Errno.Name(e)}); dismount it with Dismount-Overlay.");
                }
            }
        }
    }

    private static string LegacyData(OverlaySpec spec, IReadOnlyList<Layer> lowers, IReadOnlyList<Layer> datas, Layer? upper, Layer? work, Dictionary<Layer, string> names)
    {
        var sb = new StringBuilder("lowerdir=");
        sb.Append(OverlayOptionCodec.JoinLowerdir(lowers.Select(l => names[l]).ToList(), datas.Select(d => names[d]).ToList()));
        if (upper is not null && work is not null)
        {
            sb.Append(",upperdir=").Append(OverlayOptionCodec.EscapeLegacy(names[upper]));
            sb.Append(",workdir=").Append(OverlayOptionCodec.EscapeLegacy(names[work]));
        }
        foreach (var o in spec.Options)
        {
            if (OverlayOptions.Info(o.Name).Kind != OptionKind.MountFlag)
            {
                sb.Append(',').Append(o.ToString());
            }
        }
        return sb.ToString();
    }

    // ---- shared -------------------------------------------------------------------------

    private static void CheckKernelWarnings(OverlaySpec spec, MountLayers ls, List<string> warnings, IOperationLog log)
    {
        foreach (var w in warnings)
        {
            Debug(log, "kernel: overlayfs: " + w);
        }
        if (warnings.Count == 0)
        {
            return;
        }
        if (ls.Upper is not null && warnings.Any(w => w.Contains("d_type", StringComparison.Ordinal)))
        {
            throw new OverlayException(ErrorIds.UpperNoDType, OverlayErrorCategory.InvalidArgument,
                $"The upper '{spec.Upper}' is on a file system without d_type support, so deletions (whiteouts) would not work: {string.Join("; ", warnings)}. The mount was not kept.", spec.Upper,
                "Put the upper on a file system with d_type (xfs needs ftype=1; ext4 and tmpfs have it).");
        }
        // A line saying "mounting read-only" may be another mount's (the create lock orders only
        // this module's mounts): whether this one fell back is read from its own flags after it
        // is made (statfs ST_RDONLY, or "ro" in its mountinfo line), and reported there.
        foreach (var w in warnings.Where(w => w.Contains("in-use", StringComparison.Ordinal) || w.Contains("in use", StringComparison.Ordinal)))
        {
            // "upperdir is in-use as upperdir/workdir of another mount, accessing files from both
            // mounts will result in undefined behavior." The kernel only warns (index=off), so the
            // module refuses, naming the other user wherever it is.
            if (ls.Upper is not null && w.StartsWith("upperdir", StringComparison.Ordinal))
            {
                throw InUse(spec, ls, isUpper: true, w);
            }
            if (ls.Work is not null && w.StartsWith("workdir", StringComparison.Ordinal))
            {
                throw InUse(spec, ls, isUpper: false, w);
            }
            log.Warning("The kernel says: " + w);
        }
    }

    /// <summary>How often a mount whose upper or work dir is in use only in other mount namespaces is retried.</summary>
    private const int InUseRetries = OverlayUnmounter.BusyRetries;

    /// <summary>
    /// An in-use report from the kernel log that may not last: no other user found (retried once),
    /// or users only in other mount namespaces (retried a few times); reported after that.
    /// </summary>
    private sealed class RetryableInUse(OverlayException error, string kernelSays, bool unconfirmed) : Exception(error.Message, error)
    {
        public OverlayException Error { get; } = error;

        public string KernelSays { get; } = kernelSays;

        public bool Unconfirmed { get; } = unconfirmed;
    }

    /// <summary>The error for an upper or work dir another overlay uses, naming that overlay (in this or another mount namespace).</summary>
    private static Exception InUse(OverlaySpec spec, MountLayers ls, bool isUpper, string kernelSays, bool confirmed = false)
    {
        var layer = isUpper ? ls.Upper! : ls.Work!;
        string source = confirmed
            ? $"The kernel said: \"{kernelSays}\"."
            : $"The kernel only warned: \"{kernelSays}\"; the mount was not kept.";
        var users = MountNamespaces.FindUsers(ls.Upper?.RealPath, ls.Work?.RealPath, ls.OwnMountId, upperStatus: ls.Upper?.Status, workStatus: ls.Work?.Status);
        OverlayException error;
        if (users.Count == 0)
        {
            // The kernel also counts a directory inside another overlay's upper or work dir as in use.
            users = MountNamespaces.FindUsersAbove(FileSystem.AncestorsInMount(layer.Fd.Value, layer.Status), ls.OwnMountId);
            error = users.Count == 0 ? InUseError(layer, isUpper, users, source) : InsideError(layer, isUpper, users, source);
        }
        else
        {
            error = InUseError(layer, isUpper, users, source);
        }
        if (confirmed)
        {
            return error;
        }
        return users.Count == 0 ? new RetryableInUse(error, kernelSays, unconfirmed: true)
            : users.TrueForAll(u => u.OtherNamespace) ? new RetryableInUse(error, kernelSays, unconfirmed: false)
            : error;
    }

    /// <summary>UpperInUse or WorkInUse for <paramref name="layer"/>, inside the upper or work dir of the overlays <paramref name="users"/> (at most five named).</summary>
    private static OverlayException InsideError(Layer layer, bool isUpper, List<OverlayUser> users, string source)
    {
        string what = isUpper ? "upper" : "work dir";
        var first = users[0];
        string action = first.OtherNamespace
            ? $"Use {(isUpper ? "an upper" : "a work dir")} outside it, or dismount it in that namespace (nsenter -t {first.ProcessId} -m umount '{first.MountPoint}')."
            : $"Use {(isUpper ? "an upper" : "a work dir")} outside it, or dismount '{first.MountPoint}' first (Dismount-Overlay -Target '{first.MountPoint}').";
        return new OverlayException(isUpper ? ErrorIds.UpperInUse : ErrorIds.WorkInUse, OverlayErrorCategory.ResourceBusy,
            $"The {what} '{layer.Path}' is inside the {string.Join("; ", users.Take(5).Select(u => $"{u.Role} of {u}"))}; the kernel counts every directory inside an overlay's upper or work dir as in use by that overlay. ({source})",
            layer.Path, action);
    }

    /// <summary>
    /// UpperInUse or WorkInUse for <paramref name="layer"/>, naming the overlays that use it (at
    /// most five) and how to release the first; <paramref name="source"/> says how it was found.
    /// </summary>
    private static OverlayException InUseError(Layer layer, bool isUpper, List<OverlayUser> users, string source)
    {
        string what = isUpper ? "upper" : "work dir";
        string who = users.Count > 0
            ? string.Join("; ", users.Take(5).Select(u => u.ToString()))
            : "an overlay that is not mounted in any mount namespace readable here (perhaps one detached lazily and still held open)";
        string action = users.FirstOrDefault() switch
        {
            { OtherNamespace: true } u => $"Dismount it in that namespace (nsenter -t {u.ProcessId} -m umount '{u.MountPoint}'), end the process that holds the namespace, or use another {what}.",
            { } u => $"Dismount '{u.MountPoint}' first (Dismount-Overlay -Target '{u.MountPoint}'), or use another {what}.",
            _ => $"Wait until the other overlay is released, or use another {what}.",
        };
        return new OverlayException(isUpper ? ErrorIds.UpperInUse : ErrorIds.WorkInUse, OverlayErrorCategory.ResourceBusy,
            $"The {what} '{layer.Path}' is already used by {who}; two overlays sharing an upper or work dir corrupt each other. ({source})",
            layer.Path, action);
    }

    /// <summary>
    /// With index=on the kernel refuses a lower that another overlay uses as upper or work dir
    /// ("lowerdir is in-use as upperdir/workdir of another mount"), without saying which lower:
    /// the error names the lowers (and data layers) found as another overlay's upper or work dir,
    /// and those overlays, in this or another mount namespace.
    /// </summary>
    private static OverlayException LowerInUse(OverlaySpec spec, MountLayers ls, string kernelSays, ErrnoException cause)
    {
        var mine = ls.Lowers.Concat(ls.Datas).Where(l => l.Path != ModuleEmptyDir.DirPath).ToList();
        var byReal = new Dictionary<string, Layer>(StringComparer.Ordinal);
        foreach (var l in mine)
        {
            byReal.TryAdd(l.RealPath.TrimEnd('/'), l);
        }
        var found = MountNamespaces.FindUsersOf(byReal.Keys, ls.OwnMountId);
        const string why = "with index=on the kernel refuses a lower layer that another overlay writes to";
        if (found.Count == 0)
        {
            string which = mine.Count == 1 ? $"The lower '{mine[0].Path}'" : $"One of the lowers ({string.Join(", ", mine.Take(5).Select(l => $"'{l.Path}'"))}{(mine.Count > 5 ? ", ..." : "")})";
            return new OverlayException(ErrorIds.LowerInUse, OverlayErrorCategory.ResourceBusy,
                $"{which} is the upper or work dir of an overlay that is not mounted in any mount namespace readable here (perhaps one detached lazily and still held open); {why}. (The kernel said: \"{kernelSays}\".)",
                mine.Count == 1 ? mine[0].Path : spec.Target,
                "Wait until the other overlay is released, or use a copy of the layer as lower.", cause);
        }
        var (first, firstDir) = found[0];
        string uses = string.Join("; ", found.Take(5).Select(f => $"the lower '{byReal[f.Dir].Path}' is the {f.User.Role} of {f.User}"));
        string action = first.OtherNamespace
            ? $"Dismount it in that namespace (nsenter -t {first.ProcessId} -m umount '{first.MountPoint}'), end the process that holds the namespace, or use a copy of the layer as lower."
            : $"Dismount '{first.MountPoint}' first (Dismount-Overlay -Target '{first.MountPoint}'), or use a copy of the layer as lower.";
        return new OverlayException(ErrorIds.LowerInUse, OverlayErrorCategory.ResourceBusy,
            $"The kernel refused to mount the overlay at '{spec.Target}': {uses}{(found.Count > 5 ? $"; and {found.Count - 5} more" : "")}; {why}. (The kernel said: \"{kernelSays}\".)",
            byReal[firstDir].Path, action + " Without index=on the kernel only warns, and what that overlay writes shows through this one unpredictably.", cause);
    }

    private static OverlayException FellBackToReadOnly(OverlaySpec spec, List<string> warnings)
        => new(ErrorIds.MountFellBackToReadOnly, OverlayErrorCategory.InvalidResult,
            $"The kernel would mount '{spec.Target}' read-only although read-write was asked for{(warnings.Count > 0 ? ": " + string.Join("; ", warnings) : "")}. The mount was not kept.",
            spec.Target, "Check that the work dir is writable and on the upper's file system (and not immutable: lsattr -d), or mount with -ReadOnly.");

    private static OverlayException KernelRefused(OverlaySpec spec, MountLayers ls, int errno, List<string> messages, string call)
    {
        if (errno == Errno.EINVAL && ls.Upper is not null && ls.Work is not null && Nesting(ls.Upper, ls.Work, real: true) is { } nested)
        {
            return nested; // "workdir and upperdir must be separate subtrees", through a symbolic link
        }
        if (errno == Errno.EBUSY && messages.FirstOrDefault(m => m.Contains(" is in-use ", StringComparison.Ordinal)) is { } busy)
        {
            // index=on: the kernel refuses a layer another overlay uses as upper or work dir, and
            // names the role of the layer given: "upperdir", "workdir" or "lowerdir is in-use as
            // upperdir/workdir of another mount, ...".
            switch (busy[..busy.IndexOf(' ', StringComparison.Ordinal)])
            {
                case "upperdir" when ls.Upper is not null:
                    return (OverlayException)InUse(spec, ls, isUpper: true, busy, confirmed: true);
                case "workdir" when ls.Work is not null:
                    return (OverlayException)InUse(spec, ls, isUpper: false, busy, confirmed: true);
                case "lowerdir":
                    return LowerInUse(spec, ls, busy, new ErrnoException(call, errno, spec.Target, busy));
            }
        }
        var text = KernelText(errno, messages);
        var (id, category, action) = errno switch
        {
            // No in-use report read from the kernel log: with an upper, most likely that one.
            Errno.EBUSY when ls.Upper is not null => (ErrorIds.UpperInUse, OverlayErrorCategory.ResourceBusy, "Dismount the overlay that uses this upper or work dir first."),
            Errno.ESTALE => (ErrorIds.MountFailed, OverlayErrorCategory.InvalidData, "With index=on the upper remembers its lowers; mount it with the same lowers, or use a fresh upper and work dir."),
            // An earlier volatile mount left work/incompat/volatile in the work dir: the kernel
            // cannot tell whether the upper was ever synced, and refuses both for good.
            Errno.EINVAL when ls.Work is not null && messages.Any(m => m.Contains("incompat feature 'volatile'", StringComparison.Ordinal)) =>
                (ErrorIds.WorkDirVolatile, OverlayErrorCategory.InvalidData,
                 $"An earlier mount with -Option volatile left '{ls.Work.Path.TrimEnd('/')}/work/incompat/volatile', so the kernel cannot trust this upper: use a fresh upper and work dir. "
                 + $"Only if you know the system has not crashed since and the upper is intact, remove it (Remove-Item -Recurse -LiteralPath '{ls.Work.Path.TrimEnd('/')}/work/incompat') and mount again."),
            _ => KernelErrnoMeaning(errno, ErrorIds.MountFailed, messages.Count > 0 ? "Fix what the kernel names above." : "See the kernel log (dmesg | grep overlayfs) for the reason."),
        };
        return new OverlayException(id, category, $"The kernel refused to mount the overlay at '{spec.Target}': {text}", spec.Target, action,
            new ErrnoException(call, errno, spec.Target, messages.Count > 0 ? string.Join("; ", messages) : null));
    }

    /// <summary>
    /// What an errno from mount(2), the new mount API or umount2 means, shared by Mount-Overlay and
    /// Dismount-Overlay: EPERM and EACCES are NotRoot (no CAP_SYS_ADMIN in the user namespace that
    /// owns the mount namespace); any other errno is <paramref name="otherId"/> with the category
    /// the errno implies and <paramref name="otherAction"/>.
    /// </summary>
    internal static (string Id, OverlayErrorCategory Category, string Action) KernelErrnoMeaning(int errno, string otherId, string otherAction)
        => errno switch
        {
            Errno.EPERM or Errno.EACCES => (ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied, "Run as root with CAP_SYS_ADMIN."),
            _ => (otherId, OverlayException.CategoryFor(errno), otherAction),
        };

    private static string KernelText(int errno, List<string> messages)
        => messages.Count > 0
            ? $"{string.Join("; ", messages)} ({Errno.Name(errno)})"
            : $"{Errno.Describe(errno)} ({Errno.Name(errno)})";

    private static void Debug(IOperationLog log, string message)
    {
        if (log.DebugEnabled)
        {
            log.Debug(message);
        }
    }

    /// <summary>The util-linux command line that would make the same mount, quoted for a POSIX shell.</summary>
    private static string EquivalentCommand(IReadOnlyList<Layer> lowers, IReadOnlyList<Layer> datas, Layer? upper, Layer? work, OverlaySpec spec, bool readOnly, string target)
    {
        var names = lowers.Concat(datas).Concat(new[] { upper, work }.OfType<Layer>()).ToDictionary(l => l, l => l.Path);
        var data = LegacyData(spec, lowers, datas, upper, work, names);
        var flags = spec.Options.Where(o => OverlayOptions.Info(o.Name).Kind == OptionKind.MountFlag).Select(o => o.Name).ToList();
        if (readOnly && !flags.Contains("ro"))
        {
            flags.Insert(0, "ro");
        }
        var opts = flags.Count > 0 ? string.Join(",", flags) + "," + data : data;
        return $"mount -t overlay overlay -o {ShellQuote(opts)} {ShellQuote(target)}";
    }

    internal static string ShellQuote(string s)
        => s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-=,:+@%".Contains(c, StringComparison.Ordinal))
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
