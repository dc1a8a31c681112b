using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using OverlayTools.Stores;
using OverlayTools.Stores.Bolt;
using OverlayTools.Stores.Containerd;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// Property-based fuzzing (CsCheck) of the three store readers with tampered stores: hostile
/// cache-ids, link files, l/ symlinks, lower files, JSON paths, truncated and mutated JSON, planted
/// symlinks, FIFOs and missing dirs, bit-flipped and cut bbolt files, hostile content blobs. Each
/// property runs a bounded pass with a fixed seed in the normal test run; set
/// OVERLAYTOOLS_FUZZ_SECONDS to explore with random seeds for that long instead. Inputs that once
/// broke a property (and the classic attacks) are kept in corpus/stores and replayed.
/// </summary>
public class StoreFuzzTests
{
    private const ulong Seed = 0x7B_5704E5;

    // ---- tampering: one operation on one entry of a store ---------------------------------------

    /// <summary>
    /// One change to a store. <see cref="Select"/> picks the entry: "file:NAME" (files so named),
    /// "dir:NAME", "link" (l/ short links), "layerdir" (driver dirs), "snapshot" (containerd
    /// snapshot dirs), "blob", "json" (every .json file and image config), "any"; <see cref="Index"/>
    /// is taken modulo the matches, sorted. In <see cref="Value"/>, {outside} is a directory outside
    /// the store, {root} the store, {dirN} and {linkN} the names of other layer dirs and links.
    /// </summary>
    public sealed record Tamper(string Op, string Select, int Index, string Value = "");

    public sealed record CorpusCase(string Description, string Backend, Tamper[] Ops);

    private static readonly string[] HostileValues =
    [
        "../../../../etc", "/etc", "/", "..", ".", "", " ", "\n", "../", "l/../../../etc", "l//", "l/", "../x/diff",
        "../../../../../etc/diff", "{outside}", "{outside}/diff", "{root}", "{root}/..", "{root}/../../etc", "sha256:../../etc",
        "sha256:" + new string('0', 64), new string('0', 64), new string('F', 64), new string('a', 63), new string('a', 65),
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXY/", "abcdefghijklmnopqrstuvwxyz", "-1", "99999999999999999999",
        "é", new string('a', 5000), "null", "{}", "[]", "\"x\"", "../{dir0}/diff", "../../{dir1}/diff", "../{dir1}", "l/{link0}",
        "l/{link1}:l/{link0}", "l/{link0}:l/{link0}", "l/{link0}:/etc", "l/{link0}::", "{dir0}", "{dir1}-init", "{dir0}/../../..",
        "sha256:{dir0}", "{link1}", "{link0}\n", "1", "0", "18446744073709551616", "../{dir0}/diff/../../../../etc",
    ];

    private static readonly string[] Selectors =
    [
        "file:cache-id", "file:parent", "file:diff", "file:size", "file:mount-id", "file:init-id", "file:link", "file:lower",
        "link", "layerdir", "dir:diff", "json", "snapshot", "dir:fs", "dir:work", "blob", "any",
        "file:meta.db", "file:metadata.db", "file:repositories.json", "file:layers.json", "file:images.json", "file:containers.json",
    ];

    private static readonly string[] Ops = ["write", "symlink", "delete", "truncate", "mkdir", "fifo", "jsonmutate"];

