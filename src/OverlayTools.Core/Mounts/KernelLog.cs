using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>
/// Reads what the kernel says about a mount. Parameter errors come from the fs-context
/// descriptor; other overlayfs complaints ("workdir and upperdir must be separate subtrees",
/// "mounting read-only") only reach the kernel log, so the mounter tails /dev/kmsg from just
/// before it asks the kernel to create the super block.
/// </summary>
internal sealed unsafe class KernelLogTail : IDisposable
{
    // Opening /dev/kmsg makes the kernel walk its ring buffer to the oldest record, which costs
    // about as much as a quarter of the mount itself; so descriptors are kept for the next mount
    // (each is used by one mount at a time and is seeked to the end before use; all are O_CLOEXEC).
    private const int PoolLimit = 4;
    private static readonly Stack<Fd> s_pool = new();

    private Fd? _fd;

    private KernelLogTail(Fd? fd) => _fd = fd;

    /// <summary>Starts tailing /dev/kmsg at its current end; a no-op where it cannot be read.</summary>
    internal static KernelLogTail Start()
    {
        Fd? fd = null;
        lock (s_pool)
        {
            if (s_pool.Count > 0)
            {
                fd = s_pool.Pop();
            }
        }
        fd ??= FileSystem.TryOpen("/dev/kmsg", Native.O_RDONLY | Native.O_NONBLOCK, out _);
        if (fd is not null && Native.LSeek(fd.Value, 0, Native.SEEK_END) < 0)
        {
            fd.Dispose();
            fd = null;
        }
        return new KernelLogTail(fd);
    }

    /// <summary>True when /dev/kmsg could be opened, so the kernel's warnings can be read.</summary>
    internal bool Available => _fd is not null;

    /// <summary>Moves to the current end of the log: what was logged before is not read.</summary>
    internal void Skip()
    {
        if (_fd is not null)
        {
            _ = Native.LSeek(_fd.Value, 0, Native.SEEK_END);
        }
    }

    /// <summary>Overlay messages logged since Start, oldest first, without the "overlayfs: " prefix.</summary>
    internal List<string> ReadOverlayMessages()
    {
        var result = new List<string>();
        if (_fd is null)
        {
            return result;
        }
        byte* buf = stackalloc byte[8192];
        for (int guard = 0; guard < 4096; guard++)
        {
            nint n = Native.Read(_fd.Value, buf, 8192);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EPIPE)
                {
                    continue; // records were overwritten; the next read resumes.
                }
                break; // EAGAIN: nothing more.
            }
            if (n == 0)
            {
                break;
            }
            var record = new ReadOnlySpan<byte>(buf, (int)n);
            int semi = record.IndexOf((byte)';');
            if (semi < 0)
            {
                continue;
            }
            var text = record[(semi + 1)..];
            int nl = text.IndexOf((byte)'\n');
            if (nl >= 0)
            {
                text = text[..nl];
            }
            string message = Encoding.UTF8.GetString(text);
            foreach (var prefix in s_prefixes)
            {
                if (message.StartsWith(prefix, StringComparison.Ordinal))
                {
                    result.Add(message[prefix.Length..].Trim());
                    break;
                }
            }
        }
        return result;
    }

    private static readonly string[] s_prefixes = ["overlayfs: ", "overlay: "];

    /// <summary>Drains the messages an fs-context descriptor holds ("e overlay: Bad value for ...").</summary>
    internal static List<string> ReadFsContextLog(Fd fsFd)
    {
        var result = new List<string>();
        byte* buf = stackalloc byte[1024];
        for (int guard = 0; guard < 64; guard++)
        {
            nint n = Native.Read(fsFd.Value, buf, 1024);
            if (n <= 0)
            {
                break;
            }
            var text = Encoding.UTF8.GetString(buf, (int)n).TrimEnd('\n');
            // Each message starts with its level: "e " error, "w " warning, "i " info.
            if (text.Length > 2 && text[1] == ' ' && text[0] is 'e' or 'w' or 'i')
            {
                text = text[2..];
            }
            result.Add(text);
        }
        return result;
    }

    /// <summary>Gives the descriptor back for the next mount (or closes it when enough are kept).</summary>
    public void Dispose()
    {
        var fd = _fd;
        _fd = null;
        if (fd is null)
        {
            return;
        }
        lock (s_pool)
        {
            if (s_pool.Count < PoolLimit)
            {
                s_pool.Push(fd);
                return;
            }
        }
        fd.Dispose();
    }
}
