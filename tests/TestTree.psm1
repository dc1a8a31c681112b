# Tree checksums for "inspection changes nothing" tests: every entry below a directory with its
# type, mode, owner, size, link target, modify/change/access times (nanoseconds) and the sha256 of
# its content, read without disturbing what is measured: directories and files are opened with
# O_NOATIME, so one pass gives the state before and another the state after. Access times can be
# aged first, so that any plain read by the code under test would visibly move them (relatime
# updates an access time that is not newer than the modification time).

Set-StrictMode -Version 3.0

function Initialize-TestTreeType {
    if ('OverlayToolsTests.TreeState' -as [type]) { return }
    Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
namespace OverlayToolsTests {
    public static unsafe class TreeState {
        const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_NOATIME = 0x40000, O_CLOEXEC = 0x80000;
        const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;
        const long UTIME_OMIT = (1L << 30) - 2;
        [DllImport("libc", SetLastError = true)] static extern int open(byte[] path, int flags, int mode);
        [DllImport("libc", SetLastError = true)] static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] static extern IntPtr read(int fd, byte* buf, IntPtr count);
        [DllImport("libc", SetLastError = true)] static extern IntPtr getdents64(int fd, byte* buf, IntPtr count);
        [DllImport("libc", SetLastError = true)] static extern int statx(int dirfd, byte[] path, int flags, uint mask, byte* buf);
        [DllImport("libc", SetLastError = true)] static extern IntPtr readlink(byte[] path, byte[] buf, IntPtr size);
        [DllImport("libc", SetLastError = true)] static extern int utimensat(int dirfd, byte[] path, long* times, int flags);

        static byte[] Z(byte[] p) { var z = new byte[p.Length + 1]; p.CopyTo(z, 0); return z; }
        static byte[] Join(byte[] a, byte[] b) { var r = new byte[a.Length + 1 + b.Length]; a.CopyTo(r, 0); r[a.Length] = (byte)'/'; b.CopyTo(r, a.Length + 1); return r; }

        struct St { public uint Mode, Uid, Gid; public long Size, ASec, MSec, CSec; public uint ANs, MNs, CNs, DevMaj, DevMin; }

        static St Stat(byte[] path) {
            byte* b = stackalloc byte[256];
            if (statx(AT_FDCWD, Z(path), AT_SYMLINK_NOFOLLOW, 0xfff, b) != 0)
                throw new InvalidOperationException("statx " + Encoding.UTF8.GetString(path) + ": errno " + Marshal.GetLastWin32Error());
            return new St {
                Uid = *(uint*)(b + 20), Gid = *(uint*)(b + 24), Mode = *(ushort*)(b + 28), Size = *(long*)(b + 40),
                ASec = *(long*)(b + 64), ANs = *(uint*)(b + 72), CSec = *(long*)(b + 96), CNs = *(uint*)(b + 104),
                MSec = *(long*)(b + 112), MNs = *(uint*)(b + 120), DevMaj = *(uint*)(b + 136), DevMin = *(uint*)(b + 140) };
        }

        static List<byte[]> List(byte[] dir) {
            int fd = open(Z(dir), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC, 0);
            if (fd < 0) throw new InvalidOperationException("open " + Encoding.UTF8.GetString(dir) + ": errno " + Marshal.GetLastWin32Error());
            var names = new List<byte[]>();
            var buf = new byte[32768];
            try {
                fixed (byte* p = buf) {
                    while (true) {
                        long n = (long)getdents64(fd, p, (IntPtr)buf.Length);
                        if (n < 0) throw new InvalidOperationException("getdents64: errno " + Marshal.GetLastWin32Error());
                        if (n == 0) break;
                        for (long off = 0; off < n;) {
                            byte* d = p + off;
                            ushort reclen = *(ushort*)(d + 16);
                            int len = 0;
                            while (d[19 + len] != 0) len++;
                            bool dot = (len == 1 && d[19] == '.') || (len == 2 && d[19] == '.' && d[20] == '.');
                            if (!dot) names.Add(new ReadOnlySpan<byte>(d + 19, len).ToArray());
                            off += reclen;
                        }
                    }
                }
            }
            finally { close(fd); }
            names.Sort((a, b) => a.AsSpan().SequenceCompareTo(b));
            return names;
        }

        static string Hash(byte[] path) {
            int fd = open(Z(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME | O_CLOEXEC, 0);
            if (fd < 0) return "open-errno-" + Marshal.GetLastWin32Error();
            try {
                using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buf = new byte[1 << 20];
                fixed (byte* p = buf) {
                    while (true) {
                        long n = (long)read(fd, p, (IntPtr)buf.Length);
                        if (n < 0) return "read-errno-" + Marshal.GetLastWin32Error();
                        if (n == 0) break;
                        h.AppendData(buf, 0, (int)n);
                    }
                }
                return Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant();
            }
            finally { close(fd); }
        }

        static string Type(uint mode) {
            switch (mode & 0xF000) {
                case 0x4000: return "d"; case 0x8000: return "f"; case 0xA000: return "l"; case 0x1000: return "p";
                case 0x2000: return "c"; case 0x6000: return "b"; case 0xC000: return "s"; default: return "?";
            }
        }

        /// <summary>One line per entry below root (sorted by path), staying on root's file system.</summary>
        public static string[] Snapshot(string root) {
            var top = Encoding.UTF8.GetBytes(root.TrimEnd('/'));
            var rootSt = Stat(top);
            var lines = new List<string>();
            var stack = new Stack<(byte[] Full, string Rel)>();
            stack.Push((top, ""));
            while (stack.Count > 0) {
                var (dir, rel) = stack.Pop();
                foreach (var name in List(dir)) {
                    var full = Join(dir, name);
                    string r = rel + "/" + Encoding.UTF8.GetString(name);
                    // readlink(2) moves a link's access time and nothing avoids it: read the target before stat.
                    string target = "";
                    var probe = Stat(full);
                    if ((probe.Mode & 0xF000) == 0xA000) {
                        var lb = new byte[4096];
                        long n = (long)readlink(Z(full), lb, (IntPtr)lb.Length);
                        target = n < 0 ? "?" : Encoding.UTF8.GetString(lb, 0, (int)n);
                    }
                    var st = Stat(full);
                    string t = Type(st.Mode);
                    string hash = t == "f" ? Hash(full) : "";
                    lines.Add(string.Join("\t", r, t, Convert.ToString(st.Mode & 0xFFF, 8), st.Uid + ":" + st.Gid, t == "d" ? "" : st.Size.ToString(),
                        st.MSec + "." + st.MNs.ToString("D9"), st.CSec + "." + st.CNs.ToString("D9"), st.ASec + "." + st.ANs.ToString("D9"), target, hash));
                    if (t == "d" && st.DevMaj == rootSt.DevMaj && st.DevMin == rootSt.DevMin) stack.Push((full, r));
                }
            }
            lines.Sort(StringComparer.Ordinal);
            return lines.ToArray();
        }

        /// <summary>Sets the access time of every directory and regular file below root (and root) to a time before any modification; returns how many.</summary>
        public static int AgeAccessTimes(string root, long unixSeconds) {
            var top = Encoding.UTF8.GetBytes(root.TrimEnd('/'));
            var rootSt = Stat(top);
            int count = 0;
            var stack = new Stack<byte[]>();
            stack.Push(top);
            long* times = stackalloc long[4];
            times[0] = unixSeconds; times[1] = 0; times[2] = 0; times[3] = UTIME_OMIT;
            Age(top, times, ref count);
            while (stack.Count > 0) {
                var dir = stack.Pop();
                foreach (var name in List(dir)) {
                    var full = Join(dir, name);
                    var st = Stat(full);
                    uint type = st.Mode & 0xF000;
                    if (type == 0x8000) Age(full, times, ref count);
                    if (type == 0x4000 && st.DevMaj == rootSt.DevMaj && st.DevMin == rootSt.DevMin) { Age(full, times, ref count); stack.Push(full); }
                }
            }
            return count;
        }

        static void Age(byte[] path, long* times, ref int count) {
            if (utimensat(AT_FDCWD, Z(path), times, AT_SYMLINK_NOFOLLOW) != 0)
                throw new InvalidOperationException("utimensat " + Encoding.UTF8.GetString(path) + ": errno " + Marshal.GetLastWin32Error());
            count++;
        }
    }
}
'@ -CompilerOptions '-unsafe'
}

