using System;
using OverlayTools.Stores.Containerd;
using Xunit;

namespace OverlayTools.Core.Tests;

public class ImageReferenceTests
{
    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.27", "docker.io/library/nginx:1.27")]
    [InlineData("library/nginx", "docker.io/library/nginx:latest")]
    [InlineData("docker.io/nginx", "docker.io/library/nginx:latest")]
    [InlineData("index.docker.io/library/nginx:1", "docker.io/library/nginx:1")]
    [InlineData("user/app", "docker.io/user/app:latest")]
    [InlineData("example.com/demo/app", "example.com/demo/app:latest")]
    [InlineData("example.com:5000/app:2", "example.com:5000/app:2")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9")]
    [InlineData("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Expands_the_short_forms_users_type(string typed, string full)
    {
        Assert.Equal(full, ImageReference.Normalize(typed));
        Assert.True(ImageReference.Matches(full, typed));
    }

    [Fact]
    public void Does_not_match_other_names()
    {
        Assert.False(ImageReference.Matches("docker.io/library/nginx:latest", "nginx:1"));
        Assert.False(ImageReference.Matches("docker.io/library/nginx:latest", "other/nginx"));
        Assert.False(ImageReference.Matches("docker.io/library/nginx:latest", ""));
        Assert.True(ImageReference.Matches("sha256:abc", "sha256:abc"));
    }
}
