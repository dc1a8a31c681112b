using System.Runtime.InteropServices;

namespace OverlayTools.Interop;

/// <summary>Open-file-description record locks (fcntl F_OFD_SETLK), for the dismount lock.</summary>
internal static unsafe partial class Native
{
    internal const int F_OFD_SETLK = 37;
    internal const short F_WRLCK = 1;
    internal const short F_UNLCK = 2;
    internal const short SEEK_SET = 0;

    /// <summary>struct flock on 64-bit Linux (x86_64 and arm64 alike).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct FLock
    {
        internal short Type;
        internal short Whence;
        internal long Start;
        internal long Length;
        internal int Pid;
    }

    /// <summary>fcntl(fd, F_OFD_SETLK, &amp;lock) on <paramref name="length"/> bytes at <paramref name="start"/>: 0, or -1 and errno (EAGAIN or EACCES while another open file holds them).</summary>
    internal static int OfdSetLock(int fd, short type, long start, long length)
    {
        var l = new FLock { Type = type, Whence = SEEK_SET, Start = start, Length = length, Pid = 0 };
        return Tmds.Linux.LibC.fcntl(fd, F_OFD_SETLK, &l);
    }
}
