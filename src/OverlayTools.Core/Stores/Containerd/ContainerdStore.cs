using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using OverlayTools.Interop;
using OverlayTools.Mounts;

namespace OverlayTools.Stores.Containerd;

/// <summary>
/// Reads containerd's overlayfs snapshotter store from disk, with the daemon running or stopped:
/// meta.db (namespaces, images, containers, snapshot names), the overlayfs snapshotter's
/// metadata.db (snapshot ids, kinds, parents, sizes) and the manifests and configs in the content
/// store. Nothing is locked or written.
/// </summary>
internal static class ContainerdStore
{
    /// <summary>containerd's default root.</summary>
    public const string DefaultDataRoot = "/var/lib/containerd";

    /// <summary>The snapshotter this reader understands.</summary>
    public const string OverlaySnapshotter = "overlayfs";

    /// <summary>How often a read is repeated when the daemon commits while it runs.</summary>
    internal const int MaxAttempts = 8;

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

    /// <summary>Throws <see cref="OverlayException"/> unless <paramref name="dataRoot"/> is an absolute path holding meta.db.</summary>
    internal static void CheckRoot(string dataRoot)
    {
        if (!dataRoot.StartsWith('/'))
        {
            throw new OverlayException(ErrorIds.ContainerdStoreNotFound, OverlayErrorCategory.InvalidArgument,
                $"The containerd data root '{dataRoot}' is not an absolute path.", dataRoot, "Give the full path, such as /var/lib/containerd.");
        }
        if (!IsStore(dataRoot))
        {
            throw new OverlayException(ErrorIds.ContainerdStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{dataRoot}' holds no containerd store: {MetadataDbPath(dataRoot)} does not exist.", dataRoot,
                $"Give the containerd root directory (the 'root' in /etc/containerd/config.toml; default {DefaultDataRoot}).");
        }
    }

    /// <summary>
    /// Reads the whole store (or what <paramref name="options"/> selects) into one inventory. Items
    /// that cannot be read become entries of <see cref="ContainerdInventory.Errors"/>; a store that
    /// cannot be read at all (no meta.db, a damaged meta.db root) throws
    /// <see cref="OverlayException"/>. When containerd commits while the read runs, the read is
    /// repeated so that both databases and every item describe one moment. The cmdlets read item by
    /// item through ContainerdLayerStore; this whole read is what the xunit tests compare with ctr.
    /// </summary>
    public static ContainerdInventory Read(string dataRoot, ContainerdReadOptions? options = null, IOperationLog? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataRoot);
        options ??= new ContainerdReadOptions();
        log ??= NullOperationLog.Instance;
        using var reader = ContainerdStoreReader.Open(dataRoot, log);
        ContainerdInventory inventory = ReadAll(reader, options, cancellationToken);
        for (int attempt = 1; reader.HasChanged(); attempt++)
        {
            if (attempt >= MaxAttempts)
            {
                log.Warning($"containerd kept committing while its store at '{reader.DataRoot}' was read ({MaxAttempts} tries); some items may be out of date.");
                return new ContainerdInventory
                {
                    DataRoot = inventory.DataRoot,
                    Namespaces = inventory.Namespaces,
                    Images = inventory.Images,
                    Containers = inventory.Containers,
                    Errors = inventory.Errors,
                    MetadataTransaction = inventory.MetadataTransaction,
                    SnapshotterTransaction = inventory.SnapshotterTransaction,
                    Unsettled = true,
                };
            }
            reader.Refresh();
            inventory = ReadAll(reader, options, cancellationToken);
        }
        return inventory;
    }

    private static ContainerdInventory ReadAll(ContainerdStoreReader reader, ContainerdReadOptions options, CancellationToken ct)
    {
        var errors = new List<OverlayException>();
        var images = new List<ContainerdImage>();
        var containers = new List<ContainerdContainer>();
        var namespaces = new List<string>();
        if (options.Namespaces is { Count: > 0 } wanted)
        {
            foreach (string ns in wanted.Distinct(StringComparer.Ordinal))
            {
                if (reader.Namespaces.Contains(ns, StringComparer.Ordinal))
                {
                    namespaces.Add(ns);
                }
                else
                {
                    errors.Add(reader.NamespaceNotFound(ns));
                }
            }
            namespaces.Sort(StringComparer.Ordinal);
        }
        else
        {
            namespaces.AddRange(reader.Namespaces);
        }

        foreach (string ns in namespaces)
        {
            ct.ThrowIfCancellationRequested();
            if (options.Images)
            {
                foreach (var entry in Listed(() => reader.ListImages(ns), errors, $"The images of namespace '{ns}'"))
                {
                    ct.ThrowIfCancellationRequested();
                    if (options.ImageFilter is null || options.ImageFilter(entry.Name))
                    {
                        Collect(() => reader.GetImage(ns, entry.Name), images, errors, $"Image '{entry.Name}' in namespace '{ns}'");
                    }
                }
            }
            if (options.Containers)
            {
                foreach (var entry in Listed(() => reader.ListContainers(ns), errors, $"The containers of namespace '{ns}'"))
                {
                    ct.ThrowIfCancellationRequested();
                    if (options.ContainerFilter is null || options.ContainerFilter(entry.Id))
                    {
                        Collect(() => reader.GetContainer(ns, entry.Id), containers, errors, $"Container '{entry.Id}' in namespace '{ns}'");
                    }
                }
            }
        }
        return new ContainerdInventory
        {
            DataRoot = reader.DataRoot,
            Namespaces = reader.Namespaces,
            Images = images,
            Containers = containers,
            Errors = errors,
            MetadataTransaction = reader.MetadataTransaction,
            SnapshotterTransaction = reader.SnapshotterTransaction,
        };
    }

    private static IReadOnlyList<T> Listed<T>(Func<IReadOnlyList<T>> list, List<OverlayException> errors, string what)
    {
        try
        {
            return list();
        }
        catch (OverlayException e)
        {
            errors.Add(ForItem(e, what));
            return [];
        }
    }

    private static void Collect<T>(Func<T> read, List<T> into, List<OverlayException> errors, string what)
    {
        try
        {
            into.Add(read());
        }
        catch (OverlayException e)
        {
            errors.Add(ForItem(e, what));
        }
    }

    /// <summary>Prefixes an error with the item it stopped, keeping its id, category, target and advice.</summary>
    internal static OverlayException ForItem(OverlayException e, string item)
        => new(e.ErrorId, e.Category, $"{item}: {e.Message}", e.Target, e.RecommendedAction, e);

    /// <summary>The root without trailing slashes ("" for "/", so that joined paths stay single-slashed).</summary>
    private static string Trim(string dataRoot) => dataRoot.TrimEnd('/');
}
