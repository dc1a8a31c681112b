namespace OverlayTools;

/// <summary>
/// Every ErrorId the module emits. They are stable: scripts match on them
/// (FullyQualifiedErrorId is "&lt;ErrorId&gt;,OverlayTools.&lt;Cmdlet&gt;Command").
/// </summary>
public static class ErrorIds
{
    /// <summary>Mounting or dismounting needs root with CAP_SYS_ADMIN (the kernel said EPERM or EACCES, or the euid is not 0).</summary>
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
    /// <summary>With index=on, a lower (or data layer) is the upper or work dir of a mounted overlay, so the kernel refuses it.</summary>
    public const string LowerInUse = "LowerInUse";
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
    /// <summary>The same layers are already mounted read-only on the mount target (mounting again would only stack a copy).</summary>
    public const string OverlayAlreadyMounted = "OverlayAlreadyMounted";
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
    /// <summary>The work dir holds work/incompat/volatile from an earlier volatile mount; the kernel refuses it.</summary>
    public const string WorkDirVolatile = "WorkDirVolatile";
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
    /// <summary>umount2 succeeded, but not on the overlay checked: it had gone or been covered at the last moment, and another mount was taken off.</summary>
    public const string DismountedOtherMount = "DismountedOtherMount";
    /// <summary>mountinfo of a process could not be read.</summary>
    public const string MountInfoUnreadable = "MountInfoUnreadable";
    /// <summary>A literal -Target names no overlay mount.</summary>
    public const string MountNotFound = "MountNotFound";
    /// <summary>An overlay listed in another process's mount namespace was piped into Dismount-Overlay.</summary>
    public const string ForeignMountNamespace = "ForeignMountNamespace";
    /// <summary>The module's own empty lower dir is not usable.</summary>
    public const string EmptyLowerUnusable = "EmptyLowerUnusable";

    // ---- layer stores (issue 3): Docker overlay2 and Podman stores read from disk; Mount-Overlay layer streams ----

    /// <summary>No layer store at -DataRoot, or none at the engines' default roots.</summary>
    public const string LayerStoreNotFound = "LayerStoreNotFound";
    /// <summary>A store of a kind or storage driver the module cannot read (vfs, btrfs, the containerd image store...).</summary>
    public const string LayerStoreUnsupported = "LayerStoreUnsupported";
    /// <summary>A store file cannot be read (permissions, I/O errors).</summary>
    public const string LayerStoreUnreadable = "LayerStoreUnreadable";
    /// <summary>A store file holds what the engine would not write (bad JSON, an id that is no id, a bad number), or a plain file stands where the store keeps a directory.</summary>
    public const string LayerStoreMetadataInvalid = "LayerStoreMetadataInvalid";
    /// <summary>A literal -Image names no image.</summary>
    public const string ImageNotFound = "ImageNotFound";
    /// <summary>An id prefix given to -Image matches several images.</summary>
    public const string ImageAmbiguous = "ImageAmbiguous";
    /// <summary>A literal -Container names no container.</summary>
    public const string ContainerNotFound = "ContainerNotFound";
    /// <summary>An id prefix given to -Container matches several containers.</summary>
    public const string ContainerAmbiguous = "ContainerAmbiguous";
    /// <summary>An image config does not match its id (digest) or lacks its layers.</summary>
    public const string ImageConfigInvalid = "ImageConfigInvalid";
    /// <summary>A layer an image or container needs is not in the store.</summary>
    public const string LayerMissing = "LayerMissing";
    /// <summary>Docker is removing the layer (a -removing dir in the layer database).</summary>
    public const string LayerBeingRemoved = "LayerBeingRemoved";
    /// <summary>Podman marked the layer incomplete (an interrupted pull, build or removal).</summary>
    public const string LayerIncomplete = "LayerIncomplete";
    /// <summary>The layer's content dir (diff) is missing.</summary>
    public const string LayerContentMissing = "LayerContentMissing";
    /// <summary>A cache-id, link file, lower file or l/ symlink leads outside the store, or a symlink replaces a store entry.</summary>
    public const string LayerPathOutsideStore = "LayerPathOutsideStore";
    /// <summary>The store's records of a stack disagree (parent, diff id, chain id, lower file).</summary>
    public const string LayerChainMismatch = "LayerChainMismatch";
    /// <summary>A -Path is no layer of a known store.</summary>
    public const string LayerNotInStore = "LayerNotInStore";
    /// <summary>Layers of more than one image or container were piped into one Mount-Overlay.</summary>
    public const string LayerStreamMixed = "LayerStreamMixed";
    /// <summary>Mount-Overlay: a container's layers were piped in without -ReadOnly and without a fresh -Upper.</summary>
    public const string LayerStreamNeedsUpper = "LayerStreamNeedsUpper";
    /// <summary>Mount-Overlay: the -Upper or -Work given for piped layers belongs to the piped container.</summary>
    public const string LayerStreamUpperNotFresh = "LayerStreamUpperNotFresh";
    /// <summary>Get-OverlayChange: a piped layer belongs to no container (an image's layer, a plain directory), so it has no changes to list.</summary>
    public const string LayerNotOfContainer = "LayerNotOfContainer";