    private static Gen<string> OneOf(params string[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);

    private static readonly Gen<string> ValueGen = Gen.Frequency(
        (6, OneOf(HostileValues)),
        (1, Gen.String[Gen.Char["./\\:,=_-aZ09\n\0é"], 0, 40]),
        (1, Gen.Int[0, 40].Select(n => string.Concat(Enumerable.Repeat("../", n)) + "etc")));

    private static readonly Gen<Tamper> TamperGen = Gen.Select(OneOf(Ops), OneOf(Selectors), Gen.Int[0, 1000], ValueGen, (op, sel, i, v) => new Tamper(op, sel, i, v));

    private static readonly Gen<Tamper[]> TampersGen = TamperGen.Array[1, 4];

    /// <summary>Runs a property over a fixed-seed sample, or explores with CsCheck when asked to.</summary>
    private static void Property<T>(Gen<T> gen, Action<T> property, int count, Func<T, string>? print = null)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("OVERLAYTOOLS_FUZZ_SECONDS"), out int seconds) && seconds > 0)
        {
            gen.Sample(property, time: seconds, threads: 1, print: print);
            return;
        }
        var pcg = new PCG(11, Seed);
        for (int i = 0; i < count; i++)
        {
            var value = gen.Generate(pcg, null!, out _);
            try
            {
                property(value);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"Property failed on sample {i}: {(print is null ? value?.ToString() : print(value))}\n{e}");
            }
        }
    }

    private static string Show(Tamper[] ops) => JsonSerializer.Serialize(ops);

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(byte[] path, uint mode);

    /// <summary>Entries of the store that a selector picks, sorted, as paths relative to the root.</summary>
    internal static List<string> Matches(string root, string select)
    {
        var all = new List<string>();
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            foreach (var e in Directory.EnumerateFileSystemEntries(dir))
            {
                all.Add(Path.GetRelativePath(root, e));
                var info = new FileInfo(e);
                if (info.LinkTarget is null && Directory.Exists(e))
                {
                    stack.Push(e);
                }
            }
        }
        all.Sort(StringComparer.Ordinal);
        bool IsLink(string rel) => new FileInfo(Path.Combine(root, rel)).LinkTarget is not null;
        bool IsDir(string rel) => !IsLink(rel) && Directory.Exists(Path.Combine(root, rel));
        bool IsFile(string rel) => IsRegular(Path.Combine(root, rel));
        string parent(string rel) => Path.GetFileName(Path.GetDirectoryName(rel) ?? "");
        return select switch
        {
            "link" => all.Where(r => parent(r) == "l" && (r.StartsWith("overlay2/", StringComparison.Ordinal) || r.StartsWith("overlay/", StringComparison.Ordinal))).ToList(),
            "layerdir" => all.Where(r => (r.StartsWith("overlay2/", StringComparison.Ordinal) || r.StartsWith("overlay/", StringComparison.Ordinal)) && r.Count(c => c == '/') == 1 && !r.EndsWith("/l", StringComparison.Ordinal)).ToList(),
            "snapshot" => all.Where(r => r.StartsWith("io.containerd.snapshotter.v1.overlayfs/snapshots/", StringComparison.Ordinal) && r.Count(c => c == '/') == 2).ToList(),
            "blob" => all.Where(r => r.StartsWith("io.containerd.content.v1.content/blobs/sha256/", StringComparison.Ordinal) && IsFile(r)).ToList(),
            "json" => all.Where(r => IsFile(r) && (r.EndsWith(".json", StringComparison.Ordinal) || r.Contains("imagedb/content/sha256/", StringComparison.Ordinal)
                || Path.GetFileName(r).StartsWith('=') || r.Contains("/blobs/sha256/", StringComparison.Ordinal))).ToList(),
            "bigdata" => all.Where(r => IsFile(r) && Path.GetFileName(r).StartsWith('=')).ToList(),
            "any" => all,
            // A literal path; it need not exist yet (a write or symlink creates it) as long as its parent does.
            _ when select.StartsWith("path:", StringComparison.Ordinal) => Directory.Exists(Path.GetDirectoryName(Path.Combine(root, select[5..]))) ? [select[5..]] : [],
            _ when select.StartsWith("file:", StringComparison.Ordinal) => all.Where(r => Path.GetFileName(r) == select[5..] && IsFile(r)).ToList(),
            _ when select.StartsWith("dir:", StringComparison.Ordinal) => all.Where(r => Path.GetFileName(r) == select[4..] && IsDir(r)).ToList(),
            _ => [],
        };
    }

    private static string ExpandValue(string value, string root, string outside)
    {
        var dirs = Matches(root, "layerdir").Select(Path.GetFileName).Where(n => n!.Length >= 64).ToList();
        var links = Matches(root, "link").Select(Path.GetFileName).ToList();
        for (int i = 0; i < 2; i++)
        {
            value = value.Replace("{dir" + i + "}", dirs.Count == 0 ? "nodir" : dirs[i % dirs.Count], StringComparison.Ordinal)
                .Replace("{link" + i + "}", links.Count == 0 ? "NOLINK" : links[i % links.Count], StringComparison.Ordinal);
        }
        return value.Replace("{outside}", outside, StringComparison.Ordinal).Replace("{root}", root, StringComparison.Ordinal);
    }

    /// <summary>A regular file (lstat): never a FIFO, whose open would block the test itself.</summary>
    private static bool IsRegular(string full) => OverlayTools.Interop.FileSystem.TryLStat(full, out _) is { IsRegularFile: true };

    /// <summary>Removes an entry without ever following a symbolic link.</summary>
    private static void Remove(string full)
    {
        var info = new FileInfo(full);
        if (info.LinkTarget is not null || File.Exists(full))
        {
            File.Delete(full);
        }
        else if (Directory.Exists(full))
        {
            Directory.Delete(full, recursive: true); // .NET removes links below without following them
        }
        else if (info.Exists || FileExistsAsSpecial(full))
        {
            File.Delete(full);
        }
    }

    private static bool FileExistsAsSpecial(string full)
    {
        try
        {
            return (File.GetAttributes(full) & FileAttributes.Directory) == 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Applies tampering to a store; operations whose selector matches nothing do nothing.</summary>
    internal static void Apply(string root, string outside, IEnumerable<Tamper> ops, ulong seed = 1)
    {
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        foreach (var t in ops)
        {
            var matches = Matches(root, t.Select);
            if (matches.Count == 0)
            {
                continue;
            }
            string full = Path.Combine(root, matches[t.Index % matches.Count]);
            string value = ExpandValue(t.Value, root, outside);
            switch (t.Op)
            {
                case "write":
                    Remove(full);
                    File.WriteAllText(full, value);
                    break;
                case "symlink":
                    Remove(full);
                    try
                    {
                        File.CreateSymbolicLink(full, value.Length == 0 ? "/" : value.Replace("\0", "", StringComparison.Ordinal));
                    }
                    catch (IOException)
                    {
                        // A target longer than a link may hold: the entry is simply gone.
                    }
                    break;
                case "delete":
                    Remove(full);
                    break;
                case "truncate":
                    if (IsRegular(full))
                    {
                        var bytes = File.ReadAllBytes(full);
                        File.WriteAllBytes(full, bytes.AsSpan(0, bytes.Length == 0 ? 0 : (int)((uint)t.Index % (uint)bytes.Length)).ToArray());
                    }
                    break;
                case "mkdir":
                    Remove(full);
                    Directory.CreateDirectory(full);
                    break;
                case "fifo":
                    Remove(full);
                    Assert.Equal(0, mkfifo(Encoding.UTF8.GetBytes(full + "\0"), 0x1A4));
                    break;
                case "jsonset":
                    if (IsRegular(full))
                    {
                        File.WriteAllBytes(full, JsonMutator.Set(File.ReadAllBytes(full), value));
                    }
                    break;
                case "jsonmutate":
                    if (IsRegular(full))
                    {
                        File.WriteAllBytes(full, JsonMutator.Mutate(File.ReadAllBytes(full), value, t.Index));
                    }
                    break;
            }
        }
    }

    // ---- stores to tamper with --------------------------------------------------------------------

    /// <summary>A Docker store: two images sharing a base, one container.</summary>
    private static DockerFixture Docker()
    {
        var f = new DockerFixture();
        var app = f.AddImage("app:1", StoreFixture.Digest("d1"), StoreFixture.Digest("d2"), StoreFixture.Digest("d3"));
        f.AddImage("other:1", StoreFixture.Digest("d1"), StoreFixture.Digest("d4"));
        var chains = StoreFormat.ChainIds([StoreFixture.Digest("d1"), StoreFixture.Digest("d2"), StoreFixture.Digest("d3")]);
        f.AddContainer("web", app, chains[^1]);
        return f;
    }

    /// <summary>A Podman store: two images sharing a base, one container.</summary>
    private static PodmanFixture Podman()
    {
        var f = new PodmanFixture();
        var (app, top) = f.AddImage(["localhost/app:1"], StoreFixture.Digest("p1"), StoreFixture.Digest("p2"));
        f.AddImage(["localhost/other:1"], StoreFixture.Digest("p1"), StoreFixture.Digest("p3"));
        f.AddContainer("web", app, top);
        return f;
    }

    private sealed class Outside : IDisposable
    {
        internal Outside()
        {
            Dir = Path.Combine(Path.GetTempPath(), "ot-outside-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(Path.Combine(Dir, "diff"));
            Directory.CreateDirectory(Path.Combine(Dir, "fs"));
            File.WriteAllText(Path.Combine(Dir, "secret"), "outside");
        }

        internal string Dir { get; }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    private static int s_refused;

    private static void CheckTampered(Func<(IDisposable Store, string Root)> make, Tamper[] ops)
    {
        using var outside = new Outside();
        var (store, root) = make();
        using (store)
        {
            Apply(root, outside.Dir, ops);
            var outcome = StoreSafety.ReadEverything(root, [outside.Dir, outside.Dir + "/diff", root + "/../..", "l/" + new string('A', 26), root + "/overlay2/l/../../.."]);
            if (outcome.Errors.Count > 0)
            {
                System.Threading.Interlocked.Increment(ref s_refused);
            }
            // Whatever was read, nothing outside was touched.
            Assert.Equal("outside", File.ReadAllText(Path.Combine(outside.Dir, "secret")));
        }
    }

    private static (IDisposable, string) MakeDocker()
    {
        var f = Docker();
        return (f, f.Root);
    }

    private static (IDisposable, string) MakePodman()
    {
        var f = Podman();
        return (f, f.Root);
    }

    private static (IDisposable, string) MakeContainerd()
    {
        var s = ContainerdFixture.Extract();
        return (s, s.Root);
    }

    [Fact]
    public void Untampered_stores_read_whole()
    {
        foreach (var make in new Func<(IDisposable, string)>[] { MakeDocker, MakePodman, MakeContainerd })
        {
            var (store, root) = make();
            using (store)
            {
                var outcome = StoreSafety.ReadEverything(root);
                // The containerd fixture holds two items that cannot be read on purpose (see ContainerdStoreTests).
                Assert.Empty(outcome.Errors.Where(e => e.ErrorId is not (ErrorIds.ContainerdImageNotUnpacked or ErrorIds.ContainerdUnsupportedSnapshotter))
                    .Select(e => e.ErrorId + ": " + e.Message));
                Assert.True(outcome.Layers > 5, $"{root}: {outcome.Layers} layers");
            }
        }
    }

    [Theory]
    [InlineData("docker", 150)]
    [InlineData("podman", 150)]
    [InlineData("containerd", 80)]
    public void Tampered_stores_give_item_errors_and_no_path_outside(string backend, int samples)
    {
        Func<(IDisposable, string)> make = backend switch { "docker" => MakeDocker, "podman" => MakePodman, _ => MakeContainerd };
        int before = s_refused;
        Property(TampersGen, ops => CheckTampered(make, ops), samples, Show);
        // Not vacuous: most tamperings hit something the reader must refuse.
        Assert.True(Environment.GetEnvironmentVariable("OVERLAYTOOLS_FUZZ_SECONDS") is { Length: > 0 } || s_refused - before > samples / 3,
            $"only {s_refused - before} of {samples} tampered {backend} stores gave an error");
    }

    // ---- the corpus: classic attacks and inputs that once broke a property -----------------------

    private static string CorpusDir => Path.Combine(AppContext.BaseDirectory, "corpus", "stores");

    public static IEnumerable<object[]> CorpusCases()
        => Directory.Exists(CorpusDir)
            ? Directory.GetFiles(CorpusDir, "*.json", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).Select(f => new object[] { Path.GetRelativePath(CorpusDir, f) })
            : [];

    [Theory]
    [MemberData(nameof(CorpusCases))]
    public void Corpus_case_reads_safely(string file)
    {
        var c = JsonSerializer.Deserialize<CorpusCase>(File.ReadAllText(Path.Combine(CorpusDir, file)), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Func<(IDisposable, string)> make = c.Backend switch
        {
            "docker" => MakeDocker,
            "podman" => MakePodman,
            "containerd" => MakeContainerd,
            _ => throw new InvalidOperationException("unknown backend " + c.Backend),
        };
        using var outside = new Outside();
        var (store, root) = make();
        using (store)
        {
            int before = Matches(root, "any").Count;
            Apply(root, outside.Dir, c.Ops);
            var outcome = StoreSafety.ReadEverything(root, [outside.Dir, outside.Dir + "/diff"]);
            Assert.True(before > 0);
            // A corpus case is an attack: it must be refused somewhere, as an error of its own.
            Assert.NotEmpty(outcome.Errors);
        }
    }

    [Fact]
    public void The_corpus_covers_every_backend()
    {
        var backends = CorpusCases().Select(c => JsonSerializer.Deserialize<CorpusCase>(File.ReadAllText(Path.Combine(CorpusDir, (string)c[0])), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!.Backend).ToHashSet();
        Assert.Equal(["containerd", "docker", "podman"], backends.Order().ToArray());
    }

    [Theory]
    [InlineData(new byte[] { (byte)'[', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)']' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xC3, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    [InlineData(new byte[] { (byte)'[', (byte)'"', (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0', (byte)'"', (byte)']' })]
    public void JSON_with_text_that_cannot_be_decoded_is_invalid_metadata(byte[] bytes)
    {
        var e = Assert.Throws<OverlayException>(() => StoreFormat.ParseJson(bytes, "/store/x.json").Dispose());
        Assert.Equal(ErrorIds.LayerStoreMetadataInvalid, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidData, e.Category);
        Assert.Equal("/store/x.json", e.Target);
    }

    // ---- truncated JSON: every store JSON file cut at every point --------------------------------

    [Fact]
    public void Every_JSON_file_cut_anywhere_gives_errors_of_their_own()
    {
        foreach (var make in new Func<(IDisposable, string)>[] { MakeDocker, MakePodman })
        {
            var (probe, probeRoot) = make();
            List<string> files;
            using (probe)
            {
                files = Matches(probeRoot, "json");
            }
            Assert.NotEmpty(files);
            foreach (var rel in files)
            {
                var (store, root) = make();
                using (store)
                {
                    string full = Path.Combine(root, rel);
                    var original = File.ReadAllBytes(full);
                    int step = Math.Max(1, original.Length / 60);
                    for (int cut = 0; cut < original.Length; cut += step)
                    {
                        File.WriteAllBytes(full, original.AsSpan(0, cut).ToArray());
                        var outcome = StoreSafety.ReadEverything(root);
                        Assert.True(cut == 0 || outcome.Errors.Count > 0 || outcome.Layers > 0, $"{rel} cut at {cut}");
                    }
                }
            }
        }
    }

    // ---- containerd content: manifests, indexes and configs under their own digests -------------

    private static readonly Gen<byte[]> ContentGen = Gen.Frequency(
        (3, Gen.Int[0, 2].SelectMany(kind => Gen.Int[0, 1000].SelectMany(i => OneOf(HostileValues).Select(v => JsonMutator.Mutate(SampleContent(kind), v, i))))),
        (1, Gen.Byte.Array[0, 200]),
        (1, Gen.Int[0, 2].SelectMany(kind => Gen.Int[0, 10_000].Select(cut => { var b = SampleContent(kind); return b.AsSpan(0, cut % (b.Length + 1)).ToArray(); }))));

    private static byte[] SampleContent(int kind)
    {
        var files = Directory.GetFiles(Path.Combine(ContainerdFixture.Dir, "blobs", "sha256")).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        return File.ReadAllBytes(files[kind % files.Length]);
    }

    [Fact]
    public void Content_blobs_of_any_shape_give_a_value_or_a_blob_error()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ot-content-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        try
        {
            Property(ContentGen, bytes =>
            {
                string digest = StoreFormat.Sha256Digest(bytes);
                File.WriteAllBytes(Path.Combine(dir, "blobs", "sha256", digest[7..]), bytes);
                foreach (var read in new Action<ContentStore>[] { c => c.ReadIndex(digest), c => c.ReadManifest(digest), c => c.ReadConfig(digest), c => c.ReadIndexOrManifest(digest) })
                {
                    try
                    {
                        using var content = new ContentStore(dir);
                        read(content);
                    }
                    catch (OverlayException e)
                    {
                        StoreSafety.AssertGoodError(e);
                        Assert.Equal(ErrorIds.ContainerdBlobInvalid, e.ErrorId);
                    }
                }
            }, 400, b => Convert.ToBase64String(b));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- bbolt files --------------------------------------------------------------------------------

    /// <summary>Writes at page headers and element tables (where damage matters), anywhere else, and cuts.</summary>
    private static readonly Gen<(int Db, (int Page, int Offset, byte Value)[] Writes, int Cut)> BoltGen =
        Gen.Select(Gen.Int[0, 1],
            Gen.Select(Gen.Int[0, 400], Gen.Frequency((3, Gen.Int[0, 16 + (16 * 24)]), (1, Gen.Int[0, 4095])), Gen.Byte).Array[1, 12],
            Gen.Frequency((4, Gen.Const(-1)), (1, Gen.Int[0, 800 * 4096])));

    [Fact]
    public void Bolt_files_with_damaged_pages_give_bolt_errors_only()
    {
        var originals = new[] { ContainerdFixture.MetaDb(), ContainerdFixture.SnapshotDb() };
        Property(BoltGen, c =>
        {
            var file = (byte[])originals[c.Db].Clone();
            int pages = file.Length / 4096;
            foreach (var (page, offset, value) in c.Writes)
            {
                file[((page % pages) * 4096) + offset] = value;
            }
            if (c.Cut >= 0)
            {
                file = file.AsSpan(0, Math.Min(c.Cut, file.Length)).ToArray();
            }
            try
            {
                using var db = BoltDb.FromBytes(file, "fuzz.db");
                db.Root.Walk((_, _) => { });
            }
            catch (OverlayException e)
            {
                StoreSafety.AssertGoodError(e);
                Assert.StartsWith("Bolt", e.ErrorId, StringComparison.Ordinal);
            }
        }, 1500, c => $"db {c.Db}, cut {c.Cut}, writes {string.Join(" ", c.Writes.Select(w => $"{w.Page}:{w.Offset}={w.Value}"))}");
    }

    public static IEnumerable<object[]> BoltCorpus()
    {
        string dir = Path.Combine(CorpusDir, "bolt");
        return Directory.Exists(dir) ? Directory.GetFiles(dir, "*.db").OrderBy(f => f, StringComparer.Ordinal).Select(f => new object[] { Path.GetFileName(f) }) : [];
    }

    [Theory]
    [MemberData(nameof(BoltCorpus))]
    public void Bolt_corpus_file_gives_a_bolt_error(string name)
    {
        var file = File.ReadAllBytes(Path.Combine(CorpusDir, "bolt", name));
        var e = Assert.Throws<OverlayException>(() =>
        {
            using var db = BoltDb.FromBytes(file, name);
            db.Root.Walk((_, _) => { });
        });
        StoreSafety.AssertGoodError(e);
        Assert.StartsWith("Bolt", e.ErrorId, StringComparison.Ordinal);
    }
}

/// <summary>Structure-aware JSON mutation: replaces one value of a document, or damages its text.</summary>
internal static class JsonMutator
{
    /// <summary>Sets one value: "0.id=\"../../etc\"" sets the id of the first element (a dotted path of property names and array indexes, then a JSON value).</summary>
    internal static byte[] Set(byte[] original, string assignment)
    {
        int eq = assignment.IndexOf('=', StringComparison.Ordinal);
        var doc = JsonNode.Parse(original)!;
        var path = assignment[..eq].Split('.');
        JsonNode node = doc;
        for (int i = 0; i < path.Length - 1; i++)
        {
            node = int.TryParse(path[i], out int ix) ? node.AsArray()[ix]! : node.AsObject()[path[i]]!;
        }
        var value = JsonNode.Parse(assignment[(eq + 1)..]);
        if (int.TryParse(path[^1], out int last))
        {
            node.AsArray()[last] = value;
        }
        else
        {
            node.AsObject()[path[^1]] = value;
        }
        return Encoding.UTF8.GetBytes(doc.ToJsonString());
    }

    internal static byte[] Mutate(byte[] original, string hostile, int choice)
    {
        JsonNode? doc;
        try
        {
            doc = JsonNode.Parse(original);
        }
        catch (JsonException)
        {
            doc = null;
        }
        if (doc is null || choice % 7 == 6)
        {
            // Text damage: cut, an inserted byte, a doubled bracket.
            var list = original.ToList();
            int at = list.Count == 0 ? 0 : choice % list.Count;
            return (choice % 3) switch
            {
                0 => list.Take(at).ToArray(),
                1 => list.Take(at).Append((byte)(choice % 256)).Concat(list.Skip(at)).ToArray(),
                _ => list.Take(at).Concat("{[\""u8.ToArray()).Concat(list.Skip(at)).ToArray(),
            };
        }
        var nodes = new List<(JsonNode? Parent, object Key)>();
        void Collect(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var kv in o.ToList())
                    {
                        nodes.Add((o, kv.Key));
                        Collect(kv.Value);
                    }
                    break;
                case JsonArray a:
                    for (int i = 0; i < a.Count; i++)
                    {
                        nodes.Add((a, i));
                        Collect(a[i]);
                    }
                    break;
            }
        }
        Collect(doc);
        if (nodes.Count == 0)
        {
            return Encoding.UTF8.GetBytes(JsonSerializer.Serialize(hostile));
        }
        var (parent, key) = nodes[choice % nodes.Count];
        JsonNode? replacement = (choice / 7 % 6) switch
        {
            0 => JsonValue.Create(hostile),
            1 => null,
            2 => JsonValue.Create(-1L - choice),
            3 => new JsonArray(JsonValue.Create(hostile), new JsonObject { ["id"] = hostile }),
            4 => new JsonObject { [hostile.Length == 0 ? "x" : hostile] = JsonValue.Create(hostile) },
            _ => Nest(200),
        };
        if (parent is JsonObject po)
        {
            po[(string)key] = replacement;
        }
        else if (parent is JsonArray pa)
        {
            pa[(int)key] = replacement;
        }
        return Encoding.UTF8.GetBytes(doc.ToJsonString());
    }

    private static JsonNode Nest(int depth)
    {
        // Deeper than the readers' MaxDepth of 64, without recursion in the serializer beyond it.
        JsonNode node = JsonValue.Create(1);
        for (int i = 0; i < Math.Min(depth, 60); i++)
        {
            node = new JsonArray(node);
        }
        return new JsonArray(node, new JsonArray(new JsonArray(new JsonArray(new JsonArray(new JsonArray(JsonValue.Create("deep")))))));
    }
}
