using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using OverlayTools.Stores;
using Xunit;

namespace OverlayTools.Core.Tests;

public class StoreFormatTests
{
    [Fact]
    public void Recognises_ids_digests_and_link_names()
    {
        string hex = new('a', 64);
        Assert.True(StoreFormat.IsHexId(hex));
        Assert.False(StoreFormat.IsHexId(hex.ToUpperInvariant()));
        Assert.False(StoreFormat.IsHexId(hex[..63]));
        Assert.False(StoreFormat.IsHexId("../../../etc/passwd"));
        Assert.True(StoreFormat.IsDigest("sha256:" + hex));
        Assert.False(StoreFormat.IsDigest("sha512:" + hex));
        Assert.True(StoreFormat.IsLinkId("BTWTUYFTTP7JZYJ2U7FHEMHDU3"));
        Assert.False(StoreFormat.IsLinkId("../../etc"));
        Assert.False(StoreFormat.IsLinkId("btwtuyfttp7jzyj2u7fhemhdu3"));
        Assert.True(StoreFormat.IsHexPrefix("f67"));
        Assert.False(StoreFormat.IsHexPrefix("web"));
    }

    // The containerd reader checks its digests (target, manifest, config, layer, diff id) with the same function.
    [Theory]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    [InlineData("sha256:../../../../etc/passwd", false)]
    [InlineData("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", false)]
    public void Only_sha256_digests_become_paths(string digest, bool ok) => Assert.Equal(ok, StoreFormat.IsDigest(digest));

    [Fact]
    public void Computes_OCI_chain_ids()
    {
        // Observed on a real Docker store: the base layer's chain id is its diff id, the next one hashes "parent diff".
        const string base0 = "sha256:b00b343ed428fe6e43bb8dcc3f8ec9baf35d45fcacdd7184a2ecf68a953ec0be";
        const string diff1 = "sha256:c14ee6d4b636c1ac53c7fb53a265d8e30910755594bf6bcdebd99364fb6d3641";
        var chains = StoreFormat.ChainIds([base0, diff1]);
        Assert.Equal(base0, chains[0]);
        Assert.Equal("sha256:9499da3bb8f7aa76d54aed99217c7bc1ce80fe169e522803cc4df308a1c9f698", chains[1]);
    }

    [Theory]
    [InlineData("2026-11-27T12:36:03.329645235Z", "2026-11-27T12:36:03.3296452Z")]
    [InlineData("2026-11-27T12:36:03Z", "2026-11-27T12:36:03.0000000Z")]
    [InlineData("2026-11-27T14:36:03.5+02:00", "2026-11-27T12:36:03.5000000Z")]
    public void Parses_Go_RFC3339_times_to_UTC(string text, string expected)
    {
        var t = StoreFormat.ParseTime(text);
        Assert.NotNull(t);
        Assert.Equal(DateTimeKind.Utc, t!.Value.Kind);
        Assert.Equal(expected, t.Value.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("yesterday")]
    [InlineData("2026-11-27T12:36:03.1234567891Z")]
    public void Gives_no_time_for_zero_or_malformed_values(string? text) => Assert.Null(StoreFormat.ParseTime(text));

    [Fact]
    public void Matches_history_entries_to_layers_skipping_empty_layers()
    {
        using var doc = JsonDocument.Parse("""
            {"history":[{"created_by":"COPY a"},{"created_by":"ENV x","empty_layer":true},{"created_by":"RUN b","created":"2026-01-01T00:00:00Z"},{"created_by":"CMD c","empty_layer":true}]}
            """);
        var h = StoreFormat.LayerHistory(doc.RootElement, 2);
        Assert.Equal("COPY a", h[0].CreatedBy);
        Assert.Equal("RUN b", h[1].CreatedBy);
        Assert.NotNull(h[1].Created);
        var three = StoreFormat.LayerHistory(doc.RootElement, 3);
        Assert.Null(three[2].CreatedBy);
    }

    [Fact]
    public void Refuses_diff_ids_that_are_not_digests()
    {
        using var doc = JsonDocument.Parse("""{"rootfs":{"type":"layers","diff_ids":["sha256:../../etc"]}}""");
        var e = Assert.Throws<OverlayException>(() => StoreFormat.DiffIds(doc.RootElement, "/x/config"));
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
    }

    [Theory]
    [InlineData(0L, "0B")]
    [InlineData(3L, "3B")]
    [InlineData(11L, "11B")]
    [InlineData(3216L, "3.22kB")]
    [InlineData(142848L, "143kB")]
    [InlineData(1982256L, "1.98MB")]
    [InlineData(12_300_000_000L, "12.3GB")]
    public void Formats_sizes_like_docker(long bytes, string expected) => Assert.Equal(expected, OverlayLayer.FormatSize(bytes));

    [Fact]
    public void Treats_ids_holding_paths_as_attempts_to_leave_the_store()
    {
        Assert.Equal(ErrorIds.LayerPathOutsideStore, StoreFormat.BadId("/f", "cache-id", "../../etc").ErrorId);
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, StoreFormat.BadId("/f", "cache-id", "xyz").ErrorId);
    }
}

