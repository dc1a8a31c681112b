using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using OverlayTools.Interop;
using OverlayTools.Stores.Containerd;

namespace OverlayTools.Stores;

/// <summary>
/// The entry point to layer stores: the known backends, detection of the store kind at a data
/// root, the default roots, and resolving an image or container by name or id across stores.
/// </summary>
public static class LayerStores
{
    /// <summary>
    /// The backends, in the order stores are searched.
    /// </summary>
    public static IReadOnlyList<ILayerStoreBackend> Backends { get; } = [new Overlay2Backend(), new PodmanBackend(), new ContainerdBackend()];

    /// <summary>
    /// The backend whose store is at <paramref name="root"/>, or null. <paramref name="problem"/>
    /// says why a recognised store cannot be read (another storage driver...).
    /// </summary>
    public static ILayerStoreBackend? Detect(string root, out string? problem)
    {
        problem = null;
        foreach (var b in Backends)
        {
            if (b.Probe(root, out problem))
            {
                return b;
            }
        }
        problem = null;
        return null;
    }

    /// <summary>
    /// Opens the store at a data root (its kind detected from what is there). Throws
    /// OverlayException LayerStoreNotFound or LayerStoreUnsupported.
    /// </summary>
    public static ILayerStore Open(string dataRoot)
    {
        var info = FileSystem.TryLStat(dataRoot, out int errno);
        if (info is null && errno == Errno.ENOENT)
        {
            throw new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"The data root '{dataRoot}' does not exist.", dataRoot, StoreHint);
        }
        var backend = Detect(dataRoot, out string? problem);
        if (backend is null)
        {
            // What cannot be looked into is not "no store": say so, with the permission problem.
            throw UnreadableRoot(dataRoot) ?? new OverlayException(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
                $"'{dataRoot}' holds no Docker overlay2 store, no Podman overlay store and no containerd store.", dataRoot,
                StoreHint);
        }
        if (problem is not null)
        {
            throw new OverlayException(ErrorIds.LayerStoreUnsupported, OverlayErrorCategory.NotImplemented, problem, dataRoot,
                "Only Docker's overlay2 driver, the overlay driver of containers/storage (Podman, Buildah, CRI-O) and containerd's overlayfs snapshotter can be read.");
        }
        return backend.Open(dataRoot);
    }

    /// <summary>The default data roots of every backend, configured ones first, without duplicates; they need not exist.</summary>
    public static IReadOnlyList<(ILayerStoreBackend Backend, string Root)> DefaultRoots()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<(ILayerStoreBackend, string)>();
        foreach (var b in Backends)
        {
            foreach (var r in b.DefaultRoots())
            {
                if (seen.Add(r))
                {
                    list.Add((b, r));
                }
            }
        }
        return list;
    }

    /// <summary>
    /// The stores a command reads: those at <paramref name="dataRoots"/> (paths already resolved;
    /// an empty list opens none), or, when it is null, those found at the default roots (roots that
    /// do not exist are passed over). Each store is opened once: roots that lead to one store (its
    /// backend and real root) give one object. A given root that cannot be opened, and finding no
    /// store at all at the default roots (<see cref="NoDefaultStore"/>), go to
    /// <paramref name="error"/>; a default root that holds a store that cannot be read goes to
    /// <paramref name="skipped"/>. Never throws an OverlayException; the caller disposes the stores.
    /// </summary>
    public static List<ILayerStore> OpenStores(IReadOnlyCollection<string>? dataRoots, Action<OverlayException> error, Action<string, OverlayException>? skipped = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        var stores = new List<ILayerStore>();
        void Keep(ILayerStore store)
        {
            if (stores.Any(s => s.Backend == store.Backend && s.Root == store.Root))
            {
                store.Dispose();
            }
            else
            {
                stores.Add(store);
            }
        }
        if (dataRoots is not null)
        {
            foreach (var root in dataRoots)
            {
                try
                {
                    Keep(Open(root));
                }
                catch (OverlayException e)
                {
                    error(e);
                }
            }
            return stores;
        }
        foreach (var (backend, root) in DefaultRoots())
        {
            if (FileSystem.TryLStat(root, out _) is null)
            {
                continue;
            }
            try
            {
                if (!backend.Probe(root, out string? problem))
                {
                    continue;
                }
                if (problem is not null)
                {
                    throw new OverlayException(ErrorIds.LayerStoreUnsupported, OverlayErrorCategory.NotImplemented, problem, root, "Give -DataRoot for a store that can be read.");
                }
                Keep(backend.Open(root));
            }
            catch (OverlayException e)
            {
                skipped?.Invoke(root, e);
            }
        }
        if (stores.Count == 0)
        {
            error(NoDefaultStore());
        }
        return stores;
    }

    /// <summary>
    /// The one container named <paramref name="nameOrId"/> (name, full id or unique id prefix) in
    /// the stores at <paramref name="dataRoots"/> (default: the engines' default roots), with its
    /// layers: UpperDir, WorkDir, MergedDir and LowerDirs are what a diff or a mount needs (sizes
    /// and image details are not read).
    /// Throws OverlayException: LayerStoreNotFound, ContainerNotFound, ContainerAmbiguous, or the
    /// container's own error (a damaged layer).
    /// </summary>
    public static StoreContainer ResolveContainer(string nameOrId, IEnumerable<string>? dataRoots = null)
    {
        var roots = dataRoots?.ToList();
        OverlayException? failed = null;
        var stores = OpenStores(roots is { Count: > 0 } ? roots : null, e => failed ??= e);
        try
        {
            if (failed is not null)
            {
                throw failed;
            }
            var found = new List<(ILayerStore Store, StoreContainerInfo Info)>();
            foreach (var s in stores)
            {
                if (StoreLookup.FindContainer(s.ListContainers(), nameOrId) is { } c)
                {
                    found.Add((s, c));
                }
            }
            if (found.Count == 0)
            {
                throw StoreLookup.NotFound("container", nameOrId, stores);
            }
            if (found.Count > 1)
            {
                throw new OverlayException(ErrorIds.ContainerAmbiguous, OverlayErrorCategory.InvalidArgument,
                    $"'{nameOrId}' names a container in more than one store: {string.Join(", ", found.Select(f => f.Store.Root))}.", nameOrId, "Give -DataRoot to choose the store.");
            }
            return found[0].Store.GetContainerPaths(found[0].Info);
        }
        finally
        {
            foreach (var s in stores)
            {
                s.Dispose();
            }
        }
    }

    /// <summary>
    /// The error for "no store at the default roots"; where a default root exists but cannot be
    /// read (a user other than root, /var/lib/docker being root's alone), that permission error.
    /// </summary>
    public static OverlayException NoDefaultStore()
        => DefaultRoots().Select(r => UnreadableRoot(r.Root)).FirstOrDefault(e => e is not null)
            ?? new(ErrorIds.LayerStoreNotFound, OverlayErrorCategory.ObjectNotFound,
            $"No Docker overlay2, Podman overlay or containerd store was found at the default roots ({string.Join(", ", DefaultRoots().Select(r => r.Root))}).",
            null, "Give -DataRoot: the Docker Root Dir of docker info, the graphRoot of podman info, or containerd's root (/var/lib/containerd).");

    /// <summary>LayerStoreUnreadable (PermissionDenied) when <paramref name="root"/> is a directory this process may not list; null otherwise.</summary>
    private static OverlayException? UnreadableRoot(string root)
    {
        using var fd = FileSystem.TryOpen(root, Native.O_RDONLY | Native.O_DIRECTORY, out int errno);
        return errno is Errno.EACCES or Errno.EPERM ? StoreFormat.FromIo(new ErrnoException("open", errno, root), root) : null;
    }

    private const string StoreHint = "Give the data root of a Docker daemon (docker info: Docker Root Dir), of a Podman store (podman info: graphRoot) or of containerd (its root, /var/lib/containerd by default).";

    /// <summary>The real path of a directory (symlinks resolved), as the engines record their roots.</summary>
    internal static StoreDir OpenRoot(string root)
    {
        var dir = StoreDir.TryOpen(root, out int errno);
        if (dir is null)
        {
            throw StoreFormat.FromIo(new ErrnoException("open", errno, root), root);
        }
        return dir;
    }
}

