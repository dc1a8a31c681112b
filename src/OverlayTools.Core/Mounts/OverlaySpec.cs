using System.Collections.Generic;

namespace OverlayTools.Mounts;

/// <summary>Which kernel interface mounts the overlay.</summary>
public enum MountApi
{
    /// <summary>The new mount API, falling back to mount(2) where the kernel lacks a piece.</summary>
    Auto,
    /// <summary>fsopen/fsconfig/fsmount/move_mount only.</summary>
    NewApi,
    /// <summary>mount(2) with an escaped option string only, and the in-use check from mountinfo (for tests and old kernels).</summary>
    Legacy,
    /// <summary>The new mount API with layers passed as path strings, as on kernels 6.8 to 6.12 (for tests).</summary>
    NewApiStrings,
}

/// <summary>
/// Everything needed to mount one overlay. Paths are absolute and already resolved by the caller;
/// the Core takes them literally (they never become option syntax).
/// </summary>
public sealed class OverlaySpec
{
    /// <summary>Lower layers, highest priority first, as the kernel's lowerdir.</summary>
    public IReadOnlyList<string> Lower { get; init; } = [];

    /// <summary>Data-only lower layers (datadir+), reachable only through metacopy redirects.</summary>
    public IReadOnlyList<string> DataLower { get; init; } = [];

    /// <summary>The upper layer; null mounts read-only.</summary>
    public string? Upper { get; init; }

    /// <summary>The work dir; null with an upper means the default work dir beside the upper.</summary>
    public string? Work { get; init; }

    /// <summary>Where to mount.</summary>
    public required string Target { get; init; }

    /// <summary>Validated options.</summary>
    public IReadOnlyList<OverlayOption> Options { get; init; } = [];

    /// <summary>Mount read-only even with an upper.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Create a missing target (and its missing parents); removed again if the mount fails.</summary>
    public bool CreateTarget { get; init; }

    /// <summary>Which kernel interface to use.</summary>
    public MountApi Api { get; init; } = MountApi.Auto;

    /// <summary>The kernel's limit on stacked lower layers (OVL_MAX_STACK).</summary>
    public const int MaxLayers = 500;

    /// <summary>The work dir used when an upper is given without one: a sibling named "&lt;upper&gt;.work".</summary>
    public static string DefaultWorkFor(string upper)
    {
        var trimmed = upper.Length > 1 ? upper.TrimEnd('/') : upper;
        return trimmed + ".work";
    }
}
