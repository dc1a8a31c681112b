using System;
using System.Collections.Generic;
using System.IO;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// A process (or a mount) that keeps a mount busy, in one way, at one path; <paramref name="Count"/>
/// times (descriptors of the same file, mounts at the same place).
/// </summary>
public sealed record MountHolder(int ProcessId, string ProcessName, string How, string Path, int Count = 1)
{
    /// <inheritdoc/>
    public override string ToString()
    {
        string what = ProcessId == 0 ? $"{How} {Path}" : $"pid {ProcessId} ({ProcessName}) {How} {Path}";
        return Count <= 1 ? what : what + (How == "has open" ? $" ({Count} descriptors)" : ProcessId == 0 ? $" ({Count} mounts)" : $" ({Count} times)");
    }
}

/// <summary>Finds what holds a mount: open files, cwd, root, exe and mapped files under /proc, and mounts below it.</summary>
public static class MountHolders
{
    /// <summary>
    /// Everything found under <paramref name="target"/>, this process's own probes excluded; each
    /// holder, way and path once, with how often it was found (a process with three descriptors of
    /// the same directory is one entry).
    /// </summary>
    public static List<MountHolder> Find(string target) => Merge(FindAll(target));

    /// <summary>Equal holders (process, way, path) as one, counted, in the order first found.</summary>
    internal static List<MountHolder> Merge(List<MountHolder> found)
    {
        var merged = new List<MountHolder>(found.Count);
        var at = new Dictionary<(int, string, string), int>();
        foreach (var h in found)
        {
            if (at.TryGetValue((h.ProcessId, h.How, h.Path), out int i))
            {
                merged[i] = merged[i] with { Count = merged[i].Count + h.Count };
            }
            else
            {
                at[(h.ProcessId, h.How, h.Path)] = merged.Count;
                merged.Add(h);
            }
        }
        return merged;
    }

    private static List<MountHolder> FindAll(string target)
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