public class StoreLookupTests
{
    private static StoreImageInfo Image(string seed, string[] names, string[]? aliases = null, bool intermediate = false) => new()
    {
        Id = StoreFixture.Hex(seed),
        DisplayId = "sha256:" + StoreFixture.Hex(seed),
        Names = names,
        Aliases = aliases ?? [],
        Intermediate = intermediate,
    };

    [Theory]
    [InlineData("app:1", true)]
    [InlineData("localhost:5000/app", false)]
    [InlineData("localhost:5000/app:2", true)]
    [InlineData("app@sha256:abc", true)]
    [InlineData("app", false)]
    public void Tells_a_tag_from_a_registry_port(string reference, bool expected) => Assert.Equal(expected, StoreLookup.HasTagOrDigest(reference));

    /// <summary>A stand-in for PowerShell's wildcards ('*' only), case-sensitive.</summary>
    private static Func<string, bool> Glob(string pattern)
    {
        var regex = new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*") + "$");
        return regex.IsMatch;
    }

    [Fact]
    public void Shows_an_image_by_the_name_a_query_matched()
    {
        using var f = new DockerFixture();
        string id = f.AddImage("demo:1", StoreFixture.Digest("shown"));
        var tags = new[] { "demo:1", "demo:latest", "other/repo:v2", "localhost:5000/foo:9", "Registry.Example.com:443/a/b/c:1.0-rc_1" };
        var repos = tags.GroupBy(t => t[..t.LastIndexOf(':')]).ToDictionary(g => g.Key, g => g.ToDictionary(t => t, _ => "sha256:" + id));
        File.WriteAllText(Path.Combine(f.Root, "image/overlay2/repositories.json"), System.Text.Json.JsonSerializer.Serialize(new { Repositories = repos }));
        using var s = LayerStores.Open(f.Root);
        var image = s.ListImages().Single();
        Assert.Equal("Registry.Example.com:443/a/b/c:1.0-rc_1", image.DisplayName); // docker's order: RepoTags[0]
        // Literal: the name given, as Docker spells it.
        Assert.Equal("other/repo:v2", StoreLookup.ShownName(image, "other/repo:v2", null));
        Assert.Equal("other/repo:v2", StoreLookup.ShownName(image, "docker.io/other/repo:v2", null));
        Assert.Equal("demo:1", StoreLookup.ShownName(image, "docker.io/library/demo:1", null));
        Assert.Equal("demo:latest", StoreLookup.ShownName(image, "demo", null));
        Assert.Null(StoreLookup.ShownName(image, id[..12], null));
        // Wildcard: the first name it matches, itself or by another spelling.
        Assert.Equal("other/repo:v2", StoreLookup.ShownName(image, "other/*", Glob("other/*")));
        Assert.Equal("other/repo:v2", StoreLookup.ShownName(image, "docker.io/other/*", Glob("docker.io/other/*")));
        Assert.Equal("localhost:5000/foo:9", StoreLookup.ShownName(image, "localhost:5000/*", Glob("localhost:5000/*")));
        Assert.Equal("demo:latest", StoreLookup.ShownName(image, "*:latest", Glob("*:latest")));
        Assert.Equal(image.DisplayName, StoreLookup.ShownName(image, "*", Glob("*")));
        Assert.Null(StoreLookup.ShownName(image, id[..4] + "*", Glob(id[..4] + "*")));
    }

    [Fact]
    public void Shows_a_Podman_image_by_the_tag_or_digest_reference_a_query_matched()
    {
        using var f = new PodmanFixture();
        var (id, _) = f.AddImage(["localhost/demo:1", "localhost/demo:2", "localhost/demo:4"], StoreFixture.Digest("p-shown"));
        string digest = StoreFixture.Digest("p-manifest");
        f.SetImageField(id, "digest", digest);
        using var s = LayerStores.Open(f.Root);
        var image = s.ListImages().Single();
        Assert.Equal("localhost/demo:2", StoreLookup.ShownName(image, "demo:2", null));
        Assert.Equal("localhost/demo:4", StoreLookup.ShownName(image, "localhost/demo:4", null));
        Assert.Equal("localhost/demo@" + digest, StoreLookup.ShownName(image, "demo@" + digest, null));
        Assert.Equal("localhost/demo:1", StoreLookup.ShownName(image, "demo:*", Glob("demo:*")));
        Assert.Equal("localhost/demo:4", StoreLookup.ShownName(image, "*:4", Glob("*:4")));
        Assert.Equal("localhost/demo@" + digest, StoreLookup.ShownName(image, "*@sha256:*", Glob("*@sha256:*")));
    }

