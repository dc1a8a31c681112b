using System;
using System.Runtime.InteropServices;
using OverlayTools.Interop;

namespace OverlayTools.Stores.Bolt;

/// <summary>Where a bbolt database's bytes come from: a file read with pread, or memory (tests).</summary>
internal abstract class BoltSource : IDisposable
{
    /// <summary>A name for messages: the file's path.</summary>
    internal abstract string Name { get; }

    /// <summary>The size in bytes, taken once when the source is opened.</summary>
    internal abstract long Length { get; }

    /// <summary>The size now: a live daemon grows its file before it commits a meta page that needs the room.</summary>
    internal virtual long CurrentLength() => Length;

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; returns the bytes read (short at the end).</summary>
    internal abstract int ReadAt(long offset, Span<byte> buffer);

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// Opens a file read-only without taking any lock (containerd holds an exclusive flock on its
    /// databases while it runs; .NET's FileStream would take a shared one). Never writes.
    /// </summary>
    internal static BoltSource OpenFile(string path) => FileSource.Open(path);

    /// <summary>A database held in memory (tests, fuzzing).</summary>
    internal static BoltSource FromBytes(byte[] data, string name) => new MemorySource(data, name);

    private sealed class MemorySource(byte[] data, string name) : BoltSource
    {
        internal override string Name => name;
        internal override long Length => data.LongLength;

        internal override int ReadAt(long offset, Span<byte> buffer)
        {
            if (offset < 0 || offset >= data.LongLength)
            {
                return 0;
            }
            int n = (int)Math.Min(buffer.Length, data.LongLength - offset);
            data.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }
    }

    private sealed unsafe class FileSource : BoltSource
    {
        private readonly Fd _fd;
        private readonly string _path;
        private readonly long _length;

        private FileSource(Fd fd, string path, long length)
        {
            _fd = fd;
            _path = path;
            _length = length;
        }

        internal override string Name => _path;
        internal override long Length => _length;

        internal override long CurrentLength()
        {
            long now = Native.LSeek(_fd.Value, 0, Native.SEEK_END);
            return now < 0 ? _length : now;
        }

        internal static FileSource Open(string path)
        {
            // The databases are regular files inside the data root; a symlink there is refused.
            FileSystem.CheckNoNul(path);
            // No symlink followed, no blocking on a FIFO, no access-time update where allowed.
            var fd = Posix.TryOpenFileAt(Native.AT_FDCWD, Native.Utf8Z(path), out int errno);
            if (fd is null)
            {
                throw Unreadable(path, errno, "open");
            }
            try
            {
                var st = FileSystem.Stat(fd, path);
                if (!st.IsRegularFile)
                {
                    throw new OverlayException(ErrorIds.BoltDatabaseUnreadable, OverlayErrorCategory.InvalidArgument,
                        $"'{path}' is not a regular file, so it cannot be a bbolt database.", path,
                        "Point -DataRoot at a containerd root directory (default /var/lib/containerd).");
                }
                long length = Native.LSeek(fd.Value, 0, Native.SEEK_END);
                if (length < 0)
                {
                    throw Unreadable(path, Marshal.GetLastPInvokeError(), "lseek");
                }
                return new FileSource(fd, path, length);
            }
            catch
            {
                fd.Dispose();
                throw;
            }
        }

        internal override int ReadAt(long offset, Span<byte> buffer)
        {
            int total = 0;
            fixed (byte* p = buffer)
            {
                while (total < buffer.Length)
                {
                    nint n = Native.PRead(_fd.Value, p + total, buffer.Length - total, offset + total);
                    if (n < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Errno.EINTR)
                        {
                            continue;
                        }
                        throw Unreadable(_path, errno, "pread");
                    }
                    if (n == 0)
                    {
                        break;
                    }
                    total += (int)n;
                }
            }
            return total;
        }

        public override void Dispose() => _fd.Dispose();

        private static OverlayException Unreadable(string path, int errno, string call)
        {
            var inner = new ErrnoException(call, errno, path);
            return new OverlayException(ErrorIds.BoltDatabaseUnreadable, OverlayException.CategoryFor(errno) == OverlayErrorCategory.ObjectNotFound ? OverlayErrorCategory.ObjectNotFound : OverlayErrorCategory.ReadError,
                $"Cannot read the bbolt database '{path}': {inner.Message}", path,
                errno == Errno.EACCES || errno == Errno.EPERM ? "Run as root: containerd's databases are readable by root only." : "Check that the path names a containerd database and that the disk is readable.",
                inner);
        }
    }
}
