using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using OverlayTools.Stores;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// An engine removes a container or image between the listing and the read of it: the states
/// docker rm, podman rm and docker rmi leave on disk at each step, made here between the two calls
/// (StoreSelection.ReadContainer / ReadImage). A wildcard leaves such an item out with no error; a
/// literal name says it was removed; real damage is still reported, naming the item.
/// </summary>
public sealed class RemovedWhileReadTests : IDisposable
{
    private readonly DockerFixture _docker = new();
    private readonly PodmanFixture _podman = new();

    public void Dispose()
    {
        _docker.Dispose();
        _podman.Dispose();
    }

    private sealed class Outcome
    {
        public List<OverlayException> Errors { get; } = [];
        public List<string> LeftOut { get; } = [];
    }

    private static (StoreContainer? Read, Outcome Wildcard, Outcome Literal) ReadBoth(ILayerStore store, StoreContainerInfo info)
    {
        var w = new Outcome();
        var l = new Outcome();
        var read = StoreSelection.ReadContainer(store, info, pathsOnly: false, wildcard: true, w.Errors.Add, w.LeftOut.Add);
        var read2 = StoreSelection.ReadContainer(store, info, pathsOnly: true, wildcard: false, l.Errors.Add, l.LeftOut.Add);
        Assert.Equal(read is null, read2 is null);
        return (read, w, l);
    }

    private static void AssertRemoved((StoreContainer? Read, Outcome Wildcard, Outcome Literal) r, string name)
    {
        Assert.Null(r.Read);
        Assert.Empty(r.Wildcard.Errors);
        Assert.Contains(name, Assert.Single(r.Wildcard.LeftOut), StringComparison.Ordinal);
        var e = Assert.Single(r.Literal.Errors);
        Assert.Equal(ErrorIds.ContainerNotFound, e.ErrorId);
        Assert.Contains($"The container {name} was removed", e.Message, StringComparison.Ordinal);
        Assert.Empty(r.Literal.LeftOut);
    }

    private (ILayerStore Store, StoreContainerInfo Web, string WebId, string MountId) DockerWithWeb()
    {
        var diffs = new[] { StoreFixture.Digest("a"), StoreFixture.Digest("b") };
        string image = _docker.AddImage("app:1", diffs);
        var (id, mountId) = _docker.AddContainer("web", image, StoreFormat.ChainIds(diffs)[^1]);
        var store = LayerStores.Open(_docker.Root);
        var web = store.ListContainers().Single(c => c.Id == id); // listed before the engine acts
        return (store, web, id, mountId);
    }

    private void SetDockerState(string id, bool dead)
    {
        string file = Path.Combine(_docker.Root, "containers", id, "config.v2.json");
        var json = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        json["State"] = new JsonObject { ["Running"] = false, ["Dead"] = dead, ["RemovalInProgress"] = dead };
        File.WriteAllText(file, json.ToJsonString());
    }

    [Fact]
    public void A_Docker_container_removed_after_the_listing_is_left_out_by_a_wildcard_and_not_found_by_name()
    {
        var (store, web, id, _) = DockerWithWeb();
        using (store)
        {
            Directory.Delete(Path.Combine(_docker.Root, "image/overlay2/layerdb/mounts", id), recursive: true);
            Directory.Delete(Path.Combine(_docker.Root, "containers", id), recursive: true);
            AssertRemoved(ReadBoth(store, web), "web");
        }
    }

    [Theory]
    [InlineData("layer released")]       // layerdb/mounts/<id> gone: was LayerMissing
    [InlineData("driver dir removed")]   // overlay2/<mount-id> gone, mounts entry still there: was LayerContentMissing
    public void A_Docker_container_that_docker_rm_marked_dead_is_being_removed_not_damaged(string step)
    {
        var (store, web, id, mountId) = DockerWithWeb();
        using (store)
        {
            SetDockerState(id, dead: true);
            if (step == "layer released")
            {
                Directory.Delete(Path.Combine(_docker.Root, "image/overlay2/layerdb/mounts", id), recursive: true);
            }
            else
            {
                Directory.Delete(Path.Combine(_docker.Home, mountId), recursive: true);
            }
            AssertRemoved(ReadBoth(store, web), "web");
        }
    }

    [Fact]
    public void A_Docker_container_whose_layer_is_gone_but_not_being_removed_is_still_reported_by_name()
    {
        var (store, web, id, _) = DockerWithWeb();
        using (store)
        {
            SetDockerState(id, dead: false);
            Directory.Delete(Path.Combine(_docker.Root, "image/overlay2/layerdb/mounts", id), recursive: true);
            var (read, w, l) = ReadBoth(store, web);
            Assert.Null(read);
            Assert.Empty(w.LeftOut);
            foreach (var e in w.Errors.Concat(l.Errors))
            {
                Assert.Equal(ErrorIds.LayerMissing, e.ErrorId);
                Assert.Contains("web", e.Message, StringComparison.Ordinal);
            }
            Assert.Single(w.Errors);
        }
    }

