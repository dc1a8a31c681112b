using System;
using System.IO;
using OverlayTools.Layers;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// LayerSetCache: one LayerSet per overlay for a command's pipeline, told apart by mount id and
/// layers (a reused mount id with other layers is another overlay), the least recently used
/// closed past the limit, everything closed on Dispose. Plain directories, no mount, no root.
/// </summary>
public sealed class LayerSetCacheTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "overlaytools-lsc-" + Guid.NewGuid().ToString("N")[..8]);

    public LayerSetCacheTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    private OverlayMount Mount(int id, string upper, params string[] lower)
        => new() { MountId = id, Target = Path.Combine(_root, "m" + id), Upper = upper, Lower = lower };

    [Fact]
    public void OpensAnOverlaysLayersOnceAndTellsOverlaysApart()
    {
        string upper = Dir("upper"), a = Dir("a"), b = Dir("b");
        using var cache = new LayerSetCache();
        var first = cache.Get(Mount(7, upper, a), "/p1");
        Assert.Same(first, cache.Get(Mount(7, upper, a), "/p2"));
        // The same mount id with other layers (a later mount that reused the id) is another overlay.
        var other = cache.Get(Mount(7, upper, b), "/p3");
        Assert.NotSame(first, other);
        Assert.Equal(b, other.Lowers[0].Path);
        // Layers without the data-only ones are another set.
        Assert.NotSame(first, cache.Get(Mount(7, upper, a), "/p4", dataLayers: false));
        Assert.Equal(3, cache.Count);
    }

    [Fact]
    public void ClosesTheLeastRecentlyUsedPastTheLimitAndAllOnDispose()
    {
        string upper = Dir("upper"), a = Dir("a");
        var cache = new LayerSetCache();
        var sets = new LayerSet[LayerSetCache.MaxOverlays + 1];
        for (int i = 0; i <= LayerSetCache.MaxOverlays; i++)
        {
            sets[i] = cache.Get(Mount(i + 1, upper, a), "/p");
            if (i == 0)
            {
                continue;
            }
            // Keep the first one the most recently used.
            Assert.Same(sets[0], cache.Get(Mount(1, upper, a), "/p"));
        }
        Assert.Equal(LayerSetCache.MaxOverlays, cache.Count);
        Assert.False(sets[0].Upper!.Root.IsClosed);
        Assert.True(sets[1].Upper!.Root.IsClosed);
        cache.Forget(Mount(1, upper, a));
        Assert.True(sets[0].Upper!.Root.IsClosed);
        Assert.Equal(LayerSetCache.MaxOverlays - 1, cache.Count);
        cache.Dispose();
        Assert.All(sets, s => Assert.True(s.Upper!.Root.IsClosed));
        Assert.Throws<ObjectDisposedException>(() => cache.Get(Mount(1, upper, a), "/p"));
    }
}
