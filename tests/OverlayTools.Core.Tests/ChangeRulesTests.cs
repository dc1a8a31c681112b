using System;
using System.Collections.Generic;
using System.Linq;
using OverlayTools.Changes;
using OverlayTools.Interop;
using OverlayTools.Layers;
using Xunit;

namespace OverlayTools.Core.Tests;

public class ChangeRulesTests
{
    // Facts: InUpper, UpperIsWhiteout, InMerged, InImage, SameEntryBelow.
    [Theory]
    [InlineData(true, false, false, false, false, "Added")]      // new in the upper
    [InlineData(true, false, true, true, false, "Changed")]      // upper entry over a lower one (also a bare copy-up)
    [InlineData(true, true, false, true, false, "Deleted")]      // whiteout over a lower entry
    [InlineData(true, true, false, false, false, null)]          // whiteout over nothing: no change
    [InlineData(false, false, true, false, false, "Added")]      // shown through a renamed directory, new at this path
    [InlineData(false, false, true, true, false, "Changed")]     // shown through a renamed directory over another entry
    [InlineData(false, false, true, true, true, null)]           // the very entry the lowers have there
    [InlineData(false, false, false, true, false, "Deleted")]    // hidden by an opaque or renamed directory
    [InlineData(false, false, false, false, false, null)]
    public void Classifies_each_name(bool inUpper, bool whiteout, bool inMerged, bool inImage, bool same, string? expected)
    {
        Assert.Equal(expected, ChangeRules.Classify(new NameFacts(inUpper, whiteout, inMerged, inImage, same)));
    }

    private static EntryStat Stat(uint mode, long size = 4096, long sec = 100, uint nsec = 5, uint uid = 0, uint gid = 0, uint rdevMajor = 0, uint rdevMinor = 0)
        => new() { Mode = mode, Size = size, MtimeSec = sec, MtimeNsec = nsec, Uid = uid, Gid = gid, RdevMajor = rdevMajor, RdevMinor = rdevMinor, AtimeSec = 1 };

    [Fact]
    public void Docker_sees_no_change_in_an_item_that_was_only_copied_up()
    {
        var lower = Stat(0x81A4, 10);
        var copied = lower with { AtimeSec = 999, Nlink = 2, Ino = 42 };   // ctime, atime, links, inode differ after copy-up
        Assert.False(ChangeRules.DockerStatDifferent(lower, copied));
        Assert.False(ChangeRules.ListsChangedEntry(ChangeStyle.Docker, lower, copied, capabilityDiffers: false));
        Assert.True(ChangeRules.ListsChangedEntry(ChangeStyle.Docker, lower, copied, capabilityDiffers: true));
        Assert.True(ChangeRules.ListsChangedEntry(ChangeStyle.Podman, lower, copied, capabilityDiffers: false));
    }

    [Theory]
    [InlineData(0x8180u, 10L, 100L, 5u, 0u, true)]    // chmod
    [InlineData(0x81A4u, 11L, 100L, 5u, 0u, true)]    // appended
    [InlineData(0x81A4u, 10L, 101L, 5u, 0u, true)]    // touched
    [InlineData(0x81A4u, 10L, 100L, 0u, 0u, false)]   // a whole-second time matches a precise one (tar round trips)
    [InlineData(0x81A4u, 10L, 100L, 5u, 1000u, true)] // chown
    [InlineData(0x41EDu, 10L, 100L, 5u, 0u, true)]    // a file became a directory
    public void Docker_compares_type_mode_owner_size_and_time(uint mode, long size, long sec, uint nsec, uint uid, bool differs)
    {
        Assert.Equal(differs, ChangeRules.DockerStatDifferent(Stat(0x81A4, 10), Stat(mode, size, sec, nsec, uid)));
    }

    [Fact]
    public void Docker_ignores_size_and_time_of_directories()
    {
        Assert.False(ChangeRules.DockerStatDifferent(Stat(0x41ED, 4096, 100), Stat(0x41ED, 8192, 200)));
        Assert.True(ChangeRules.DockerStatDifferent(Stat(0x41ED), Stat(0x41C0)));
        Assert.False(ChangeRules.ListsDirectoryNow(ChangeStyle.Docker, OverlayChange.Changed, opaque: true, renamed: false, Stat(0x41ED, 4096, 200), Stat(0x41ED)));
        Assert.True(ChangeRules.ListsDirectoryNow(ChangeStyle.Docker, OverlayChange.Added, false, false, Stat(0x41ED), Stat(0x41ED)));
    }

    [Theory]
    [InlineData(0x41ED, 4096L, 100L, 5u, false)]   // only copied up: same mode, size and time
    [InlineData(0x41ED, 4096L, 100L, 0u, false)]
    [InlineData(0x41C0, 4096L, 100L, 5u, true)]    // chmod
    [InlineData(0x41ED, 8192L, 100L, 5u, true)]    // grew
    [InlineData(0x41ED, 4096L, 101L, 5u, true)]    // an entry was added or removed
    [InlineData(0x41ED, 4096L, 100L, 7u, true)]
    public void Podman_lists_a_changed_directory_only_when_its_own_metadata_differs(uint mode, long size, long sec, uint nsec, bool listed)
    {
        Assert.Equal(listed, ChangeRules.ListsDirectoryNow(ChangeStyle.Podman, OverlayChange.Changed, false, false, Stat(mode, size, sec, nsec), Stat(0x41ED)));
    }

