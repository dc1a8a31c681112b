using System;
using System.Collections.Generic;
using System.IO;

namespace OverlayTools.Interop;

/// <summary>The /proc reads that looking for other processes needs: which processes there are, and their names.</summary>
internal static class ProcFs
{
    /// <summary>The pid of every process /proc lists, lowest first; empty when /proc cannot be read.</summary>
    internal static List<int> Pids()
    {
        var pids = new List<int>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), out int pid))
                {
                    pids.Add(pid);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
        pids.Sort();
        return pids;
    }

    /// <summary>The command name of a process (/proc/&lt;pid&gt;/comm); "?" when it cannot be read (the process ended, or access is denied).</summary>
    internal static string ReadComm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
    }
}