    [Fact]
    public void Finds_a_Podman_image_by_its_digest_or_the_end_of_a_repository_as_podman_does()
    {
        // What podman 4.3 image inspect found here, for images tagged so (tests/Get-OverlayLayer.Tests.ps1 compares it live).
        using var f = new PodmanFixture();
        var (first, _) = f.AddImage(["localhost/base:latest", "quay.io/x/y:2", "example.com/a/b/z:3", "registry.test:5000/q:latest", "quay.io/x/v:latest"], StoreFixture.Digest("p-suffix-1"));
        var (second, _) = f.AddImage(["other.io/y:2", "aaa.io/x/y:2", "other.io/solo:7"], StoreFixture.Digest("p-suffix-2"));
        string digest = StoreFixture.Digest("p-suffix-manifest");
        f.SetImageField(first, "digest", digest);
        using var s = LayerStores.Open(f.Root);
        var list = s.ListImages();
        foreach (var (query, shown) in new[]
        {
            ("y:2", "quay.io/x/y:2"), ("x/y:2", "quay.io/x/y:2"), ("z:3", "example.com/a/b/z:3"), ("b/z:3", "example.com/a/b/z:3"),
            ("a/b/z:3", "example.com/a/b/z:3"), ("q", "registry.test:5000/q:latest"), ("q:latest", "registry.test:5000/q:latest"),
            ("v", "quay.io/x/v:latest"), ("x/v", "quay.io/x/v:latest"),
            // A digest finds the image that has it, whatever the repository (podman 4.3 looks it up
            // in every image's digests); the image is shown by its own repository.
            ("y@" + digest, "localhost/base@" + digest), ("x/y:9@" + digest, "localhost/base@" + digest),
            ("solo@" + digest, "localhost/base@" + digest), ("quay.io/zzz@" + digest, "localhost/base@" + digest),
        })
        {
            var found = StoreLookup.FindImage(list, query);
            Assert.True(found?.Id == first, query);
            Assert.Equal(shown, StoreLookup.ShownName(found!, query, null));
        }
        Assert.Equal(second, StoreLookup.FindImage(list, "solo:7")?.Id);
        Assert.Equal("other.io/solo:7", StoreLookup.ShownName(list.Single(i => i.Id == second), "solo:7", null));
        // Not found by podman either: no :latest tag, not at a '/' boundary, a registry given,
        // upper case, a digest the image does not have.
        foreach (var query in new[] { "y", "io/x/y:2", "quay.io/y:2", "Y:2", "/y:2", "solo", "y@" + StoreFixture.Digest("other"), "o/solo:7", "Y@" + digest })
        {
            Assert.Null(StoreLookup.FindImage(list, query));
        }
        // Docker and containerd find no image so: only stores that say so allow it.
        var docker = new StoreImageInfo { Id = StoreFixture.Hex("d"), DisplayId = "sha256:" + StoreFixture.Hex("d"), Names = ["quay.io/x/y:2"] };
        Assert.Null(StoreLookup.FindImage([docker], "y:2"));
        Assert.Null(StoreLookup.ShownName(docker, "y:2", null));
    }

    [Fact]
    public void Finds_images_by_name_latest_alias_id_and_prefix()
    {
        var a = Image("a", ["app:1", "app:latest"], ["docker.io/library/app:1"]);
        var b = Image("b", ["localhost/web:2"], ["web:2"]);
        var list = new[] { a, b };
        Assert.Same(a, StoreLookup.FindImage(list, "app:1"));
        Assert.Same(a, StoreLookup.FindImage(list, "app"));
        Assert.Same(a, StoreLookup.FindImage(list, "docker.io/library/app:1"));
        Assert.Same(b, StoreLookup.FindImage(list, "web:2"));
        Assert.Same(b, StoreLookup.FindImage(list, b.Id));
        Assert.Same(b, StoreLookup.FindImage(list, "sha256:" + b.Id));
        Assert.Same(b, StoreLookup.FindImage(list, b.Id[..12]));
        Assert.Null(StoreLookup.FindImage(list, "nosuch"));
        Assert.Null(StoreLookup.FindImage(list, "web"));
    }

    [Fact]
    public void Reports_an_ambiguous_id_prefix()
    {
        var list = Enumerable.Range(0, 40).Select(i => Image("img" + i, [])).ToList();
        string prefix = list.GroupBy(i => i.Id[0]).First(g => g.Count() > 1).Key.ToString();
        var e = Assert.Throws<OverlayException>(() => StoreLookup.FindImage(list, prefix));
        Assert.Equal(ErrorIds.ImageAmbiguous, e.ErrorId);
    }

    [Fact]
    public void Names_win_over_id_prefixes()
    {
        var byName = Image("x", ["abc:latest"]);
        var byId = Image("y", []);
        var list = new[] { byId, byName };
        Assert.Same(byName, StoreLookup.FindImage(list, "abc"));
    }

    [Fact]
    public void Wildcards_leave_out_intermediate_images()
    {
        var tagged = Image("t", ["app:1"]);
        var dangling = Image("d", []);
        var intermediate = Image("i", [], intermediate: true);
        var list = new[] { tagged, dangling, intermediate };
        var all = StoreLookup.MatchImages(list, _ => true).ToList();
        Assert.Equal(new[] { tagged, dangling }, all);
        Assert.Same(intermediate, StoreLookup.FindImage(list, intermediate.Id));
    }

