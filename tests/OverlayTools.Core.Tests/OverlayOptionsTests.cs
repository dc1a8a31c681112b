using System.Linq;
using OverlayTools.Mounts;
using Xunit;

namespace OverlayTools.Core.Tests;

public class OverlayOptionsTests
{
    [Fact]
    public void Parses_values_flags_and_mount_flags()
    {
        var o = OverlayOptions.Parse(new[] { "redirect_dir=on", "INDEX=OFF", "volatile", "nosuid,nodev", "read-only" });
        Assert.Equal(new[] { "redirect_dir=on", "index=off", "volatile", "nosuid", "nodev", "ro" }, o.Select(x => x.ToString()));
    }

    [Theory]
    [InlineData("ro", 0x1u, 1ul)]
    [InlineData("nosuid", 0x2u, 2ul)]
    [InlineData("nodev", 0x4u, 4ul)]
    [InlineData("noexec", 0x8u, 8ul)]
    [InlineData("noatime", 0x10u, 1024ul)]
    [InlineData("nodiratime", 0x80u, 2048ul)]
    [InlineData("strictatime", 0x20u, 1ul << 24)]
    public void Each_mount_flag_carries_the_kernels_attribute_and_mount_2_bits(string name, uint mountAttr, ulong msFlag)
    {
        // include/uapi/linux/mount.h: MOUNT_ATTR_* for fsmount, MS_* for mount(2).
        var info = OverlayOptions.Info(name);
        Assert.Equal(OptionKind.MountFlag, info.Kind);
        Assert.Equal(mountAttr, info.MountAttr);
        Assert.Equal(msFlag, info.MsFlag);
    }

    [Fact]
    public void Every_option_is_one_catalog_entry_and_only_mount_flags_carry_bits()
    {
        Assert.Equal(OverlayOptions.All.Count, OverlayOptions.All.Select(o => o.Name).Distinct().Count());
        foreach (var o in OverlayOptions.All)
        {
            Assert.Same(o, OverlayOptions.Info(o.Name));
            bool mountFlag = o.Kind == OptionKind.MountFlag;
            Assert.Equal(mountFlag, o.MountAttr != 0);
            Assert.Equal(mountFlag, o.MsFlag != 0);
        }
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("redirect_dir")]
    [InlineData("redirect_dir=sometimes")]
    [InlineData("upperdir=/etc")]
    [InlineData("lowerdir+=/x")]
    [InlineData("workdir=/tmp")]
    [InlineData("volatile=yes")]
    public void Refuses_unknown_names_bad_values_and_layers(string option)
    {
        var e = Assert.Throws<OverlayException>(() => OverlayOptions.Parse(new[] { option }));
        Assert.Equal(ErrorIds.InvalidOption, e.ErrorId);
        Assert.Equal(OverlayErrorCategory.InvalidArgument, e.Category);
        Assert.False(string.IsNullOrEmpty(e.RecommendedAction));
    }

    [Theory]
    [InlineData("metacopy=on", "redirect_dir=off")]
    [InlineData("metacopy=on", "nfs_export=on")]
    [InlineData("noatime", "strictatime")]
    public void Refuses_conflicts(string a, string b)
    {
        var e = Assert.Throws<OverlayException>(() => OverlayOptions.Parse(new[] { a, b }));
        Assert.Equal(ErrorIds.ConflictingOptions, e.ErrorId);
    }

    [Fact]
    public void Empty_and_null_input_give_no_options()
    {
        Assert.Empty(OverlayOptions.Parse(null));
        Assert.Empty(OverlayOptions.Parse(new[] { "", " , " }));
    }

    [Theory]
    [InlineData("/srv/upper", "/srv/upper.work")]
    [InlineData("/srv/upper/", "/srv/upper.work")]
    public void The_default_work_dir_sits_beside_the_upper(string upper, string work)
    {
        Assert.Equal(work, OverlaySpec.DefaultWorkFor(upper));
    }

    [Theory]
    [InlineData("/a/b", "/a", "b")]
    [InlineData("/a/b/", "/a", "b")]
    [InlineData("/a", "/", "a")]
    [InlineData("rel", ".", "rel")]
    public void Splits_parent_and_name(string path, string parent, string name)
    {
        Assert.Equal((parent, name), OverlayMounter.SplitParent(path));
    }
}