/// <summary>Finding images and containers by the names and ids users type; engine-neutral.</summary>
public static class StoreLookup
{
    /// <summary>True when a reference carries a tag or digest (a ':' after the last '/', or an '@').</summary>
    public static bool HasTagOrDigest(string reference)
    {
        if (reference.Contains('@', StringComparison.Ordinal))
        {
            return true;
        }
        int slash = reference.LastIndexOf('/');
        return reference.IndexOf(':', slash + 1) >= 0;
    }

    /// <summary>Every string an image answers to: names, aliases, the id with and without "sha256:".</summary>
    public static IEnumerable<string> Keys(StoreImageInfo image)
        => image.Names.Concat(image.Aliases).Append(image.Id).Append("sha256:" + image.Id);

    /// <summary>Every string a container answers to: names and id.</summary>
    public static IEnumerable<string> Keys(StoreContainerInfo container) => container.Names.Append(container.Id);

    /// <summary>
    /// The image a literal reference names: an exact name or alias (":latest" implied when no tag
    /// is given), a full id ("sha256:" optional), a unique id prefix, or, last, for Podman's
    /// images, a digest or the end of a repository (<see cref="TryPodmanLastResort"/>); of images
    /// listed more than once (one target in several containerd namespaces), the first listed.
    /// Null when none; throws ImageAmbiguous when a prefix matches several ids.
    /// </summary>
    public static StoreImageInfo? FindImage(IReadOnlyList<StoreImageInfo> images, string reference)
    {
        var candidates = new List<string> { reference };
        if (!HasTagOrDigest(reference))
        {
            candidates.Add(reference + ":latest");
        }
        foreach (var c in candidates)
        {
            var byName = images.FirstOrDefault(i => i.Names.Contains(c, StringComparer.Ordinal))
                ?? images.FirstOrDefault(i => i.Aliases.Contains(c, StringComparer.Ordinal));
            if (byName is not null)
            {
                return byName;
            }
        }
        string hex = StoreFormat.StripAlgorithm(reference);
        if (StoreFormat.IsHexPrefix(hex))
        {
            // One id may be listed more than once (the same image in several containerd namespaces):
            // the first listed wins, as for names (moby first).
            var ids = images.Select(i => i.Id).Where(id => id.StartsWith(hex, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
            if (ids.Count > 1)
            {
                throw new OverlayException(ErrorIds.ImageAmbiguous, OverlayErrorCategory.InvalidArgument,
                    $"The id prefix '{reference}' matches {ids.Count} images: {string.Join(", ", ids.Take(5).Select(StoreFormat.ShortId))}.", reference, "Give more digits of the id, or a name.");
            }
            if (ids.Count == 1)
            {
                return images.First(i => i.Id == ids[0]);
            }
        }
        return images.FirstOrDefault(i => i.PodmanLookup && TryPodmanLastResort(i, reference, out _));
    }

    /// <summary>
    /// Podman 4.3's last resort for a reference that matched no name, alias or id (libimage):
    /// a digest reference (any repository, with or without a tag: y@sha256:...) finds an image
    /// that has that manifest digest; a short name (its first component names no registry: no
    /// '.' or ':', not localhost) finds an image with a name whose repository is the query's or
    /// ends in "/" and the query's (quay.io/x/y for y:2 or x/y:2, not for io/x/y:2) and whose tag
    /// is the query's (":latest" implied). <paramref name="shown"/> is the name to show: the name
    /// matched, or the image's first repository with the digest (null for an untagged image).
    /// </summary>
    public static bool TryPodmanLastResort(StoreImageInfo image, string query, out string? shown)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(query);
        shown = null;
        var (repo, tag, digest) = SplitReference(query);
        int firstSlash = repo.IndexOf('/');
        string first = firstSlash < 0 ? "" : repo[..firstSlash];
        bool hasRegistry = first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost";
        string path = hasRegistry ? repo[(firstSlash + 1)..] : repo;
        if (path.Length == 0 || path.StartsWith('/') || path.EndsWith('/') || path.Contains("//", StringComparison.Ordinal)
            || path.Any(c => char.IsAsciiLetterUpper(c) || char.IsWhiteSpace(c) || char.IsControl(c) || c == ':'))
        {
            return false; // podman refuses it as a reference
        }
        if (digest is not null)
        {
            if (!image.Digests.Contains(digest, StringComparer.Ordinal))
            {
                return false;
            }
            shown = image.Names.Select(n => SplitReference(n).Repo).FirstOrDefault() is { } own ? own + "@" + digest : null;
            return true;
        }
        if (hasRegistry)
        {
            return false;
        }
        tag ??= "latest";
        foreach (var name in image.Names)
        {
            var (nameRepo, nameTag, _) = SplitReference(name);
            if (nameTag == tag && (nameRepo == repo || nameRepo.EndsWith("/" + repo, StringComparison.Ordinal)))
            {
                shown = name;
                return true;
            }
        }
        return false;
    }

    /// <summary>A reference's repository, tag (null when none) and digest (null when none).</summary>
    private static (string Repo, string? Tag, string? Digest) SplitReference(string reference)
    {
        int at = reference.IndexOf('@', StringComparison.Ordinal);
        string? digest = at >= 0 ? reference[(at + 1)..] : null;
        string rest = at >= 0 ? reference[..at] : reference;
        int colon = rest.IndexOf(':', rest.LastIndexOf('/') + 1);
        return colon >= 0 ? (rest[..colon], rest[(colon + 1)..], digest) : (rest, null, digest);
    }

    /// <summary>
    /// The name to show an image by, for the -Image value that selected it. A literal name shows
    /// it by that name as the engine spells it (":latest" added when implied, an alias turned into
    /// the reference it stands for: other/repo:v2 for docker.io/other/repo:v2 in a Docker store); a
    /// wildcard, by the first of its names (in the engine's order) that the pattern matches,
    /// itself or by another spelling; a value Podman's last resort found the image by, the name
    /// that matched (<see cref="TryPodmanLastResort"/>). Null when the value matched no name (an
    /// id): the image's display name is shown then.
    /// </summary>
    public static string? ShownName(StoreImageInfo image, string query, Func<string, bool>? wildcard)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(query);
        if (wildcard is null)
        {
            foreach (var c in HasTagOrDigest(query) ? [query] : new[] { query, query + ":latest" })
            {
                if (image.Names.Contains(c, StringComparer.Ordinal))
                {
                    return c;
                }
                if (image.AliasNames.TryGetValue(c, out var name))
                {
                    return name;
                }
            }
            return image.PodmanLookup && TryPodmanLastResort(image, query, out var last) ? last : null;
        }
        foreach (var name in image.Names)
        {
            if (wildcard(name) || image.AliasNames.Any(a => a.Value == name && wildcard(a.Key)))
            {
                return name;
            }
        }
        // A digest reference (no name of its own) that the pattern matches.
        return image.AliasNames.Where(a => wildcard(a.Key)).Select(a => a.Value).FirstOrDefault();
    }