    [Fact]
    public void Finds_containers_by_name_with_or_without_slash_and_by_id_prefix()
    {
        var web = new StoreContainerInfo { Id = StoreFixture.Hex("web"), Names = ["web"] };
        var app = new StoreContainerInfo { Id = StoreFixture.Hex("app"), Names = ["app-1"] };
        var list = new[] { web, app };
        Assert.Same(web, StoreLookup.FindContainer(list, "web"));
        Assert.Same(web, StoreLookup.FindContainer(list, "/web"));
        Assert.Same(app, StoreLookup.FindContainer(list, app.Id[..8]));
        Assert.Null(StoreLookup.FindContainer(list, "db"));
    }
}

public class Overlay2StoreTests : IDisposable
{
    private readonly DockerFixture _f = new();
    private readonly string[] _diffs = [StoreFixture.Digest("base"), StoreFixture.Digest("install"), StoreFixture.Digest("data")];
    private readonly string _app;
    private readonly string _other;

    public Overlay2StoreTests()
    {
        _app = _f.AddImage("app:1", _diffs);
        _other = _f.AddImage("other:1", StoreFixture.Digest("other"));
    }

    public void Dispose() => _f.Dispose();

    private ILayerStore Open() => LayerStores.Open(_f.Root);

    private StoreImageInfo Info(ILayerStore s, string name) => StoreLookup.FindImage(s.ListImages(), name)!;

    [Fact]
    public void Detects_a_Docker_overlay2_root()
    {
        var backend = LayerStores.Detect(_f.Root, out var problem);
        Assert.Equal("overlay2", backend?.Name);
        Assert.Null(problem);
    }

    [Fact]
    public void Reads_an_image_top_first_with_diff_ids_chain_ids_sizes_and_history()
    {
        using var s = Open();
        Assert.Equal("overlay2", s.Backend);
        var image = s.GetImage(Info(s, "app:1"));
        var chains = StoreFormat.ChainIds(_diffs);
        Assert.Equal(_diffs.Reverse(), image.Layers.Select(l => l.DiffId));
        Assert.Equal(chains.Reverse(), image.Layers.Select(l => l.ChainId));
        Assert.Equal(chains.Reverse().Select(c => $"{s.Root}/overlay2/{_f.CacheIds[c]}/diff"), image.Layers.Select(l => l.Path));
        Assert.Equal(new long?[] { 102, 101, 100 }, image.Layers.Select(l => l.Size));
        Assert.Equal(new[] { "step 2 of app:1", "step 1 of app:1", "step 0 of app:1" }, image.Layers.Select(l => l.CreatedBy));
        Assert.All(image.Layers, l => Assert.Equal(LayerRole.Lower, l.Role));
        Assert.Equal("sha256:" + _app, image.Info.DisplayId);
    }

    [Fact]
    public void Reads_a_container_upper_init_and_image_layers_and_its_overlay_dirs()
    {
        var top = StoreFormat.ChainIds(_diffs)[^1];
        var (id, mountId) = _f.AddContainer("web", _app, top);
        using var s = Open();
        var info = StoreLookup.FindContainer(s.ListContainers(), "web")!;
        Assert.Equal(id, info.Id);
        var c = s.GetContainer(info);
        Assert.Equal(new[] { LayerRole.Upper, LayerRole.Init, LayerRole.Lower, LayerRole.Lower, LayerRole.Lower }, c.Layers.Select(l => l.Role));
        Assert.Equal($"{s.Root}/overlay2/{mountId}/diff", c.UpperDir);
        Assert.Equal($"{s.Root}/overlay2/{mountId}/work", c.WorkDir);
        Assert.Equal($"{s.Root}/overlay2/{mountId}/merged", c.MergedDir);
        Assert.Equal($"{s.Root}/overlay2/{mountId}-init/diff", c.LowerDirs[0]);
        Assert.Equal(4, c.LowerDirs.Count);
        Assert.Equal(5, c.Upper.Size);
        Assert.Equal("step 2 of app:1", c.Layers[2].CreatedBy);
        Assert.Equal("app:1", c.Image?.DisplayName);
    }

    [Fact]
    public void Resolves_a_container_by_name_across_stores_in_one_call()
    {
        _f.AddContainer("web", _app, StoreFormat.ChainIds(_diffs)[^1]);
        var c = LayerStores.ResolveContainer("web", [_f.Root]);
        Assert.EndsWith("/diff", c.UpperDir);
        Assert.Equal(4, c.LowerDirs.Count);
        var e = Assert.Throws<OverlayException>(() => LayerStores.ResolveContainer("db", [_f.Root]));
        Assert.Equal(ErrorIds.ContainerNotFound, e.ErrorId);
    }

    [Fact]
    public void Finds_a_layer_by_diff_dir_layer_dir_and_short_link_absolute_or_relative()
    {
        var top = StoreFormat.ChainIds(_diffs)[^1];
        var (_, mountId) = _f.AddContainer("web", _app, top);
        using var s = Open();
        string cache = _f.CacheIds[top];
        string link = File.ReadAllText(Path.Combine(_f.Home, cache, "link"));
        foreach (var p in new[] { $"{s.Root}/overlay2/{cache}/diff", $"{s.Root}/overlay2/{cache}", $"{s.Root}/overlay2/l/{link}", $"l/{link}", $"{cache}/diff" })
        {
            var m = s.FindLayer(p);
            Assert.NotNull(m);
            Assert.Equal(top, m!.Layer.ChainId);
        }
        var upper = s.FindLayer($"{s.Root}/overlay2/{mountId}/diff");
        Assert.Equal(LayerRole.Upper, upper!.Layer.Role);
        Assert.Equal("web", upper.Container!.DisplayName);
        Assert.Equal(LayerRole.Init, s.FindLayer($"{s.Root}/overlay2/{mountId}-init/diff")!.Layer.Role);
        Assert.Null(s.FindLayer("/somewhere/else/diff"));
    }

