using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// An overlay mounted in this mount namespace: its upper and work dir as named in its options,
/// and what they are (statx, following links; null where that failed, say for a path renamed
/// since or given relative to mount(8)'s directory).
/// </summary>
internal sealed record LiveOverlay(ulong Id, string? Upper, string? Work, FileStatus? UpperStatus, FileStatus? WorkStatus, string? KnownMountPoint = null)
{
    /// <summary>Where it is mounted: from the mount table it was read from, else asked of statmount(2) by its unique id.</summary>
    internal string MountPoint => KnownMountPoint ?? FileSystem.StatMount(Id, out _, strings: true)?.MountPoint ?? $"(mount id {Id}, dismounted meanwhile)";

    private (bool Done, FsLocation? Upper, FsLocation? Work) _locations;

    /// <summary>Where its upper and work dir are within their file system (looked up once, by the names in its options).</summary>
    internal (FsLocation? Upper, FsLocation? Work) Locations(IReadOnlyDictionary<int, MountInfoEntry> mounts)
    {
        if (!_locations.Done)
        {
            _locations = (true, Locate(Upper, UpperStatus, mounts), Locate(Work, WorkStatus, mounts));
        }
        return (_locations.Upper, _locations.Work);
    }

    private static FsLocation? Locate(string? dir, FileStatus? status, IReadOnlyDictionary<int, MountInfoEntry> mounts)
    {
        if (dir is null || status is null)
        {
            return null;
        }
        using var fd = FileSystem.TryOpen(dir, Native.O_PATH, out _);
        if (fd is null || FileSystem.TryStatAt(fd.Value, "", follow: false, out _) is not { } now || !now.SameFile(status.Value))
        {
            return null;
        }
        return FileSystem.TryReadLink(fd.ProcPath, out _) is { } real ? FsLocation.Of(real, now, mounts) : null;
    }

    /// <summary>
    /// statx of an overlay's dir by the name its options give; null for a relative name (mount(8)
    /// passes what it was given, relative to a directory that is not known here).
    /// </summary>
    internal static FileStatus? StatDir(string? dir) => dir is null || !dir.StartsWith('/') ? null : FileSystem.TryStatFollow(dir, out _);
}

/// <summary>
/// The upper and work dirs of the overlays mounted in this mount namespace, without reading the
/// whole mount table: one listmount(2) per call, and a statmount(2) only for a mount not seen
/// before. The ids listmount gives are never reused, and an overlay's upper and work dir cannot
/// change while it is mounted, so what was read for an id stays true for as long as the id is
/// listed. Mount-Overlay's pre-check asks this on every mount with an upper; mountinfo (which
/// the kernel formats anew, every line, on each read) is read only where the kernel lacks
/// those calls.
/// </summary>
internal static class LiveOverlayDirs
{
    private static readonly object Gate = new();

    /// <summary>Per listed mount id: null for a mount that is no overlay or has no upper, else the overlay.</summary>
    private static Dictionary<ulong, LiveOverlay?> _known = [];

    /// <summary>
    /// Every read-write overlay in this mount namespace; read from mountinfo where the kernel
    /// cannot tell this way (listmount, statmount or its mount options are missing, before Linux
    /// 6.8 or so). What an overlay's dirs are is looked up once, when its id is first seen: an
    /// overlay holds its upper and work dir, so they stay those directories even if renamed.
    /// With <paramref name="mountTableOnly"/>, read from mountinfo as on such a kernel.
    /// </summary>
    internal static List<LiveOverlay> Read(bool mountTableOnly = false)
    {
        var ids = mountTableOnly ? null : FileSystem.ListMounts(out _);
        if (ids is null)
        {
            return FromMountInfo();
        }
        lock (Gate)
        {
            var next = new Dictionary<ulong, LiveOverlay?>(ids.Count);
            var result = new List<LiveOverlay>();
            foreach (ulong id in ids)
            {
                if (!_known.TryGetValue(id, out var overlay))
                {
                    var read = FileSystem.StatMountOverlayOptions(id, out int errno);
                    if (read is null)
                    {
                        if (errno == Errno.ENOENT)
                        {
                            continue; // dismounted since listmount: not in use any more
                        }
                        return FromMountInfo();
                    }
                    if (read.Value.IsOverlay && OverlayOptionCodec.DecodeSuperOptions(read.Value.Options!) is { } layers
                        && (layers.Upper is not null || layers.Work is not null))
                    {
                        overlay = new LiveOverlay(id, layers.Upper, layers.Work, LiveOverlay.StatDir(layers.Upper), LiveOverlay.StatDir(layers.Work));
                    }
                }
                next[id] = overlay;
                if (overlay is not null)
                {
                    result.Add(overlay);
                }
            }
            _known = next;
            return result;
        }
    }

    /// <summary>The same from this namespace's mountinfo, read whole (kernels without listmount or statmount's mount options).</summary>
    private static List<LiveOverlay> FromMountInfo()
    {
        try
        {
            return OverlayMount.ReadAll(null).Where(m => m.Upper is not null || m.Work is not null)
                .Select(m => new LiveOverlay((ulong)m.MountId, m.Upper, m.Work, LiveOverlay.StatDir(m.Upper), LiveOverlay.StatDir(m.Work), m.Target))
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
