using System;
using System.Collections.Generic;
using System.IO;
using OverlayTools.Stores;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// Opening stores, the one way every command does it: for -DataRoot or the default roots
/// (LayerStores.OpenStores), and for a layer path (LayerPathStores); each store once, by its
/// backend and real root.
/// </summary>
public sealed class StoreOpeningTests : IDisposable
{
    private readonly DockerFixture _docker = new();
    private readonly string _link;
    private readonly string _diffPath;

    public StoreOpeningTests()
    {
        string diff = StoreFixture.Digest("opening");
        _docker.AddImage("app:1", diff);
        _diffPath = Path.Combine(_docker.Home, _docker.CacheIds[StoreFormat.ChainIds([diff])[0]], "diff");
        _link = _docker.Root + "-link";
        Directory.CreateSymbolicLink(_link, _docker.Root);
    }

    public void Dispose()
    {
        File.Delete(_link);
        _docker.Dispose();
    }

    [Fact]
    public void Given_roots_open_each_store_once_and_each_failing_root_is_its_own_error()
    {
        var errors = new List<OverlayException>();
        var stores = LayerStores.OpenStores([_docker.Root, _link, _docker.Root + "-missing"], errors.Add);
        try
        {
            var s = Assert.Single(stores);
            Assert.Equal("overlay2", s.Backend);
            Assert.Equal(ErrorIds.LayerStoreNotFound, Assert.Single(errors).ErrorId);
        }
        finally
        {
            stores.ForEach(s => s.Dispose());
        }

        // Roots given, none usable: nothing is opened, and the default roots are not tried.
        errors.Clear();
        Assert.Empty(LayerStores.OpenStores([], errors.Add));
        Assert.Empty(errors);
    }

    [Fact]
    public void A_layer_path_opens_its_store_once_whatever_spelling_of_the_root_it_uses()
    {
        var opened = new List<ILayerStore>();
        using var paths = new LayerPathStores(opened.Add);
        var store = paths.StoreFor(_diffPath);
        Assert.NotNull(store);
        Assert.Same(store, paths.StoreFor(Path.GetDirectoryName(_diffPath)!));
        Assert.Same(store, paths.StoreFor(_diffPath.Replace(_docker.Root, _link, StringComparison.Ordinal)));
        Assert.Same(store, Assert.Single(opened));
        Assert.NotNull(store!.FindLayer(_diffPath));

        // Outside every store's layout, or a layout with no store behind it: no store, no error.
        Assert.Null(paths.StoreFor(_docker.Root));
        Assert.Null(paths.StoreFor(_docker.Root + "-missing/overlay2/" + StoreFixture.Hex("x") + "/diff"));
        Assert.Single(opened);
    }

    [Fact]
    public void A_store_opened_for_DataRoot_is_the_one_a_layer_path_finds()
    {
        var opened = new List<ILayerStore>();
        using var paths = new LayerPathStores(opened.Add);
        var given = LayerStores.Open(_docker.Root);
        Assert.Same(given, paths.Add(given));
        Assert.Same(given, paths.StoreFor(_diffPath));
        Assert.Empty(opened);

        // The same store opened again is let go in favour of the one held.
        var again = LayerStores.Open(_link);
        Assert.Same(given, paths.Add(again));
    }
}
