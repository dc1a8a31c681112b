using System;
using System.Collections.Generic;
using System.Linq;

namespace OverlayTools.Stores;

/// <summary>
/// Names the container behind a mounted overlay: the layer store its upper (or top lower) lives
/// in is recognised from the path alone, opened once per call, and asked which container owns
/// that layer. Docker's overlay2 merged dirs, Docker 29's /var/lib/docker/rootfs/overlayfs/&lt;id&gt;
/// roots, containerd task roots and Podman's merged dirs all map back this way. Overlays of other
/// paths cost nothing; a store that cannot be read leaves the owner unknown (never an error).
/// </summary>
public sealed class MountOwners : IDisposable
{
    private readonly LayerPathStores _stores = new();

    /// <summary>Fills Backend, and for a container's own root ContainerId, Container and Image, of each mount where a store knows them.</summary>
    public void Annotate(IEnumerable<OverlayMount> mounts)
    {
        foreach (var m in mounts)
        {
            Annotate(m);
        }
    }

    /// <summary>Fills the owner of one mount where a store knows it.</summary>
    public void Annotate(OverlayMount mount)
    {
        var path = mount.Upper ?? mount.Lower.FirstOrDefault();
        if (path is null || _stores.StoreFor(path) is not { } store)
        {
            return;
        }
        try
        {
            var match = store.FindLayer(path);
            if (match is null)
            {
                return;
            }
            mount.Backend = store.Backend;
            // Only an overlay writing into the container's own upper is that container's root;
            // a read-only view of its layers (the upper stacked as the top lower) is not.
            if (match.Container is { } c && mount.Upper is not null)
            {
                mount.ContainerId = c.Id;
                mount.Container = c.DisplayName;
                mount.Image = c.ImageName;
            }
        }
        catch (OverlayException)
        {
            // A damaged layer: Get-OverlayLayer reports it; listing mounts goes on.
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _stores.Dispose();
}
