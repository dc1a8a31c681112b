using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

public class OverlayOptionCodecTests
{
    private const string Alphabet = "abcXYZ019_-./,:\\ \t\n=üñé层😀'\"$*?[]";

    private static string RandomName(Random rng)
    {
        int len = rng.Next(1, 24);
        var sb = new StringBuilder("/");
        for (int i = 0; i < len; i++)
        {
            // Take whole text elements so surrogate pairs stay intact.
            var pick = System.Globalization.StringInfo.GetNextTextElement(Alphabet, PickIndex(rng));
            sb.Append(pick);
        }
        return sb.ToString();
    }

    private static int PickIndex(Random rng)
    {
        var starts = System.Globalization.StringInfo.ParseCombiningCharacters(Alphabet);
        return starts[rng.Next(starts.Length)];
    }

    [Theory]
    [InlineData("/plain", "/plain")]
    [InlineData("/a,b", "/a\\,b")]
    [InlineData("/a:b", "/a\\:b")]
    [InlineData("/a\\b", "/a\\\\b")]
    [InlineData("/x,upperdir=/etc", "/x\\,upperdir=/etc")]
    [InlineData("/ends\\", "/ends\\\\")]
    public void Escapes_what_the_legacy_parser_splits_on(string path, string expected)
    {
        Assert.Equal(expected, OverlayOptionCodec.EscapeLegacy(path));
    }

    [Fact]
    public void Splits_lowerdir_with_escapes_and_data_layers()
    {
        var (lower, data) = OverlayOptionCodec.SplitLowerdir("/a\\:b:/c\\\\d::/data1::/data2");
        Assert.Equal(new[] { "/a:b", "/c\\d" }, lower);
        Assert.Equal(new[] { "/data1", "/data2" }, data);
    }

    [Theory]
    [InlineData("/a:/b", true)]
    [InlineData("/a\\:b", false)]
    [InlineData("/plain", false)]
    [InlineData("/x\\\\:/y", true)]
    public void Detects_unescaped_colons(string value, bool expected)
    {
        Assert.Equal(expected, OverlayOptionCodec.HasUnescapedColon(value));
    }

    [Fact]
    public void Join_then_split_round_trips_random_names()
    {
        var rng = new Random(4242);
        for (int i = 0; i < 3000; i++)
        {
            var lower = Enumerable.Range(0, rng.Next(1, 6)).Select(_ => RandomName(rng)).ToList();
            var data = Enumerable.Range(0, rng.Next(0, 3)).Select(_ => RandomName(rng)).ToList();
            var joined = OverlayOptionCodec.JoinLowerdir(lower, data);
            var (l, d) = OverlayOptionCodec.SplitLowerdir(joined);
            Assert.Equal(lower, l);
            Assert.Equal(data, d);
        }
    }

    [Fact]
    public void Legacy_mount_data_echoed_by_the_kernel_decodes_to_the_same_layers()
    {
        var rng = new Random(7);
        for (int i = 0; i < 3000; i++)
        {
            var lower = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => RandomName(rng)).ToList();
            var data = Enumerable.Range(0, rng.Next(0, 2)).Select(_ => RandomName(rng)).ToList();
            string upper = RandomName(rng), work = RandomName(rng);
            // What mount(2) received, and what mountinfo echoes (each option value seq-escaped).
            var super = "rw,lowerdir=" + KernelText.OptionValue(OverlayOptionCodec.JoinLowerdir(lower, data)) +
                ",upperdir=" + KernelText.OptionValue(OverlayOptionCodec.EscapeLegacy(upper)) +
                ",workdir=" + KernelText.OptionValue(OverlayOptionCodec.EscapeLegacy(work)) + ",index=off";
            var target = RandomName(rng);
            var entry = MountInfo.Parse(Encoding.UTF8.GetBytes(KernelText.Line(100 + i, target, super))).Single();
            var m = OverlayMount.FromEntry(entry);
            Assert.Equal(target, m.Target);
            Assert.Equal(lower, m.Lower);
            Assert.Equal(data, m.DataLower);
            Assert.Equal(upper, m.Upper);
            Assert.Equal(work, m.Work);
            Assert.Equal(new[] { "index=off" }, m.Options);
        }
    }

    [Fact]
    public void New_api_layers_echoed_by_the_kernel_decode_to_the_same_paths()
    {
        var rng = new Random(11);
        for (int i = 0; i < 3000; i++)
        {
            var lower = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => RandomName(rng)).ToList();
            var data = Enumerable.Range(0, rng.Next(0, 3)).Select(_ => RandomName(rng)).ToList();
            string upper = RandomName(rng), work = RandomName(rng);
            var super = "rw," + string.Join(",", lower.Select(l => "lowerdir+=" + KernelText.OptionValue(l)).Concat(data.Select(d => "datadir+=" + KernelText.OptionValue(d)))) +
                ",upperdir=" + KernelText.OptionValue(upper) + ",workdir=" + KernelText.OptionValue(work) + ",redirect_dir=on";
            var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(KernelText.Line(5, "/m", super))).Single());
            Assert.Equal(lower, m.Lower);
            Assert.Equal(data, m.DataLower);
            Assert.Equal(upper, m.Upper);
            Assert.Equal(work, m.Work);
        }
    }

    [Theory]
    [InlineData("\\040", " ")]
    [InlineData("a\\011b", "a\tb")]
    [InlineData("\\012", "\n")]
    [InlineData("\\134", "\\")]
    [InlineData("\\054", ",")]
    [InlineData("\\072", ":")]
    [InlineData("\\", "\\")]
    [InlineData("\\9", "\\9")]
    [InlineData("\\12", "\\12")]
    [InlineData("\\777", "\\777")]
    [InlineData("tail\\0", "tail\\0")]
    [InlineData("\\303\\274", "ü")]
    public void Unescapes_octal_escapes_and_keeps_invalid_ones(string field, string expected)
    {
        Assert.Equal(expected, OverlayOptionCodec.UnescapeMountInfo(field));
    }

    [Fact]
    public void Unescape_overlay_drops_each_escaping_backslash()
    {
        Assert.Equal("/a,b:c\\d", OverlayOptionCodec.UnescapeOverlay("/a\\,b\\:c\\\\d"));
        Assert.Equal("/trailing\\", OverlayOptionCodec.UnescapeOverlay("/trailing\\"));
    }
}
