using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using OverlayTools.Stores;
using OverlayTools.Stores.Containerd;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>The containerd store as the third ILayerStore backend, on the fixture a real containerd wrote.</summary>
public class ContainerdLayerStoreTests
{
    private static string[] Strings(JsonElement a) => a.EnumerateArray().Select(x => x.GetString()!).ToArray();

    [Fact]
    public void Is_detected_and_opened_as_the_containerd_backend()
    {
        using var fx = ContainerdFixture.Extract();
        var backend = LayerStores.Detect(fx.Root, out string? problem);
        Assert.Null(problem);
        Assert.Equal("containerd", backend?.Name);
        using var store = LayerStores.Open(fx.Root);
        Assert.Equal("containerd", store.Backend);
        Assert.Equal(fx.Root, store.Root);
    }

    [Theory]
    [InlineData("docker.io/library/nginx:1.27", "library/nginx:1.27|nginx:1.27")]
    [InlineData("docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef|nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("docker.io/user/app:latest", "user/app:latest")]
    [InlineData("example.com/demo/app:1.0", "")]
    [InlineData("example.com:5000/app:2", "")]
    [InlineData("localhost/app:latest", "")]
    [InlineData("registry.k8s.io/pause:3.9", "")]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "")]
    public void A_stored_name_answers_to_the_short_forms_docker_accepts(string stored, string shortForms)
        => Assert.Equal(shortForms.Length == 0 ? [] : shortForms.Split('|'), ContainerdLayerStore.ShortForms(stored).ToArray());

    [Fact]
    public void Lists_one_image_per_target_and_namespace_with_docker_first()
    {
        using var fx = ContainerdFixture.Extract();
        using var store = LayerStores.Open(fx.Root);
        var images = store.ListImages();
        Assert.Equal(new[] { "moby", "k8s.io", "native" }, images.Select(i => i.Namespace).Distinct());
        var app = Assert.Single(images, i => i.Namespace == "k8s.io" && i.Names.Contains("example.com/demo/app:1.0"));
        Assert.Equal(122, app.Names.Count); // app:1.0, app2:latest and the 120 tags
        Assert.Contains("app2:latest", app.Aliases);
        Assert.Contains("library/app2:latest", app.Aliases);
        Assert.Contains(app.Aliases, a => a.StartsWith("sha256:", StringComparison.Ordinal)); // CRI's record by config digest
        Assert.Equal("sha256:" + app.Id, app.DisplayId);
        Assert.Equal(64, app.Id.Length);

        Assert.Equal("moby", StoreLookup.FindImage(images, "busybox")?.Namespace);
        Assert.Equal("moby", StoreLookup.FindImage(images, "docker.io/library/busybox:latest")?.Namespace);
        Assert.Same(app, StoreLookup.FindImage(images, "app2"));
        Assert.Same(app, StoreLookup.FindImage(images, app.Id[..10]));
    }

    [Fact]
    public void Image_layers_carry_the_configs_diff_ids_top_first()
    {
        using var fx = ContainerdFixture.Extract();
        using var store = LayerStores.Open(fx.Root);
        var images = store.ListImages();
        foreach (var x in ContainerdFixture.Expected().GetProperty("images").EnumerateArray().Where(x => x.GetProperty("namespace").GetString() == "moby"))
        {
            var info = images.Single(i => i.Namespace == "moby" && i.Names.Contains(x.GetProperty("name").GetString()!));
            var image = store.GetImage(info);
            Assert.Equal(Strings(x.GetProperty("diffIds")).Reverse(), image.Layers.Select(l => l.DiffId));
            Assert.All(image.Layers, l => Assert.Equal(LayerRole.Lower, l.Role));
            Assert.All(image.Layers, l => Assert.Matches("^[1-9][0-9]*$", l.CacheId));
            Assert.NotNull(image.Created);
        }
        var native = images.Single(i => i.Namespace == "native");
        Assert.Equal(ErrorIds.ContainerdImageNotUnpacked, Assert.Throws<OverlayException>(() => store.GetImage(native)).ErrorId);
    }

    [Fact]
    public void Containers_have_ctrs_upper_work_and_lowers_and_their_image()
    {
        using var fx = ContainerdFixture.Extract();
        using var store = LayerStores.Open(fx.Root);
        var containers = store.ListContainers();
        Assert.Equal(new[] { "m1", "big", "c1", "c2", "n1" }, containers.Select(c => c.Id));
        Assert.All(containers, c => Assert.Equal(c.Id, c.DisplayName));
        foreach (var x in ContainerdFixture.Expected().GetProperty("containers").EnumerateArray())
        {
            var info = containers.Single(c => c.Namespace == x.GetProperty("namespace").GetString() && c.Id == x.GetProperty("id").GetString());
            var c = store.GetContainer(info);
            Assert.Equal(fx.Expand(x.GetProperty("upper").GetString()!), c.UpperDir);
            Assert.Equal(fx.Expand(x.GetProperty("work").GetString()!), c.WorkDir);
            Assert.Equal(Strings(x.GetProperty("lowers")).Select(fx.Expand), c.LowerDirs);
            Assert.Equal(info.ImageName, c.Image?.DisplayName);
            Assert.All(c.Layers.Skip(1), l => Assert.StartsWith("sha256:", l.DiffId, StringComparison.Ordinal));
        }
        var n1 = containers.Single(c => c.Id == "n1");
        Assert.Equal(ErrorIds.ContainerdUnsupportedSnapshotter, Assert.Throws<OverlayException>(() => store.GetContainer(n1)).ErrorId);

        var layers = LayerOutput.FromContainer(store.GetContainer(containers.Single(c => c.Id == "c1")));
        Assert.All(layers, l => Assert.Equal("k8s.io", l.Namespace));
        Assert.Equal("example.com/demo/app:1.0", layers[0].Image);
        Assert.Equal("c1", layers[0].Container);
    }

