using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using CsCheck;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// Property-based fuzzing (CsCheck generators) of the mountinfo parser, the overlay decoder and
/// the option escaper. Each property runs a bounded pass with a fixed seed in the normal test run
/// (deterministic, a second or two); set OVERLAYTOOLS_FUZZ_SECONDS to explore with random seeds
/// and shrinking for that long instead. Inputs that ever broke a property are kept in corpus/ and
/// replayed as regression tests.
/// </summary>
public class FuzzTests
{
    private const ulong Seed = 0x7A_0F_F5_EE;

    // ---- generators -------------------------------------------------------------------------

    private static Gen<string> OneOf(params string[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);

    /// <summary>Pieces of names: what option parsers and escapers trip over, and ordinary text.</summary>
    private static readonly Gen<string> Piece = Gen.Frequency(
        (6, Gen.Char["abcxyzABC0189_-."].Select(c => c.ToString())),
        (4, OneOf(",", ":", "=", "\\", " ", "\t", "\n", "::", "\\\\", ",upperdir=", ",workdir=", ",lowerdir=", "\\054", "\\134", "\\072", "\\040")),
        (2, OneOf("'", "\"", "$", "*", "?", "[", "]", "#", "%", "&", ";", "|", "~", "!", "@", "(", ")", "{", "}")),
        (2, OneOf("é", "ü", "层", "😀", "\u00a0", "\u200b", "ß", "\u0301")),
        (1, OneOf("/", "//", "/./", "/../")));

    /// <summary>An absolute path of up to 6 components made of those pieces (never NUL, never empty).</summary>
    private static Gen<string> StringOf(Gen<string> piece, int min, int max)
        => piece.Array[min, max].Select(a => string.Concat(a));

    private static readonly Gen<string> PathGen =
        StringOf(Piece, 1, 5).Array[1, 6].Select(parts => "/" + string.Join("/", parts));

    private static readonly Gen<(string[] Lower, string[] Data, string Upper, string Work)> LayersGen =
        Gen.Select(PathGen.Array[1, 6], PathGen.Array[0, 3], PathGen, PathGen);

    /// <summary>Runs a property over a fixed-seed sample, or explores with CsCheck when asked to.</summary>
    private static void Property<T>(Gen<T> gen, Action<T> property, int count, Func<T, string>? print = null)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("OVERLAYTOOLS_FUZZ_SECONDS"), out int seconds) && seconds > 0)
        {
            gen.Sample(property, time: seconds, print: print);
            return;
        }
        var pcg = new PCG(7, Seed);
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

    private static string Show((string[] Lower, string[] Data, string Upper, string Work) l)
        => JsonSerializer.Serialize(new { lower = l.Lower, data = l.Data, upper = l.Upper, work = l.Work });

    // ---- properties -------------------------------------------------------------------------

    /// <summary>The mount(2) option data the module builds, read the way the kernel reads it.</summary>
    private static void LegacyDataParsesToExactlyTheLayers((string[] Lower, string[] Data, string Upper, string Work) l)
    {
        string data = "lowerdir=" + OverlayOptionCodec.JoinLowerdir(l.Lower, l.Data)
            + ",upperdir=" + OverlayOptionCodec.EscapeLegacy(l.Upper)
            + ",workdir=" + OverlayOptionCodec.EscapeLegacy(l.Work);
        var options = KernelOptionModel.ParseMonolithic(data);
        Assert.Equal(new[] { "lowerdir", "upperdir", "workdir" }, options.Select(o => o.Key));
        var split = KernelOptionModel.SplitLowerdir(options[0].Value!);
        Assert.NotNull(split);
        Assert.Equal(l.Lower, split.Value.Lower);
        Assert.Equal(l.Data, split.Value.Data);
        Assert.Equal(l.Upper, KernelOptionModel.Unescape(options[1].Value!));
        Assert.Equal(l.Work, KernelOptionModel.Unescape(options[2].Value!));
        // And the module's own reader agrees with the kernel's.
        var (lower, dataLayers) = OverlayOptionCodec.SplitLowerdir(options[0].Value!);
        Assert.Equal(l.Lower, lower);
        Assert.Equal(l.Data, dataLayers);
    }

    /// <summary>The line the kernel would print for such a mount decodes to exactly that mount.</summary>
    private static void MountInfoLineDecodesToTheMount((string[] Lower, string[] Data, string Upper, string Work) l, string target, bool legacy)
    {
        string super = legacy
            ? "rw,lowerdir=" + KernelText.OptionValue(OverlayOptionCodec.JoinLowerdir(l.Lower, l.Data))
                + ",upperdir=" + KernelText.OptionValue(OverlayOptionCodec.EscapeLegacy(l.Upper))
                + ",workdir=" + KernelText.OptionValue(OverlayOptionCodec.EscapeLegacy(l.Work))
            : "rw" + string.Concat(l.Lower.Select(x => ",lowerdir+=" + KernelText.OptionValue(x)))
                + string.Concat(l.Data.Select(x => ",datadir+=" + KernelText.OptionValue(x)))
                + ",upperdir=" + KernelText.OptionValue(l.Upper) + ",workdir=" + KernelText.OptionValue(l.Work)
                + ",redirect_dir=on";
        string text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n" + KernelText.Line(45, target, super) + "\n";
        var entries = MountInfo.Parse(Encoding.UTF8.GetBytes(text), "overlay");
        var entry = Assert.Single(entries);
        Assert.Equal(target, entry.MountPoint);
        var m = OverlayMount.FromEntry(entry);
        Assert.Equal(target, m.Target);
        Assert.Equal(l.Lower, m.Lower);
        Assert.Equal(l.Data, m.DataLower);
        Assert.Equal(l.Upper, m.Upper);
        Assert.Equal(l.Work, m.Work);
        Assert.False(m.ReadOnly);
    }

    /// <summary>Never throws, whatever the bytes; every entry it returns can be decoded.</summary>
    private static void ParsesWithoutThrowing(byte[] text)
    {
        foreach (var e in MountInfo.Parse(text))
        {
            _ = OverlayMount.FromEntry(e);
        }
        foreach (var e in MountInfo.Parse(text, "overlay"))
        {
            _ = OverlayMount.FromEntry(e);
        }
        _ = OverlayOptionCodec.DecodeSuperOptions(text);
        _ = OverlayOptionCodec.UnescapeMountInfo(text);
    }

    [Fact]
    public void Legacy_option_data_parses_under_the_kernel_model_to_exactly_the_given_layers()
        => Property(LayersGen, LegacyDataParsesToExactlyTheLayers, 4000, Show);

    [Fact]
    public void Mountinfo_lines_as_the_kernel_prints_them_decode_to_the_same_mount()
        => Property(Gen.Select(LayersGen, PathGen, Gen.Bool), t => MountInfoLineDecodesToTheMount(t.Item1, t.Item2, t.Item3), 4000,
            t => Show(t.Item1) + " target=" + JsonSerializer.Serialize(t.Item2) + " legacy=" + t.Item3);

    [Fact]
    public void Escaped_paths_never_contain_an_unescaped_separator()
        => Property(StringOf(Piece, 1, 30), s =>
        {
            var e = OverlayOptionCodec.EscapeLegacy(s);
            Assert.False(OverlayOptionCodec.HasUnescapedColon(e));
            Assert.Single(KernelOptionModel.ParseMonolithic("k=" + e));
            Assert.Equal(s, OverlayOptionCodec.UnescapeOverlay(e));
            Assert.Equal(s, KernelOptionModel.Unescape(e));
        }, 4000, x => JsonSerializer.Serialize(x));

    [Fact]
    public void Mountinfo_unescaping_inverts_the_kernel_escaping()
        => Property(StringOf(Piece, 0, 40), s =>
        {
            Assert.Equal(s, OverlayOptionCodec.UnescapeMountInfo(KernelText.Escape(s, " \t\n\\,")));
            Assert.Equal(s, OverlayOptionCodec.UnescapeMountInfo(Encoding.UTF8.GetBytes(KernelText.MountPoint(s))));
        }, 4000, x => JsonSerializer.Serialize(x));

    [Fact]
    public void The_parser_survives_random_bytes()
        => Property(Gen.Byte.Array[0, 6000], ParsesWithoutThrowing, 1500, b => Convert.ToBase64String(b));

    /// <summary>Valid lines, then cut, spliced, their bytes flipped or their separators doubled.</summary>
    [Fact]
    public void The_parser_survives_mutated_mountinfo()
    {
        var lineGen = Gen.Select(LayersGen, PathGen, Gen.Bool).Select(t =>
        {
            var (l, target, legacy) = t;
            string super = legacy
                ? "rw,lowerdir=" + KernelText.OptionValue(OverlayOptionCodec.JoinLowerdir(l.Lower, l.Data)) + ",upperdir=" + KernelText.OptionValue(OverlayOptionCodec.EscapeLegacy(l.Upper))
                : "ro" + string.Concat(l.Lower.Select(x => ",lowerdir+=" + KernelText.OptionValue(x)));
            return Encoding.UTF8.GetBytes(KernelText.Line(45, target, super));
        });
        var mutated = Gen.Select(lineGen.Array[1, 4], Gen.Int[0, 5], Gen.Int[0, 100_000], Gen.Byte).Select(t =>
        {
            var (lines, kind, at, b) = t;
            var text = lines.SelectMany(x => x.Append((byte)'\n')).ToList();
            int i = text.Count == 0 ? 0 : at % text.Count;
            switch (kind)
            {
                case 0: text.RemoveRange(i, text.Count - i); break;                              // cut short
                case 1: text[i] = b; break;                                                       // flip a byte
                case 2: text.InsertRange(i, " - "u8.ToArray()); break;                            // a second separator
                case 3: text.InsertRange(i, "\\0"u8.ToArray()); break;                            // a cut octal escape
                case 4: text.InsertRange(i, Enumerable.Repeat((byte)'\\', 1 + (at % 7))); break; // runs of backslashes
                default: text.InsertRange(i, Enumerable.Repeat((byte)',', 1 + (at % 5))); break;  // empty options
            }
            return text.ToArray();
        });
        Property(mutated, ParsesWithoutThrowing, 3000, b => Convert.ToBase64String(b));
    }

    // ---- corpus: inputs that once broke a property, replayed every run -------------------------

    private static string CorpusDir(string kind) => Path.Combine(AppContext.BaseDirectory, "corpus", kind);

    public static IEnumerable<object[]> MountInfoCorpus()
        => Directory.EnumerateFiles(CorpusDir("mountinfo")).OrderBy(f => f, StringComparer.Ordinal).Select(f => new object[] { Path.GetFileName(f) });

    public static IEnumerable<object[]> LayersCorpus()
        => Directory.EnumerateFiles(CorpusDir("layers"), "*.json").OrderBy(f => f, StringComparer.Ordinal).Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(MountInfoCorpus))]
    public void Corpus_mountinfo_parses_without_throwing(string name)
        => ParsesWithoutThrowing(File.ReadAllBytes(Path.Combine(CorpusDir("mountinfo"), name)));

    [Theory]
    [MemberData(nameof(LayersCorpus))]
    public void Corpus_layers_escape_and_decode_exactly(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(CorpusDir("layers"), name)));
        var root = doc.RootElement;
        string[] Strings(string p) => root.GetProperty(p).EnumerateArray().Select(e => e.GetString()!).ToArray();
        var l = (Strings("lower"), Strings("data"), root.GetProperty("upper").GetString()!, root.GetProperty("work").GetString()!);
        LegacyDataParsesToExactlyTheLayers(l);
        string target = root.TryGetProperty("target", out var t) ? t.GetString()! : "/mnt/merged";
        MountInfoLineDecodesToTheMount(l, target, legacy: true);
        MountInfoLineDecodesToTheMount(l, target, legacy: false);
    }
}
