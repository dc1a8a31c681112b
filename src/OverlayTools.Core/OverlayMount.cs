using System;
using System.Collections.Generic;
using System.Linq;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// One mounted overlay, as Get-OverlayMount and Mount-Overlay -PassThru emit it. Flat (strings,
/// string arrays, numbers) so it survives Export-Clixml and remoting; property names match the
/// parameters of Mount-Overlay and Dismount-Overlay so it pipes into them by property name.
/// </summary>
public sealed class OverlayMount
{
    /// <summary>Where the overlay is mounted (the merged view).</summary>
    public string Target { get; init; } = "";

    /// <summary>Lower layers, highest priority first. The module's own empty layer is left out.</summary>
    public string[] Lower { get; init; } = [];

    /// <summary>Data-only lower layers.</summary>
    public string[] DataLower { get; init; } = [];

    /// <summary>The upper layer; null for a read-only overlay.</summary>
    public string? Upper { get; init; }

    /// <summary>The work dir; null for a read-only overlay.</summary>
    public string? Work { get; init; }

    /// <summary>Overlay options other than the layers (redirect_dir=on, index=off...).</summary>
    public string[] Options { get; init; } = [];

    /// <summary>Per-mount options (rw, nosuid, relatime...).</summary>
    public string[] MountOptions { get; init; } = [];

    /// <summary>True when the mount or its super block is read-only.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>The kernel's mount id.</summary>
    public int MountId { get; init; }

    /// <summary>The parent mount's id.</summary>
    public int ParentId { get; init; }

    /// <summary>The mount source ("overlay" for mounts made by this module).</summary>
    public string Source { get; init; } = "";

    /// <summary>The process whose mount namespace was read; null for the current process.</summary>
    public int? ProcessId { get; init; }

    /// <summary>True when the module stacked its own empty layer beneath a single lower.</summary>
    public bool HasModuleEmptyLower { get; init; }

    /// <summary>The layer store whose layers this overlay stacks (overlay2, podman, containerd); null when none is known.</summary>
    public string? Backend { get; internal set; }

    /// <summary>The id of the container whose root file system this is, when a store says so.</summary>
    public string? ContainerId { get; internal set; }

    /// <summary>The name of that container (its first name, or its short id).</summary>
    public string? Container { get; internal set; }

    /// <summary>The image the container was created from, when the store records it.</summary>
    public string? Image { get; internal set; }

    /// <inheritdoc/>
    public override string ToString() => Target;

    /// <summary>Builds the object from a parsed mountinfo entry of an overlay.</summary>
    public static OverlayMount FromEntry(MountInfoEntry entry, int? processId = null)
    {
        var layers = OverlayOptionCodec.DecodeSuperOptions(entry.RawSuperOptions);
        var lower = layers.Lower.ToList();
        bool hasEmpty = lower.Count > 1 && string.Equals(lower[^1], ModuleEmptyDir.DirPath, StringComparison.Ordinal);
        if (hasEmpty)
        {
            lower.RemoveAt(lower.Count - 1);
        }
        var mountOptions = entry.MountOptions.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var options = layers.Options.Where(o => o is not ("rw" or "ro")).ToArray();
        bool readOnly = mountOptions.Contains("ro") || layers.Options.Contains("ro");
        return new OverlayMount
        {
            Target = entry.MountPoint,
            Lower = lower.ToArray(),
            DataLower = layers.DataLower.ToArray(),
            Upper = layers.Upper,
            Work = layers.Work,
            Options = options,
            MountOptions = mountOptions,
            ReadOnly = readOnly,
            MountId = entry.MountId,
            ParentId = entry.ParentId,
            Source = entry.Source,
            ProcessId = processId,
            HasModuleEmptyLower = hasEmpty,
        };
    }

    /// <summary>All overlays in a process's mount namespace (this process's by default), in mount order.</summary>
    public static IEnumerable<OverlayMount> ReadAll(int? processId = null)
        => MountInfo.Read(processId, "overlay").Select(e => FromEntry(e, processId));
}
