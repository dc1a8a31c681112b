using System;
using System.Collections.Generic;
using OverlayTools.Mounts;

namespace OverlayTools.Layers;

/// <summary>
/// The layers of the mounted overlays one command meets, each overlay's opened once
/// (<see cref="LayerSet.OpenMounted"/>) and kept for the command's life, so that a pipeline of
/// paths on one overlay ('Get-ChildItem -Recurse merged | Resolve-OverlayPath') opens its
/// layers once, not once per path. A LayerSet keeps only the layer directories' descriptors
/// and whether each layer root is marked opaque="x" (which no copy-up changes, and the kernel
/// reads once at mount time): every lookup reads the directories afresh, so what a copy-up
/// earlier in the pipeline put in the upper is seen by the next lookup. The few overlays used
/// last are kept (a pipeline over many overlays closes the least recently used); not
/// thread-safe (one command, one thread).
/// </summary>
internal sealed class LayerSetCache : IDisposable
{
    internal const int MaxOverlays = 8;

    private readonly List<(string Key, LayerSet Layers)> _sets = [];
    private bool _disposed;

    /// <summary>
    /// The layers of <paramref name="mount"/> (opened on first use; <paramref name="path"/> is
    /// what the user gave, the target of an error). Throws what LayerSet.OpenMounted throws.
    /// </summary>
    internal LayerSet Get(OverlayMount mount, string path, bool dataLayers = true)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string key = KeyOf(mount, dataLayers);
        for (int i = 0; i < _sets.Count; i++)
        {
            if (_sets[i].Key == key)
            {
                var hit = _sets[i];
                _sets.RemoveAt(i);
                _sets.Add(hit);
                return hit.Layers;
            }
        }
        var layers = LayerSet.OpenMounted(mount, path, dataLayers);
        if (_sets.Count >= MaxOverlays)
        {
            _sets[0].Layers.Dispose();
            _sets.RemoveAt(0);
        }
        _sets.Add((key, layers));
        return layers;
    }

    /// <summary>Closes the layers of <paramref name="mount"/> (after an unexpected failure with them), so the next path opens them again.</summary>
    internal void Forget(OverlayMount mount)
    {
        for (int i = _sets.Count - 1; i >= 0; i--)
        {
            if (_sets[i].Key.StartsWith(KeyPrefix(mount), StringComparison.Ordinal))
            {
                _sets[i].Layers.Dispose();
                _sets.RemoveAt(i);
            }
        }
    }

    /// <summary>How many overlays' layers are open now.</summary>
    internal int Count => _sets.Count;

    // The mount id alone could be reused by a later mount: the layers' paths and the xattr
    // prefix are part of the key ('\0' separates them: no path holds it).
    private static string KeyPrefix(OverlayMount mount)
        => string.Join('\0', [mount.MountId.ToString(System.Globalization.CultureInfo.InvariantCulture), mount.Upper ?? "", .. mount.Lower, "", .. mount.DataLower, "",
            OverlayLocator.UsesUserXattr(mount) ? "user" : "trusted"]) + "\0";

    private static string KeyOf(OverlayMount mount, bool dataLayers) => KeyPrefix(mount) + (dataLayers ? "data" : "nodata");

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var (_, layers) in _sets)
        {
            layers.Dispose();
        }
        _sets.Clear();
    }
}
