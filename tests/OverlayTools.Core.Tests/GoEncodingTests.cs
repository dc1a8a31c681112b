using System;
using OverlayTools.Stores.Containerd;
using Xunit;

namespace OverlayTools.Core.Tests;

public class GoEncodingTests
{
    [Theory]
    [InlineData(new byte[] { 0x05 }, 5UL)]
    [InlineData(new byte[] { 0x80, 0x01 }, 128UL)]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, ulong.MaxValue)]
    public void Uvarints_decode_like_go(byte[] data, ulong value)
    {
        Assert.True(GoEncoding.TryUvarint(data, out ulong v));
        Assert.Equal(value, v);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x80 })]                       // unfinished
    [InlineData(new byte[] { 0x05, 0x00 })]                 // trailing bytes
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02 })] // 65 bits
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]
    public void Malformed_uvarints_are_refused(byte[] data) => Assert.False(GoEncoding.TryUvarint(data, out _));

    [Fact]
    public void Varints_are_zig_zag()
    {
        Assert.True(GoEncoding.TryVarint([0x80, 0xC0, 0x01], out long v)); // containerd's size of a 12 KiB layer
        Assert.Equal(12288, v);
        Assert.True(GoEncoding.TryVarint([0x03], out v));
        Assert.Equal(-2, v);
    }

    [Fact]
    public void Go_binary_times_decode_in_utc()
    {
        // 2026-11-27T12:36:58.737557836Z as containerd stored it (version 1, UTC).
        var t = GoEncoding.TryTime(Convert.FromHexString("010000000EE29B706A2BF63D4CFFFF"));
        Assert.NotNull(t);
        Assert.Equal(DateTimeKind.Utc, t.Value.Kind);
        Assert.Equal(new DateTime(2026, 11, 27, 12, 36, 58, DateTimeKind.Utc), t.Value.AddTicks(-(t.Value.Ticks % TimeSpan.TicksPerSecond)));
        Assert.Null(GoEncoding.TryTime([1, 2, 3]));
        Assert.Null(GoEncoding.TryTime(Convert.FromHexString("01000000000000000000000000FFFF"))); // Go's zero time: not set
        Assert.Null(GoEncoding.TryTime(Convert.FromHexString("030000000EE29B706A2BF63D4CFFFF")));
        Assert.Null(GoEncoding.TryTime(Convert.FromHexString("010000000EE29B706AFFFFFFFFFFFF"))); // nanoseconds out of range
    }
}
