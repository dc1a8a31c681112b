using System;
using System.Collections.Generic;
using System.Linq;

namespace OverlayTools.Stores;

/// <summary>
/// The stores layer paths live in, for one command: each backend recognises its own layout in a
/// path (<see cref="ILayerStoreBackend.RootFromLayerPath"/>), and the store at that root is probed
/// and opened by that backend once, then kept. A root that holds no readable store is remembered
/// as none: a path there is in no store, never an error. Roots that lead to one store (its backend
/// and real root) share one object. Owns every store it holds, those given to <see cref="Add"/>
/// included. Not thread-safe.
/// </summary>
public sealed class LayerPathStores : IDisposable
{
    private readonly Dictionary<(string Backend, string Root), ILayerStore?> _byRoot = new();
    private readonly List<ILayerStore> _held = [];
    private readonly Action<ILayerStore>? _opened;

    /// <summary>A cache for one command; <paramref name="opened"/> hears of each store it opens itself (for a verbose line).</summary>
    public LayerPathStores(Action<ILayerStore>? opened = null) => _opened = opened;

    /// <summary>The stores whose layout <paramref name="path"/> has, in backend order (mostly one; none for a path outside every store's layout).</summary>
    public IEnumerable<ILayerStore> StoresFor(string path)
    {
        foreach (var backend in LayerStores.Backends)
        {
            if (backend.RootFromLayerPath(path) is not { } root)
            {
                continue;
            }
            var key = (backend.Name, root);
            if (!_byRoot.TryGetValue(key, out var store))
            {
                store = TryOpen(backend, root);
                _byRoot[key] = store;
            }
            if (store is not null)
            {
                yield return store;
            }
        }
    }

    /// <summary>The first store <paramref name="path"/> is in, by its layout; null when none.</summary>
    public ILayerStore? StoreFor(string path) => StoresFor(path).FirstOrDefault();

    /// <summary>
    /// Takes a store opened elsewhere (-DataRoot's), so that a layer path under its root finds it
    /// rather than opening it again. When an equal store (backend and real root) is held already,
    /// <paramref name="store"/> is disposed and the held one returned.
    /// </summary>
    public ILayerStore Add(ILayerStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = (store.Backend, store.Root);
        if (_byRoot.TryGetValue(key, out var held) && held is not null)
        {
            if (!ReferenceEquals(held, store))
            {
                store.Dispose();
            }
            return held;
        }
        _byRoot[key] = store;
        _held.Add(store);
        return store;
    }

    private ILayerStore? TryOpen(ILayerStoreBackend backend, string root)
    {
        ILayerStore store;
        try
        {
            if (!backend.Probe(root, out string? problem) || problem is not null)
            {
                return null;
            }
            store = backend.Open(root);
        }
        catch (OverlayException)
        {
            return null;
        }
        var held = Add(store);
        if (ReferenceEquals(held, store))
        {
            _opened?.Invoke(store);
        }
        return held;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var s in _held)
        {
            s.Dispose();
        }
        _held.Clear();
        _byRoot.Clear();
    }
}