    [Fact]
    public void Podman_always_lists_added_opaque_and_renamed_directories_and_reports_opaque_ones_deleted()
    {
        Assert.True(ChangeRules.ListsDirectoryNow(ChangeStyle.Podman, OverlayChange.Added, false, false, Stat(0x41ED), Stat(0x41ED)));
        Assert.True(ChangeRules.ListsDirectoryNow(ChangeStyle.Podman, OverlayChange.Changed, true, false, Stat(0x41ED), Stat(0x41ED)));
        Assert.True(ChangeRules.ListsDirectoryNow(ChangeStyle.Podman, OverlayChange.Changed, false, true, Stat(0x41ED), Stat(0x41ED)));
        Assert.True(ChangeRules.ListsOpaqueDirectoryAsDeleted(ChangeStyle.Podman, opaque: true, existsBelow: true));
        Assert.False(ChangeRules.ListsOpaqueDirectoryAsDeleted(ChangeStyle.Podman, opaque: true, existsBelow: false));
        Assert.False(ChangeRules.ListsOpaqueDirectoryAsDeleted(ChangeStyle.Docker, opaque: true, existsBelow: true));
    }

    [Fact]
    public void Parents_are_listed_for_every_change_under_Docker_for_additions_and_deletions_under_Podman()
    {
        Assert.True(ChangeRules.ListsParentsOf(ChangeStyle.Docker, OverlayChange.Changed));
        Assert.True(ChangeRules.ListsParentsOf(ChangeStyle.Docker, OverlayChange.Added));
        Assert.True(ChangeRules.ListsParentsOf(ChangeStyle.Podman, OverlayChange.Added));
        Assert.True(ChangeRules.ListsParentsOf(ChangeStyle.Podman, OverlayChange.Deleted));
        Assert.False(ChangeRules.ListsParentsOf(ChangeStyle.Podman, OverlayChange.Changed));
    }

    [Fact]
    public void Podman_hides_the_paths_it_manages_itself()
    {
        var hidden = ChangeRules.DefaultHiddenPaths(ChangeStyle.Podman);
        foreach (var p in new[] { "/etc/mtab", "/run/.containerenv", "/run", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev", "/proc", "/sys", "/run/secrets" })
        {
            Assert.Contains(p, hidden);
        }
        Assert.Empty(ChangeRules.DefaultHiddenPaths(ChangeStyle.Docker));
    }

    [Theory]
    [InlineData("", "etc", "/etc")]
    [InlineData("/etc", "passwd", "/etc/passwd")]
    [InlineData("/a b", "c:d,e=f\\g", "/a b/c:d,e=f\\g")]
    public void Joins_paths_rooted_at_slash(string dir, string name, string expected)
    {
        Assert.Equal(expected, ChangeRules.ChildPath(dir, name));
    }

    [Theory]
    [InlineData("/data", "moved", "/data/moved")]      // relative redirect: a sibling name
    [InlineData("", "old", "/old")]
    [InlineData("/x", "/var/cache", "/var/cache")]      // absolute redirect
    [InlineData("/x", null, null)]
    public void Resolves_redirects_to_paths(string parent, string? redirect, string? expected)
    {
        Assert.Equal(expected, ChangeRules.RenamedFrom(parent, redirect));
    }

    [Fact]
    public void Orders_paths_parents_first_component_by_component()
    {
        var paths = new List<string> { "/a-b", "/a/b", "/a", "/a.txt", "/b", "/a/b/c", "/a/a" };
        paths.Sort(ChangeRules.ComparePaths);
        Assert.Equal(new[] { "/a", "/a/a", "/a/b", "/a/b/c", "/a-b", "/a.txt", "/b" }, paths);
    }

    [Theory]
    [InlineData("old", "old")]
    [InlineData("/abs/path", "/abs/path")]
    [InlineData("a/b", null)]          // relative redirects are one name
    [InlineData("/a/../etc", null)]    // no dot-dot escapes
    [InlineData("", null)]
    public void Accepts_only_well_formed_redirects(string value, string? expected)
    {
        Assert.Equal(expected, LayerSet.DecodeRedirect(System.Text.Encoding.UTF8.GetBytes(value)));
    }

    [Fact]
    public void Reads_the_opaque_markers()
    {
        Assert.True(LayerSet.IsY("y"u8.ToArray()));
        Assert.False(LayerSet.IsY("x"u8.ToArray()));
        Assert.True(LayerSet.IsX("x"u8.ToArray()));
        Assert.False(LayerSet.IsX(null));
        Assert.False(LayerSet.IsY("yes"u8.ToArray()));
    }

    [Theory]
    [InlineData(0x8000u, "File")]
    [InlineData(0x4000u, "Directory")]
    [InlineData(0xA000u, "SymbolicLink")]
    [InlineData(0x1000u, "Fifo")]
    [InlineData(0xC000u, "Socket")]
    [InlineData(0x2000u, "CharacterDevice")]
    [InlineData(0x6000u, "BlockDevice")]
    public void Names_file_types(uint type, string expected)
    {
        Assert.Equal(expected, EntryStat.TypeName(type));
    }

    [Fact]
    public void Prints_changes_like_docker_diff()
    {
        Assert.Equal("C /etc", new OverlayChange { Kind = OverlayChange.Changed, Path = "/etc" }.ToString());
        Assert.Equal("A /new", new OverlayChange { Kind = OverlayChange.Added, Path = "/new" }.ToString());
        Assert.Equal("D /gone", new OverlayChange { Kind = OverlayChange.Deleted, Path = "/gone" }.ToString());
    }
}