    /// <summary>The container a literal name, full id or unique id prefix names; null when none; throws ContainerAmbiguous.</summary>
    public static StoreContainerInfo? FindContainer(IReadOnlyList<StoreContainerInfo> containers, string reference)
    {
        string name = reference.StartsWith('/') ? reference[1..] : reference;
        var byName = containers.FirstOrDefault(c => c.Names.Contains(name, StringComparer.Ordinal));
        if (byName is not null)
        {
            return byName;
        }
        if (!StoreFormat.IsHexPrefix(reference))
        {
            return null;
        }
        var byId = containers.Where(c => c.Id.StartsWith(reference, StringComparison.Ordinal)).ToList();
        if (byId.Count > 1)
        {
            throw new OverlayException(ErrorIds.ContainerAmbiguous, OverlayErrorCategory.InvalidArgument,
                $"The id prefix '{reference}' matches {byId.Count} containers: {string.Join(", ", byId.Take(5).Select(c => StoreFormat.ShortId(c.Id)))}.", reference, "Give more digits of the id, or the name.");
        }
        return byId.FirstOrDefault();
    }

    /// <summary>
    /// The images a wildcard matches (on names, aliases and ids), as docker images lists them:
    /// intermediate images (untagged parents of other images) are left out; a literal id still finds them.
    /// </summary>
    public static IEnumerable<StoreImageInfo> MatchImages(IReadOnlyList<StoreImageInfo> images, Func<string, bool> isMatch)
        => images.Where(i => !i.Intermediate
            && (i.Names.Concat(i.Aliases).Any(isMatch) || (i.Names.Count == 0 && isMatch("<none>:<none>")) || isMatch(i.Id) || isMatch("sha256:" + i.Id)));

