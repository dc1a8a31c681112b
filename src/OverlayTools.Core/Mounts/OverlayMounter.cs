using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>What a successful mount produced.</summary>
public sealed class MountResult
{
    /// <summary>The kernel's id of the new mount.</summary>
    public ulong MountId { get; init; }

    /// <summary>"new mount API" or "mount(2)".</summary>
    public string Api { get; init; } = "";

    /// <summary>The util-linux command that would make the same mount (for -Verbose and docs).</summary>
    public string EquivalentCommand { get; init; } = "";

    /// <summary>Directories the mount created (work dir, target) that stay while it is mounted.</summary>
    public IReadOnlyList<string> CreatedDirectories { get; init; } = [];
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

    /// <summary>Mounts the overlay the spec describes, or throws OverlayException leaving nothing behind.</summary>
    public static MountResult Mount(OverlaySpec spec, IOperationLog? log = null)
    {
        log ??= NullOperationLog.Instance;
        if (!FileSystem.IsRoot)
        {
            throw new OverlayException(ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied,
                "Mounting an overlay needs root (CAP_SYS_ADMIN); this PowerShell does not run as root.",
                spec.Target, "Run pwsh as root, for example with sudo.");
        }
        Validate(spec);
        using var scope = new MountScope(log);
        try
        {
            var result = MountCore(spec, scope, log);
            scope.Commit();
            return result;
        }
        catch
        {
            scope.Rollback();
            throw;
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

    /// <summary>An opened layer. Its real path (readlink of the descriptor) is only read when needed.</summary>
    private sealed class Layer(string path, Fd fd, FileStatus status, string? realPath = null)
    {
        private string? _realPath = realPath;

        public string Path { get; } = path;
        public Fd Fd { get; } = fd;
        public FileStatus Status { get; } = status;
        public string RealPath => _realPath ??= FileSystem.RealPath(Fd);
    }

    private static MountResult MountCore(OverlaySpec spec, MountScope scope, IOperationLog log)
    {
        // 1. Open and check every layer once.
        var seen = new Dictionary<(ulong, uint, uint), string>();
        var lowers = new List<Layer>();
        foreach (var p in spec.Lower)
        {
            lowers.Add(OpenLayer(p, "lower", scope, seen));
        }
        var datas = new List<Layer>();
        foreach (var p in spec.DataLower)
        {
            datas.Add(OpenLayer(p, "data", scope, seen));
        }

        Layer? upper = null, work = null;
        bool readOnly = spec.ReadOnly || spec.Upper is null || spec.Options.Any(o => o.Name == "ro");
        if (spec.Upper is not null)
        {
            upper = OpenUpper(spec.Upper, spec.ReadOnly, scope, seen);
            work = OpenOrCreateWork(spec.Work ?? OverlaySpec.DefaultWorkFor(spec.Upper), spec.Work is null, upper, scope);
            scope.LockUpper(upper.RealPath);
            CheckNotInUse(upper, work);
        }

        // 2. The target: never through a symlink in its last component.
        var target = OpenTarget(spec.Target, spec.CreateTarget, scope);

        // 3. A single lower without upper needs a second, empty layer beneath it.
        Layer? empty = null;
        if (upper is null && lowers.Count == 1)
        {
            var fd = scope.Own(ModuleEmptyDir.Open());
            empty = new Layer(ModuleEmptyDir.DirPath, fd, FileSystem.Stat(fd, ModuleEmptyDir.DirPath), ModuleEmptyDir.DirPath);
            log.Verbose($"A read-only overlay needs two lower layers; stacking the module's empty layer '{ModuleEmptyDir.DirPath}' beneath '{lowers[0].Path}'.");
        }
        var allLowers = empty is null ? lowers : lowers.Append(empty).ToList();

        string equivalent = EquivalentCommand(allLowers, datas, upper, work, spec, readOnly, target.Path);
        log.Verbose($"Mounting overlay at '{target.Path}'. Equivalent: {equivalent}");

        ulong mountId;
        string api;
        bool useNew = spec.Api != MountApi.Legacy;
        if (useNew && TryMountNewApi(spec, allLowers, datas, upper, work, target, readOnly, log, out mountId))
        {
            api = "new mount API";
        }
        else
        {
            if (spec.Api == MountApi.NewApi)
            {
                throw new OverlayException(ErrorIds.OverlayNotSupported, OverlayErrorCategory.NotImplemented,
                    "This kernel lacks the new mount API pieces the module needs (fsopen, lowerdir+).", spec.Target,
                    "Use the default mount API selection so the module can fall back to mount(2).");
            }
            mountId = MountLegacy(spec, allLowers, datas, upper, work, target, readOnly, log);
            api = "mount(2)";
        }
        log.Verbose($"Mounted overlay at '{target.Path}' (mount id {mountId}, {api}).");
        return new MountResult { MountId = mountId, Api = api, EquivalentCommand = equivalent, CreatedDirectories = scope.CreatedPaths };
    }

    private static Layer OpenLayer(string path, string role, MountScope scope, Dictionary<(ulong, uint, uint), string> seen)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            throw errno switch
            {
                Errno.ENOENT => new OverlayException(ErrorIds.LayerNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The {role} layer '{path}' does not exist.", path, "Check the path, or create the directory first.", new ErrnoException("open", errno, path)),
                Errno.ENOTDIR => new OverlayException(ErrorIds.LayerNotDirectory, OverlayErrorCategory.InvalidArgument,
                    $"The {role} layer '{path}' is not a directory.", path, "Layers are directories; give the directory that holds the files.", new ErrnoException("open", errno, path)),
                _ => new OverlayException(ErrorIds.LayerNotAccessible, OverlayException.CategoryFor(errno),
                    $"The {role} layer '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path,
                    "Check the path and its permissions.", new ErrnoException("open", errno, path)),
            };
        }
        scope.Own(fd);
        var st = FileSystem.Stat(fd, path);
        if (!seen.TryAdd((st.Inode, st.DevMajor, st.DevMinor), path))
        {
            throw new OverlayException(ErrorIds.LayerRepeated, OverlayErrorCategory.InvalidArgument,
                $"The directory '{path}' is given twice as a layer (also as '{seen[(st.Inode, st.DevMajor, st.DevMinor)]}'); the kernel refuses that (ELOOP).", path,
                "Give each layer once.");
        }
        return new Layer(path, fd, st);
    }

    private static Layer OpenUpper(string path, bool readOnly, MountScope scope, Dictionary<(ulong, uint, uint), string> lowers)
    {
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            throw errno switch
            {
                Errno.ENOENT => new OverlayException(ErrorIds.UpperNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The upper layer '{path}' does not exist.", path, "Create the directory first (New-Item -ItemType Directory).", new ErrnoException("open", errno, path)),
                Errno.ENOTDIR => new OverlayException(ErrorIds.UpperNotDirectory, OverlayErrorCategory.InvalidArgument,
                    $"The upper layer '{path}' is not a directory.", path, "Give a directory for -Upper.", new ErrnoException("open", errno, path)),
                _ => new OverlayException(ErrorIds.LayerNotAccessible, OverlayException.CategoryFor(errno),
                    $"The upper layer '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path,
                    "Check the path and its permissions.", new ErrnoException("open", errno, path)),
            };
        }
        scope.Own(fd);
        var st = FileSystem.Stat(fd, path);
        var (fsType, flags) = FileSystem.StatFs(fd, path);
        if (fsType == Native.OVERLAYFS_SUPER_MAGIC)
        {
            throw new OverlayException(ErrorIds.UpperOnOverlay, OverlayErrorCategory.InvalidArgument,
                $"The upper layer '{path}' is on an overlay file system; the kernel cannot use an overlay as upper.", path,
                "Put the upper (and work) dir on a regular file system such as ext4, xfs or tmpfs.");
        }
        if (!readOnly && (flags & Native.ST_RDONLY) != 0)
        {
            throw new OverlayException(ErrorIds.UpperReadOnly, OverlayErrorCategory.InvalidArgument,
                $"The upper layer '{path}' is on a read-only file system.", path,
                "Put the upper on a writable file system, or add -ReadOnly.");
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
            using var parentFd = FileSystem.TryOpen(parent, Native.O_PATH | Native.O_DIRECTORY, out int perrno)
                ?? throw new OverlayException(ErrorIds.WorkNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The work dir '{path}' cannot be created: its parent '{parent}' does not exist.", path,
                    "Create the parent directory, or give an existing empty directory with -Work.", new ErrnoException("open", perrno, parent));
            int e = FileSystem.MkdirAt(parentFd.Value, name, 0x1C0 /* 0700 */);
            if (e != 0)
            {
                throw new OverlayException(ErrorIds.WorkNotFound, OverlayException.CategoryFor(e),
                    $"The work dir '{path}' cannot be created: {Errno.Describe(e)} ({Errno.Name(e)}).", path,
                    "Give an existing empty directory on the upper's file system with -Work.", new ErrnoException("mkdir", e, path));
            }
            scope.Created(parent, name, isWorkDir: true);
            created = true;
            fd = FileSystem.TryOpenAt(parentFd.Value, name, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno);
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
            scope.SetCreatedWorkFd(fd);
        }

        if (st.MountId != upper.Status.MountId)
        {
            throw new OverlayException(ErrorIds.UpperWorkDifferentMount, OverlayErrorCategory.InvalidArgument,
                $"The upper '{upper.Path}' and the work dir '{path}' are on different mounts; the kernel needs both on the same mount.", path,
                isDefault
                    ? "The upper is a mount point, so the default work dir beside it is on another mount: give -Work on the upper's mount."
                    : "Give a -Work directory on the same mount as the upper (a sibling of the upper usually is).");
        }
        if (work.RealPath == upper.RealPath || IsUnder(work.RealPath, upper.RealPath))
        {
            throw new OverlayException(ErrorIds.WorkInsideUpper, OverlayErrorCategory.InvalidArgument,
                $"The work dir '{path}' is inside the upper '{upper.Path}'; the kernel needs them in separate subtrees.", path,
                "Use a work dir beside the upper, not inside it.");
        }
        if (IsUnder(upper.RealPath, work.RealPath))
        {
            throw new OverlayException(ErrorIds.UpperInsideWork, OverlayErrorCategory.InvalidArgument,
                $"The upper '{upper.Path}' is inside the work dir '{path}'; the kernel needs them in separate subtrees.", path,
                "Use a work dir beside the upper, not around it.");
        }
        if (!created)
        {
            var foreign = Directory.EnumerateFileSystemEntries(fd.ProcPath)
                .Select(System.IO.Path.GetFileName)
                .Where(n => n is not ("work" or "index"))
                .Take(3).ToList();
            if (foreign.Count > 0)
            {
                throw new OverlayException(ErrorIds.WorkNotEmpty, OverlayErrorCategory.InvalidOperation,
                    $"The work dir '{path}' holds {string.Join(", ", foreign.Select(f => "'" + f + "'"))}; the kernel empties its work dir when mounting, so that would be lost.", path,
                    "Give an empty directory with -Work, or move those entries away.");
            }
        }
        return work;
    }

    private static void CheckNotInUse(Layer upper, Layer work)
    {
        foreach (var m in OverlayMount.ReadAll())
        {
            foreach (var (mine, what) in new[] { (upper, "upper"), (work, "work dir") })
            {
                if (SamePath(m.Upper, mine.RealPath) || SamePath(m.Work, mine.RealPath))
                {
                    throw new OverlayException(what == "upper" ? ErrorIds.UpperInUse : ErrorIds.WorkInUse, OverlayErrorCategory.ResourceBusy,
                        $"The {what} '{mine.Path}' is already used by the overlay mounted at '{m.Target}'; two overlays sharing an upper or work dir corrupt each other.", mine.Path,
                        $"Dismount '{m.Target}' first (Dismount-Overlay -Target '{m.Target}'), or use another directory.");
                }
            }
        }
    }

    private static bool SamePath(string? a, string b) => a is not null && string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.Ordinal);

