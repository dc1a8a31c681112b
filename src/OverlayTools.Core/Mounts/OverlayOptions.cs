using System;
using System.Collections.Generic;
using System.Linq;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>How an option reaches the kernel.</summary>
public enum OptionKind
{
    /// <summary>An overlay file system option with a value (fsconfig SET_STRING).</summary>
    Value,
    /// <summary>An overlay file system flag without a value (fsconfig SET_FLAG).</summary>
    Flag,
    /// <summary>A per-mount flag such as nosuid (fsmount attributes / MS_* flags).</summary>
    MountFlag,
}

/// <summary>One option the module knows: its name, kind, allowed values and what it does.</summary>
public sealed record OverlayOptionInfo(string Name, OptionKind Kind, IReadOnlyList<string> Values, string Description)
{
    /// <summary>For a <see cref="OptionKind.MountFlag"/>: its MOUNT_ATTR_* bit (fsmount); 0 otherwise.</summary>
    internal uint MountAttr { get; init; }

    /// <summary>For a <see cref="OptionKind.MountFlag"/>: its MS_* bit (mount(2)); 0 otherwise.</summary>
    internal ulong MsFlag { get; init; }
}

/// <summary>A parsed, validated option: a known name and, for value options, an allowed value.</summary>
public readonly record struct OverlayOption(string Name, string? Value)
{
    /// <summary>name=value, or the bare name for flags.</summary>
    public override string ToString() => Value is null ? Name : Name + "=" + Value;
}

/// <summary>The catalog of -Option names and the parser that validates them.</summary>
public static class OverlayOptions
{
    private static readonly string[] s_onOff = ["on", "off"];

    /// <summary>Every option -Option accepts, in the order the help lists them.</summary>
    public static IReadOnlyList<OverlayOptionInfo> All { get; } =
    [
        new("redirect_dir", OptionKind.Value, ["on", "follow", "nofollow", "off"], "Rename directories across layers by storing a redirect xattr (on), or only follow existing ones."),
        new("index", OptionKind.Value, s_onOff, "Keep an index of copied-up files: hardlinks stay linked, and a reused upper is checked against its lowers."),
        new("metacopy", OptionKind.Value, s_onOff, "Copy up only metadata on chmod/chown; data follows on the first write."),
        new("xino", OptionKind.Value, ["on", "off", "auto"], "Make inode numbers unique across layers on different file systems."),
        new("uuid", OptionKind.Value, ["null", "off", "on", "auto"], "How the overlay's uuid is derived and whether origin file handles are stored."),
        new("nfs_export", OptionKind.Value, s_onOff, "Support exporting the overlay over NFS (needs index=on)."),
        new("verity", OptionKind.Value, ["on", "off", "require"], "Check fs-verity digests of metacopy files."),
        new("volatile", OptionKind.Flag, [], "Skip all syncs to the upper; the upper is unusable after a crash."),
        new("userxattr", OptionKind.Flag, [], "Use user.overlay.* xattrs instead of trusted.overlay.* (for user namespaces)."),
        new("default_permissions", OptionKind.Flag, [], "Check permissions like a normal file system instead of against the layers."),
        new("ro", OptionKind.MountFlag, [], "Mount read-only (same as -ReadOnly).") { MountAttr = Native.MOUNT_ATTR_RDONLY, MsFlag = Native.MS_RDONLY },
        new("nosuid", OptionKind.MountFlag, [], "Ignore setuid and setgid bits and file capabilities.") { MountAttr = Native.MOUNT_ATTR_NOSUID, MsFlag = Native.MS_NOSUID },
        new("nodev", OptionKind.MountFlag, [], "Do not allow access to device files.") { MountAttr = Native.MOUNT_ATTR_NODEV, MsFlag = Native.MS_NODEV },
        new("noexec", OptionKind.MountFlag, [], "Do not allow executing programs.") { MountAttr = Native.MOUNT_ATTR_NOEXEC, MsFlag = Native.MS_NOEXEC },
        new("noatime", OptionKind.MountFlag, [], "Do not update access times.") { MountAttr = Native.MOUNT_ATTR_NOATIME, MsFlag = Native.MS_NOATIME },
        new("nodiratime", OptionKind.MountFlag, [], "Do not update directory access times.") { MountAttr = Native.MOUNT_ATTR_NODIRATIME, MsFlag = Native.MS_NODIRATIME },
        new("strictatime", OptionKind.MountFlag, [], "Always update access times.") { MountAttr = Native.MOUNT_ATTR_STRICTATIME, MsFlag = Native.MS_STRICTATIME },
    ];

