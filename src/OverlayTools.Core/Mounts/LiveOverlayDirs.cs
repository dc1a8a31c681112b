using System.Collections.Generic;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// The upper and work dirs of the overlays mounted in this mount namespace, without reading the
/// whole mount table: one listmount(2) per call, and a statmount(2) only for a mount not seen
/// before. The ids listmount gives are never reused, and an overlay's upper and work dir cannot
/// change while it is mounted, so what was read for an id stays true for as long as the id is
/// listed. Mount-Overlay's pre-check asks this on every mount of a work dir that was used
/// before; mountinfo (which the kernel formats anew, every line, on each read) is left for
/// naming a user once one is found.
/// </summary>
internal static class LiveOverlayDirs
{
    private static readonly object Gate = new();

    /// <summary>Per listed mount id: null for a mount that is no overlay, else the overlay's upper and work dir (null for a read-only one).</summary>
    private static Dictionary<ulong, (string? Upper, string? Work)?> _known = [];

    /// <summary>
    /// The upper and work dir of every read-write overlay in this mount namespace; null when the
    /// kernel cannot tell this way (listmount, statmount or its mount options are missing, before
    /// Linux 6.8 or so), and the caller must read mountinfo.
    /// </summary>
    internal static List<(string? Upper, string? Work)>? Read()
    {
        var ids = FileSystem.ListMounts(out _);
        if (ids is null)
        {
            return null;
        }
        lock (Gate)
        {
            var next = new Dictionary<ulong, (string? Upper, string? Work)?>(ids.Count);
            var result = new List<(string?, string?)>();
            foreach (ulong id in ids)
            {
                if (!_known.TryGetValue(id, out var dirs))
                {
                    var read = FileSystem.StatMountOverlayOptions(id, out int errno);
                    if (read is null)
                    {
                        if (errno == Errno.ENOENT)
                        {
                            continue; // dismounted since listmount: not in use any more
                        }
                        return null;
                    }
                    if (read.Value.IsOverlay)
                    {
                        var layers = OverlayOptionCodec.DecodeSuperOptions(read.Value.Options!);
                        dirs = (layers.Upper, layers.Work);
                    }
                }
                next[id] = dirs;
                if (dirs is { } d && (d.Upper is not null || d.Work is not null))
                {
                    result.Add(d);
                }
            }
            _known = next;
            return result;
        }
    }
}
