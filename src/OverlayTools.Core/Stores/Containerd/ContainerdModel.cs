using System;
using System.Collections.Generic;

namespace OverlayTools.Stores.Containerd;

/// <summary>An image as a namespace lists it: its name and target, nothing read from the content store yet.</summary>
internal sealed class ContainerdImageEntry
{
    /// <summary>The containerd namespace.</summary>
    public string Namespace { get; init; } = "";
    /// <summary>The full reference containerd stores, such as docker.io/library/nginx:latest.</summary>
    public string Name { get; init; } = "";
    /// <summary>Digest of the image's target (an index or a manifest); empty when the record lacks one.</summary>
    public string Digest { get; init; } = "";
    /// <summary>Media type of the target.</summary>
    public string MediaType { get; init; } = "";
    /// <summary>When the image record was created in containerd.</summary>
    public DateTime? Created { get; init; }
}

/// <summary>A container as a namespace lists it, without its snapshots.</summary>
internal sealed class ContainerdContainerEntry
{
    /// <summary>The containerd namespace.</summary>
    public string Namespace { get; init; } = "";
    /// <summary>Container id.</summary>
    public string Id { get; init; } = "";
    /// <summary>The image name recorded for the container, if any.</summary>
    public string? Image { get; init; }
    /// <summary>The snapshotter of its root file system.</summary>
    public string Snapshotter { get; init; } = "";
    /// <summary>The name of its snapshot in the namespace (snapshotKey).</summary>
    public string SnapshotName { get; init; } = "";
    /// <summary>When the container record was created.</summary>
    public DateTime? Created { get; init; }
}

/// <summary>A snapshot directory found by its path, and what uses it.</summary>
internal sealed class ContainerdLayerMatch
{
    /// <summary>The namespace the snapshot belongs to.</summary>
    public string Namespace { get; init; } = "";
    /// <summary>The snapshot's name in the namespace (a chain id for image layers, the container's key otherwise).</summary>
    public string SnapshotName { get; init; } = "";
    /// <summary>The snapshotter's key (&lt;namespace&gt;/&lt;n&gt;/&lt;name&gt;).</summary>
    public string SnapshotKey { get; init; } = "";
    /// <summary>The snapshot's numeric id.</summary>
    public string SnapshotId { get; init; } = "";
    /// <summary>Active, View or Committed.</summary>
    public string Kind { get; init; } = "";
    /// <summary>The snapshot's content directory (…/snapshots/&lt;id&gt;/fs).</summary>
    public string Path { get; init; } = "";
    /// <summary>The snapshot's work directory (…/snapshots/&lt;id&gt;/work) for an active snapshot.</summary>
    public string? Work { get; init; }
    /// <summary>The chain id, for a committed (image layer) snapshot named by one.</summary>
    public string? ChainId { get; init; }
    /// <summary>The containers whose root file system this active snapshot is.</summary>
    public IReadOnlyList<string> ContainerIds { get; init; } = [];
}

/// <summary>One layer of a containerd image, with the snapshot directory that holds its content.</summary>
internal sealed class ContainerdLayer
{
    /// <summary>Position from the bottom of the image (0 = base layer).</summary>
    public int Index { get; init; }
    /// <summary>Digest of the uncompressed layer tar (rootfs.diff_ids in the image config).</summary>
    public string DiffId { get; init; } = "";
    /// <summary>Chain id: the committed snapshot's name in the namespace.</summary>
    public string ChainId { get; init; } = "";
    /// <summary>Digest of the layer blob in the manifest (compressed), when the manifest lists it.</summary>
    public string? BlobDigest { get; init; }
    /// <summary>Media type of the layer blob, when the manifest lists it.</summary>
    public string? MediaType { get; init; }
    /// <summary>Size of the layer blob in the manifest (compressed bytes), when listed.</summary>
    public long? CompressedSize { get; init; }
    /// <summary>The snapshotter's key for the committed snapshot (&lt;namespace&gt;/&lt;n&gt;/&lt;chain id&gt;).</summary>
    public string SnapshotKey { get; init; } = "";
    /// <summary>The snapshot's numeric id (the directory name under snapshots/).</summary>
    public string SnapshotId { get; init; } = "";
    /// <summary>The layer's content directory: &lt;snapshotter root&gt;/snapshots/&lt;id&gt;/fs.</summary>
    public string Path { get; init; } = "";
    /// <summary>Bytes the unpacked layer uses on disk, as containerd measured it on commit; null when not recorded.</summary>
    public long? Size { get; init; }
    /// <summary>Inodes the unpacked layer uses, as containerd measured it; null when not recorded.</summary>
    public long? Inodes { get; init; }
    /// <summary>When the layer was built (config history), if known.</summary>
    public DateTime? Created { get; init; }
    /// <summary>The build step that made the layer (config history created_by), if known.</summary>
    public string? CreatedBy { get; init; }
    /// <summary>The history comment, if any.</summary>
    public string? Comment { get; init; }
}

