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
    /// id or unique id prefix, and ImageNotFound when no store has one. Only images whose namespace
    /// <paramref name="inNamespaces"/> accepts are considered (null: all). A store whose index
    /// cannot be read, or an ambiguous id prefix, goes to <paramref name="report"/> and the other
    /// stores are still searched; ImageNotFound is then not reported as well.
    /// </summary>
    public static List<(ILayerStore Store, StoreImageInfo Info)> Images(
        IReadOnlyList<ILayerStore> stores, string query, Func<string, bool>? wildcard, Func<string?, bool>? inNamespaces, Action<OverlayException> report)
    {
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(report);
        var selected = new List<(ILayerStore, StoreImageInfo)>();
        bool reported = false;
        foreach (var store in stores)
        {
            IReadOnlyList<StoreImageInfo> images;
            try
            {
                images = store.ListImages();
            }
            catch (OverlayException e)
            {
                report(e);
                reported = true;
                continue;
            }
            if (inNamespaces is not null)
            {
                images = images.Where(i => inNamespaces(i.Namespace)).ToList();
            }
            if (wildcard is not null)
            {
                selected.AddRange(StoreLookup.MatchImages(images, wildcard).Select(i => (store, i)));
                continue;
            }
            try
            {
                if (StoreLookup.FindImage(images, query) is { } found)
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
            report(StoreLookup.NotFound("image", query, stores));
        }
        return selected;
    }

    /// <summary>
    /// The containers <paramref name="query"/> selects: with <paramref name="wildcard"/>, every
    /// container whose name or id matches in any store (none is no error); without it, the one
    /// container each store has under that name, full id or unique id prefix, and
    /// ContainerNotFound when no store has one. Only containers whose namespace
    /// <paramref name="inNamespaces"/> accepts are considered (null: all). A store whose index
    /// cannot be read, or an ambiguous id prefix, goes to <paramref name="report"/> and the other
    /// stores are still searched.
    /// </summary>
    public static List<(ILayerStore Store, StoreContainerInfo Info)> Containers(
        IReadOnlyList<ILayerStore> stores, string query, Func<string, bool>? wildcard, Func<string?, bool>? inNamespaces, Action<OverlayException> report)
    {
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(report);
        var selected = new List<(ILayerStore, StoreContainerInfo)>();
        bool reported = false;
        foreach (var store in stores)
        {
            IReadOnlyList<StoreContainerInfo> containers;
            try
            {
                containers = store.ListContainers();
            }
            catch (OverlayException e)
            {
                report(e);
                reported = true;
                continue;
            }
            if (inNamespaces is not null)
            {
                containers = containers.Where(c => inNamespaces(c.Namespace)).ToList();
            }
            if (wildcard is not null)
            {
                selected.AddRange(StoreLookup.MatchContainers(containers, wildcard).Select(c => (store, c)));
                continue;
            }
            try
            {
                if (StoreLookup.FindContainer(containers, query) is { } found)
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
            report(StoreLookup.NotFound("container", query, stores));
        }
        return selected;
    }

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