    [Fact]
    public void A_Docker_image_removed_after_the_listing_is_left_out_by_a_wildcard_and_not_found_by_name()
    {
        string id = _docker.AddImage("gone:1", StoreFixture.Digest("g"));
        using var store = LayerStores.Open(_docker.Root);
        var info = store.ListImages().Single(i => i.Id == id);
        File.Delete(Path.Combine(_docker.Root, "image/overlay2/imagedb/content/sha256", id));
        var w = new Outcome();
        Assert.Null(StoreSelection.ReadImage(store, info, wildcard: true, w.Errors.Add, w.LeftOut.Add));
        Assert.Empty(w.Errors);
        Assert.Single(w.LeftOut);
        var l = new Outcome();
        Assert.Null(StoreSelection.ReadImage(store, info, wildcard: false, l.Errors.Add, l.LeftOut.Add));
        Assert.Equal(ErrorIds.ImageNotFound, Assert.Single(l.Errors).ErrorId);
    }

    [Fact]
    public void A_damaged_image_layer_is_reported_naming_the_image_that_needs_it()
    {
        var diffs = new[] { StoreFixture.Digest("base"), StoreFixture.Digest("top") };
        string id = _docker.AddImage("broken:1", diffs);
        Directory.Delete(Path.Combine(_docker.Home, _docker.CacheIds[StoreFormat.ChainIds(diffs)[0]], "diff"), recursive: true);
        using var store = LayerStores.Open(_docker.Root);
        var info = store.ListImages().Single(i => i.Id == id);
        var w = new Outcome();
        Assert.Null(StoreSelection.ReadImage(store, info, wildcard: true, w.Errors.Add, w.LeftOut.Add));
        Assert.Empty(w.LeftOut);
        var e = Assert.Single(w.Errors);
        Assert.Equal(ErrorIds.LayerContentMissing, e.ErrorId);
        Assert.StartsWith("The image broken:1 cannot be read: ", e.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(e.RecommendedAction));
    }

    private (ILayerStore Store, StoreContainerInfo Web, string Layer) PodmanWithWeb()
    {
        var (image, top) = _podman.AddImage(["localhost/app:1"], StoreFixture.Digest("pa"), StoreFixture.Digest("pb"));
        var (id, layer) = _podman.AddContainer("web", image, top);
        var store = LayerStores.Open(_podman.Root);
        return (store, store.ListContainers().Single(c => c.Id == id), layer);
    }

    private void RewritePodmanIndex(string rel, Action<JsonArray> edit)
    {
        string file = Path.Combine(_podman.Root, rel);
        var doc = JsonNode.Parse(File.ReadAllText(file))!.AsArray();
        edit(doc);
        File.WriteAllText(file, doc.ToJsonString());
    }

    [Theory]
    [InlineData("flagged incomplete")]   // was LayerIncomplete
    [InlineData("layer dropped")]        // was LayerMissing
    [InlineData("container dropped")]
    public void A_Podman_container_that_podman_rm_is_removing_is_left_out_by_a_wildcard_and_not_found_by_name(string step)
    {
        var (store, web, layer) = PodmanWithWeb();
        using (store)
        {
            RewritePodmanIndex("overlay-layers/layers.json", a =>
            {
                var rec = a.Single(n => (string?)n!["id"] == layer)!;
                if (step == "flagged incomplete")
                {
                    rec["flags"] = new JsonObject { ["incomplete"] = true };
                }
                else
                {
                    a.Remove(rec);
                }
            });
            if (step == "container dropped")
            {
                RewritePodmanIndex("overlay-containers/containers.json", a => a.Remove(a.Single(n => (string?)n!["id"] == web.Id)));
            }
            // The store listed the container before podman acted.
            AssertRemoved(ReadBoth(store, web), "web");
        }
    }

    [Fact]
    public void A_Podman_image_layer_flagged_incomplete_is_still_reported_for_the_container_that_needs_it()
    {
        var (store, web, layer) = PodmanWithWeb();
        store.Dispose();
        RewritePodmanIndex("overlay-layers/layers.json", a =>
        {
            var parent = (string)a.Single(n => (string?)n!["id"] == layer)!["parent"]!;
            a.Single(n => (string?)n!["id"] == parent)!["flags"] = new JsonObject { ["incomplete"] = true };
        });
        using var fresh = LayerStores.Open(_podman.Root);
        var (read, w, _) = ReadBoth(fresh, fresh.ListContainers().Single(c => c.Id == web.Id));
        Assert.Null(read);
        Assert.Empty(w.LeftOut);
        Assert.Equal(ErrorIds.LayerIncomplete, Assert.Single(w.Errors).ErrorId);
    }
}