    /// <summary>The containers a wildcard matches (on names and ids).</summary>
    public static IEnumerable<StoreContainerInfo> MatchContainers(IReadOnlyList<StoreContainerInfo> containers, Func<string, bool> isMatch)
        => containers.Where(c => Keys(c).Any(isMatch));

    /// <summary>The error for a literal name that matched nothing (among the items of <paramref name="namespaces"/>, when given).</summary>
    public static OverlayException NotFound(string kind, string reference, IReadOnlyCollection<ILayerStore> stores, NamespaceFilter? namespaces = null)
        => new(kind == "image" ? ErrorIds.ImageNotFound : ErrorIds.ContainerNotFound, OverlayErrorCategory.ObjectNotFound,
            $"No {kind} '{reference}' in {(namespaces is null ? "" : namespaces + " of ")}{(stores.Count == 1 ? "the store at" : "the stores at")} {string.Join(", ", stores.Select(s => $"{s.Root} ({s.Backend})"))}.{(kind == "image" ? "" : Unreadable(stores))}", reference,
            kind == "image"
                ? $"Run Get-OverlayLayer -Image * to see the images{(namespaces is null ? "" : " of every namespace and store")}, or give -DataRoot for another store."
                : $"Run Get-OverlayLayer -Container * to see the containers{(namespaces is null ? "" : " of every namespace and store")}, or give -DataRoot for another store.");

