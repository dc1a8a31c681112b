using System;
using System.Collections.Generic;
using System.Linq;

namespace OverlayTools.Stores;

/// <summary>Turns store items and mounted overlays into OverlayLayer objects, top first.</summary>
public static class LayerOutput
{
    /// <summary>The layers of an image, top first. <paramref name="shownName"/> replaces the image's display name (the name the user asked for).</summary>
    public static List<OverlayLayer> FromImage(StoreImage image, string? shownName = null)
    {
        var list = new List<OverlayLayer>(image.Layers.Count);
        for (int i = 0; i < image.Layers.Count; i++)
        {
            list.Add(Build(image.Layers[i], i, image.Layers[i].Role, image.Backend, image.Root, shownName ?? image.Info.DisplayName, image.Info.DisplayId, null, null, image.Info.Namespace));
        }
        return list;
    }

    /// <summary>The layers of a container, top first: upper, init, then the image layers.</summary>
    public static List<OverlayLayer> FromContainer(StoreContainer container)
    {
        string? imageName = ContainerImageName(container);
        string? imageId = container.Image?.DisplayId;
        var list = new List<OverlayLayer>(container.Layers.Count);
        for (int i = 0; i < container.Layers.Count; i++)
        {
            list.Add(Build(container.Layers[i], i, container.Layers[i].Role, container.Backend, container.Root, imageName, imageId, container.Info.DisplayName, container.Info.Id, container.Info.Namespace));
        }
        return list;
    }

    /// <summary>The name the container was created from when it still names its image (app:latest rather than app:1), else the image's display name.</summary>
    private static string? ContainerImageName(StoreContainer c)
    {
        string? asked = c.Info.ImageName;
        if (c.Image is null)
        {
            return asked;
        }
        if (asked is not null)
        {
            foreach (var candidate in new[] { asked, asked + ":latest" })
            {
                if (c.Image.Names.Contains(candidate, StringComparer.Ordinal))
                {
                    return candidate;
                }
            }
        }
        return c.Image.DisplayName;
    }

    private static OverlayLayer Build(StoreLayer l, int position, LayerRole role, string? backend, string? root, string? image, string? imageId, string? container, string? containerId, string? ns) => new()
    {
        Namespace = ns,
        Position = position,
        Role = role.ToString(),
        Path = l.Path,
        DiffId = l.DiffId,
        ChainId = l.ChainId,
        CacheId = l.CacheId,
        Size = l.Size,
        CreatedBy = l.CreatedBy,
        Created = l.Created,
        Image = image,
        ImageId = imageId,
        Container = container,
        ContainerId = containerId,
        Backend = backend,
        DataRoot = root,
        Work = l.Work,
        Merged = l.Merged,
    };

    /// <summary>The result of matching a mount's layers to stores: the layers, and the errors met on the way.</summary>
    public sealed class Matched
    {
        /// <summary>The layers, top first.</summary>
        public List<OverlayLayer> Layers { get; } = [];

        /// <summary>Damaged store entries met while matching; the layers concerned are still listed, unmatched.</summary>
        public List<OverlayException> Errors { get; } = [];
    }

    /// <summary>
    /// The layers of a mounted overlay, top first (its upper, its lowers, then its data-only layers), each matched back
    /// to the store, image and container it belongs to where a store knows it.
    /// <paramref name="storesFor"/> gives the stores to try for one layer path, most likely first.
    /// </summary>
    public static Matched FromMount(OverlayMount mount, Func<string, IEnumerable<ILayerStore>> storesFor)
    {
        var entries = new List<(string Path, LayerRole Role, string? Work, string? Merged)>();
        if (mount.Upper is not null)
        {
            entries.Add((mount.Upper, LayerRole.Upper, mount.Work, mount.Target));
        }
        entries.AddRange(mount.Lower.Select(l => (l, LayerRole.Lower, (string?)null, (string?)null)));
        entries.AddRange(mount.DataLower.Select(d => (d, LayerRole.Data, (string?)null, (string?)null)));
        return FromEntries(entries, storesFor);
    }

    /// <summary>One layer dir, matched to its store: a container's own layer, or an image layer (with the nearest image that holds it).</summary>
    public static OverlayLayer? FromPath(string path, Func<string, IEnumerable<ILayerStore>> storesFor, out OverlayException? error)
    {
        var m = FromEntries([(path, LayerRole.Lower, null, null)], storesFor, keepStoreRole: true);
        error = m.Errors.FirstOrDefault();
        var layer = m.Layers[0];
        return layer.Backend is null ? null : layer;
    }