    [Fact]
    public void Reads_a_store_whose_driver_dir_an_admin_moved_behind_a_symlink()
    {
        string moved = _f.Root + "-overlay2";
        Directory.Move(_f.Home, moved);
        Directory.CreateSymbolicLink(_f.Home, moved);
        try
        {
            using var s = Open();
            var image = s.GetImage(Info(s, "app:1"));
            Assert.StartsWith(s.Root + "/overlay2/", image.Layers[0].Path);
            string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[^1]];
            Assert.Equal(image.Layers[0].ChainId, s.FindLayer($"{moved}/{cache}/diff")!.Layer.ChainId);
        }
        finally
        {
            Directory.Delete(_f.Home);
            Directory.Move(moved, _f.Home);
        }
    }

    [Fact]
    public void Marks_untagged_parents_as_intermediate()
    {
        string child = _f.AddImage("child:1", [.. _diffs, StoreFixture.Digest("child")]);
        string untagged = _f.AddImage(null, _diffs[0]);
        _f.SetParent(child, untagged);
        using var s = Open();
        var info = s.ListImages().Single(i => i.Id == untagged);
        Assert.True(info.Intermediate);
        Assert.False(s.ListImages().Single(i => i.Id == child).Intermediate);
        Assert.Contains("docker.io/library/app:1", Info(s, "app:1").Aliases);
    }

    private OverlayException ErrorFor(string image)
    {
        using var s = Open();
        return Assert.Throws<OverlayException>(() => s.GetImage(Info(s, image)));
    }

    [Fact]
    public void Refuses_a_cache_id_that_is_a_path()
    {
        File.WriteAllText(Path.Combine(_f.LayerDb(StoreFormat.ChainIds(_diffs)[1]), "cache-id"), "../../../../etc");
        Assert.Equal(ErrorIds.LayerPathOutsideStore, ErrorFor("app:1").ErrorId);
        using var s = Open();
        Assert.Single(s.GetImage(Info(s, "other:1")).Layers);
    }

    [Fact]
    public void Refuses_a_short_link_that_points_out_of_the_store()
    {
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[0]];
        string link = File.ReadAllText(Path.Combine(_f.Home, cache, "link"));
        File.Delete(Path.Combine(_f.Home, "l", link));
        File.CreateSymbolicLink(Path.Combine(_f.Home, "l", link), "/etc");
        var e = ErrorFor("app:1");
        Assert.Equal(ErrorIds.LayerPathOutsideStore, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.SecurityError, e.Category);
    }

    [Fact]
    public void Refuses_a_layer_dir_or_diff_dir_replaced_by_a_symlink()
    {
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        Directory.Move(Path.Combine(_f.Home, cache, "diff"), Path.Combine(_f.Home, cache, "real"));
        Directory.CreateSymbolicLink(Path.Combine(_f.Home, cache, "diff"), "/etc");
        Assert.Equal(ErrorIds.LayerPathOutsideStore, ErrorFor("app:1").ErrorId);
        string other = _f.CacheIds[StoreFixture.Digest("other")];
        Directory.Move(Path.Combine(_f.Home, other), Path.Combine(_f.Home, "moved"));
        Directory.CreateSymbolicLink(Path.Combine(_f.Home, other), Path.Combine(_f.Home, "moved"));
        Assert.Equal(ErrorIds.LayerPathOutsideStore, ErrorFor("other:1").ErrorId);
    }

    [Fact]
    public void Reports_a_plain_file_where_a_directory_belongs_as_invalid_metadata_not_as_tampering()
    {
        // A layer's diff dir is a plain file: checked, measured and looked up by path.
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        Directory.Delete(Path.Combine(_f.Home, cache, "diff"), recursive: true);
        File.WriteAllText(Path.Combine(_f.Home, cache, "diff"), "not a dir");
        var e = ErrorFor("app:1");
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidData, e.Category);
        using (var driver = new OverlayDriverDir(StoreDir.TryOpen(_f.Home, out _)!))
        {
            e = Assert.Throws<OverlayException>(() => driver.DiffSize(cache));
            Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
            Assert.Equal(OverlayErrorCategory.InvalidData, e.Category);
        }
        string orphan = StoreFixture.Hex("orphan");
        Directory.CreateDirectory(Path.Combine(_f.Home, orphan));
        File.WriteAllText(Path.Combine(_f.Home, orphan, "diff"), "not a dir");
        using (var s = Open())
        {
            e = Assert.Throws<OverlayException>(() => s.FindLayer(Path.Combine(_f.Home, orphan, "diff")));
            Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
        }

        // The image config dir is a plain file: the index cannot be listed, and that is no attack either.
        string configs = Path.Combine(_f.Root, "image/overlay2/imagedb/content/sha256");
        Directory.Delete(configs, recursive: true);
        File.WriteAllText(configs, "not a dir");
        using (var s = Open())
        {
            e = Assert.Throws<OverlayException>(() => s.ListImages());
            Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
            Assert.Equal(OverlayErrorCategory.InvalidData, e.Category);
        }
    }

    [Fact]
    public void Refuses_a_symlink_where_a_listed_or_measured_directory_belongs()
    {
        // Listing and measuring open with O_DIRECTORY|O_NOFOLLOW, which says ENOTDIR for a link as for a file.
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        Directory.Move(Path.Combine(_f.Home, cache, "diff"), Path.Combine(_f.Home, cache, "real"));
        Directory.CreateSymbolicLink(Path.Combine(_f.Home, cache, "diff"), "real");
        using (var driver = new OverlayDriverDir(StoreDir.TryOpen(_f.Home, out _)!))
        {
            var e = Assert.Throws<OverlayException>(() => driver.DiffSize(cache));
            Assert.Equal(ErrorIds.LayerPathOutsideStore, e.ErrorId);
            Assert.Equal(OverlayErrorCategory.SecurityError, e.Category);
        }
        string configs = Path.Combine(_f.Root, "image/overlay2/imagedb/content/sha256");
        Directory.Move(configs, configs + ".real");
        Directory.CreateSymbolicLink(configs, configs + ".real");
        using var s = Open();
        Assert.Equal(ErrorIds.LayerPathOutsideStore, Assert.Throws<OverlayException>(() => s.ListImages()).ErrorId);
    }

    [Fact]
    public void Refuses_a_metadata_dir_replaced_by_a_symlink()
    {
        string db = _f.LayerDb(StoreFixture.Digest("other"));
        Directory.Move(db, db + ".real");
        Directory.CreateSymbolicLink(db, db + ".real");
        Assert.Equal(ErrorIds.LayerPathOutsideStore, ErrorFor("other:1").ErrorId);
    }

    [Fact]
    public void Reports_a_layer_being_removed()
    {
        string db = _f.LayerDb(StoreFormat.ChainIds(_diffs)[2]);
        Directory.Move(db, db + "-12345-removing");
        Assert.Equal(ErrorIds.LayerBeingRemoved, ErrorFor("app:1").ErrorId);
        Directory.Delete(db + "-12345-removing", true);
        Assert.Equal(ErrorIds.LayerMissing, ErrorFor("app:1").ErrorId);
    }

    [Fact]
    public void Reports_a_driver_dir_renamed_for_removal()
    {
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        Directory.Move(Path.Combine(_f.Home, cache), Path.Combine(_f.Home, cache + "-removing"));
        Assert.Equal(ErrorIds.LayerBeingRemoved, ErrorFor("app:1").ErrorId);
    }

    [Fact]
    public void Reports_a_missing_diff_dir_link_file_or_short_link()
    {
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        Directory.Delete(Path.Combine(_f.Home, cache, "diff"));
        Assert.Equal(ErrorIds.LayerContentMissing, ErrorFor("app:1").ErrorId);
        string other = _f.CacheIds[StoreFixture.Digest("other")];
        File.Delete(Path.Combine(_f.Home, other, "link"));
        Assert.Equal(ErrorIds.LayerContentMissing, ErrorFor("other:1").ErrorId);
    }

    [Fact]
    public void Reports_records_that_disagree_on_the_stack()
    {
        // A diff file that does not give the layer's chain id.
        File.WriteAllText(Path.Combine(_f.LayerDb(StoreFormat.ChainIds(_diffs)[1]), "diff"), StoreFixture.Digest("forged"));
        Assert.Equal(ErrorIds.LayerChainMismatch, ErrorFor("app:1").ErrorId);
    }

    [Fact]
    public void Reports_a_lower_file_that_lists_other_links()
    {
        string cache = _f.CacheIds[StoreFormat.ChainIds(_diffs)[2]];
        File.WriteAllText(Path.Combine(_f.Home, cache, "lower"), "l/" + File.ReadAllText(Path.Combine(_f.Home, _f.CacheIds[StoreFixture.Digest("other")], "link")));
        Assert.Equal(ErrorIds.LayerChainMismatch, ErrorFor("app:1").ErrorId);
        File.WriteAllText(Path.Combine(_f.Home, cache, "lower"), "../../etc");
        Assert.Equal(ErrorIds.LayerPathOutsideStore, ErrorFor("app:1").ErrorId);
    }

    [Fact]
    public void Reports_an_image_config_that_does_not_match_its_id()
    {
        string path = Path.Combine(_f.Root, "image/overlay2/imagedb/content/sha256", _app);
        File.WriteAllText(path, File.ReadAllText(path) + " ");
        Assert.Equal(ErrorIds.ImageConfigInvalid, ErrorFor("app:1").ErrorId);
    }

    [Fact]
    public void Does_not_hang_on_a_FIFO_planted_as_a_metadata_file()
    {
        string cacheFile = Path.Combine(_f.LayerDb(StoreFixture.Digest("other")), "cache-id");
        File.Delete(cacheFile);
        Assert.Equal(0, Mkfifo(cacheFile, 0x180));
        var e = ErrorFor("other:1");
        Assert.Equal(ErrorIds.LayerStoreUnreadable, e.ErrorId);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo")]
    private static extern int Mkfifo(string path, uint mode);
}

