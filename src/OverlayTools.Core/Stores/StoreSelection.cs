using System;
using System.Collections.Generic;
using System.Linq;
using OverlayTools.Stores.Containerd;

namespace OverlayTools.Stores;

/// <summary>
/// What an -Image or -Container value (and -Namespace) selects across open stores, shared by every
/// cmdlet that takes them (Get-OverlayLayer, Get-OverlayChange). Wildcard matching is passed in,
/// so the Core keeps no PowerShell reference.
/// </summary>
public static class StoreSelection
{
    /// <summary>
    /// The images <paramref name="query"/> selects: with <paramref name="wildcard"/>, every image
    /// that matches in any store (names, aliases, ids; intermediate images left out; none is no
    /// error); without it, the one image each store has under that name (":latest" implied), full
    /// id or unique id prefix, and ImageNotFound when no store has one. Only images
    /// <paramref name="namespaces"/> accepts are considered (null: all). A store whose index
    /// cannot be read, or an ambiguous id prefix, goes to <paramref name="report"/> and the other
    /// stores are still searched; ImageNotFound is then not reported as well.
    /// </summary>
    public static List<(ILayerStore Store, StoreImageInfo Info)> Images(
        IReadOnlyList<ILayerStore> stores, string query, Func<string, bool>? wildcard, NamespaceFilter? namespaces, Action<OverlayException> report)
        => Select(stores, "image", query, wildcard, namespaces, report,
            s => s.ListImages(), i => i.Namespace, StoreLookup.MatchImages, StoreLookup.FindImage);

    /// <summary>
    /// The containers <paramref name="query"/> selects: with <paramref name="wildcard"/>, every
    /// container whose name or id matches in any store (none is no error); without it, the one
    /// container each store has under that name, full id or unique id prefix, and
    /// ContainerNotFound when no store has one. Only containers <paramref name="namespaces"/>
    /// accepts are considered (null: all). A store whose index
    /// cannot be read, or an ambiguous id prefix, goes to <paramref name="report"/> and the other
    /// stores are still searched.
    /// </summary>
    public static List<(ILayerStore Store, StoreContainerInfo Info)> Containers(
        IReadOnlyList<ILayerStore> stores, string query, Func<string, bool>? wildcard, NamespaceFilter? namespaces, Action<OverlayException> report)
        => Select(stores, "container", query, wildcard, namespaces, report,
            s => s.ListContainers(), c => c.Namespace, StoreLookup.MatchContainers, StoreLookup.FindContainer);

