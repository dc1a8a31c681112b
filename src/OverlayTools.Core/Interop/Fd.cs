using System;
using System.Runtime.InteropServices;

namespace OverlayTools.Interop;

/// <summary>An owned file descriptor, closed exactly once. Every fd the module opens is O_CLOEXEC.</summary>
internal sealed class Fd : SafeHandle
{
    internal Fd(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The raw descriptor number; valid while this object is alive.</summary>
    internal int Value => (int)handle.ToInt64();

    /// <summary>The magic link that names this descriptor, usable as a path by the kernel.</summary>
    internal string ProcPath => "/proc/self/fd/" + Value;

    protected override bool ReleaseHandle() => Native.Close(Value) == 0;
}
