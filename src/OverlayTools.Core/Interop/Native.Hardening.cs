namespace OverlayTools.Interop;

/// <summary>Raw calls used by the mount-lifecycle hardening (super block probes; getdents64 is in Native.CopyOnWrite.cs).</summary>
internal static unsafe partial class Native
{
    // x86_64 number of ustat (not in the unified table; arm64 has none).
    internal const long SYS_ustat_x64 = 136;

    internal const int O_RDWR = 2;
    internal const int O_CREAT = 0x40;

    /// <summary>
    /// ustat(2): 0 while a super block with this device number is alive anywhere on the system
    /// (any mount namespace, or detached but held), -1 with EINVAL once it is gone. x86_64 only
    /// (arm64 has no ustat); elsewhere it reports -1 with ENOSYS.
    /// </summary>
    internal static int Ustat(uint major, uint minor)
    {
        if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            System.Runtime.InteropServices.Marshal.SetLastPInvokeError(Errno.ENOSYS);
            return -1;
        }
        // The kernel's old dev_t encoding, as new_encode_dev: minor low 8 bits, major, minor high bits.
        ulong dev = (minor & 0xffu) | (major << 8) | ((ulong)(minor & ~0xffu) << 12);
        byte* buf = stackalloc byte[64];
        return (int)Syscall(SYS_ustat_x64, (nint)dev, (nint)buf, 0, 0, 0);
    }
}
