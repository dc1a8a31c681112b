using System;
using System.Collections.Generic;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>One line of /proc/&lt;pid&gt;/mountinfo, unescaped. SuperOptions stays raw for the overlay decoder.</summary>
public sealed class MountInfoEntry
{
    /// <summary>Unique id of the mount.</summary>
    public int MountId { get; init; }
    /// <summary>Id of the parent mount.</summary>
    public int ParentId { get; init; }
    /// <summary>st_dev major of files in this file system.</summary>
    public uint Major { get; init; }
    /// <summary>st_dev minor of files in this file system.</summary>
    public uint Minor { get; init; }
    /// <summary>The directory of the file system that forms the mount's root.</summary>
    public string Root { get; init; } = "";
    /// <summary>Where it is mounted, relative to the reading process's root.</summary>
    public string MountPoint { get; init; } = "";
    /// <summary>Per-mount options (rw, nosuid, relatime...).</summary>
    public string MountOptions { get; init; } = "";
    /// <summary>Optional fields (shared:N, master:N...).</summary>
    public IReadOnlyList<string> OptionalFields { get; init; } = [];
    /// <summary>File system type, such as overlay.</summary>
    public string FsType { get; init; } = "";
    /// <summary>Mount source.</summary>
    public string Source { get; init; } = "";
    /// <summary>Super block options, still escaped as the kernel printed them.</summary>
    public byte[] RawSuperOptions { get; init; } = [];
    /// <summary>Super block options as text (octal escapes kept).</summary>
    public string SuperOptions => Encoding.UTF8.GetString(RawSuperOptions);
}

/// <summary>Parser for /proc/&lt;pid&gt;/mountinfo (proc(5)). Never throws on malformed lines: it skips them.</summary>
public static class MountInfo
{
    /// <summary>The mountinfo file of a process, or of this one.</summary>
    public static string PathFor(int? processId) => processId is null ? "/proc/self/mountinfo" : $"/proc/{processId}/mountinfo";

    /// <summary>Reads and parses a process's mountinfo; only entries of <paramref name="fsType"/> when given.</summary>
    public static List<MountInfoEntry> Read(int? processId = null, string? fsType = null)
    {
        // Through open(2) and read(2) (ProcFs.ReadAll): a FileStream would take a flock on it.
        return ProcFs.ReadAll(PathFor(processId), bytes => Parse(bytes, fsType));
    }

    /// <summary>
    /// The line of one mount in this process's mount table, parsed alone; null when the table does
    /// not list it. Call it only while a descriptor holds that mount: the kernel frees a mount's id
    /// only when the mount's last reference goes, and hands it out again at once, so only then is
    /// the line with this id that mount's, and not that of another mount that got the id since.
    /// </summary>
    public static MountInfoEntry? ReadMount(ulong mountId)
        => ProcFs.ReadAll(PathFor(null), bytes => FindLine(bytes, mountId));

    /// <summary>Parses only the line of mount <paramref name="mountId"/> of a mountinfo text; null when there is none (or it is malformed).</summary>
    public static MountInfoEntry? FindLine(ReadOnlySpan<byte> text, ulong mountId)
    {
        ReadOnlySpan<byte> key = Encoding.ASCII.GetBytes(mountId.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ");
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? ReadOnlySpan<byte>.Empty : text[(nl + 1)..];
            if (line.StartsWith(key))
            {
                return TryParseLine(line, out var entry) ? entry : null;
            }
        }
        return null;
    }