    // ---- containerd store reader (issue 5): bbolt files, metadata, content blobs ----

    /// <summary>The data root holds no containerd store (no io.containerd.metadata.v1.bolt/meta.db).</summary>
    public const string ContainerdStoreNotFound = "ContainerdStoreNotFound";
    /// <summary>A bbolt database file cannot be opened or read (permissions, I/O error, not a regular file).</summary>
    public const string BoltDatabaseUnreadable = "BoltDatabaseUnreadable";
    /// <summary>A file is not a bbolt database (wrong magic, too short, empty).</summary>
    public const string BoltNotADatabase = "BoltNotADatabase";
    /// <summary>A bbolt database has a format version this reader does not know.</summary>
    public const string BoltVersionUnsupported = "BoltVersionUnsupported";
    /// <summary>A bbolt database is damaged: bad meta checksums, pages out of range, page cycles, bad elements.</summary>
    public const string BoltDatabaseCorrupt = "BoltDatabaseCorrupt";
    /// <summary>A bbolt database is shorter than its meta page says (truncated copy or disk full).</summary>
    public const string BoltDatabaseTruncated = "BoltDatabaseTruncated";
    /// <summary>A containerd record holds a value that cannot be used (bad digest, id, kind or name).</summary>
    public const string ContainerdMetadataInvalid = "ContainerdMetadataInvalid";
    /// <summary>A manifest, index or config blob is missing from the content store.</summary>
    public const string ContainerdBlobMissing = "ContainerdBlobMissing";
    /// <summary>A content blob is unreadable, too large, not JSON of the expected shape, or does not match its digest.</summary>
    public const string ContainerdBlobInvalid = "ContainerdBlobInvalid";
    /// <summary>A snapshot an image or container needs is not in the overlayfs snapshotter.</summary>
    public const string ContainerdSnapshotMissing = "ContainerdSnapshotMissing";
    /// <summary>An image has no manifest for this platform that is unpacked in the overlayfs snapshotter.</summary>
    public const string ContainerdImageNotUnpacked = "ContainerdImageNotUnpacked";
    /// <summary>A container uses a snapshotter other than overlayfs.</summary>
    public const string ContainerdUnsupportedSnapshotter = "ContainerdUnsupportedSnapshotter";
    /// <summary>A -Namespace names no containerd namespace in the store.</summary>
    public const string ContainerdNamespaceNotFound = "ContainerdNamespaceNotFound";

    // Copy-on-write tools (Invoke-OverlayCopyUp, Get-OverlayChange, Resolve-OverlayPath).
    /// <summary>The path is not on an overlay file system, or on one this process's mount table does not list.</summary>
    public const string PathNotOnOverlay = "PathNotOnOverlay";
    /// <summary>The path does not exist (in the merged view).</summary>
    public const string OverlayPathNotFound = "OverlayPathNotFound";
    /// <summary>The path is longer than the kernel takes (PATH_MAX, 4096 bytes), or one of its names is longer than 255 bytes.</summary>
    public const string PathTooLong = "PathTooLong";
    /// <summary>The overlay has no upper layer (a read-only overlay), so nothing can be copied up.</summary>
    public const string OverlayHasNoUpper = "OverlayHasNoUpper";
    /// <summary>The overlay (or its upper file system) is mounted read-only.</summary>
    public const string OverlayMountedReadOnly = "OverlayMountedReadOnly";
    /// <summary>The layer directories of a mounted overlay cannot be found from this process (relative or vanished paths).</summary>
    public const string OverlayLayersUnreachable = "OverlayLayersUnreachable";
    /// <summary>-MetadataOnly on an overlay mounted without metacopy=on.</summary>
    public const string MetacopyNotEnabled = "MetacopyNotEnabled";
    /// <summary>The upper file system has not enough free space for the copy.</summary>
    public const string CopyUpNoSpace = "CopyUpNoSpace";
    /// <summary>The kernel refused or failed the copy-up.</summary>
    public const string CopyUpFailed = "CopyUpFailed";
    /// <summary>After the copy-up the item differs from what it was (mode, owner, size, times or xattrs).</summary>
    public const string CopyUpChangedItem = "CopyUpChangedItem";
    /// <summary>Reading the layers for a change list failed.</summary>
    public const string ChangeWalkFailed = "ChangeWalkFailed";

    // ---- mount lifecycle hardening (issue 7) ------------------------------------------------
    // Failures the hardening tests found a place for; the busy, in-use (UpperInUse/WorkInUse, now
    // also in other mount namespaces), read-only fallback and d_type cases reuse the ids above.

    /// <summary>A layer passed to the kernel by path (kernels before 6.13) named another directory by the time the kernel looked it up (SecurityError).</summary>
    public const string LayerChanged = "LayerChanged";
}