/// <summary>An image in one containerd namespace, with its layers top first.</summary>
internal sealed class ContainerdImage
{
    /// <summary>The containerd namespace (moby for Docker, k8s.io for Kubernetes).</summary>
    public string Namespace { get; init; } = "";
    /// <summary>The full reference containerd stores, such as docker.io/library/nginx:latest.</summary>
    public string Name { get; init; } = "";
    /// <summary>Digest of the image's target (an index or a manifest).</summary>
    public string Digest { get; init; } = "";
    /// <summary>Media type of the target.</summary>
    public string MediaType { get; init; } = "";
    /// <summary>Digest of the manifest used for this platform.</summary>
    public string ManifestDigest { get; init; } = "";
    /// <summary>Digest of the image config: the image id Docker and crictl show.</summary>
    public string ConfigDigest { get; init; } = "";
    /// <summary>os/architecture[/variant] from the config.</summary>
    public string? Platform { get; init; }
    /// <summary>When the image was built (config), if known.</summary>
    public DateTime? Created { get; init; }
    /// <summary>Layers, top (last applied) first.</summary>
    public IReadOnlyList<ContainerdLayer> Layers { get; init; } = [];
}

/// <summary>A container (or an active snapshot) with the directories an overlay mount of it uses.</summary>
internal sealed class ContainerdContainer
{
    /// <summary>The containerd namespace.</summary>
    public string Namespace { get; init; } = "";
    /// <summary>Container id.</summary>
    public string Id { get; init; } = "";
    /// <summary>The image name recorded for the container, if any.</summary>
    public string? Image { get; init; }
    /// <summary>The snapshotter that holds its root file system (always overlayfs here).</summary>
    public string Snapshotter { get; init; } = "";
    /// <summary>The snapshot's name in the namespace (the container's snapshotKey).</summary>
    public string SnapshotName { get; init; } = "";
    /// <summary>The snapshotter's key for it (&lt;namespace&gt;/&lt;n&gt;/&lt;name&gt;).</summary>
    public string SnapshotKey { get; init; } = "";
    /// <summary>The snapshot's numeric id.</summary>
    public string SnapshotId { get; init; } = "";
    /// <summary>Active (read-write) or View (read-only).</summary>
    public string Kind { get; init; } = "";
    /// <summary>The upper directory (snapshots/&lt;id&gt;/fs) for an active snapshot; null for a view.</summary>
    public string? Upper { get; init; }
    /// <summary>The work directory (snapshots/&lt;id&gt;/work) for an active snapshot; null for a view.</summary>
    public string? Work { get; init; }
    /// <summary>The lower directories, top first: what containerd passes as lowerdir.</summary>
    public IReadOnlyList<string> Lowers { get; init; } = [];
    /// <summary>Snapshot ids of the lowers, top first.</summary>
    public IReadOnlyList<string> LowerSnapshotIds { get; init; } = [];
    /// <summary>When the container record was created, if known.</summary>
    public DateTime? Created { get; init; }
}

/// <summary>What one read of a containerd store found, with the errors of items it could not read.</summary>
internal sealed class ContainerdInventory
{
    /// <summary>The containerd root directory that was read.</summary>
    public string DataRoot { get; init; } = "";
    /// <summary>Every namespace in the store (whether or not it was read).</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];
    /// <summary>Images read, in namespace and name order.</summary>
    public IReadOnlyList<ContainerdImage> Images { get; init; } = [];
    /// <summary>Containers read, in namespace and id order.</summary>
    public IReadOnlyList<ContainerdContainer> Containers { get; init; } = [];
    /// <summary>One error per image, container or namespace that could not be read.</summary>
    public IReadOnlyList<OverlayException> Errors { get; init; } = [];
    /// <summary>Transaction id of meta.db that was read.</summary>
    public ulong MetadataTransaction { get; init; }
    /// <summary>Transaction id of the overlayfs snapshotter's metadata.db that was read (0 when it does not exist).</summary>
    public ulong SnapshotterTransaction { get; init; }
    /// <summary>True when the store kept changing while it was read (a busy daemon), so items may disagree.</summary>
    public bool Unsettled { get; init; }
}

/// <summary>What to read from a containerd store.</summary>
internal sealed class ContainerdReadOptions
{
    /// <summary>Namespaces to read; null or empty for all.</summary>
    public IReadOnlyList<string>? Namespaces { get; init; }
    /// <summary>Read images.</summary>
    public bool Images { get; init; } = true;
    /// <summary>Read containers.</summary>
    public bool Containers { get; init; } = true;
    /// <summary>Which images to read, by stored name; null for all. Other images cost nothing.</summary>
    public Func<string, bool>? ImageFilter { get; init; }
    /// <summary>Which containers to read, by id; null for all.</summary>
    public Func<string, bool>? ContainerFilter { get; init; }
}
