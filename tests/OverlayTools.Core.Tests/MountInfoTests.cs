using System;
using System.Linq;
using System.Text;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

public class MountInfoTests
{
    private const string Sample =
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n" +
        "45 27 0:39 / /tmp/exp/mnt rw,relatime - overlay overlay rw,lowerdir+=/tmp/exp/we\\054ird:d=i\\040r\\134x,lowerdir+=/tmp/exp/l1,upperdir=/tmp/exp/up,workdir=/tmp/exp/wk,uuid=on\n" +
        "46 27 0:40 / /tmp/exp/m\\040two rw,relatime - overlay overlay rw,lowerdir=/tmp/exp/we\\134\\054ird\\134:d=i\\040r\\134\\134x:/tmp/exp/l1,upperdir=/tmp/exp/u\\134\\054p:x,workdir=/tmp/exp/w\\134\\054k,uuid=on\n" +
        "47 27 0:41 / /tmp/ro ro,relatime - overlay overlay ro,lowerdir+=/tmp/exp/nl\\012x,lowerdir+=/run/overlaytools/empty,redirect_dir=on\n";

    [Fact]
    public void Parses_every_field_of_a_line()
    {
        var e = MountInfo.Parse(Encoding.UTF8.GetBytes(Sample))[0];
        Assert.Equal(22, e.MountId);
        Assert.Equal(1, e.ParentId);
        Assert.Equal(8u, e.Major);
        Assert.Equal(1u, e.Minor);
        Assert.Equal("/", e.Root);
        Assert.Equal("/", e.MountPoint);
        Assert.Equal("rw,relatime", e.MountOptions);
        Assert.Equal(new[] { "shared:1" }, e.OptionalFields);
        Assert.Equal("ext4", e.FsType);
        Assert.Equal("/dev/sda1", e.Source);
        Assert.Equal("rw,errors=remount-ro", e.SuperOptions);
    }

    [Fact]
    public void Finds_one_line_by_mount_id_and_parses_it_alone()
    {
        var bytes = Encoding.UTF8.GetBytes(Sample);
        var e = MountInfo.FindLine(bytes, 46);
        Assert.NotNull(e);
        Assert.Equal(46, e!.MountId);
        Assert.Equal("/tmp/exp/m two", e.MountPoint);
        Assert.Equal(MountInfo.Parse(bytes)[2].SuperOptions, e.SuperOptions);
        // The last line, without a trailing newline too.
        Assert.Equal("/tmp/ro", MountInfo.FindLine(bytes.AsSpan(0, bytes.Length - 1), 47)!.MountPoint);
    }

    [Fact]
    public void Finds_no_line_for_an_id_that_is_only_a_prefix_or_another_field()
    {
        var bytes = Encoding.UTF8.GetBytes(Sample);
        Assert.Null(MountInfo.FindLine(bytes, 4));   // a prefix of 45, 46, 47
        Assert.Null(MountInfo.FindLine(bytes, 27));  // a parent id only
        Assert.Null(MountInfo.FindLine(bytes, 1));   // a parent id, and a digit of "1 8:1"
        Assert.Null(MountInfo.FindLine(ReadOnlySpan<byte>.Empty, 22));
        Assert.Null(MountInfo.FindLine("48 27 0:42 / /x rw\n"u8, 48)); // malformed: no " - "
    }

    [Fact]
    public void Filters_by_file_system_type()
    {
        var overlays = MountInfo.Parse(Encoding.UTF8.GetBytes(Sample), "overlay");
        Assert.Equal(new[] { 45, 46, 47 }, overlays.Select(o => o.MountId));
    }

    [Fact]
    public void Decodes_the_new_api_form_literally()
    {
        var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(Sample), "overlay")[0]);
        Assert.Equal(new[] { "/tmp/exp/we,ird:d=i r\\x", "/tmp/exp/l1" }, m.Lower);
        Assert.Equal("/tmp/exp/up", m.Upper);
        Assert.Equal("/tmp/exp/wk", m.Work);
        Assert.Equal(new[] { "uuid=on" }, m.Options);
        Assert.False(m.ReadOnly);
    }

    [Fact]
    public void Decodes_the_legacy_form_with_overlay_escapes()
    {
        var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(Sample), "overlay")[1]);
        Assert.Equal("/tmp/exp/m two", m.Target);
        Assert.Equal(new[] { "/tmp/exp/we,ird:d=i r\\x", "/tmp/exp/l1" }, m.Lower);
        Assert.Equal("/tmp/exp/u,p:x", m.Upper);
        Assert.Equal("/tmp/exp/w,k", m.Work);
    }

    [Fact]
    public void Hides_the_module_empty_layer_and_reports_read_only()
    {
        var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(Sample), "overlay")[2]);
        Assert.Equal(new[] { "/tmp/exp/nl\nx" }, m.Lower);
        Assert.True(m.HasModuleEmptyLower);
        Assert.True(m.ReadOnly);
        Assert.Null(m.Upper);
    }

    [Fact]
    public void Keeps_the_empty_layer_when_it_is_the_only_lower()
    {
        var line = KernelText.Line(50, "/x", "ro,lowerdir+=/run/overlaytools/empty");
        var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(line))[0]);
        Assert.Equal(new[] { "/run/overlaytools/empty" }, m.Lower);
        Assert.False(m.HasModuleEmptyLower);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("1 2 3")]
    [InlineData("a b 0:1 / /x rw - overlay overlay rw")]
    [InlineData("1 2 x:y / /x rw - overlay overlay rw")]
    [InlineData("1 2 0:1 / /x rw - overlay")]
    [InlineData("1 2 0:1 / /x rw -overlay overlay rw")]
    [InlineData("1 2 0:1 / - overlay overlay rw")]
    [InlineData("99999999999 2 0:1 / /x rw - overlay overlay rw")]
    public void Skips_malformed_lines(string line)
    {
        Assert.Empty(MountInfo.Parse(Encoding.UTF8.GetBytes(line)));
    }

    [Fact]
    public void Survives_random_bytes_and_truncation_without_throwing()
    {
        var rng = new Random(20261127);
        var sample = Encoding.UTF8.GetBytes(Sample);
        for (int i = 0; i < 5000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[rng.Next(0, 600)];
                rng.NextBytes(input);
                // Sprinkle the separators the parser looks for.
                for (int k = 0; k < input.Length; k += rng.Next(1, 12))
                {
                    input[k] = " -\\,=:\n"u8[rng.Next(7)];
                }
            }
            else
            {
                input = sample[..rng.Next(0, sample.Length)];
                if (input.Length > 0)
                {
                    input[rng.Next(input.Length)] = (byte)rng.Next(256);
                }
            }
            foreach (var e in MountInfo.Parse(input))
            {
                _ = OverlayMount.FromEntry(e);
            }
        }
    }

    [Fact]
    public void Handles_a_line_longer_than_a_page()
    {
        var lowers = Enumerable.Range(0, 300).Select(i => $"/very/long/layer/path/number/{i:D4}/with,comma and space").ToList();
        var super = "rw," + string.Join(",", lowers.Select(l => "lowerdir+=" + KernelText.OptionValue(l)));
        var line = KernelText.Line(60, "/merged", super);
        Assert.True(line.Length > 8192);
        var m = OverlayMount.FromEntry(MountInfo.Parse(Encoding.UTF8.GetBytes(line))[0]);
        Assert.Equal(lowers, m.Lower);
    }
}