    private static readonly Dictionary<string, OverlayOptionInfo> s_byName = All.ToDictionary(o => o.Name, StringComparer.Ordinal);

    /// <summary>The catalog entry of a parsed option's name (what <see cref="Parse"/> returns only holds catalog names).</summary>
    public static OverlayOptionInfo Info(string name) => s_byName[name];

    private static readonly Dictionary<string, string> s_aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["read-only"] = "ro",
        ["readonly"] = "ro",
    };

    private static readonly HashSet<string> s_layerKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir", "source",
    };

    /// <summary>
    /// Parses -Option values. Each element is "name" or "name=value"; an element may also hold
    /// several comma-separated options (no option value contains a comma). Layer options are
    /// refused: layers are given with -Lower, -Upper, -Work and -DataLower only.
    /// </summary>
    public static IReadOnlyList<OverlayOption> Parse(IEnumerable<string>? values)
    {
        var result = new List<OverlayOption>();
        if (values is null)
        {
            return result;
        }
        foreach (var element in values)
        {
            if (element is null)
            {
                continue;
            }
            foreach (var raw in element.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                result.Add(ParseOne(raw));
            }
        }
        CheckConflicts(result);
        return result;
    }

    private static OverlayOption ParseOne(string raw)
    {
        int eq = raw.IndexOf('=', StringComparison.Ordinal);
        string name = (eq < 0 ? raw : raw[..eq]).Trim();
        string? value = eq < 0 ? null : raw[(eq + 1)..].Trim();
        if (s_layerKeys.Contains(name))
        {
            throw new OverlayException(ErrorIds.InvalidOption, OverlayErrorCategory.InvalidArgument,
                $"The option '{raw}' names a layer; layers are never passed as option text.", raw,
                "Give layers with -Lower, -DataLower, -Upper and -Work.");
        }
        if (s_aliases.TryGetValue(name, out var alias))
        {
            name = alias;
        }
        if (!s_byName.TryGetValue(name.ToLowerInvariant(), out var info))
        {
            throw new OverlayException(ErrorIds.InvalidOption, OverlayErrorCategory.InvalidArgument,
                $"'{name}' is not an overlay option OverlayTools knows.", raw,
                "Use one of: " + string.Join(", ", All.Select(o => o.Name)) + ".");
        }
        switch (info.Kind)
        {
            case OptionKind.Value:
                if (value is null || !info.Values.Contains(value.ToLowerInvariant()))
                {
                    throw new OverlayException(ErrorIds.InvalidOption, OverlayErrorCategory.InvalidArgument,
                        $"The option '{info.Name}' needs one of the values {string.Join(", ", info.Values)}; got '{value ?? "(none)"}'.", raw,
                        $"Write it as {info.Name}={info.Values[0]}.");
                }
                return new OverlayOption(info.Name, value.ToLowerInvariant());
            default:
                if (value is not null && !value.Equals("on", StringComparison.OrdinalIgnoreCase) && !value.Equals("true", StringComparison.OrdinalIgnoreCase))
                {
                    throw new OverlayException(ErrorIds.InvalidOption, OverlayErrorCategory.InvalidArgument,
                        $"The option '{info.Name}' is a flag and takes no value; got '{value}'.", raw,
                        $"Write it as {info.Name}.");
                }
                return new OverlayOption(info.Name, null);
        }
    }

    private static void CheckConflicts(List<OverlayOption> options)
    {
        string? Get(string name)
        {
            string? v = null;
            foreach (var o in options)
            {
                if (o.Name == name)
                {
                    v = o.Value ?? "on";
                }
            }
            return v;
        }
        var metacopy = Get("metacopy");
        var redirect = Get("redirect_dir");
        if (metacopy == "on" && redirect is "off" or "nofollow")
        {
            throw new OverlayException(ErrorIds.ConflictingOptions, OverlayErrorCategory.InvalidArgument,
                $"metacopy=on needs redirect_dir=on (or follow for a read-only mount); got redirect_dir={redirect}.", "metacopy",
                "Drop redirect_dir or set redirect_dir=on.");
        }
        if (metacopy == "on" && Get("nfs_export") == "on")
        {
            throw new OverlayException(ErrorIds.ConflictingOptions, OverlayErrorCategory.InvalidArgument,
                "metacopy=on and nfs_export=on cannot be used together.", "metacopy", "Choose one of them.");
        }
        if (Get("strictatime") is not null && Get("noatime") is not null)
        {
            throw new OverlayException(ErrorIds.ConflictingOptions, OverlayErrorCategory.InvalidArgument,
                "noatime and strictatime cannot be used together.", "noatime", "Choose one of them.");
        }
    }
}
