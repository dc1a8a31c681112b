using OverlayTools.Interop;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>Path text handling that matches -Target values against mount points.</summary>
public class PathTextTests
{
    [Theory]
    [InlineData("/a/b", "/a/b")]
    [InlineData("/a//b", "/a/b")]
    [InlineData("/a/./b/.", "/a/b")]
    [InlineData("/a/x/../b", "/a/b")]
    [InlineData("/a/b/", "/a/b")]
    [InlineData("/../a", "/a")]
    [InlineData("/a/..", "/")]
    [InlineData("/", "/")]
    [InlineData("//", "/")]
    [InlineData("/a/...", "/a/...")]
    [InlineData("/a/.b/..c", "/a/.b/..c")]
    [InlineData("/a\\b/./c:d", "/a\\b/c:d")]
    [InlineData("/a/b\n/../c", "/a/c")]
    [InlineData("relative/./x", "relative/./x")]
    public void Normalizes_absolute_paths_by_text(string path, string expected)
    {
        Assert.Equal(expected, FileSystem.NormalizeLexically(path));
    }
}
