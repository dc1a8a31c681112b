namespace OverlayTools;

/// <summary>
/// Every ErrorId the module emits. They are stable: scripts match on them
/// (FullyQualifiedErrorId is "&lt;ErrorId&gt;,OverlayTools.&lt;Cmdlet&gt;Command").
/// </summary>
public static class ErrorIds
{
    /// <summary>Mounting needs root (CAP_SYS_ADMIN).</summary>
    public const string NotRoot = "NotRoot";
    /// <summary>The kernel has no overlay file system.</summary>
    public const string OverlayNotSupported = "OverlayNotSupported";
    /// <summary>A path holds a NUL character.</summary>
    public const string PathContainsNul = "PathContainsNul";
    /// <summary>A path is not a file system path (another PowerShell provider).</summary>
    public const string NotAFileSystemPath = "NotAFileSystemPath";
    /// <summary>No lower layer was given.</summary>
    public const string NoLowerLayer = "NoLowerLayer";
    /// <summary>A lower or data layer does not exist.</summary>
    public const string LayerNotFound = "LayerNotFound";
    /// <summary>A layer is not a directory.</summary>
    public const string LayerNotDirectory = "LayerNotDirectory";
    /// <summary>The same directory is given twice as a layer.</summary>
    public const string LayerRepeated = "LayerRepeated";
    /// <summary>A layer cannot be opened (permissions, too long, loops).</summary>
    public const string LayerNotAccessible = "LayerNotAccessible";
    /// <summary>More layers than the kernel's 500.</summary>
    public const string TooManyLayers = "TooManyLayers";
    /// <summary>The upper directory does not exist.</summary>
    public const string UpperNotFound = "UpperNotFound";
    /// <summary>The upper is not a directory.</summary>
    public const string UpperNotDirectory = "UpperNotDirectory";
    /// <summary>The upper lives on an overlay, which cannot be an upper.</summary>
    public const string UpperOnOverlay = "UpperOnOverlay";
    /// <summary>The upper lives on a read-only file system.</summary>
    public const string UpperReadOnly = "UpperReadOnly";
    /// <summary>The upper is also given as a lower.</summary>
    public const string UpperIsLower = "UpperIsLower";
    /// <summary>The upper is already used by a mounted overlay.</summary>
    public const string UpperInUse = "UpperInUse";
    /// <summary>-Work given without -Upper.</summary>
    public const string WorkWithoutUpper = "WorkWithoutUpper";
    /// <summary>The work dir is not a directory.</summary>
    public const string WorkNotDirectory = "WorkNotDirectory";
    /// <summary>The work dir's parent does not exist, so it cannot be created.</summary>
    public const string WorkNotFound = "WorkNotFound";
    /// <summary>The work dir is inside the upper.</summary>
    public const string WorkInsideUpper = "WorkInsideUpper";
    /// <summary>The upper is inside the work dir.</summary>
    public const string UpperInsideWork = "UpperInsideWork";
    /// <summary>Upper and work are on different mounts.</summary>
    public const string UpperWorkDifferentMount = "UpperWorkDifferentMount";
    /// <summary>The work dir holds entries the kernel would wipe.</summary>
    public const string WorkNotEmpty = "WorkNotEmpty";
    /// <summary>The work dir is already used by a mounted overlay.</summary>
    public const string WorkInUse = "WorkInUse";
    /// <summary>The mount target does not exist (and -Force was not given).</summary>
    public const string TargetNotFound = "TargetNotFound";
    /// <summary>The mount target is not a directory.</summary>
    public const string TargetNotDirectory = "TargetNotDirectory";
    /// <summary>The mount target's last component is a symbolic link.</summary>
    public const string TargetIsSymlink = "TargetIsSymlink";
    /// <summary>An -Option name is unknown or names a layer.</summary>
    public const string InvalidOption = "InvalidOption";
    /// <summary>Two options contradict each other.</summary>
    public const string ConflictingOptions = "ConflictingOptions";
    /// <summary>The mount data does not fit the kernel's limit on the mount(2) path.</summary>
    public const string MountOptionsTooLong = "MountOptionsTooLong";
    /// <summary>The kernel refused the mount.</summary>
    public const string MountFailed = "MountFailed";
    /// <summary>The kernel mounted read-only although read-write was asked for.</summary>
    public const string MountFellBackToReadOnly = "MountFellBackToReadOnly";
    /// <summary>The upper file system lacks d_type, so whiteouts would not work.</summary>
    public const string UpperNoDType = "UpperNoDType";
    /// <summary>The path is not mounted (any more).</summary>
    public const string OverlayNotMounted = "OverlayNotMounted";
    /// <summary>The path is a mount, but not an overlay.</summary>
    public const string NotAnOverlayMount = "NotAnOverlayMount";
    /// <summary>The mount is busy: processes hold it.</summary>
    public const string OverlayBusy = "OverlayBusy";
    /// <summary>Unmounting failed for another reason.</summary>
    public const string DismountFailed = "DismountFailed";
    /// <summary>mountinfo of a process could not be read.</summary>
    public const string MountInfoUnreadable = "MountInfoUnreadable";
    /// <summary>A literal -Target names no overlay mount.</summary>
    public const string MountNotFound = "MountNotFound";
    /// <summary>The module's own empty lower dir is not usable.</summary>
    public const string EmptyLowerUnusable = "EmptyLowerUnusable";
    /// <summary>Not Linux.</summary>
    public const string LinuxOnly = "LinuxOnly";

    // ---- mount lifecycle hardening (issue 7) ------------------------------------------------
    // Failures the hardening tests found a place for; the busy, in-use (UpperInUse/WorkInUse, now
    // also in other mount namespaces), read-only fallback and d_type cases reuse the ids above.

    /// <summary>A layer passed to the kernel by path (kernels before 6.13) named another directory by the time the kernel looked it up (SecurityError).</summary>
    public const string LayerChanged = "LayerChanged";
}