    /// <summary>" N containers there could not be read (ids); it may be one of them." or "".</summary>
    private static string Unreadable(IReadOnlyCollection<ILayerStore> stores)
    {
        var ids = stores.SelectMany(s => s.UnreadableContainerIds).Order(StringComparer.Ordinal).ToList();
        return ids.Count == 0 ? ""
            : $" {ids.Count} container{(ids.Count == 1 ? "" : "s")} there could not be read ({string.Join(", ", ids.Take(5).Select(StoreFormat.ShortId))}{(ids.Count > 5 ? ", ..." : "")}); it may be {(ids.Count == 1 ? "that one" : "one of them")}: Get-OverlayLayer -Container * says why.";
    }
}

/// <summary>Docker's overlay2 store.</summary>
internal sealed class Overlay2Backend : ILayerStoreBackend
{
    internal const string BackendName = "overlay2";

    private static readonly string[] OtherDrivers = ["vfs", "btrfs", "zfs", "devicemapper", "aufs", "fuse-overlayfs", "windowsfilter", "overlay"];

    public string Name => BackendName;

    public IEnumerable<string> DefaultRoots() => DefaultRootsFrom("/etc/docker/daemon.json");

    /// <summary>The data-root of a daemon.json (or its old name, graph), else /var/lib/docker.</summary>
    internal static IEnumerable<string> DefaultRootsFrom(string daemonJson)
    {
        string? configured = null;
        try
        {
            if (File.Exists(daemonJson) && new FileInfo(daemonJson).Length < 1024 * 1024)
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(daemonJson), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
                configured = StoreFormat.GetString(doc.RootElement, "data-root") ?? StoreFormat.GetString(doc.RootElement, "graph");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            configured = null;
        }
        if (configured is { Length: > 1 } && configured.StartsWith('/'))
        {
            yield return configured.TrimEnd('/');
        }
        yield return "/var/lib/docker";
    }

