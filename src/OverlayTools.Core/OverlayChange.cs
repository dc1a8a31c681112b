namespace OverlayTools;

/// <summary>
/// One change an upper layer makes to the layers below it, as Get-OverlayChange emits it and
/// `docker diff` prints it ("C /etc"). Flat, so it survives Export-Clixml and remoting.
/// </summary>
public sealed class OverlayChange
{
    /// <summary>The kinds of change, as Kind holds them.</summary>
    public const string Added = "Added";

    /// <summary>The entry existed below and the upper layer holds a new version of it (or of its metadata).</summary>
    public const string Changed = "Changed";

    /// <summary>The entry existed below and the upper layer deletes it.</summary>
    public const string Deleted = "Deleted";

    /// <summary>Added, Changed or Deleted.</summary>
    public string Kind { get; init; } = "";

    /// <summary>The path as the container (the merged view) sees it, rooted at "/".</summary>
    public string Path { get; init; } = "";

    /// <summary>File, Directory, SymbolicLink, Fifo, Socket, CharacterDevice or BlockDevice (for Deleted: what was deleted).</summary>
    public string ItemType { get; init; } = "";

    /// <summary>Size in bytes of the entry as the merged view shows it (0 for directories and deletions).</summary>
    public long Size { get; init; }

    /// <summary>The layer directory that holds the change (the upper layer).</summary>
    public string Layer { get; init; } = "";

    /// <summary>True for a metadata-only copy (metacopy): the upper holds the metadata, a lower still holds the data.</summary>
    public bool MetadataOnly { get; init; }

    /// <summary>True for an opaque directory: nothing of the layers below shows through it.</summary>
    public bool Opaque { get; init; }

    /// <summary>For a renamed directory (redirect_dir) or a metadata-only copy stored under another name: the path below it comes from.</summary>
    public string? RenamedFrom { get; init; }

    /// <summary>
    /// The container whose upper layer this is (its name as the engine shows it): with Get-OverlayChange
    /// -Container, and with -Target for a container's own root mount (the name Get-OverlayMount gives
    /// it); null for other overlays and for -Upper.
    /// </summary>
    public string? Container { get; init; }

    /// <summary>The `docker diff` letter: A, C or D.</summary>
    public string Letter => Kind.Length > 0 ? Kind[..1] : "?";

    /// <inheritdoc/>
    public override string ToString() => Letter + " " + Path;
}