public class PodmanStoreTests : IDisposable
{
    private readonly PodmanFixture _f = new();
    private readonly string[] _diffs = [StoreFixture.Digest("p-base"), StoreFixture.Digest("p-data")];
    private readonly (string Id, string Top) _app;

    public PodmanStoreTests()
    {
        _app = _f.AddImage(["localhost/app:1"], _diffs);
        _f.AddImage(["docker.io/library/other:1"], StoreFixture.Digest("p-other"));
    }

    public void Dispose() => _f.Dispose();

    [Fact]
    public void Detects_a_containers_storage_overlay_root()
    {
        Assert.Equal("podman", LayerStores.Detect(_f.Root, out var problem)?.Name);
        Assert.Null(problem);
    }

    [Fact]
    public void Reads_an_image_by_short_or_full_name_with_sizes_and_history()
    {
        using var s = LayerStores.Open(_f.Root);
        var info = StoreLookup.FindImage(s.ListImages(), "app:1")!;
        Assert.Same(info, StoreLookup.FindImage(s.ListImages(), "localhost/app:1"));
        Assert.NotNull(StoreLookup.FindImage(s.ListImages(), "other:1"));
        var image = s.GetImage(info);
        Assert.Equal(_diffs.Reverse(), image.Layers.Select(l => l.DiffId));
        Assert.Equal(StoreFormat.ChainIds(_diffs).Reverse(), image.Layers.Select(l => l.ChainId));
        Assert.Equal(new long?[] { 1001, 1000 }, image.Layers.Select(l => l.Size));
        Assert.Equal($"{s.Root}/overlay/{_app.Top}/diff", image.Layers[0].Path);
        Assert.Equal("step 1", image.Layers[0].CreatedBy);
        Assert.Equal(_app.Id, image.Info.DisplayId);
    }