    public bool Probe(string root, out string? problem)
    {
        problem = null;
        bool hasImage = IsDir(root + "/image");
        if (IsDir(root + "/image/overlay2/layerdb") && IsDir(root + "/overlay2"))
        {
            return true;
        }
        if (hasImage)
        {
            var other = OtherDrivers.FirstOrDefault(d => IsDir(root + "/image/" + d));
            problem = other is not null
                ? $"The Docker data root '{root}' uses the '{other}' storage driver; only overlay2 can be read."
                : $"The Docker data root '{root}' has no overlay2 image store; Docker may use the containerd image store, whose layers are in containerd's root (namespace moby): give -DataRoot {ContainerdStore.DefaultDataRoot}.";
            return true;
        }
        if (IsDir(root + "/containers") && IsDir(root + "/volumes"))
        {
            problem = $"The Docker data root '{root}' has no classic image store: Docker uses the containerd image store, whose layers are in containerd's root (namespace moby). Give -DataRoot {ContainerdStore.DefaultDataRoot}.";
            return true;
        }
        return false;
    }

    public ILayerStore Open(string root) => new Overlay2Store(LayerStores.OpenRoot(RealRoot(root)));

    public string? RootFromLayerPath(string path) => DriverRoot(path, "/overlay2/");

    internal static bool IsDir(string path) => FileSystem.TryLStat(path, out _) is { } st && (st.IsDirectory || (st.IsSymlink && Directory.Exists(path)));

    /// <summary>The real path of a data root: Docker resolves symlinks in its root before using it.</summary>
    internal static string RealRoot(string root)
    {
        using var fd = FileSystem.TryOpen(root, Native.O_PATH | Native.O_DIRECTORY, out int errno);
        if (fd is null)
        {
            throw StoreFormat.FromIo(new ErrnoException("open", errno, root), root);
        }
        return FileSystem.RealPath(fd);
    }

    /// <summary>"&lt;root&gt;&lt;marker&gt;&lt;id&gt;[/diff]" or "&lt;root&gt;&lt;marker&gt;l/&lt;LINK&gt;" -> root; null otherwise.</summary>
    internal static string? DriverRoot(string path, string marker)
    {
        if (!path.StartsWith('/'))
        {
            return null;
        }
        path = path.Length > 1 ? path.TrimEnd('/') : path;
        int i = path.LastIndexOf(marker, StringComparison.Ordinal);
        if (i <= 0)
        {
            return null;
        }
        string rest = path[(i + marker.Length)..];
        if (rest.EndsWith("/diff", StringComparison.Ordinal))
        {
            rest = rest[..^5];
        }
        bool ok = rest.StartsWith("l/", StringComparison.Ordinal) ? StoreFormat.IsLinkId(rest[2..]) : OverlayDriverDir.IsDirName(rest);
        return ok ? path[..i] : null;
    }
}

/// <summary>Podman's store: containers/storage with the overlay driver.</summary>
internal sealed class PodmanBackend : ILayerStoreBackend
{
    internal const string BackendName = "podman";

