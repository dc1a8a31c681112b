using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace OverlayTools.Interop;

/// <summary>Decodes the bytes of a whole file, read by ProcFs.ReadAll.</summary>
internal delegate T BytesParser<out T>(ReadOnlySpan<byte> bytes);

/// <summary>
/// The /proc (and /sys) reads of the module: which processes there are, their names, and whole
/// pseudo files read with open(2) and read(2) only. .NET's FileStream (File.ReadAllBytes,
/// File.ReadLines...) takes a flock(LOCK_SH) on every file it opens, a lock and two syscalls
/// that a pseudo file does not need.
/// </summary>
internal static unsafe class ProcFs
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
    internal static string ReadComm(int pid) => TryReadText($"/proc/{pid}/comm")?.Trim() ?? "?";

    /// <summary>A whole pseudo file as UTF-8 text; null when it cannot be opened or read.</summary>
    internal static string? TryReadText(string path)
    {
        try
        {
            return ReadAll(path, static bytes => Encoding.UTF8.GetString(bytes));
        }
        catch (ErrnoException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads a whole file with open(O_RDONLY|O_CLOEXEC) and read(2) until end of file (procfs
    /// files report size 0, so it reads in 64 KiB chunks, growing a pooled buffer), then hands the
    /// bytes to <paramref name="parse"/>, which must not keep the span. Never takes a lock.
    /// Throws <see cref="ErrnoException"/> (an IOException) when the file cannot be opened or read.
    /// </summary>
    internal static T ReadAll<T>(string path, BytesParser<T> parse)
    {
        using var fd = FileSystem.Open(path, Native.O_RDONLY);
        return ReadAll(fd, path, parse);
    }

    /// <summary><see cref="ReadAll{T}(string, BytesParser{T})"/> on a descriptor opened for reading (from its current offset).</summary>
    internal static T ReadAll<T>(Fd fd, string path, BytesParser<T> parse)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, bigger, 0, length);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int n = Posix.ReadInto(fd, buffer, length, path);
                if (n == 0)
                {
                    break;
                }
                length += n;
            }
            return parse(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