    /// <summary>Parses a whole mountinfo text.</summary>
    public static List<MountInfoEntry> Parse(ReadOnlySpan<byte> text, string? fsType = null)
    {
        var result = new List<MountInfoEntry>();
        byte[]? fsTypeBytes = fsType is null ? null : Encoding.UTF8.GetBytes(fsType);
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? ReadOnlySpan<byte>.Empty : text[(nl + 1)..];
            if (fsTypeBytes is not null && !HasFsType(line, fsTypeBytes))
            {
                continue;
            }
            if (TryParseLine(line, out var entry))
            {
                result.Add(entry);
            }
        }
        return result;
    }

    private static bool HasFsType(ReadOnlySpan<byte> line, byte[] fsType)
    {
        int sep = line.IndexOf(" - "u8);
        if (sep < 0)
        {
            return false;
        }
        var rest = line[(sep + 3)..];
        return rest.StartsWith(fsType) && rest.Length > fsType.Length && rest[fsType.Length] == ' ';
    }

    /// <summary>Parses one line; false for anything malformed.</summary>
    public static bool TryParseLine(ReadOnlySpan<byte> line, out MountInfoEntry entry)
    {
        entry = null!;
        // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
        int sep = line.IndexOf(" - "u8);
        if (sep < 0)
        {
            return false;
        }
        var left = line[..sep];
        var right = line[(sep + 3)..];

        var fields = new List<Range>(8);
        int start = 0;
        for (int i = 0; i <= left.Length; i++)
        {
            if (i == left.Length || left[i] == ' ')
            {
                if (i > start)
                {
                    fields.Add(new Range(start, i));
                }
                start = i + 1;
            }
        }
        if (fields.Count < 6)
        {
            return false;
        }
        if (!TryInt(left[fields[0]], out int mountId) || !TryInt(left[fields[1]], out int parentId))
        {
            return false;
        }
        var devField = left[fields[2]];
        int colon = devField.IndexOf((byte)':');
        if (colon < 0 || !TryUInt(devField[..colon], out uint major) || !TryUInt(devField[(colon + 1)..], out uint minor))
        {
            return false;
        }
        var optional = new List<string>();
        for (int i = 6; i < fields.Count; i++)
        {
            optional.Add(Encoding.UTF8.GetString(left[fields[i]]));
        }

        // Right side: fstype source superoptions (source may be empty on some file systems).
        int s1 = right.IndexOf((byte)' ');
        if (s1 <= 0)
        {
            return false;
        }
        var fs = right[..s1];
        var afterFs = right[(s1 + 1)..];
        int s2 = afterFs.IndexOf((byte)' ');
        if (s2 < 0)
        {
            return false;
        }
        var source = afterFs[..s2];
        var super = afterFs[(s2 + 1)..];

        entry = new MountInfoEntry
        {
            MountId = mountId,
            ParentId = parentId,
            Major = major,
            Minor = minor,
            Root = OverlayOptionCodec.UnescapeMountInfo(left[fields[3]]),
            MountPoint = OverlayOptionCodec.UnescapeMountInfo(left[fields[4]]),
            MountOptions = Encoding.UTF8.GetString(left[fields[5]]),
            OptionalFields = optional,
            FsType = OverlayOptionCodec.UnescapeMountInfo(fs),
            Source = OverlayOptionCodec.UnescapeMountInfo(source),
            RawSuperOptions = super.ToArray(),
        };
        return true;
    }

    private static bool TryInt(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 9)
        {
            return false;
        }
        foreach (byte b in s)
        {
            if (b < '0' || b > '9')
            {
                return false;
            }
            value = value * 10 + (b - '0');
        }
        return true;
    }

    private static bool TryUInt(ReadOnlySpan<byte> s, out uint value)
    {
        bool ok = TryInt(s, out int v);
        value = (uint)v;
        return ok;
    }
}

/// <summary>
/// This process's mount table as read once, with the descriptor it was read from kept open. The
/// kernel marks that descriptor (POLLPRI, proc(5)) when a mount or an unmount changes this mount
/// namespace after it was opened, so <see cref="Changed"/> tells with one poll(2) whether the
/// entries still describe the namespace. A mount id seen by statx on a descriptor that holds its
/// mount names the entry with that id only while the table is unchanged: the kernel reuses the
/// id of a mount that went at once.
/// </summary>
internal sealed class MountTableSnapshot : IDisposable
{
    private readonly Fd _fd;

    private MountTableSnapshot(Fd fd, List<MountInfoEntry> entries)
    {
        _fd = fd;
        Entries = entries;
    }

    /// <summary>The mounts as read.</summary>
    internal IReadOnlyList<MountInfoEntry> Entries { get; }

    /// <summary>Reads /proc/self/mountinfo; throws ErrnoException (an IOException).</summary>
    internal static MountTableSnapshot Read()
    {
        string path = MountInfo.PathFor(null);
        var fd = FileSystem.Open(path, Native.O_RDONLY);
        try
        {
            return new MountTableSnapshot(fd, ProcFs.ReadAll(fd, path, static bytes => MountInfo.Parse(bytes)));
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>True when this mount namespace changed since the table was opened (or poll fails): read it again.</summary>
    internal unsafe bool Changed()
    {
        var p = new Native.PollFd { Fd = _fd.Value, Events = Native.POLLPRI };
        int r = Native.Poll(&p, 1, 0);
        return r < 0 || (p.Revents & (Native.POLLPRI | Native.POLLERR)) != 0;
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