    /// <summary>The one selection loop behind <see cref="Images"/> and <see cref="Containers"/>.</summary>
    private static List<(ILayerStore Store, T Info)> Select<T>(
        IReadOnlyList<ILayerStore> stores, string kind, string query, Func<string, bool>? wildcard, NamespaceFilter? namespaces, Action<OverlayException> report,
        Func<ILayerStore, IReadOnlyList<T>> list, Func<T, string?> namespaceOf,
        Func<IReadOnlyList<T>, Func<string, bool>, IEnumerable<T>> match, Func<IReadOnlyList<T>, string, T?> find)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(report);
        var selected = new List<(ILayerStore, T)>();
        bool reported = false;
        foreach (var store in stores)
        {
            IReadOnlyList<T> items;
            try
            {
                items = list(store);
            }
            catch (OverlayException e)
            {
                report(e);
                reported = true;
                continue;
            }
            if (namespaces is not null)
            {
                items = items.Where(i => namespaces.Accepts(namespaceOf(i))).ToList();
            }
            if (wildcard is not null)
            {
                selected.AddRange(match(items, wildcard).Select(i => (store, i)));
                continue;
            }
            try
            {
                if (find(items, query) is { } found)
                {
                    selected.Add((store, found));
                }
            }
            catch (OverlayException e)
            {
                report(e);
                reported = true;
            }
        }
        if (wildcard is null && selected.Count == 0 && !reported)
        {
            report(StoreLookup.NotFound(kind, query, stores, namespaces));
        }
        return selected;
    }

    /// <summary>
    /// Reads one selected image (<see cref="ILayerStore.GetImage"/>); null when it cannot be read.
    /// An image the engine removed after it was listed (or is removing) is no error of the store:
    /// selected by a wildcard it is left out (<paramref name="leftOut"/> says why), named literally
    /// it is ImageNotFound, saying it was removed. Any other error goes to <paramref name="report"/>,
    /// its message naming the image (a layer's error otherwise names only the layer's path).
    /// </summary>
    public static StoreImage? ReadImage(ILayerStore store, StoreImageInfo info, bool wildcard, Action<OverlayException> report, Action<string> leftOut)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(info);
        return Read(() => store.GetImage(info), () => store.IsRemoved(info), "image", Who(info.DisplayName, info.Namespace), wildcard, report, leftOut);
    }

    /// <summary>
    /// Reads one selected container (<see cref="ILayerStore.GetContainer"/>, or
    /// <see cref="ILayerStore.GetContainerPaths"/> with <paramref name="pathsOnly"/>); null when it
    /// cannot be read. A container removed after it was listed (or being removed, as docker rm and
    /// podman rm leave it for a moment) is left out when a wildcard selected it, and is
    /// ContainerNotFound, saying so, when it was named literally; any other error goes to
    /// <paramref name="report"/>, its message naming the container.
    /// </summary>
    public static StoreContainer? ReadContainer(ILayerStore store, StoreContainerInfo info, bool pathsOnly, bool wildcard, Action<OverlayException> report, Action<string> leftOut)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(info);
        return Read(() => pathsOnly ? store.GetContainerPaths(info) : store.GetContainer(info), () => store.IsRemoved(info),
            "container", Who(info.DisplayName, info.Namespace), wildcard, report, leftOut);
    }

    /// <summary>An item's name for messages, with its containerd namespace where it has one (one image may be in several).</summary>
    private static string Who(string name, string? ns) => ns is null ? name : $"{name} in namespace '{ns}'";

    private static T? Read<T>(Func<T> read, Func<bool> removed, string kind, string name, bool wildcard, Action<OverlayException> report, Action<string> leftOut)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(leftOut);
        try
        {
            return read();
        }
        catch (OverlayException e)
        {
            string notFound = kind == "image" ? ErrorIds.ImageNotFound : ErrorIds.ContainerNotFound;
            bool gone;
            try
            {
                gone = e.ErrorId == notFound || removed();
            }
            catch (OverlayException)
            {
                gone = false;
            }
            if (!gone)
            {
                report(Naming(e, kind, name));
            }
            else if (wildcard)
            {
                leftOut($"Leaving out the {kind} {name}: it was removed, or is being removed, while it was read ({e.Message})");
            }
            else
            {
                report(new OverlayException(notFound, OverlayErrorCategory.ObjectNotFound,
                    $"The {kind} {name} was removed, or is being removed by its engine, while it was read ({e.Message}).", name,
                    $"Run Get-OverlayLayer -{(kind == "image" ? "Image" : "Container")} * to see the {kind}s there are now.", e.InnerException));
            }
            return null;
        }
    }

    /// <summary>
    /// <paramref name="e"/> with a message that names the item it is an error of, unless it does
    /// already ("the container 0123456789ab", not just a path holding the id).
    /// </summary>
    internal static OverlayException Naming(OverlayException e, string kind, string name)
        => e.Message.Contains($"{kind} {name}", StringComparison.OrdinalIgnoreCase) ? e
            : new OverlayException(e.ErrorId, e.Category, $"The {kind} {name} cannot be read: {e.Message}", e.Target, e.RecommendedAction, e.InnerException);

    /// <summary>
    /// An error for each literal namespace that no containerd store among <paramref name="stores"/>
    /// has (containerd namespaces only exist in containerd stores).
    /// </summary>
    public static IEnumerable<OverlayException> UnknownNamespaces(IReadOnlyList<ILayerStore> stores, IEnumerable<string> literalNamespaces)
    {
        var containerd = stores.OfType<ContainerdLayerStore>().ToList();
        var known = containerd.SelectMany(s => s.Namespaces).ToHashSet(StringComparer.Ordinal);
        foreach (string ns in literalNamespaces.Where(n => !known.Contains(n)))
        {
            yield return new OverlayException(ErrorIds.ContainerdNamespaceNotFound, OverlayErrorCategory.ObjectNotFound,
                containerd.Count == 0
                    ? $"-Namespace '{ns}' applies to containerd stores, and none is read here."
                    : $"No containerd store read here has the namespace '{ns}'. It has: {(known.Count == 0 ? "none" : string.Join(", ", known.Order(StringComparer.Ordinal)))}.",
                ns, "Docker keeps its images in 'moby', Kubernetes in 'k8s.io'; give -DataRoot for the containerd root (default /var/lib/containerd).");
        }
    }
}

/// <summary>
/// What -Namespace selects, one rule for every cmdlet and completer that takes it: the items whose
/// containerd namespace one of <see cref="Patterns"/> matches, case-sensitively (containerd's
/// namespace names are); items of stores without namespaces (overlay2, podman) never. Wildcard
/// matching is passed in, so the Core keeps no PowerShell reference.
/// </summary>
public sealed class NamespaceFilter
{
    private readonly Func<string, bool>[] _matches;

    /// <summary>A filter for the -Namespace values <paramref name="patterns"/>; <paramref name="match"/> turns one value into its case-sensitive match.</summary>
    public NamespaceFilter(IEnumerable<string> patterns, Func<string, Func<string, bool>> match)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        ArgumentNullException.ThrowIfNull(match);
        Patterns = patterns.ToList();
        _matches = Patterns.Select(match).ToArray();
    }

    /// <summary>The -Namespace values, as given.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>True when an item of namespace <paramref name="ns"/> (null: a store without namespaces) is selected.</summary>
    public bool Accepts(string? ns) => ns is not null && _matches.Any(m => m(ns));

    /// <summary>"namespace 'moby'" or "namespaces 'moby', 'k8s*'", for messages.</summary>
    public override string ToString()
        => (Patterns.Count == 1 ? "namespace " : "namespaces ") + string.Join(", ", Patterns.Select(p => $"'{p}'"));
}
