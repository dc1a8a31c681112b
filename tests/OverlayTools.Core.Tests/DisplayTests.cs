using Xunit;

namespace OverlayTools.Core.Tests;

public class DisplayTests
{
    private const string Id = "db73ca6c860f21a71de160a18f4a4916ca2ec1324e08fdb271d2348c3d097c02";

    [Theory]
    [InlineData("/var/lib/docker/overlay2/" + Id + "/merged", "/var/lib/docker/overlay2/db73ca6c860f…/merged")]
    [InlineData("/var/lib/docker/overlay2/" + Id + "-init/diff", "/var/lib/docker/overlay2/db73ca6c860f…-init/diff")]
    [InlineData("/srv/app/upper", "/srv/app/upper")]
    [InlineData("/x/DB73CA6C860F21A71DE160A18F4A4916CA2EC1324E08FDB271D2348C3D097C02", "/x/DB73CA6C860F21A71DE160A18F4A4916CA2EC1324E08FDB271D2348C3D097C02")]
    [InlineData("", "")]
    [InlineData(null, "")]
    [InlineData("/", "/")]
    public void Shortens_only_64_digit_ids(string? path, string expected)
    {
        Assert.Equal(expected, Display.ShortPath(path));
    }

    [Fact]
    public void Lists_two_lowers_then_a_count()
    {
        Assert.Equal("/a, /b", Display.ShortLowers(["/a", "/b"]));
        Assert.Equal("/a, /b (+2 more)", Display.ShortLowers(["/a", "/b", "/c", "/d"]));
        Assert.Equal("", Display.ShortLowers(null));
    }
}
