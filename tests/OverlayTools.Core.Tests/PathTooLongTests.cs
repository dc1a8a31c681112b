using System.Linq;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

public class PathTooLongTests
{
    [Fact]
    public void A_path_over_PATH_MAX_is_PathTooLong_saying_how_long_it_is()
    {
        string path = "/m/" + string.Join('/', Enumerable.Repeat(new string('d', 200), 30));
        var e = OverlayLocator.PathTooLong(path);
        Assert.Equal(ErrorIds.PathTooLong, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidArgument, e.Category);
        Assert.Equal(path, e.Target);
        Assert.Contains($"it is {path.Length:N0} bytes long", e.Message);
        Assert.Contains("PATH_MAX", e.Message);
        Assert.True(e.Message.Length < 400, "the message shows the path shortened");
    }

    [Fact]
    public void A_name_over_255_bytes_is_named_as_the_reason()
    {
        // 130 two-byte characters: 260 bytes in UTF-8, though only 130 characters.
        var e = OverlayLocator.PathTooLong("/m/" + new string('é', 130) + "/f");
        Assert.Contains("is 260 bytes long, and the kernel takes names of at most 255 bytes", e.Message);
    }

    [Fact]
    public void Abbreviate_keeps_short_text_and_never_cuts_a_surrogate_pair()
    {
        Assert.Equal("short", OverlayLocator.Abbreviate("short"));
        string emoji = string.Concat(Enumerable.Repeat("\U0001F600", 100));
        string cut = OverlayLocator.Abbreviate(emoji);
        Assert.Contains("…", cut);
        foreach (var part in cut.Split('…'))
        {
            Assert.False(char.IsHighSurrogate(part[^1]) || char.IsLowSurrogate(part[0]), "no half of a pair at either side of the cut");
        }
    }
}
