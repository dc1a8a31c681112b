using System;
using System.Globalization;

namespace OverlayTools;

/// <summary>
/// One layer of an image, a container or a mounted overlay, as Get-OverlayLayer emits it (top
/// first). Flat, so it survives Export-Clixml and remoting. Path binds to Mount-Overlay's
/// -LayerPath and Role to -LayerRole by property name, so a stream of layers pipes into
/// Mount-Overlay; there is deliberately no Lower, Upper or Target property.
/// </summary>
public sealed class OverlayLayer
{
    /// <summary>0 for the top layer, counting down the stack.</summary>
    public int Position { get; init; }

    /// <summary>Upper (a container's or mount's writable layer), Init (Docker's init layer) or Lower.</summary>
    public string Role { get; init; } = "Lower";

    /// <summary>The layer's content dir, exactly as the engine's inspect shows it in UpperDir/LowerDir.</summary>
    public string Path { get; init; } = "";

    /// <summary>Digest of the layer's uncompressed content (RootFS.Layers in docker inspect).</summary>
    public string? DiffId { get; init; }

    /// <summary>OCI chain id of the stack up to this layer.</summary>
    public string? ChainId { get; init; }

    /// <summary>The layer's directory name in the driver dir (Docker cache-id or mount-id, Podman layer id).</summary>
    public string? CacheId { get; init; }

    /// <summary>Size in bytes, as the engine reports it (docker/podman history; docker ps --size for a container's layers); null where it cannot be measured.</summary>
    public long? Size { get; init; }

    /// <summary>The build step that created the layer (image history).</summary>
    public string? CreatedBy { get; init; }

    /// <summary>When the layer was created (image history), or the container for its own layers.</summary>
    public DateTime? Created { get; init; }

    /// <summary>The image, by the name the engine shows (repo:tag), or its short id when untagged.</summary>
    public string? Image { get; init; }

    /// <summary>The image id as the engine's inspect shows it.</summary>
    public string? ImageId { get; init; }

    /// <summary>The container's name, for a container's layers.</summary>
    public string? Container { get; init; }

    /// <summary>The container's id.</summary>
    public string? ContainerId { get; init; }

    /// <summary>The containerd namespace of the image or container (moby, k8s.io...); null for other stores.</summary>
    public string? Namespace { get; init; }

    /// <summary>The store the layer belongs to: overlay2 (Docker), podman or containerd; null for a directory no store knows.</summary>
    public string? Backend { get; init; }

    /// <summary>The store's data root.</summary>
    public string? DataRoot { get; init; }

    /// <summary>The overlay work dir beside a container's (or mount's) upper.</summary>
    public string? Work { get; init; }

    /// <summary>Where the engine mounts the container's merged view (set on the upper only).</summary>
    public string? Merged { get; init; }

    /// <inheritdoc/>
    public override string ToString() => Path;

    /// <summary>
    /// A size the way docker shows it (decimal units, three significant digits): 3B, 3.22kB,
    /// 1.98MB. Empty for null.
    /// </summary>
    public static string FormatSize(long? bytes)
    {
        if (bytes is null)
        {
            return "";
        }
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
        double size = bytes.Value;
        int unit = 0;
        while (size >= 1000 && unit < units.Length - 1)
        {
            size /= 1000;
            unit++;
        }
        // Three significant digits, trailing zeros dropped (Go's %.4g as docker's units.HumanSize).
        string text = size.ToString(size >= 100 ? "0" : size >= 10 ? "0.#" : "0.##", CultureInfo.InvariantCulture);
        return text + units[unit];
    }
}
