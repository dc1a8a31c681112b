namespace OverlayTools;

/// <summary>
/// One layer's part in a path of a merged view, as Resolve-OverlayPath emits it: which layer
/// supplies the path, and with -All every other layer that holds it and why it is hidden.
/// Flat, so it survives Export-Clixml and remoting.
/// </summary>
public sealed class OverlayPathInfo
{
    /// <summary>This layer's entry is what the merged view shows.</summary>
    public const string Supplies = "Supplies";
    /// <summary>A directory below the supplying one whose entries show through (directories merge).</summary>
    public const string Merged = "Merged";
    /// <summary>Holds the bytes of a metadata-only copy above it.</summary>
    public const string Data = "Data";
    /// <summary>This layer's entry is a whiteout: it deletes the path.</summary>
    public const string Whiteout = "Whiteout";
    /// <summary>Deleted by a whiteout in a layer above.</summary>
    public const string WhitedOutState = "WhitedOut";
    /// <summary>Hidden by an opaque directory in a layer above.</summary>
    public const string HiddenByOpaqueState = "HiddenByOpaque";
    /// <summary>Covered by another entry above (a file over a file, a file over a directory, a directory renamed into its place...).</summary>
    public const string Shadowed = "Shadowed";

    /// <summary>The path in the merged view.</summary>
    public string Path { get; init; } = "";

    /// <summary>The path inside the overlay, rooted at "/" (as a container sees it).</summary>
    public string OverlayPath { get; init; } = "";

    /// <summary>The layer directory.</summary>
    public string Layer { get; init; } = "";

    /// <summary>The real entry in that layer.</summary>
    public string LayerPath { get; init; } = "";

    /// <summary>
    /// The layer's place in the stack, top first from 0 as Get-OverlayLayer numbers it: the upper
    /// layer (when there is one), then the lower layers top first, then the data-only layers.
    /// </summary>
    public int Position { get; init; }

    /// <summary>Upper, Lower or Data.</summary>
    public string Role { get; init; } = "";

    /// <summary>Supplies, Merged, Data, Whiteout, WhitedOut, HiddenByOpaque or Shadowed.</summary>
    public string State { get; init; } = "";

    /// <summary>File, Directory, SymbolicLink, Fifo, Socket, CharacterDevice or BlockDevice.</summary>
    public string ItemType { get; init; } = "";

    /// <summary>Size in bytes of the layer's entry.</summary>
    public long Size { get; init; }

    /// <summary>True when this layer's entry takes part in what the merged view shows (Supplies, Merged or Data).</summary>
    public bool Visible { get; init; }

    /// <summary>True when a whiteout in a layer above deletes this entry.</summary>
    public bool WhitedOut { get; init; }

    /// <summary>True when an opaque directory in a layer above hides this entry.</summary>
    public bool HiddenByOpaque { get; init; }

    /// <summary>The layer whose entry hides this one, when it is hidden.</summary>
    public string? HiddenBy { get; init; }

    /// <summary>True for an opaque directory.</summary>
    public bool Opaque { get; init; }

    /// <summary>True for a metadata-only copy (metacopy): another layer holds its data.</summary>
    public bool MetadataOnly { get; init; }

    /// <summary>The redirect of a renamed directory or of a metadata-only copy: where the layers below are looked up instead.</summary>
    public string? RenamedFrom { get; init; }

    /// <summary>The overlay's mount point.</summary>
    public string Target { get; init; } = "";

    /// <inheritdoc/>
    public override string ToString() => LayerPath;
}
