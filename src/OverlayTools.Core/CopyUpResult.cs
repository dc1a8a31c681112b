using System;

namespace OverlayTools;

/// <summary>
/// What Invoke-OverlayCopyUp did to one item. Flat, so it survives Export-Clixml and remoting;
/// Path pipes on into Resolve-OverlayPath (-LiteralPath).
/// </summary>
public sealed class CopyUpResult
{
    /// <summary>The kernel copied the item (data and metadata) into the upper layer.</summary>
    public const string CopiedUp = "CopiedUp";
    /// <summary>The item was in the upper layer already; nothing was done.</summary>
    public const string AlreadyUp = "AlreadyUp";
    /// <summary>Only the metadata was copied (metacopy); the data stays in the lower layer until the first write.</summary>
    public const string MetadataOnly = "MetadataOnly";

    /// <summary>The item in the merged view.</summary>
    public string Path { get; init; } = "";

    /// <summary>Where the item now lives in the upper layer.</summary>
    public string UpperPath { get; init; } = "";

    /// <summary>The layer directory the item came from (the upper layer itself for AlreadyUp).</summary>
    public string SourceLayer { get; init; } = "";

    /// <summary>File, Directory, SymbolicLink, Fifo, Socket, CharacterDevice or BlockDevice.</summary>
    public string ItemType { get; init; } = "";

    /// <summary>Bytes of data copied (0 for directories, links, special files, metadata-only copies and AlreadyUp).</summary>
    public long Bytes { get; init; }

    /// <summary>CopiedUp, AlreadyUp or MetadataOnly.</summary>
    public string Status { get; init; } = "";

    /// <summary>How long the kernel took.</summary>
    public TimeSpan Duration { get; init; }

    /// <inheritdoc/>
    public override string ToString() => Path;
}
