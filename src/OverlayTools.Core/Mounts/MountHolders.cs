using System;
using System.Collections.Generic;
using System.IO;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>A process (or a mount) that keeps a mount busy.</summary>
public sealed record MountHolder(int ProcessId, string ProcessName, string How, string Path)
{
    /// <inheritdoc/>
    public override string ToString() => ProcessId == 0 ? $"{How} {Path}" : $"pid {ProcessId} ({ProcessName}) {How} {Path}";
}

/// <summary>Finds what holds a mount: open files, cwd, root, exe and mapped files under /proc, and mounts below it.</summary>
public static class MountHolders
{
    /// <summary>Everything found under <paramref name="target"/>, this process's own probes excluded.</summary>
    public static List<MountHolder> Find(string target)
    {
        var result = new List<MountHolder>();
        string prefix = target.TrimEnd('/') + "/";
        bool Under(string? p) => p is not null && (p == target || p.StartsWith(prefix, StringComparison.Ordinal));

        foreach (var m in MountInfo.Read())
        {
            if (m.MountPoint.StartsWith(prefix, StringComparison.Ordinal))
            {
                result.Add(new MountHolder(0, "", "a mount below it at", m.MountPoint));
            }
        }

        foreach (int pid in ProcFs.Pids())
        {
            string dir = "/proc/" + pid;
            string name = ProcFs.ReadComm(pid);
            foreach (var link in new[] { "cwd", "root", "exe" })
            {
                var p = FileSystem.TryReadLink(dir + "/" + link, out _);
                if (Under(p))
                {
                    result.Add(new MountHolder(pid, name, "has its " + link + " in", p!));
                }
            }
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(dir + "/fd"))
                {
                    var p = FileSystem.TryReadLink(fd, out _);
                    if (Under(p))
                    {
                        result.Add(new MountHolder(pid, name, "has open", p!));
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
            var mapped = MappedUnder(dir + "/maps", Under);
            if (mapped is not null)
            {
                result.Add(new MountHolder(pid, name, "has mapped", mapped));
            }
        }
        return result;
    }

    /// <summary>The first mapped file of a /proc/&lt;pid&gt;/maps that <paramref name="under"/> accepts; null when none (or the process ended).</summary>
    private static string? MappedUnder(string mapsPath, Func<string?, bool> under)
    {
        var text = ProcFs.TryReadText(mapsPath);
        if (text is null)
        {
            return null;
        }
        foreach (var line in text.Split('\n'))
        {
            int slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && under(line[slash..]))
            {
                return line[slash..];
            }
        }
        return null;
    }
}
