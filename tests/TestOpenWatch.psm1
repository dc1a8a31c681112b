# Counts how often directories are opened (inotify IN_OPEN on the watched directory itself), so
# tests can tell how often a command opened a layer without timing it.

Set-StrictMode -Version 3.0

if (-not ('OverlayToolsTests.DirectoryOpenWatch' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace OverlayToolsTests
{
    /// <summary>Counts opens of directories (inotify IN_OPEN on the watched directory itself).</summary>
    public sealed class DirectoryOpenWatch : IDisposable
    {
        [DllImport("libc", SetLastError = true)] private static extern int inotify_init1(int flags);
        [DllImport("libc", SetLastError = true)] private static extern int inotify_add_watch(int fd, string path, uint mask);
        [DllImport("libc", SetLastError = true)] private static extern IntPtr read(int fd, byte[] buf, IntPtr count);
        [DllImport("libc")] private static extern int close(int fd);

        private readonly int _fd;
        private readonly Dictionary<int, string> _paths = new Dictionary<int, string>();
        private readonly Dictionary<string, int> _opens = new Dictionary<string, int>(StringComparer.Ordinal);

        public DirectoryOpenWatch(string[] paths)
        {
            _fd = inotify_init1(0x800 /* IN_NONBLOCK */ | 0x80000 /* IN_CLOEXEC */);
            if (_fd < 0) throw new InvalidOperationException("inotify_init1: errno " + Marshal.GetLastWin32Error());
            foreach (var p in paths)
            {
                int wd = inotify_add_watch(_fd, p, 0x20 /* IN_OPEN */ | 0x01000000 /* IN_ONLYDIR */);
                if (wd < 0) { close(_fd); throw new InvalidOperationException("inotify_add_watch " + p + ": errno " + Marshal.GetLastWin32Error()); }
                _paths[wd] = p;
                _opens[p] = 0;
            }
        }

        /// <summary>How often each watched directory was opened since the watch began.</summary>
        public int Opens(string path)
        {
            var buf = new byte[64 * 1024];
            long n;
            while ((n = (long)read(_fd, buf, (IntPtr)buf.Length)) > 0) // -1 with EAGAIN once nothing is queued
            {
                for (int i = 0; i < n; )
                {
                    int wd = BitConverter.ToInt32(buf, i);
                    uint mask = BitConverter.ToUInt32(buf, i + 4);
                    uint len = BitConverter.ToUInt32(buf, i + 12);
                    // len 0: the event is about the watched directory, not an entry in it.
                    if ((mask & 0x20) != 0 && len == 0 && _paths.TryGetValue(wd, out var p)) _opens[p]++;
                    i += 16 + (int)len;
                }
            }
            return _opens[path];
        }

        public void Dispose() { close(_fd); }
    }
}
'@
}

function New-DirectoryOpenWatch {
    # Starts counting the opens of each directory in -Path; dispose the watch when done.
    param([Parameter(Mandatory)] [string[]] $Path)
    [OverlayToolsTests.DirectoryOpenWatch]::new($Path)
}

Export-ModuleMember -Function New-DirectoryOpenWatch
