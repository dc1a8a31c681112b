using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using OverlayTools.Stores;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// What an -Image or -Container value selects across stores (StoreSelection), and that each failed
/// lookup writes exactly one error: an ambiguous id prefix or an unreadable index is not followed
/// by a "not found" for the same value.
/// </summary>
public sealed class StoreSelectionTests : IDisposable
{
    private readonly DockerFixture _good = new();
    private readonly DockerFixture _broken = new();
    private readonly List<string> _ids = [];

    public StoreSelectionTests()
    {
        // Seventeen images: at least two share the first hex digit of their ids.
        for (int i = 0; i < 17; i++)
        {
            _ids.Add(_good.AddImage($"img{i}:1", StoreFixture.Digest("layer " + i)));
        }
        _broken.AddImage("app:1", StoreFixture.Digest("broken"));
        File.WriteAllText(Path.Combine(_broken.Root, "image/overlay2/repositories.json"), "{\"Repositories\":{"); // cut short: the index cannot be read
    }

    public void Dispose()
    {
        _good.Dispose();
        _broken.Dispose();
    }

    private static (List<(ILayerStore Store, StoreImageInfo Info)> Selected, List<OverlayException> Errors) Images(IReadOnlyList<ILayerStore> stores, string query, Func<string, bool>? wildcard = null)
    {
        var errors = new List<OverlayException>();
        var selected = StoreSelection.Images(stores, query, wildcard, null, errors.Add);
        return (selected, errors);
    }

    [Fact]
    public void An_ambiguous_image_id_prefix_is_one_error_and_no_not_found()
    {
        using var store = LayerStores.Open(_good.Root);
        string prefix = _ids.GroupBy(id => id[0]).First(g => g.Count() > 1).Key.ToString();
        var (selected, errors) = Images([store], prefix);
        Assert.Empty(selected);
        var e = Assert.Single(errors);
        Assert.Equal(ErrorIds.ImageAmbiguous, e.ErrorId);
    }

    [Fact]
    public void An_unknown_image_is_one_not_found()
    {
        using var store = LayerStores.Open(_good.Root);
        var (selected, errors) = Images([store], "nosuch:1");
        Assert.Empty(selected);
        var e = Assert.Single(errors);
        Assert.Equal(ErrorIds.ImageNotFound, e.ErrorId);
    }

    [Fact]
    public void An_unreadable_image_index_is_its_own_error_and_no_not_found()
    {
        using var good = LayerStores.Open(_good.Root);
        using var broken = LayerStores.Open(_broken.Root);
        var (selected, errors) = Images([broken, good], "nosuch:1");
        Assert.Empty(selected);
        var e = Assert.Single(errors);
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);

        // The other stores are still searched.
        (selected, errors) = Images([broken, good], "img3:1");
        Assert.Equal(_ids[3], Assert.Single(selected).Info.Id);
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, Assert.Single(errors).ErrorId);
    }

    [Fact]
    public void A_wildcard_selects_across_stores_and_finding_nothing_is_no_error()
    {
        using var store = LayerStores.Open(_good.Root);
        var (selected, errors) = Images([store], "img1*", s => s.StartsWith("img1", StringComparison.Ordinal));
        Assert.Equal(8, selected.Count); // img1, img10 ... img16
        Assert.Empty(errors);
        (selected, errors) = Images([store], "none*", s => s.StartsWith("none", StringComparison.Ordinal));
        Assert.Empty(selected);
        Assert.Empty(errors);
    }

    /// <summary>A stand-in for PowerShell's wildcards: a trailing '*' matches any rest; case-sensitive.</summary>
    private static NamespaceFilter Namespaces(params string[] patterns)
        => new(patterns, p => ns => p.EndsWith('*') ? ns.StartsWith(p[..^1], StringComparison.Ordinal) : ns == p);

    [Fact]
    public void Namespaces_narrow_the_images_considered()
    {
        using var store = LayerStores.Open(_good.Root);
        var errors = new List<OverlayException>();
        var selected = StoreSelection.Images([store], "img3:1", null, Namespaces("moby"), errors.Add);
        Assert.Empty(selected);
        var e = Assert.Single(errors);
        Assert.Equal(ErrorIds.ImageNotFound, e.ErrorId);
        Assert.Contains("No image 'img3:1' in namespace 'moby' of the store at", e.Message, StringComparison.Ordinal);
        errors.Clear();
        Assert.Single(StoreSelection.Images([store], "img3:1", null, null, errors.Add));
        Assert.Empty(errors);
    }

    [Fact]
    public void A_namespace_filter_never_selects_items_without_a_namespace_and_matches_case_sensitively()
    {
        // overlay2 and podman items have no namespace: even a pattern that matches anything passes them over.
        var any = Namespaces("*");
        Assert.False(any.Accepts(null));
        Assert.True(any.Accepts("moby"));
        var k8s = Namespaces("moby", "k8s*");
        Assert.True(k8s.Accepts("k8s.io"));
        Assert.False(k8s.Accepts("K8S.io"));
        Assert.False(k8s.Accepts("MOBY"));
        Assert.Equal("namespaces 'moby', 'k8s*'", k8s.ToString());

        using var store = LayerStores.Open(_good.Root);
        var errors = new List<OverlayException>();
        Assert.Empty(StoreSelection.Images([store], "img*", s => s.StartsWith("img", StringComparison.Ordinal), any, errors.Add));
        Assert.Empty(errors);
    }
}
