using System;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Mounts;
using OverlayTools.Stores.Bolt;

namespace OverlayTools.Stores.Containerd;

/// <summary>
/// Reads containerd's overlayfs snapshotter store from disk, with the daemon running or stopped:
/// meta.db (namespaces, images, containers, snapshot names), the overlayfs snapshotter's
/// metadata.db (snapshot ids, kinds, parents, sizes) and the manifests and configs in the content
/// store. Nothing is locked or written.
/// </summary>
public static class ContainerdStore
{
    /// <summary>containerd's default root.</summary>
    public const string DefaultDataRoot = "/var/lib/containerd";

    /// <summary>The snapshotter this reader understands.</summary>
    public const string OverlaySnapshotter = "overlayfs";

    /// <summary>How often a read is repeated when the daemon commits while it runs.</summary>
    internal const int MaxAttempts = 4;

    /// <summary>meta.db below a data root.</summary>
    public static string MetadataDbPath(string dataRoot) => Trim(dataRoot) + "/io.containerd.metadata.v1.bolt/meta.db";

    /// <summary>The overlayfs snapshotter's root below a data root.</summary>
    public static string SnapshotterRoot(string dataRoot) => Trim(dataRoot) + "/io.containerd.snapshotter.v1.overlayfs";

    /// <summary>The overlayfs snapshotter's metadata.db below a data root.</summary>
    public static string SnapshotterDbPath(string dataRoot) => SnapshotterRoot(dataRoot) + "/metadata.db";

    /// <summary>The content store below a data root.</summary>
    public static string ContentRoot(string dataRoot) => Trim(dataRoot) + "/io.containerd.content.v1.content";

    /// <summary>True when <paramref name="dataRoot"/> holds a containerd metadata database.</summary>
    public static bool IsStore(string dataRoot)
        => FileSystem.TryLStat(MetadataDbPath(dataRoot), out _) is { } st && st.IsRegularFile;

    /// <summary>
    /// Reads the store. Items that cannot be read become entries of
    /// <see cref="ContainerdInventory.Errors"/>; a store that cannot be read at all (no meta.db, a
    /// damaged meta.db root) throws <see cref="OverlayException"/>. When the daemon commits while
    /// the read runs, the read is repeated so that both databases describe one moment.
    /// </summary>
    public static ContainerdInventory Read(string dataRoot, ContainerdReadOptions? options = null, IOperationLog? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataRoot);
        options ??= new ContainerdReadOptions();
        log ??= NullOperationLog.Instance;
        string root = Trim(dataRoot);
        if (!dataRoot.StartsWith('/'))
        {
            throw new OverlayException(ErrorIds.ContainerdStoreNotFound, OverlayErrorCategory.InvalidArgument,
                $"The containerd data root '{dataRoot}' is not an absolute path.", dataRoot, "Give the full path, such as /var/lib/containerd.");
        }
        if (!IsStore(root))
        {
            throw new OverlayException(ErrorIds.ContainerdStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{root}' holds no containerd store: {MetadataDbPath(root)} does not exist.", root,
                $"Give the containerd root directory (the 'root' in /etc/containerd/config.toml; default {DefaultDataRoot}).");
        }

        ContainerdInventory? last = null;
        for (int attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var meta = BoltDb.Open(MetadataDbPath(root));
            using var snap = FileSystem.TryLStat(SnapshotterDbPath(root), out _) is null ? null : BoltDb.Open(SnapshotterDbPath(root));
            log.Verbose($"Reading the containerd store at '{root}': meta.db at transaction {meta.TxId}" +
                (snap is null ? ", no overlayfs snapshotter database." : $", the overlayfs snapshotter's metadata.db at transaction {snap.TxId}."));
            ContainerdInventory? result = null;
            OverlayException? failure = null;
            try
            {
                result = new ContainerdReader(root, meta, snap, options, log, cancellationToken).Read();
            }
            catch (OverlayException e) when (attempt < MaxAttempts)
            {
                failure = e;
            }
            bool settled = meta.ReadCurrentTxId() == meta.TxId && (snap is null || snap.ReadCurrentTxId() == snap.TxId);
            if (log.DebugEnabled)
            {
                log.Debug($"pread: {meta.PagesRead} pages of meta.db" + (snap is null ? "" : $", {snap.PagesRead} pages of metadata.db") + (settled ? "; no commit meanwhile" : "; the daemon committed meanwhile"));
            }
            if (settled)
            {
                if (failure is not null)
                {
                    throw failure;
                }
                return result!;
            }
            if (result is not null)
            {
                last = result;
            }
            log.Verbose("containerd committed while the store was read; reading it again.");
        }
        if (last is null)
        {
            // Every attempt failed while the daemon kept writing: one more read reports the error.
            using var meta = BoltDb.Open(MetadataDbPath(root));
            using var snap = FileSystem.TryLStat(SnapshotterDbPath(root), out _) is null ? null : BoltDb.Open(SnapshotterDbPath(root));
            last = new ContainerdReader(root, meta, snap, options, log, cancellationToken).Read();
        }
        log.Warning($"containerd kept committing while its store at '{root}' was read ({MaxAttempts} tries); some items may be out of date.");
        return new ContainerdInventory
        {
            DataRoot = last.DataRoot,
            Namespaces = last.Namespaces,
            Images = last.Images,
            Containers = last.Containers,
            Errors = last.Errors,
            MetadataTransaction = last.MetadataTransaction,
            SnapshotterTransaction = last.SnapshotterTransaction,
            Unsettled = true,
        };
    }

    /// <summary>The root without trailing slashes ("" for "/", so that joined paths stay single-slashed).</summary>
    private static string Trim(string dataRoot) => dataRoot.TrimEnd('/');
}