    private static readonly string[] OtherDrivers = ["vfs", "btrfs", "zfs", "aufs", "devmapper"];

    public string Name => BackendName;

    public IEnumerable<string> DefaultRoots()
    {
        var configs = new List<string>();
        if (Environment.GetEnvironmentVariable("CONTAINERS_STORAGE_CONF") is { Length: > 0 } env)
        {
            configs.Add(env);
        }
        bool root = FileSystem.IsRoot;
        string home = Environment.GetEnvironmentVariable("HOME") ?? "";
        if (!root && home.Length > 0)
        {
            configs.Add(home + "/.config/containers/storage.conf");
        }
        configs.Add("/etc/containers/storage.conf");
        configs.Add("/usr/share/containers/storage.conf");
        string? fallback = root ? "/var/lib/containers/storage"
            : Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg ? xdg + "/containers/storage"
            : home.Length > 0 ? home + "/.local/share/containers/storage" : null;
        return DefaultRootsFrom(configs, root, fallback);
    }

    /// <summary>The graphroot (rootful; rootless also from the user's own storage.conf) or rootless_storage_path of the first storage.conf that sets one, then the built-in default.</summary>
    internal static IEnumerable<string> DefaultRootsFrom(IEnumerable<string> configFiles, bool isRoot, string? fallback)
    {
        foreach (var file in configFiles)
        {
            string? text = null;
            try
            {
                if (File.Exists(file) && new FileInfo(file).Length < 1024 * 1024)
                {
                    text = File.ReadAllText(file);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                text = null;
            }
            if (text is null)
            {
                continue;
            }
            // Root reads graphroot; a user's own storage.conf may set rootless_storage_path or graphroot.
            string? value = isRoot
                ? TomlStorageValue(text, "graphroot")
                : TomlStorageValue(text, "rootless_storage_path") ?? (file.StartsWith("/etc/", StringComparison.Ordinal) ? null : TomlStorageValue(text, "graphroot"));
            if (value is { Length: > 1 } && value.StartsWith('/'))
            {
                yield return value.TrimEnd('/');
                break;
            }
        }
        if (fallback is not null)
        {
            yield return fallback;
        }
    }

    /// <summary>A basic-string value of a key in the [storage] table of a storage.conf; null when absent.</summary>
    internal static string? TomlStorageValue(string toml, string key)
    {
        string table = "";
        foreach (var raw in toml.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            if (line[0] == '[')
            {
                table = line.Trim('[', ']', ' ');
                continue;
            }
            if (table != "storage")
            {
                continue;
            }
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || line[..eq].Trim() != key)
            {
                continue;
            }
            string v = line[(eq + 1)..].Trim();
            if (v.Length >= 2 && (v[0] == '"' || v[0] == '\''))
            {
                int end = v.IndexOf(v[0], 1);
                if (end > 0)
                {
                    string s = v[1..end];
                    return v[0] == '"' && s.Contains('\\', StringComparison.Ordinal) ? null : s;
                }
            }
            return null;
        }
        return null;
    }

    public bool Probe(string root, out string? problem)
    {
        problem = null;
        if (Overlay2Backend.IsDir(root + "/overlay-layers") || Overlay2Backend.IsDir(root + "/overlay-images"))
        {
            if (!Overlay2Backend.IsDir(root + "/overlay"))
            {
                problem = $"The containers/storage root '{root}' has no overlay dir.";
            }
            return true;
        }
        var other = OtherDrivers.FirstOrDefault(d => Overlay2Backend.IsDir(root + "/" + d + "-layers"));
        if (other is not null)
        {
            problem = $"The containers/storage root '{root}' uses the '{other}' driver; only overlay can be read.";
            return true;
        }
        return false;
    }

    public ILayerStore Open(string root) => new PodmanStore(LayerStores.OpenRoot(Overlay2Backend.RealRoot(root)));

    public string? RootFromLayerPath(string path) => Overlay2Backend.DriverRoot(path, "/overlay/");
}
