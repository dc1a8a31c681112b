using System.Collections.Generic;
using System.Linq;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

public class MountHoldersTests
{
    [Fact]
    public void Merge_names_each_holder_way_and_path_once_with_a_count_in_the_order_first_found()
    {
        var found = new List<MountHolder>
        {
            new(2017, "dotnet", "has open", "/m"),
            new(2017, "dotnet", "has its cwd in", "/m"),
            new(2017, "dotnet", "has open", "/m"),
            new(0, "", "a mount below it at", "/m/in"),
            new(2017, "dotnet", "has open", "/m/a"),
            new(2017, "dotnet", "has open", "/m"),
            new(0, "", "a mount below it at", "/m/in"),
            new(99, "sleep", "has open", "/m"),
        };

        var merged = MountHolders.Merge(found);

        Assert.Equal(
            new[]
            {
                "pid 2017 (dotnet) has open /m (3 descriptors)",
                "pid 2017 (dotnet) has its cwd in /m",
                "a mount below it at /m/in (2 mounts)",
                "pid 2017 (dotnet) has open /m/a",
                "pid 99 (sleep) has open /m",
            },
            merged.Select(h => h.ToString()));
    }
}