    [Fact]
    public void Finds_an_image_by_the_digest_references_podman_inspect_lists_as_RepoDigests()
    {
        string pulled = StoreFixture.Digest("manifest as pulled"), other = StoreFixture.Digest("manifest of another platform");
        _f.SetImageField(_app.Id, "digest", pulled);
        _f.SetImageField(_app.Id, "digests", new[] { pulled, other });
        using var s = LayerStores.Open(_f.Root);
        var images = s.ListImages();
        foreach (var reference in new[] { "localhost/app@" + pulled, "app@" + pulled, "localhost/app@" + other })
        {
            Assert.Equal(_app.Id, StoreLookup.FindImage(images, reference)?.Id);
        }
        Assert.Null(StoreLookup.FindImage(images, "localhost/app@" + StoreFixture.Digest("unknown")));
        // Under another repository too, as podman 4.3 finds it (the digest names the manifest's
        // content), shown by the image's own repository.
        var byDigest = StoreLookup.FindImage(images, "localhost/other@" + pulled);
        Assert.Equal(_app.Id, byDigest?.Id);
        Assert.Equal("localhost/app@" + pulled, StoreLookup.ShownName(byDigest!, "localhost/other@" + pulled, null));
        Assert.Equal(["localhost/app@" + pulled, "localhost/app@" + other], PodmanStore.DigestReferences(["localhost/app:1", "localhost/app:2"], [pulled, other]));
    }

    [Fact]
    public void Reads_a_container_with_its_upper_size_and_dirs()
    {
        var (_, layer) = _f.AddContainer("web", _app.Id, _app.Top);
        using var s = LayerStores.Open(_f.Root);
        var c = s.GetContainer(StoreLookup.FindContainer(s.ListContainers(), "web")!);
        Assert.Equal($"{s.Root}/overlay/{layer}/diff", c.UpperDir);
        Assert.Equal($"{s.Root}/overlay/{layer}/work", c.WorkDir);
        Assert.Equal(4, c.Upper.Size);
        Assert.Equal(2, c.LowerDirs.Count);
        Assert.Equal("localhost/app:1", c.Image?.DisplayName);
        Assert.Equal("web", s.FindLayer(c.UpperDir)!.Container!.DisplayName);
    }

    [Fact]
    public void Reports_a_layer_flagged_incomplete_and_lists_the_other_images()
    {
        var rec = _f.LayerRecords.Single(l => (string)l["id"] == _app.Top);
        rec["flags"] = new Dictionary<string, bool> { ["incomplete"] = true };
        _f.Save();
        using var s = LayerStores.Open(_f.Root);
        var e = Assert.Throws<OverlayException>(() => s.GetImage(StoreLookup.FindImage(s.ListImages(), "app:1")!));
        Assert.Equal(ErrorIds.LayerIncomplete, e.ErrorId);
        Assert.Single(s.GetImage(StoreLookup.FindImage(s.ListImages(), "other:1")!).Layers);
    }

