using System;
using System.Linq;
using System.Text;
using CsCheck;
using OverlayTools.Interop;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>File names as bytes and as strings: names that are not UTF-8 survive the round trip.</summary>
public class NameBytesTests
{
    private static byte[] Z(params byte[] b) => [.. b, 0];

    [Fact]
    public void Decodes_valid_utf8_as_utf8()
    {
        byte[] name = Encoding.UTF8.GetBytes("données-日本-😀");
        Assert.Equal("données-日本-😀", Native.DecodeName(name));
        Assert.Equal(Z(name), Native.Utf8Z("données-日本-😀"));
    }

    [Fact]
    public void Keeps_names_that_differ_only_in_invalid_bytes_apart()
    {
        string fe = Native.DecodeName(new byte[] { 0xFE });
        string ff = Native.DecodeName(new byte[] { 0xFF });
        Assert.NotEqual(fe, ff);
        Assert.Equal("\uDCFE", fe);
        Assert.Equal(Z(0xFE), Native.Utf8Z(fe));
        Assert.Equal(Z(0xFF), Native.Utf8Z(ff));
    }

    [Fact]
    public void Escapes_each_byte_of_a_truncated_sequence_and_keeps_what_follows()
    {
        // "é" cut after its first byte, then "x"; a lone continuation byte; an overlong "/".
        byte[] name = [0xC3, (byte)'x', 0x80, (byte)'y', 0xC0, 0xAF];
        string s = Native.DecodeName(name);
        Assert.Equal("\uDCC3x\uDC80y\uDCC0\uDCAF", s);
        Assert.Equal(Z(name), Native.Utf8Z(s));
    }

    [Fact]
    public void Encodes_a_real_surrogate_pair_as_utf8_even_in_a_name_with_escaped_bytes()
    {
        string s = "😀" + Native.DecodeName(new byte[] { 0xFF });
        Assert.Equal(Z([.. Encoding.UTF8.GetBytes("😀"), 0xFF]), Native.Utf8Z(s));
    }

    [Fact]
    public void Round_trips_every_byte_string()
    {
        Gen.Byte.Where(b => b != 0 && b != (byte)'/').Array[0, 40].Sample(name =>
        {
            string s = Native.DecodeName(name);
            Assert.Equal(Z(name), Native.Utf8Z(s));
        }, iter: 20000);
    }

    [Fact]
    public void Two_different_byte_strings_never_give_one_string()
    {
        Gen.Select(Gen.Byte.Where(b => b != 0).Array[0, 12], Gen.Byte.Where(b => b != 0).Array[0, 12]).Sample((a, b) =>
        {
            if (!a.SequenceEqual(b))
            {
                Assert.NotEqual(Native.DecodeName(a), Native.DecodeName(b));
            }
        }, iter: 20000);
    }
}