function Get-TestTreeChecksum {
    <#
    .SYNOPSIS
        One line per entry below $Path (sorted): path, type, mode, owner, size, mtime, ctime, atime
        (nanoseconds), link target and sha256 of regular files, read with O_NOATIME. Two results are
        equal when nothing in the tree changed, not even an access time.
    #>
    param([Parameter(Mandatory)] [string] $Path)
    Initialize-TestTreeType
    return , [OverlayToolsTests.TreeState]::Snapshot($Path)
}

function Set-TestTreeAccessTime {
    <#
    .SYNOPSIS
        Ages the access time of every directory and regular file below $Path (2000-01-01 by
        default), so that any read that is not O_NOATIME shows in Get-TestTreeChecksum. Symbolic
        links are left alone: readlink(2) always touches them (and so does the kernel each time it
        mounts through one), so their access time says nothing about the reader.
    #>
    param([Parameter(Mandatory)] [string] $Path, [long] $UnixTime = 946684800)
    Initialize-TestTreeType
    $null = [OverlayToolsTests.TreeState]::AgeAccessTimes($Path, $UnixTime)
}

function Assert-TestTreeUnchanged {
    <#
    .SYNOPSIS
        Runs $Action and fails, naming the entries, when anything below $Path changed: content,
        metadata or access times (aged first).
    #>
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [scriptblock] $Action)
    Set-TestTreeAccessTime $Path
    $before = Get-TestTreeChecksum $Path
    $null = & $Action
    $after = Get-TestTreeChecksum $Path
    $diff = Compare-Object $before $after -CaseSensitive | ForEach-Object { "$($_.SideIndicator) $($_.InputObject)" }
    $diff | Should -BeNullOrEmpty -Because "reading '$Path' must change nothing in it"
    $before.Count | Should -BeGreaterThan 0
}