    private static Matched FromEntries(List<(string Path, LayerRole Role, string? Work, string? Merged)> entries, Func<string, IEnumerable<ILayerStore>> storesFor, bool keepStoreRole = false)
    {
        var result = new Matched();
        var matches = new (ILayerStore Store, StoreLayerMatch Match)?[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            foreach (var store in storesFor(entries[i].Path))
            {
                try
                {
                    if (store.FindLayer(entries[i].Path) is { } m)
                    {
                        matches[i] = (store, m);
                        break;
                    }
                }
                catch (OverlayException e)
                {
                    result.Errors.Add(e);
                    break;
                }
            }
        }

        // The container: the first layer that is a container's own.
        StoreContainer? container = null;
        foreach (var m in matches)
        {
            if (m?.Match.Container is { } info)
            {
                try
                {
                    container = m.Value.Store.GetContainer(info);
                }
                catch (OverlayException e)
                {
                    result.Errors.Add(e);
                }
                break;
            }
        }

        // The image: the container's, else the one whose top layer is the topmost image layer here.
        StoreImage? image = null;
        if (container is null)
        {
            var top = matches.FirstOrDefault(m => m?.Match.Layer.ChainId is not null);
            if (top is { } t)
            {
                image = ImageWithLayer(t.Store, t.Match.Layer.ChainId!);
            }
        }

        for (int i = 0; i < entries.Count; i++)
        {
            var (path, role, work, merged) = entries[i];
            if (matches[i] is not { } found)
            {
                result.Layers.Add(new OverlayLayer { Position = i, Role = role.ToString(), Path = path, Work = work, Merged = merged });
                continue;
            }
            var store = found.Store;
            var sl = found.Match.Layer;
            var inContainer = container?.Layers.FirstOrDefault(l => l.Path == sl.Path);
            var inImage = image?.Layers.FirstOrDefault(l => l.Path == sl.Path);
            var full = inContainer ?? inImage ?? sl;
            var shownRole = keepStoreRole ? full.Role : role is LayerRole.Upper or LayerRole.Data ? role : full.Role == LayerRole.Init ? LayerRole.Init : LayerRole.Lower;
            bool isImageLayer = full.DiffId is not null || full.ChainId is not null;
            string? imageName = null, imageId = null;
            if (inContainer is not null)
            {
                imageName = ContainerImageName(container!);
                imageId = container!.Image?.DisplayId;
            }
            else if (inImage is not null)
            {
                imageName = image!.Info.DisplayName;
                imageId = image.Info.DisplayId;
            }
            result.Layers.Add(new OverlayLayer
            {
                Position = i,
                Role = shownRole.ToString(),
                Path = full.Path,
                DiffId = full.DiffId,
                ChainId = full.ChainId,
                CacheId = full.CacheId,
                Size = full.Size,
                CreatedBy = full.CreatedBy,
                Created = full.Created,
                Image = isImageLayer || inContainer is not null ? imageName : null,
                ImageId = isImageLayer || inContainer is not null ? imageId : null,
                Container = inContainer is not null ? container!.Info.DisplayName : null,
                ContainerId = inContainer is not null ? container!.Info.Id : null,
                Namespace = inContainer is not null ? container!.Info.Namespace : inImage is not null ? image!.Info.Namespace : null,
                Backend = store.Backend,
                DataRoot = store.Root,
                Work = keepStoreRole ? full.Work : work,
                Merged = keepStoreRole ? full.Merged : merged,
            });
        }
        return result;
    }

    /// <summary>
    /// The image whose top layer has this chain id (tagged images first); failing that, the image
    /// that holds the layer nearest its top. Images that cannot be read are passed over.
    /// </summary>
    public static StoreImage? ImageWithLayer(ILayerStore store, string chainId)
    {
        IReadOnlyList<StoreImageInfo> infos;
        try
        {
            infos = store.ListImages();
        }
        catch (OverlayException)
        {
            return null;
        }
        StoreImage? best = null;
        int bestIndex = int.MaxValue;
        foreach (var info in infos.OrderBy(i => i.Names.Count > 0 ? 0 : i.Intermediate ? 2 : 1))
        {
            StoreImage image;
            try
            {
                image = store.GetImage(info);
            }
            catch (OverlayException)
            {
                continue;
            }
            for (int i = 0; i < image.Layers.Count && i < bestIndex; i++)
            {
                if (image.Layers[i].ChainId == chainId)
                {
                    if (i == 0)
                    {
                        return image;
                    }
                    best = image;
                    bestIndex = i;
                    break;
                }
            }
        }
        return best;
    }
}