    [Fact]
    public void Reports_a_layer_missing_from_layers_json()
    {
        var rec = _f.LayerRecords.Single(l => (string)l["id"] == _app.Top);
        ((List<Dictionary<string, object>>)_f.LayerRecords).Remove(rec);
        _f.Save();
        using var s = LayerStores.Open(_f.Root);
        var e = Assert.Throws<OverlayException>(() => s.GetImage(StoreLookup.FindImage(s.ListImages(), "app:1")!));
        Assert.Equal(ErrorIds.LayerMissing, e.ErrorId);
    }

    [Fact]
    public void Reports_a_diff_digest_that_contradicts_the_config()
    {
        var rec = _f.LayerRecords.Single(l => (string)l["id"] == _app.Top);
        rec["diff-digest"] = StoreFixture.Digest("forged");
        _f.Save();
        using var s = LayerStores.Open(_f.Root);
        var e = Assert.Throws<OverlayException>(() => s.GetImage(StoreLookup.FindImage(s.ListImages(), "app:1")!));
        Assert.Equal(ErrorIds.LayerChainMismatch, e.ErrorId);
    }

    [Fact]
    public void Reports_malformed_JSON_as_invalid_metadata()
    {
        File.WriteAllText(Path.Combine(_f.Root, "overlay-images/images.json"), "[{\"id\":");
        using var s = LayerStores.Open(_f.Root);
        var e = Assert.Throws<OverlayException>(() => s.ListImages());
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
    }
}

public class StoreDetectionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ot-xunit-detect-" + Guid.NewGuid().ToString("N"));

    public StoreDetectionTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Names_the_driver_of_a_store_it_cannot_read()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "docker/image/vfs"));
        Assert.Equal("overlay2", LayerStores.Detect(Path.Combine(_dir, "docker"), out var problem)?.Name);
        Assert.Contains("'vfs'", problem);
        var e = Assert.Throws<OverlayException>(() => LayerStores.Open(Path.Combine(_dir, "docker")));
        Assert.Equal(ErrorIds.LayerStoreUnsupported, e.ErrorId);
        Directory.CreateDirectory(Path.Combine(_dir, "podman/vfs-layers"));
        Assert.Equal("podman", LayerStores.Detect(Path.Combine(_dir, "podman"), out problem)?.Name);
        Assert.Contains("'vfs'", problem);
    }

    [Fact]
    public void Finds_no_store_in_an_empty_or_missing_dir()
    {
        Assert.Null(LayerStores.Detect(_dir, out _));
        Assert.Equal(ErrorIds.LayerStoreNotFound, Assert.Throws<OverlayException>(() => LayerStores.Open(_dir)).ErrorId);
        Assert.Equal(ErrorIds.LayerStoreNotFound, Assert.Throws<OverlayException>(() => LayerStores.Open(_dir + "/nope")).ErrorId);
    }

    [Fact]
    public void Reads_the_configured_data_roots()
    {
        string daemonJson = Path.Combine(_dir, "daemon.json");
        File.WriteAllText(daemonJson, "{ \"data-root\": \"/srv/docker/\", // comment\n \"log-level\": \"warn\", }");
        Assert.Equal(new[] { "/srv/docker", "/var/lib/docker" }, Overlay2Backend.DefaultRootsFrom(daemonJson));
        Assert.Equal(new[] { "/var/lib/docker" }, Overlay2Backend.DefaultRootsFrom(Path.Combine(_dir, "none.json")));

        string conf = Path.Combine(_dir, "storage.conf");
        File.WriteAllText(conf, "[storage]\ndriver = \"overlay\"\n# graphroot = \"/nope\"\ngraphroot = \"/srv/containers\"\n[storage.options]\ngraphroot = \"/wrong\"\n");
        Assert.Equal(new[] { "/srv/containers", "/var/lib/containers/storage" }, PodmanBackend.DefaultRootsFrom([conf], true, "/var/lib/containers/storage"));
        Assert.Equal("/srv/containers", PodmanBackend.TomlStorageValue(File.ReadAllText(conf), "graphroot"));
        Assert.Null(PodmanBackend.TomlStorageValue("[storage.options]\ngraphroot = \"/x\"", "graphroot"));
    }

    [Theory]
    [InlineData("/var/lib/docker/overlay2/0aff8650aa2252abe5f9dcf4e4a26a5bcd56bab7d263b118edb46b4a6c5316cd/diff", "/var/lib/docker")]
    [InlineData("/var/lib/docker/overlay2/0aff8650aa2252abe5f9dcf4e4a26a5bcd56bab7d263b118edb46b4a6c5316cd-init/diff", "/var/lib/docker")]
    [InlineData("/data/d/overlay2/l/BTWTUYFTTP7JZYJ2U7FHEMHDU3", "/data/d")]
    [InlineData("/var/lib/docker/overlay2/../../../etc/diff", null)]
    [InlineData("l/BTWTUYFTTP7JZYJ2U7FHEMHDU3", null)]
    [InlineData("/srv/app/lower", null)]
    public void Derives_a_store_root_from_a_layer_path(string path, string? root)
        => Assert.Equal(root, LayerStores.Backends[0].RootFromLayerPath(path));
}