    [Fact]
    public void Reads_each_image_once_per_store_and_keeps_its_error()
    {
        using var fx = ContainerdFixture.Extract();
        using var store = LayerStores.Open(fx.Root);
        var images = store.ListImages();
        var busybox = images.Single(i => i.Namespace == "moby" && i.Names.Contains("docker.io/library/busybox:latest"));
        var first = store.GetImage(busybox);

        // With the target blob gone, a fresh store cannot read the image; this one does not read it again.
        File.Delete(fx.BlobPath(busybox.DisplayId));
        using (var fresh = LayerStores.Open(fx.Root))
        {
            Assert.Throws<OverlayException>(() => fresh.GetImage(fresh.ListImages().Single(i => i.Namespace == "moby" && i.Id == busybox.Id)));
        }
        Assert.Same(first, store.GetImage(busybox));

        // A container of the image takes its lowers' diff ids from that one read.
        var m1 = store.GetContainer(store.ListContainers().Single(c => c.Id == "m1"));
        Assert.Equal(2, m1.LowerDirs.Count);
        Assert.All(m1.Layers.Skip(1), l => Assert.Equal(first.Layers.Single(il => il.Path == l.Path).DiffId, l.DiffId));
        Assert.NotNull(LayerOutput.ImageWithLayer(store, first.Layers[0].ChainId!));

        // Asked with another info for the same image (as a container names it), the result carries that info.
        var renamed = new StoreImageInfo { Id = busybox.Id, DisplayId = busybox.DisplayId, Names = ["busybox:renamed"], Namespace = "moby" };
        var again = store.GetImage(renamed);
        Assert.Same(renamed, again.Info);
        Assert.Same(first.Layers, again.Layers);

        // A failure is kept as well.
        var native = images.Single(i => i.Namespace == "native");
        var error = Assert.Throws<OverlayException>(() => store.GetImage(native));
        Assert.Same(error, Assert.Throws<OverlayException>(() => store.GetImage(native)));
    }

    [Fact]
    public void Finds_layers_by_absolute_and_by_containerds_relative_paths()
    {
        using var fx = ContainerdFixture.Extract();
        using var store = LayerStores.Open(fx.Root);
        var c1 = store.GetContainer(store.ListContainers().Single(c => c.Id == "c1"));
        var up = store.FindLayer(c1.UpperDir);
        Assert.Equal(LayerRole.Upper, up?.Layer.Role);
        Assert.Equal("c1", up?.Container?.Id);
        Assert.Equal(c1.WorkDir, up?.Layer.Work);

        string snapshots = Path.GetDirectoryName(Path.GetDirectoryName(c1.LowerDirs[0]))!;
        string rel = c1.LowerDirs[0][(snapshots.Length + 1)..];
        Assert.Matches("^[0-9]+/fs$", rel);
        var low = store.FindLayer(rel);
        Assert.Equal(c1.LowerDirs[0], low?.Layer.Path);
        Assert.Equal(c1.Layers[1].ChainId, low?.Layer.ChainId);
        Assert.Null(low?.Container);

        Assert.Null(store.FindLayer("/var/lib/docker/overlay2/abc/diff"));
        Assert.Null(store.FindLayer("fs"));
        Assert.Null(store.FindLayer("01/fs"));
    }

    [Theory]
    [InlineData("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs", "/var/lib/containerd")]
    [InlineData("/data/c/io.containerd.snapshotter.v1.overlayfs/snapshots/3", "/data/c")]
    [InlineData("/data/c/io.containerd.snapshotter.v1.overlayfs/snapshots/3/work/", "/data/c")]
    [InlineData("/data/c/io.containerd.snapshotter.v1.overlayfs/snapshots/3/other", null)]
    [InlineData("/data/c/io.containerd.snapshotter.v1.overlayfs/snapshots/x/fs", null)]
    [InlineData("3/fs", null)]
    [InlineData("/var/lib/docker/overlay2/abc/diff", null)]
    public void Knows_its_store_from_a_snapshot_path(string path, string? root)
        => Assert.Equal(root, new ContainerdBackend().RootFromLayerPath(path));

    [Fact]
    public void Default_roots_follow_the_configured_root()
    {
        string conf = Path.Combine(Path.GetTempPath(), "overlaytools-ctd-" + Guid.NewGuid().ToString("N") + ".toml");
        File.WriteAllText(conf, "version = 2\n# root = \"/commented\"\nroot = \"/data/containerd/\"\nstate = \"/run/x\"\n[plugins.\"io.containerd.snapshotter.v1.overlayfs\"]\n  root_path = \"/elsewhere\"\n");
        try
        {
            Assert.Equal(new[] { "/data/containerd", "/var/lib/containerd", "/var/lib/docker/containerd/daemon" }, ContainerdBackend.DefaultRootsFrom(conf));
        }
        finally
        {
            File.Delete(conf);
        }
        Assert.Equal(new[] { "/var/lib/containerd", "/var/lib/docker/containerd/daemon" }, ContainerdBackend.DefaultRootsFrom("/nonexistent/config.toml"));
        Assert.Null(ContainerdBackend.TopLevelRoot("[plugins]\nroot = \"/x\"\n"));
        Assert.Null(ContainerdBackend.TopLevelRoot("root = \"a\\\\b\"\n"));
    }
}