    private sealed record Target(string Path, Fd Fd);

    private static Target OpenTarget(string path, bool create, MountScope scope)
    {
        var st = FileSystem.TryLStat(path, out int errno);
        if (st is null && errno == Errno.ENOENT && create)
        {
            CreateDirectories(path, scope);
            st = FileSystem.TryLStat(path, out errno);
        }
        if (st is null)
        {
            throw errno == Errno.ENOENT
                ? new OverlayException(ErrorIds.TargetNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"The mount target '{path}' does not exist.", path, "Create the directory, or add -Force to have Mount-Overlay create it.", new ErrnoException("statx", errno, path))
                : new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(errno),
                    $"The mount target '{path}' cannot be examined: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path, "Check the path and its permissions.", new ErrnoException("statx", errno, path));
        }
        if (st.Value.IsSymlink)
        {
            throw SymlinkTarget(path);
        }
        if (!st.Value.IsDirectory)
        {
            throw new OverlayException(ErrorIds.TargetNotDirectory, OverlayErrorCategory.InvalidArgument,
                $"The mount target '{path}' is not a directory.", path, "Mount onto an (empty) directory.");
        }
        var fd = FileSystem.TryOpen(path, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW, out errno);
        if (fd is null)
        {
            // Swapped for a symlink or removed since the check above.
            throw errno is Errno.ENOTDIR or Errno.ELOOP
                ? SymlinkTarget(path)
                : new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(errno),
                    $"The mount target '{path}' cannot be opened: {Errno.Describe(errno)} ({Errno.Name(errno)}).", path, "Check the path.", new ErrnoException("open", errno, path));
        }
        scope.Own(fd);
        var now = FileSystem.Stat(fd, path);
        if (now.IsSymlink || !now.IsDirectory)
        {
            throw SymlinkTarget(path);
        }
        return new Target(path, fd);
    }

    private static OverlayException SymlinkTarget(string path)
        => new(ErrorIds.TargetIsSymlink, OverlayErrorCategory.SecurityError,
            $"The mount target '{path}' is a symbolic link; the module mounts only onto a real directory, so a swapped link cannot steer a root mount elsewhere.", path,
            "Give the directory the link points to.");

    private static void CreateDirectories(string path, MountScope scope)
    {
        var missing = new Stack<string>();
        string? p = path.TrimEnd('/');
        while (!string.IsNullOrEmpty(p) && FileSystem.TryLStat(p, out int e) is null && e == Errno.ENOENT)
        {
            missing.Push(p);
            p = System.IO.Path.GetDirectoryName(p);
        }
        while (missing.Count > 0)
        {
            var dir = missing.Pop();
            var (parent, name) = SplitParent(dir);
            using var parentFd = FileSystem.TryOpen(parent, Native.O_PATH | Native.O_DIRECTORY, out int perrno)
                ?? throw new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(perrno),
                    $"The mount target '{path}' cannot be created: '{parent}' cannot be opened ({Errno.Name(perrno)}).", path, "Check the path.");
            int e = FileSystem.MkdirAt(parentFd.Value, name, 0x1ED /* 0755 */);
            if (e != 0 && e != Errno.EEXIST)
            {
                throw new OverlayException(ErrorIds.TargetNotFound, OverlayException.CategoryFor(e),
                    $"The mount target '{dir}' cannot be created: {Errno.Describe(e)} ({Errno.Name(e)}).", path, "Check the path and its permissions.", new ErrnoException("mkdir", e, dir));
            }
            if (e == 0)
            {
                scope.Created(parent, name, isWorkDir: false);
            }
        }
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

    private static bool TryMountNewApi(OverlaySpec spec, IReadOnlyList<Layer> lowers, IReadOnlyList<Layer> datas, Layer? upper, Layer? work,
        Target target, bool readOnly, IOperationLog log, out ulong mountId)
    {
        mountId = 0;
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

        var config = new FsConfigurator(fs, log);
        config.SetString("source", "overlay");
        foreach (var l in lowers)
        {
            if (!config.SetLayer("lowerdir+", l, escape: false))
            {
                return false; // kernel before 6.8: no lowerdir+; mount(2) can still do it.
            }
        }
        foreach (var d in datas)
        {
            if (!config.SetLayer("datadir+", d, escape: false))
            {
                return false;
            }
        }
        if (upper is not null && work is not null)
        {
            config.SetLayer("upperdir", upper, escape: true);
            config.SetLayer("workdir", work, escape: true);
        }
        uint attrs = 0;
        foreach (var o in spec.Options)
        {
            var info = OverlayOptions.All.First(i => i.Name == o.Name);
            switch (info.Kind)
            {
                case OptionKind.Value:
                    config.SetString(o.Name, o.Value!);
                    break;
                case OptionKind.Flag:
                    config.SetFlag(o.Name);
                    break;
                default:
                    attrs |= AttrFor(o.Name);
                    break;
            }
        }
        if (readOnly)
        {
            attrs |= Native.MOUNT_ATTR_RDONLY;
            if (upper is not null)
            {
                config.SetFlag("ro");
            }
        }

        using var kmsg = KernelLogTail.Start();
        if (Native.FsConfig(fs.Value, Native.FSCONFIG_CMD_CREATE, null, null, 0) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"fsconfig({raw}, FSCONFIG_CMD_CREATE) = -1 {Errno.Name(errno)}");
            var messages = KernelLogTail.ReadFsContextLog(fs).Concat(kmsg.ReadOverlayMessages()).Distinct().ToList();
            throw KernelRefused(spec, errno, messages, "fsconfig(FSCONFIG_CMD_CREATE)");
        }
        Debug(log, $"fsconfig({raw}, FSCONFIG_CMD_CREATE) = 0");
        var warnings = kmsg.ReadOverlayMessages();
        CheckKernelWarnings(spec, warnings, readOnly, log);

        int m = Native.FsMount(fs.Value, Native.FSMOUNT_CLOEXEC, attrs);
        if (m < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"fsmount({raw}, FSMOUNT_CLOEXEC, 0x{attrs:x}) = -1 {Errno.Name(errno)}");
            throw KernelRefused(spec, errno, KernelLogTail.ReadFsContextLog(fs), "fsmount");
        }
        using var mnt = new Fd(m);
        Debug(log, $"fsmount({raw}, FSMOUNT_CLOEXEC, 0x{attrs:x}) = {m}");

        // The kernel may quietly make the super block read-only (e.g. the work dir could not be set up).
        var (_, sbFlags) = FileSystem.StatFs(mnt, spec.Target);
        if (!readOnly && (sbFlags & Native.ST_RDONLY) != 0)
        {
            throw FellBackToReadOnly(spec, warnings);
        }

        if (Native.MoveMount(mnt.Value, target.Fd.Value, Native.MOVE_MOUNT_F_EMPTY_PATH | Native.MOVE_MOUNT_T_EMPTY_PATH) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Debug(log, $"move_mount({m}, \"\", {target.Fd.Value} '{target.Path}', \"\", F_EMPTY_PATH|T_EMPTY_PATH) = -1 {Errno.Name(errno)}");
            throw KernelRefused(spec, errno, [], "move_mount");
        }
        Debug(log, $"move_mount({m}, \"\", {target.Fd.Value} '{target.Path}', \"\", F_EMPTY_PATH|T_EMPTY_PATH) = 0");
        mountId = FileSystem.Stat(mnt, spec.Target).MountId;
        return true;
    }

    private static uint AttrFor(string flag) => flag switch
    {
        "ro" => Native.MOUNT_ATTR_RDONLY,
        "nosuid" => Native.MOUNT_ATTR_NOSUID,
        "nodev" => Native.MOUNT_ATTR_NODEV,
        "noexec" => Native.MOUNT_ATTR_NOEXEC,
        "noatime" => Native.MOUNT_ATTR_NOATIME,
        "nodiratime" => Native.MOUNT_ATTR_NODIRATIME,
        "strictatime" => Native.MOUNT_ATTR_STRICTATIME,
        _ => 0,
    };

    private static ulong MsFlagFor(string flag) => flag switch
    {
        "ro" => Native.MS_RDONLY,
        "nosuid" => Native.MS_NOSUID,
        "nodev" => Native.MS_NODEV,
        "noexec" => Native.MS_NOEXEC,
        "noatime" => Native.MS_NOATIME,
        "nodiratime" => Native.MS_NODIRATIME,
        "strictatime" => Native.MS_STRICTATIME,
        _ => 0,
    };

    /// <summary>fsconfig calls with the fd-first, string-second fallback for layers.</summary>
    private sealed class FsConfigurator(Fd fs, IOperationLog log)
    {
        private bool _setFdWorks = true;

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
            string realPath = l.RealPath;
            string value = escape ? realPath.Replace("\\", "\\\\", StringComparison.Ordinal) : realPath;
            if (Encoding.UTF8.GetByteCount(value) > MaxFsconfigString)
            {
                value = layer.ProcPath;
            }
            if (Native.FsConfig(fs.Value, Native.FSCONFIG_SET_STRING, key, value, 0) == 0)
            {
                Debug(log, $"fsconfig({fs.Value}, FSCONFIG_SET_STRING, \"{key}\", \"{value}\") = 0");
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

    private static ulong MountLegacy(OverlaySpec spec, IReadOnlyList<Layer> lowers, IReadOnlyList<Layer> datas, Layer? upper, Layer? work,
        Target target, bool readOnly, IOperationLog log)
    {
        ulong flags = readOnly ? Native.MS_RDONLY : 0;
        foreach (var o in spec.Options.Where(o => OverlayOptions.All.First(i => i.Name == o.Name).Kind == OptionKind.MountFlag))
        {
            flags |= MsFlagFor(o.Name);
        }

        // Paths as the kernel resolved them when opened; swap the longest for their descriptor's
        // magic link (/proc/self/fd/N) until the data fits the page mount(2) copies.
        var names = lowers.Concat(datas).Concat(new[] { upper, work }.OfType<Layer>())
            .ToDictionary(l => l, l => l.RealPath);
        string data = LegacyData(spec, lowers, datas, upper, work, names);
        foreach (var layer in names.Keys.OrderByDescending(l => l.RealPath.Length).ToList())
        {
            if (Encoding.UTF8.GetByteCount(data) <= MountDataLimit)
            {
                break;
            }
            names[layer] = layer.Fd.ProcPath;
            data = LegacyData(spec, lowers, datas, upper, work, names);
        }
        int bytes = Encoding.UTF8.GetByteCount(data);
        if (bytes > MountDataLimit)
        {
            throw new OverlayException(ErrorIds.MountOptionsTooLong, OverlayErrorCategory.LimitsExceeded,
                $"The mount(2) option data would be {bytes} bytes; the kernel silently cuts it at {MountDataLimit}, which could drop layers or the upper.", spec.Target,
                "Mount fewer layers, or use a kernel with the new mount API (6.8 or later), where the layer count is the only limit.");
        }

        using var kmsg = KernelLogTail.Start();
        unsafe
        {
            fixed (byte* src = Native.Utf8Z("overlay"))
            fixed (byte* tgt = Native.Utf8Z(target.Fd.ProcPath))
            fixed (byte* type = Native.Utf8Z("overlay"))
            fixed (byte* d = Native.Utf8Z(data))
            {
                if (Native.Mount(src, tgt, type, flags, d) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    Debug(log, $"mount(\"overlay\", \"{target.Fd.ProcPath}\", \"overlay\", 0x{flags:x}, \"{data}\") = -1 {Errno.Name(errno)}");
                    throw KernelRefused(spec, errno, kmsg.ReadOverlayMessages(), "mount");
                }
            }
        }
        Debug(log, $"mount(\"overlay\", \"{target.Fd.ProcPath}\", \"overlay\", 0x{flags:x}, \"{data}\") = 0");
        var warnings = kmsg.ReadOverlayMessages();

        // Verify: the target now is the root of an overlay mount, read-write unless asked otherwise.
        using var mounted = FileSystem.Open(target.Path, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW);
        var st = FileSystem.Stat(mounted, target.Path);
        var (type2, sbFlags) = FileSystem.StatFs(mounted, target.Path);
        if (type2 != Native.OVERLAYFS_SUPER_MAGIC || !st.IsMountRoot)
        {
            throw new OverlayException(ErrorIds.MountFailed, OverlayErrorCategory.InvalidResult,
                $"mount(2) returned success but '{target.Path}' is not an overlay mount root.", spec.Target, "Check the kernel log (dmesg).");
        }
        try
        {
            CheckKernelWarnings(spec, warnings, readOnly, log);
            if (!readOnly && (sbFlags & Native.ST_RDONLY) != 0)
            {
                throw FellBackToReadOnly(spec, warnings);
            }
        }
        catch
        {
            mounted.Dispose();
            DetachAfterFailure(target.Path, log);
            throw;
        }
        return st.MountId;
    }

    private static void DetachAfterFailure(string target, IOperationLog log)
    {
        unsafe
        {
            fixed (byte* t = Native.Utf8Z(target))
            {
                int r = Native.Umount2(t, Native.UMOUNT_NOFOLLOW | Native.MNT_DETACH);
                Debug(log, $"umount2(\"{target}\", UMOUNT_NOFOLLOW|MNT_DETACH) = {r}");
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
            var kind = OverlayOptions.All.First(i => i.Name == o.Name).Kind;
            if (kind != OptionKind.MountFlag)
            {
                sb.Append(',').Append(o.ToString());
            }
        }
        return sb.ToString();
    }

    // ---- shared -------------------------------------------------------------------------

    private static void CheckKernelWarnings(OverlaySpec spec, List<string> warnings, bool readOnly, IOperationLog log)
    {
        foreach (var w in warnings)
        {
            Debug(log, "kernel: overlayfs: " + w);
        }
        if (spec.Upper is not null && warnings.Any(w => w.Contains("d_type", StringComparison.Ordinal)))
        {
            throw new OverlayException(ErrorIds.UpperNoDType, OverlayErrorCategory.InvalidArgument,
                $"The upper '{spec.Upper}' is on a file system without d_type support, so deletions (whiteouts) would not work: {string.Join("; ", warnings)}", spec.Upper,
                "Put the upper on a file system with d_type (xfs needs ftype=1; ext4 and tmpfs have it).");
        }
        if (!readOnly && warnings.Any(w => w.Contains("read-only", StringComparison.Ordinal)))
        {
            throw FellBackToReadOnly(spec, warnings);
        }
        foreach (var w in warnings.Where(w => w.Contains("in-use", StringComparison.Ordinal) || w.Contains("in use", StringComparison.Ordinal)))
        {
            log.Warning("The kernel says: " + w);
        }
    }

    private static OverlayException FellBackToReadOnly(OverlaySpec spec, List<string> warnings)
        => new(ErrorIds.MountFellBackToReadOnly, OverlayErrorCategory.InvalidResult,
            $"The kernel would mount '{spec.Target}' read-only although read-write was asked for{(warnings.Count > 0 ? ": " + string.Join("; ", warnings) : "")}. The mount was not kept.",
            spec.Target, "Check that the work dir is writable and on the upper's file system (and not immutable), or mount with -ReadOnly.");

    private static OverlayException KernelRefused(OverlaySpec spec, int errno, List<string> messages, string call)
    {
        var text = KernelText(errno, messages);
        var (id, category, action) = errno switch
        {
            Errno.EPERM or Errno.EACCES => (ErrorIds.NotRoot, OverlayErrorCategory.PermissionDenied, "Run as root with CAP_SYS_ADMIN."),
            Errno.EBUSY => (ErrorIds.UpperInUse, OverlayErrorCategory.ResourceBusy, "Dismount the overlay that uses this upper or work dir first."),
            Errno.ESTALE => (ErrorIds.MountFailed, OverlayErrorCategory.InvalidData, "With index=on the upper remembers its lowers; mount it with the same lowers, or use a fresh upper and work dir."),
            _ => (ErrorIds.MountFailed, OverlayException.CategoryFor(errno), messages.Count > 0 ? "Fix what the kernel names above." : "See the kernel log (dmesg | grep overlayfs) for the reason."),
        };
        return new OverlayException(id, category, $"The kernel refused to mount the overlay at '{spec.Target}': {text}", spec.Target, action,
            new ErrnoException(call, errno, spec.Target, messages.Count > 0 ? string.Join("; ", messages) : null));
    }

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
        var flags = spec.Options.Where(o => OverlayOptions.All.First(i => i.Name == o.Name).Kind == OptionKind.MountFlag).Select(o => o.Name).ToList();
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