function Assert-TestPathsInside {
    <#
    .SYNOPSIS
        Every property of every object that holds a path (a string or string array element
        starting with '/'; CreatedBy, free text from an image history, excepted) must lead, once
        symbolic links are resolved, inside the store at $Root (or inside one of its top-level dirs,
        which an admin may have moved behind a link), and have no '..' component.
    #>
    param([AllowEmptyCollection()] [object[]] $Objects = @(), [Parameter(Mandatory)] [string] $Root)
    $values = [Collections.Generic.List[string]]::new()
    foreach ($o in $Objects) {
        foreach ($p in $o.PSObject.Properties) {
            if ($p.Name -eq 'CreatedBy') { continue }
            foreach ($v in @($p.Value)) {
                if ($v -is [string] -and $v.StartsWith('/')) {
                    $v.Split('/') | Should -Not -Contain '..' -Because "$($p.Name) '$v' must not climb out of the store"
                    $values.Add($v)
                }
            }
        }
    }
    if ($values.Count -eq 0) { return }
    $places = @(& realpath -m -- $Root) + @(Get-ChildItem -LiteralPath $Root -Force | Where-Object LinkTarget | ForEach-Object { & realpath -m -- $_.FullName })
    $real = @(& realpath -m -z -- $values | Out-String) -split "`0" | Where-Object { $_ -ne '' -and $_ -ne "`n" }
    $real.Count | Should -Be $values.Count
    for ($i = 0; $i -lt $values.Count; $i++) {
        $inside = $false
        foreach ($place in $places) { if ($real[$i] -eq $place -or $real[$i].StartsWith("$place/")) { $inside = $true } }
        $inside | Should -BeTrue -Because "'$($values[$i])' leads to '$($real[$i])', which must lie inside the store '$Root'"
    }
}

function Invoke-TestStoreRead {
    <#
    .SYNOPSIS
        Reads a whole store through Get-OverlayLayer (every image, every container, and each
        -Path given): the objects (all of them, and those of the image and of the container read
        apart, to compare item by item) and the errors, each error checked to carry a known
        ErrorId, a specific category and a recommended action.
    #>
    param([Parameter(Mandatory)] [string] $DataRoot, [string[]] $Path = @())
    $objects = [Collections.Generic.List[object]]::new()
    $errors = [Collections.Generic.List[object]]::new()
    $known = [OverlayTools.ErrorIds].GetFields() | ForEach-Object { $_.GetRawConstantValue() }
    $e1 = $e2 = $e3 = $null
    $o1 = Get-OverlayLayer -DataRoot $DataRoot -Image * -ErrorVariable e1 -ErrorAction SilentlyContinue
    $o2 = Get-OverlayLayer -DataRoot $DataRoot -Container * -ErrorVariable e2 -ErrorAction SilentlyContinue
    $o3 = if ($Path) { Get-OverlayLayer -Path $Path -ErrorVariable e3 -ErrorAction SilentlyContinue }
    foreach ($o in @($o1) + @($o2) + @($o3)) { if ($null -ne $o) { $objects.Add($o) } }
    foreach ($x in @($e1) + @($e2) + @($e3)) { if ($null -ne $x) { $errors.Add($x) } }
    foreach ($x in $errors) {
        $x.FullyQualifiedErrorId | Should -Match '^\w+,OverlayTools\.GetOverlayLayerCommand$'
        $known | Should -Contain ($x.FullyQualifiedErrorId -split ',')[0]
        "$($x.CategoryInfo.Category)" | Should -Not -Be 'NotSpecified'
        $x.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }
    [pscustomobject]@{
        Objects = $objects.ToArray(); Images = @($o1 | Where-Object { $null -ne $_ }); Containers = @($o2 | Where-Object { $null -ne $_ })
        Errors = $errors.ToArray(); Ids = @($errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] } | Sort-Object -Unique)
    }
}

Export-ModuleMember -Function Get-TestTreeChecksum, Set-TestTreeAccessTime, Assert-TestTreeUnchanged, Assert-TestPathsInside, Invoke-TestStoreRead
