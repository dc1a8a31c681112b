#Requires -Version 7.4
# Hardening of the mount lifecycle (issue 7), against the real kernel: option injection on every
# code path, target and layer races, descriptor leaks, cleanup that never deletes through a mount
# or a symlink, busy and foreign-namespace mounts, the kernel's quiet fallbacks, and concurrency.
# Races run a swapper thread in a tight loop; their assertions are about safety on every
# iteration (never "the race was hit N times"), so they cannot flake on a slow machine.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:ModulePath = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
    $script:Root = New-TestRoot 'hardening'

    if (-not ('OverlayToolsHardeningTests.Swapper' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;

namespace OverlayToolsHardeningTests
{
    public static class Libc
    {
        [DllImport("libc", SetLastError = true)] public static extern int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
        [DllImport("libc", SetLastError = true)] public static extern int open(string path, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int flock(int fd, int operation);
        [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] public static extern long readlink(string path, byte[] buf, long size);

        /// <summary>Takes an exclusive flock on a directory, as Mount-Overlay does on its upper; returns the fd to pass to Unlock.</summary>
        public static int LockDirectory(string path)
        {
            int fd = open(path, 0x10000 /* O_DIRECTORY */ | 0x80000 /* O_CLOEXEC */);
            if (fd < 0) throw new IOException("open " + path + ": errno " + Marshal.GetLastWin32Error());
            if (flock(fd, 2 /* LOCK_EX */) != 0) throw new IOException("flock: errno " + Marshal.GetLastWin32Error());
            return fd;
        }

        public static void Unlock(int fd) { close(fd); }

        [StructLayout(LayoutKind.Sequential)]
        private struct FLock { public short Type, Whence; public long Start, Length; public int Pid; }
        [DllImport("libc", SetLastError = true)] private static extern int fcntl(int fd, int cmd, ref FLock l);
        [DllImport("libc", EntryPoint = "open", SetLastError = true)] private static extern int openCreate(string path, int flags, int mode);

        /// <summary>Takes one byte of a file with an OFD write lock (F_OFD_SETLKW), as Dismount-Overlay does in its dismount lock; returns the fd to pass to Unlock.</summary>
        public static int LockByte(string path, long offset)
        {
            int fd = openCreate(path, 2 /* O_RDWR */ | 0x40 /* O_CREAT */ | 0x20000 /* O_NOFOLLOW */ | 0x80000 /* O_CLOEXEC */, 0x180 /* 0600 */);
            if (fd < 0) throw new IOException("open " + path + ": errno " + Marshal.GetLastWin32Error());
            var l = new FLock { Type = 1 /* F_WRLCK */, Whence = 0, Start = offset, Length = 1 };
            if (fcntl(fd, 38 /* F_OFD_SETLKW */, ref l) != 0) { int e = Marshal.GetLastWin32Error(); close(fd); throw new IOException("fcntl: errno " + e); }
            return fd;
        }

        public static string ReadLink(string path)
        {
            var buf = new byte[4096];
            long n = readlink(path, buf, buf.Length);
            return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buf, 0, (int)n);
        }
    }

    /// <summary>Swaps two names atomically (renameat2 RENAME_EXCHANGE) in a tight loop on its own thread.</summary>
    public sealed class Swapper : IDisposable
    {
        private readonly string _a, _b;
        private readonly Thread _thread;
        private volatile bool _stop, _pause, _paused;
        private long _swaps;

        public Swapper(string a, string b)
        {
            _a = a; _b = b;
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        public long Swaps { get { return Interlocked.Read(ref _swaps); } }

        private void Run()
        {
            while (!_stop)
            {
                if (_pause) { _paused = true; Thread.Sleep(1); continue; }
                _paused = false;
                if (Libc.renameat2(-100, _a, -100, _b, 2 /* RENAME_EXCHANGE */) == 0) Interlocked.Increment(ref _swaps);
            }
        }

        /// <summary>Stops swapping until Resume; returns once the thread is idle.</summary>
        public void Pause() { _pause = true; while (!_paused && _thread.IsAlive) Thread.SpinWait(100); }
        public void Resume() { _pause = false; }
        public void Dispose() { _stop = true; _thread.Join(); }
    }

    /// <summary>Swaps two names once per Arm, after a given number of spins, on its own thread.</summary>
    public sealed class OneShotSwapper : IDisposable
    {
        private readonly string _a, _b;
        private readonly Thread _thread;
        private readonly AutoResetEvent _arm = new AutoResetEvent(false), _done = new AutoResetEvent(false);
        private volatile bool _stop;
        private int _spins;

        public OneShotSwapper(string a, string b)
        {
            _a = a; _b = b;
            _thread = new Thread(() =>
            {
                while (true)
                {
                    _arm.WaitOne();
                    if (_stop) return;
                    for (int i = 0; i < _spins; i++) Thread.SpinWait(20);
                    Libc.renameat2(-100, _a, -100, _b, 2);
                    _done.Set();
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Arm(int spins) { _spins = spins; _arm.Set(); }
        public void WaitDone() { _done.WaitOne(); }
        public void SwapBack() { Libc.renameat2(-100, _a, -100, _b, 2); }
        public void Dispose() { _stop = true; _arm.Set(); _thread.Join(); }
    }

    /// <summary>Looks at this process's descriptors: those whose target matches, and whether they are close-on-exec.</summary>
    public static class FdScanner
    {
        public sealed class Seen { public int Fd; public string Target; public bool CloseOnExec; }

        public static List<Seen> Scan(string[] patterns)
        {
            var result = new List<Seen>();
            string[] entries;
            try { entries = Directory.GetFileSystemEntries("/proc/self/fd"); } catch (IOException) { return result; }
            foreach (var e in entries)
            {
                var target = Libc.ReadLink(e);
                if (target == null) continue;
                bool match = false;
                foreach (var p in patterns) if (target.StartsWith(p, StringComparison.Ordinal) || target == p) { match = true; break; }
                if (!match) continue;
                string info;
                try { info = File.ReadAllText("/proc/self/fdinfo/" + Path.GetFileName(e)); } catch (IOException) { continue; }
                foreach (var line in info.Split('\n'))
                {
                    if (!line.StartsWith("flags:")) continue;
                    long flags = Convert.ToInt64(line.Substring(6).Trim(), 8);
                    result.Add(new Seen { Fd = int.Parse(Path.GetFileName(e)), Target = target, CloseOnExec = (flags & 0x80000) != 0 });
                }
            }
            return result;
        }
    }

    /// <summary>Scans descriptors on its own thread until stopped; collects every matching one that lacks close-on-exec.</summary>
    public sealed class FdWatcher : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;
        public readonly List<string> Leaks = new List<string>();
        public long Scans, Matches;

        public FdWatcher(string[] patterns)
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    foreach (var s in FdScanner.Scan(patterns))
                    {
                        Interlocked.Increment(ref Matches);
                        if (!s.CloseOnExec) lock (Leaks) Leaks.Add(s.Fd + " -> " + s.Target);
                    }
                    Interlocked.Increment(ref Scans);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Dispose() { _stop = true; _thread.Join(); }
    }
}
'@
    }

    function script:Get-RawOverlayOption([string] $Target, [string] $Key) {
        # The value of one super option (upperdir, workdir, lowerdir+...) of the overlay at $Target,
        # decoded independently of the module: octal escapes, then overlay's own '\' escapes for the
        # mount(2) form (which echoes the option text as given).
        $line = Get-MountInfoLine $Target
        if (-not $line) { return $null }
        $super = ($line -split ' - ', 2)[1] -split ' ', 3 | Select-Object -Last 1
        $legacy = $super -match '(^|,)lowerdir='
        foreach ($item in $super -split ',') {
            $k, $v = $item -split '=', 2
            if ($k -ceq $Key) {
                $v = ConvertFrom-MountInfoField $v
                if ($legacy) { $v = [regex]::Replace($v, '\\(.)', '$1') }
                $v
            }
        }
    }

    function script:Invoke-WithDebug([scriptblock] $Script) {
        # Runs a cmdlet call (which should pass -Debug -ErrorAction Continue) with its debug and
        # error records captured apart from its output: @{ Output; Debug; Errors }.
        $all = & $Script 5>&1 2>&1
        [pscustomobject]@{
            Output = @($all | Where-Object { $_ -isnot [Management.Automation.DebugRecord] -and $_ -isnot [Management.Automation.ErrorRecord] })
            Debug  = @($all | Where-Object { $_ -is [Management.Automation.DebugRecord] } | ForEach-Object Message)
            Errors = @($all | Where-Object { $_ -is [Management.Automation.ErrorRecord] })
        }
    }

    function script:Get-Ino([string] $Path) { [string] (& stat -L -c '%d:%i' -- $Path) }
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Hardening of the mount lifecycle' -Tag 'RequiresRoot' {
    BeforeEach {
        Assert-Prerequisite (Test-IsRoot) 'mounting needs root'
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:L1 = New-Layer "$script:Case/lower" @{ 'in-lower' = 'l' }
        $script:L2 = New-Layer "$script:Case/lower2" @{ 'in-lower2' = 'l2' }
        $script:Up = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
        $env:OVERLAYTOOLS_MOUNT_API = $null
    }

    AfterEach {
        $env:OVERLAYTOOLS_MOUNT_API = $null
        Clear-TestMounts $script:Case
    }

    Context 'option injection through <Api>' -ForEach @(
        @{ Api = 'auto'; Marker = 'FSCONFIG_SET_FD, "upperdir"' }
        @{ Api = 'strings'; Marker = 'FSCONFIG_SET_STRING, "upperdir"' }
        @{ Api = 'legacy'; Marker = 'mount("overlay"' }
    ) {
        It 'mounts the directories named <Label> exactly, and mountinfo shows exactly that upper and work' -ForEach @(
            @{ Label = 'with a comma'; Name = 'a,b' }
            @{ Label = 'with a colon'; Name = 'a:b' }
            @{ Label = 'with an equals sign'; Name = 'a=b' }
            @{ Label = 'with spaces'; Name = 'a b  c' }
            @{ Label = 'with a newline'; Name = "a`nb" }
            @{ Label = 'with a tab'; Name = "a`tb" }
            @{ Label = 'in unicode'; Name = 'ünï-层-😀' }
            @{ Label = 'ending in a backslash'; Name = 'trailing\' }
            @{ Label = 'only a backslash'; Name = '\' }
            @{ Label = 'with escaped-looking text'; Name = 'a\,b\:c\\d\054' }
            @{ Label = 'x,upperdir=<evil upper>'; Name = 'x,upperdir={EVILUP}' }
            @{ Label = 'x,workdir=<evil work>'; Name = 'x,workdir={EVILWORK}' }
            @{ Label = 'x:<evil lower>'; Name = 'x:{EVILLOWER}' }
            @{ Label = 'x,lowerdir=<evil lower>,metacopy=on'; Name = 'x,lowerdir={EVILLOWER},metacopy=on' }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            # Decoys the injected options would name: each exists, so a successful injection would
            # show (files written into the evil upper, the evil work dir's work/ emptied, the evil
            # lower's file visible in the merged view).
            $evilUp = New-Layer "$Case/evil-up"
            $evilWork = New-Layer "$Case/evil-work" @{ 'work/precious' = 'keep me' }
            $evilLower = New-Layer "$Case/evil-lower" @{ 'from-evil-lower' = 'x' }
            $n = $Name.Replace('{EVILUP}', $evilUp).Replace('{EVILWORK}', $evilWork).Replace('{EVILLOWER}', $evilLower)
            $lower = New-Layer "$Case/L-$n" @{ 'in-named-lower' = 'n' }
            $upper = New-Layer "$Case/U-$n"
            $work = New-Layer "$Case/W-$n"
            $target = New-Layer "$Case/M-$n"

            $r = Invoke-WithDebug { Mount-Overlay -Lower $lower, $L1 -Upper $upper -Work $work -Target $target -PassThru -Debug -ErrorAction Continue }
            $r.Errors | Should -BeNullOrEmpty
            # Before 6.13 an upper or work dir holding a backslash goes through mount(2): the kernel
            # would echo its escaped string in mountinfo, indistinguishable from a literal one.
            $expected = if ($Api -eq 'strings' -and $n.Contains('\')) { 'mount("overlay"' } else { $Marker }
            ($r.Debug -join "`n") | Should -BeLike "*$expected*" -Because "the $Api path must really be the one exercised"
            $m = $r.Output | Where-Object { $_ -is [OverlayTools.OverlayMount] }
            $m.Target | Should -BeExactly $target
            $m.Lower | Should -BeExactly @($lower, $L1)
            $m.Upper | Should -BeExactly $upper
            $m.Work | Should -BeExactly $work
            # Decoded here, independently of the module's decoder.
            Get-RawOverlayOption $target 'upperdir' | Should -BeExactly $upper
            Get-RawOverlayOption $target 'workdir' | Should -BeExactly $work

            # The kernel worked in exactly those directories, and in no decoy.
            [IO.Directory]::Exists("$work/work") | Should -BeTrue
            [IO.File]::WriteAllText("$target/written", 'w')
            [IO.File]::Exists("$upper/written") | Should -BeTrue
            [IO.File]::Exists("$target/in-named-lower") | Should -BeTrue
            [IO.File]::Exists("$target/in-lower") | Should -BeTrue
            [IO.File]::Exists("$target/from-evil-lower") | Should -BeFalse
            @([IO.Directory]::GetFileSystemEntries($evilUp)).Count | Should -Be 0
            [IO.File]::ReadAllText("$evilWork/work/precious") | Should -Be 'keep me'
            @(Get-MountsUnder $Case) | Should -BeExactly @($target)
        }
    }

    Context 'backslashes in names' {
        It 'takes an absolute path literally, backslashes included, even for a -Target that -Force creates' {
            $lower = New-Layer "$Case/back\slash" @{ 'b' = 'b' }
            $m = Mount-Overlay -Lower $lower -Upper $Up -Target "$Case/new\target" -Force -PassThru
            $m.Lower | Should -BeExactly @($lower)
            $m.Target | Should -BeExactly "$Case/new\target"
            [IO.Directory]::Exists("$Case/new") | Should -BeFalse
            [IO.File]::Exists("$Case/new\target/b") | Should -BeTrue
        }

        It 'reads a backslash in a relative path as a separator, the PowerShell way, never as an escape' {
            $null = New-Layer "$Case/rel/a/b" @{ 'from-a-slash-b' = 'x' }
            $null = New-Layer "$Case/rel/a\b" @{ 'from-a-backslash-b' = 'x' }
            Push-Location -LiteralPath "$Case/rel"
            try { $m = Mount-Overlay -Lower 'a\b' -Target $Merged -PassThru }
            finally { Pop-Location }
            $m.Lower | Should -BeExactly @("$Case/rel/a/b")
            [IO.File]::Exists("$Merged/from-a-slash-b") | Should -BeTrue
        }
    }

    Context 'mount target races' {
        It 'never mounts at a symlink''s destination while the target is swapped for one in a tight loop (<Api>)' -ForEach @(
            @{ Api = 'auto' }
            @{ Api = 'legacy' }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            $canary = New-Layer "$Case/canary" @{ 'canary.txt' = 'untouched' }
            $target = New-Layer "$Case/target"
            $link = "$Case/target-link"
            $null = New-Item -ItemType SymbolicLink -Path $link -Target $canary
            $mounted = 0; $refused = 0
            $swapper = [OverlayToolsHardeningTests.Swapper]::new($target, $link)
            try {
                foreach ($i in 1..300) {
                    $m = Mount-Overlay -Lower $L1, $L2 -Target $target -PassThru -ErrorVariable err -ErrorAction SilentlyContinue
                    # This kernel lets a mount point be renamed, so the swapper pauses while we look.
                    $swapper.Pause()
                    @(Get-MountsUnder $canary).Count | Should -Be 0 -Because 'nothing may ever be mounted at the symlink''s destination'
                    [IO.File]::ReadAllText("$canary/canary.txt") | Should -Be 'untouched'
                    if ($m) {
                        # Mounted on the directory itself, under whichever name it has now.
                        $now = Get-OverlayMount | Where-Object MountId -eq $m.MountId
                        $now.Target | Should -BeIn @($target, $link)
                        (Get-Item -LiteralPath $now.Target -Force).LinkType | Should -BeNullOrEmpty
                        [IO.File]::Exists("$($now.Target)/in-lower2") | Should -BeTrue
                        Dismount-Overlay -Target $now.Target
                        $mounted++
                    }
                    else {
                        $err[0].FullyQualifiedErrorId | Should -Be 'TargetIsSymlink,OverlayTools.MountOverlayCommand'
                        $refused++
                    }
                    $swapper.Resume()
                }
            }
            finally { $swapper.Dispose() }
            $swapper.Swaps | Should -BeGreaterThan 0
            $mounted | Should -BeGreaterThan 0
            Write-Host "    target race ($Api): $mounted mounted, $refused refused as a symlink, $($swapper.Swaps) swaps"
            @(Get-MountsUnder $Case).Count | Should -Be 0
        }

        It 'refuses "<Label>" when it is a symlink, although a trailing slash would make the kernel follow it' -ForEach @(
            @{ Label = 'link/' ; Suffix = '/' }
            @{ Label = 'link//'; Suffix = '//' }
        ) {
            $canary = New-Layer "$Case/canary2"
            $null = New-Item -ItemType SymbolicLink -Path "$Case/link" -Target $canary
            Mount-Overlay -Lower $L1, $L2 -Target "$Case/link$Suffix" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'TargetIsSymlink,OverlayTools.MountOverlayCommand'
            @(Get-MountsUnder $canary).Count | Should -Be 0

            Mount-Overlay -Lower $L1, $L2 -Target $canary
            Dismount-Overlay -Target "$Case/link$Suffix" -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'TargetIsSymlink,OverlayTools.DismountOverlayCommand'
            Test-MountedAt $canary | Should -BeTrue
        }

        It 'mounts exactly the layer it validated while the layer is swapped for a symlink (<Api>), checked by device and inode' -ForEach @(
            @{ Api = 'auto'; Mode = 'a tight loop' }
            @{ Api = 'strings'; Mode = 'one swap at a random moment of each mount' }
            @{ Api = 'legacy'; Mode = 'one swap at a random moment of each mount' }
        ) {
            # With descriptors (auto, 6.13+) the kernel gets exactly the directory that was opened,
            # whatever happens to its name. On the path-string fallbacks (6.8-6.12 and mount(2))
            # the kernel looks the path up again; a swap still in place afterwards must be caught.
            # (A swap there and back within that window is not detectable: see about_OverlayTools.)
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            $intended = New-Layer "$Case/layer" @{ 'intended' = 'i' }
            $decoy = New-Layer "$Case/decoy" @{ 'decoy' = 'd' }
            $link = "$Case/layer-link"
            $null = New-Item -ItemType SymbolicLink -Path $link -Target $decoy
            $ids = @{ (Get-Ino $intended) = 'intended'; (Get-Ino $decoy) = 'decoy' }
            $mounted = 0; $changed = 0
            $loop = $Api -eq 'auto'
            $swapper = if ($loop) { [OverlayToolsHardeningTests.Swapper]::new($intended, $link) } else { [OverlayToolsHardeningTests.OneShotSwapper]::new($intended, $link) }
            $random = [Random]::new(7)
            try {
                foreach ($i in 1..200) {
                    if (-not $loop) {
                        if ((Get-Item -LiteralPath "$Case/layer" -Force).LinkType) { $swapper.SwapBack() }
                        $swapper.Arm($random.Next(0, 1500))
                    }
                    $r = Invoke-WithDebug { Mount-Overlay -Lower "$Case/layer", $L2 -Target $Merged -PassThru -Debug -ErrorAction Continue }
                    if (-not $loop) { $swapper.WaitDone() }
                    if ($r.Errors.Count -gt 0) {
                        # Only on the path-string fallbacks may a swap be caught, and then it is refused.
                        $r.Errors[0].FullyQualifiedErrorId | Should -Be 'LayerChanged,OverlayTools.MountOverlayCommand'
                        $Api | Should -BeIn @('strings', 'legacy')
                        Test-MountedAt $Merged | Should -BeFalse
                        $changed++
                        continue
                    }
                    # The module says which directory it opened and validated (device:inode) ...
                    $opened = $r.Debug | Where-Object { $_ -like "open('$Case/layer'*" } | Select-Object -First 1
                    $opened -match 'dev (\d+):(\d+) ino (\d+)' | Should -BeTrue -Because "the debug output names the opened directory: $opened"
                    $ino = $Matches[3]
                    $validated = $ids.Keys | Where-Object { $_ -match "^\d+:$ino$" }
                    $validated | Should -Not -BeNullOrEmpty
                    # ... and the merged view shows that very directory's content.
                    $seen = if ([IO.File]::Exists("$Merged/intended")) { 'intended' } else { 'decoy' }
                    $ids[$validated] | Should -Be $seen
                    Dismount-Overlay -Target $Merged
                    $mounted++
                }
            }
            finally { $swapper.Dispose() }
            $mounted | Should -BeGreaterThan 0
            Write-Host "    layer race ($Api, $Mode): $mounted mounted as validated, $changed refused as changed"
        }
    }

    Context 'descriptors' {
        It 'leaks no descriptor to a child process, while a mount is in progress and after it' {
            $patterns = @($Case, '/dev/kmsg', 'anon_inode:[fscontext]', '/run/overlaytools')
            # Hold the upper's lock, so a Mount-Overlay in another runspace stops half way with all
            # its descriptors open; then look at them from here and from child processes.
            $lock = [OverlayToolsHardeningTests.Libc]::LockDirectory($Up)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$ModulePath'; Mount-Overlay -Lower '$L1' -Upper '$Up' -Target '$Merged'")
                $async = $ps.BeginInvoke()
                Wait-Until -IntervalMilliseconds 10 { @([OverlayToolsHardeningTests.FdScanner]::Scan(@($Merged)) ).Count -gt 0 }
                $ours = [OverlayToolsHardeningTests.FdScanner]::Scan($patterns)
                ($ours.Target -join ',') | Should -Match ([regex]::Escape($L1))
                ($ours | Where-Object { -not $_.CloseOnExec }) | Should -BeNullOrEmpty

                $viaCall = & ls -l /proc/self/fd
                $file = Join-Path $Case 'child-fds.txt'
                Start-Process -FilePath ls -ArgumentList '-l', '/proc/self/fd' -RedirectStandardOutput $file -Wait
                foreach ($listing in @($viaCall) + @(Get-Content -LiteralPath $file)) {
                    foreach ($p in $patterns) { $listing | Should -Not -BeLike "*$p*" }
                }
            }
            finally {
                [OverlayToolsHardeningTests.Libc]::Unlock($lock)
                if ($async) { $null = $ps.EndInvoke($async) }
                $ps.Dispose()
            }
            Test-MountedAt $Merged | Should -BeTrue
            $after = & ls -l /proc/self/fd
            foreach ($p in $patterns) { ($after -join "`n") | Should -Not -BeLike "*$p*" }
        }

        It 'keeps every descriptor close-on-exec through many mounts on both paths, and children see none of them' {
            $patterns = @($Case, '/dev/kmsg', 'anon_inode:[fscontext]', '/run/overlaytools', "/proc/$PID/mountinfo")
            $watcher = [OverlayToolsHardeningTests.FdWatcher]::new($patterns)
            $children = [Collections.Generic.List[string]]::new()
            try {
                foreach ($api in 'auto', 'strings', 'legacy') {
                    $env:OVERLAYTOOLS_MOUNT_API = $api
                    foreach ($i in 1..40) {
                        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
                        Mount-Overlay -Lower $L1 -Target "$Case/ro-$i" -Force
                        if ($i % 10 -eq 0) { $children.AddRange([string[]] @(& ls -l /proc/self/fd)) }
                        Dismount-Overlay -Target $Merged, "$Case/ro-$i"
                    }
                }
            }
            finally { $watcher.Dispose() }
            $watcher.Leaks | Should -BeNullOrEmpty
            $watcher.Scans | Should -BeGreaterThan 0
            foreach ($p in $patterns) { ($children -join "`n") | Should -Not -BeLike "*$p*" }
        }
    }

    Context 'cleanup' {
        It 'removes every directory it created (nested target, work dir) when the kernel refuses, and nothing else' {
            $before = @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName
            Mount-Overlay -Lower $L1 -Upper $Up -Target "$Case/a/b/c" -Force -Option 'nfs_export=on', 'index=off' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'MountFailed,OverlayTools.MountOverlayCommand'
            @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName | Should -Be $before
        }

        It 'leaves a created <What> that something got mounted on meanwhile, with what is mounted there' -ForEach @(
            @{ What = 'target'; Pick = { "$Case/made/target" } }
            @{ What = 'work dir'; Pick = { "$Up.work" } }
        ) {
            $dir = & $Pick
            # The upper's lock stops Mount-Overlay after it created the target and the work dir.
            $lock = [OverlayToolsHardeningTests.Libc]::LockDirectory($Up)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$ModulePath'; Mount-Overlay -Lower '$L1' -Upper '$Up' -Target '$Case/made/target' -Force -Option 'nfs_export=on', 'index=off' -WarningVariable w -ErrorVariable e -ErrorAction SilentlyContinue; `$e[0].FullyQualifiedErrorId; `"`$w`"")
                $async = $ps.BeginInvoke()
                # Waiting for the upper's lock: the target and work dir are made and opened by then.
                Wait-LockOpen $Up
                & mount -t tmpfs tmpfs $dir
                [IO.File]::WriteAllText("$dir/on-the-mount", 'keep')
            }
            finally { [OverlayToolsHardeningTests.Libc]::Unlock($lock) }
            $out = $ps.EndInvoke($async); $ps.Dispose()
            $out[0] | Should -Be 'MountFailed,OverlayTools.MountOverlayCommand'
            $out[1] | Should -BeLike "*Left '$dir' in place: something was mounted on it meanwhile*"
            (Get-MountsUnder $Case) | Should -Contain $dir
            [IO.File]::ReadAllText("$dir/on-the-mount") | Should -Be 'keep'
        }

        It 'never removes through a symlink that replaced a directory it created' {
            $canary = New-Layer "$Case/canary" @{ 'work/.keep' = ''; 'index/.keep' = ''; 'file' = 'f' }
            $null = [IO.Directory]::CreateDirectory("$canary/empty-work")
            $lock = [OverlayToolsHardeningTests.Libc]::LockDirectory($Up)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$ModulePath'; Mount-Overlay -Lower '$L1' -Upper '$Up' -Target '$Merged' -Option 'nfs_export=on', 'index=off' -WarningVariable w -ErrorVariable e -ErrorAction SilentlyContinue; `$e[0].FullyQualifiedErrorId; `"`$w`"")
                $async = $ps.BeginInvoke()
                # Waiting for the upper's lock: the work dir is made and opened by then.
                Wait-LockOpen $Up
                [IO.Directory]::Move("$Up.work", "$Up.work.moved")
                $null = New-Item -ItemType SymbolicLink -Path "$Up.work" -Target $canary
            }
            finally { [OverlayToolsHardeningTests.Libc]::Unlock($lock) }
            $out = $ps.EndInvoke($async); $ps.Dispose()
            $out[0] | Should -Be 'MountFailed,OverlayTools.MountOverlayCommand'
            $out[1] | Should -BeLike "*replaced by a symbolic link*"
            (Get-Item -LiteralPath "$Up.work" -Force).LinkType | Should -Be 'SymbolicLink'
            @(Get-ChildItem -LiteralPath $canary -Force -Recurse).Count | Should -Be 6
        }
    }

    Context 'busy mounts and other mount namespaces' {
        AfterEach {
            if ($script:Holder) {
                Stop-Process -Id $script:Holder.Id -Force -ErrorAction SilentlyContinue
                $script:Holder.WaitForExit()
                $script:Holder = $null
            }
        }

        It 'names a mount below a busy overlay as what holds it' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $inner = New-Layer "$Merged/inner"
            & mount -t tmpfs tmpfs $inner
            Dismount-Overlay -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayBusy,OverlayTools.DismountOverlayCommand'
            $err[0].Exception.Message | Should -BeLike "*a mount below it at $inner*"
            Test-MountedAt $Merged | Should -BeTrue
        }

        BeforeAll {
            function Invoke-TwoDismounts {
                # Two runspaces dismount $Merged at once; each says 'ok' or its first error id.
                1, 2 | ForEach-Object -ThrottleLimit 2 -Parallel {
                    Import-Module $using:ModulePath
                    Dismount-Overlay -Target $using:Merged -ErrorVariable e -ErrorAction SilentlyContinue
                    if ($e) { $e[0].FullyQualifiedErrorId } else { 'ok' }
                }
            }
        }

        It 'dismounts once when two runspaces race to dismount the same overlay; the other gets OverlayNotMounted' {
            foreach ($round in 1..10) {
                Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
                $ids = Invoke-TwoDismounts
                @($ids | Where-Object { $_ -eq 'ok' }).Count | Should -Be 1
                @($ids | Where-Object { $_ -ne 'ok' }) | Should -Be @('OverlayNotMounted,OverlayTools.DismountOverlayCommand')
                Test-MountedAt $Merged | Should -BeFalse
            }
        }

        It 'dismounts only the overlay when two runspaces race to dismount one stacked on a tmpfs; the tmpfs stays every time' {
            & mount -t tmpfs beneath $Merged
            foreach ($round in 1..20) {
                Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
                $ids = Invoke-TwoDismounts
                @($ids | Where-Object { $_ -eq 'ok' }).Count | Should -Be 1
                # The other one checked before (the overlay went meanwhile) or after (a tmpfs is no overlay).
                @($ids | Where-Object { $_ -ne 'ok' }) | Should -BeIn @('OverlayNotMounted,OverlayTools.DismountOverlayCommand', 'NotAnOverlayMount,OverlayTools.DismountOverlayCommand')
                Test-MountedAt $Merged | Should -BeFalse
                @(Get-Content -LiteralPath /proc/self/mountinfo | Where-Object { $_ -like "* $Merged * - tmpfs beneath *" }).Count | Should -Be 1
            }
        }

        It 'waits its turn while another Dismount-Overlay dismounts the same overlay, then finds it gone and leaves the tmpfs beneath alone' {
            & mount -t tmpfs beneath $Merged
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $id = (Get-OverlayMount -Target $Merged).MountId
            # Hold this mount's byte of the dismount lock, as another Dismount-Overlay does for its
            # last check and umount2, and dismount the overlay meanwhile, as that one would.
            $lock = [OverlayToolsHardeningTests.Libc]::LockByte('/run/overlaytools/dismount.lock', $id)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$ModulePath'; Dismount-Overlay -Target '$Merged' -Debug")
                $async = $ps.BeginInvoke()
                Wait-Until -IntervalMilliseconds 10 { @($ps.Streams.Debug | Where-Object Message -Like "Another dismount of mount $id holds*").Count -gt 0 }
                & umount $Merged
            }
            finally {
                [OverlayToolsHardeningTests.Libc]::Unlock($lock)
                if ($async) { $null = $ps.EndInvoke($async) }
            }
            @($ps.Streams.Error).Count | Should -Be 1
            $ps.Streams.Error[0].FullyQualifiedErrorId | Should -Be 'OverlayNotMounted,OverlayTools.DismountOverlayCommand'
            $ps.Streams.Error[0].Exception.Message | Should -BeLike '*dismounted meanwhile*'
            $ps.Dispose()
            @(Get-Content -LiteralPath /proc/self/mountinfo | Where-Object { $_ -like "* $Merged * - tmpfs beneath *" }).Count | Should -Be 1
        }

        It 'warns when the dismounted overlay is still mounted in another mount namespace, naming its process' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $script:Holder = Start-Process -FilePath unshare -ArgumentList '--mount', '--propagation', 'private', 'sleep', '300' -PassThru
            $myNs = Get-Item /proc/self/ns/mnt
            Wait-Until -IntervalMilliseconds 10 { (Get-Content -LiteralPath "/proc/$($Holder.Id)/comm" -ErrorAction SilentlyContinue) -eq 'sleep' -and (& readlink "/proc/$($Holder.Id)/ns/mnt") -ne $myNs.LinkTarget }
            Dismount-Overlay -Target $Merged -WarningVariable warn -WarningAction SilentlyContinue -ErrorVariable err
            $err | Should -BeNullOrEmpty
            Test-MountedAt $Merged | Should -BeFalse
            "$warn" | Should -BeLike "*still mounted at '$Merged' in the mount namespace of pid $($Holder.Id) (sleep)*"
            "$warn" | Should -BeLike '*nsenter*'
        }

        It 'warns when the dismounted overlay is still bind-mounted elsewhere in this namespace' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $bind = New-Layer "$Case/bind"
            & mount --bind $Merged $bind
            Dismount-Overlay -Target $Merged -WarningVariable warn -WarningAction SilentlyContinue
            Test-MountedAt $Merged | Should -BeFalse
            "$warn" | Should -BeLike "*still mounted at '$bind' (a bind mount of it)*"
        }

        It 'warns about nothing when no other namespace holds a copy' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            Dismount-Overlay -Target $Merged -WarningVariable warn -WarningAction SilentlyContinue
            $warn | Should -BeNullOrEmpty
        }

        It 'refuses an <What> still in use by an overlay in another mount namespace with <ErrorId>, naming it, and mounts nothing (<Api>)' -ForEach @(
            foreach ($api in 'auto', 'legacy') {
                @{ Api = $api; What = 'upper'; ErrorId = 'UpperInUse'; Second = { @{ Lower = $L2; Upper = $Up; Work = "$Case/work2"; Target = "$Case/merged2" } } }
                @{ Api = $api; What = 'work dir'; ErrorId = 'WorkInUse'; Second = { @{ Lower = $L2; Upper = (New-Layer "$Case/upper2"); Work = "$Up.work"; Target = "$Case/merged2" } } }
                # The kernel counts a directory inside another overlay's upper as in use too.
                @{ Api = $api; What = 'upper inside an upper'; ErrorId = 'UpperInUse'; Inside = "is inside the upper of the overlay"; Second = { @{ Lower = $L2; Upper = (New-Layer "$Up/nested"); Work = "$Case/work2"; Target = "$Case/merged2" } } }
            }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $script:Holder = Start-Process -FilePath unshare -ArgumentList '--mount', '--propagation', 'private', 'sleep', '300' -PassThru
            Wait-Until -IntervalMilliseconds 10 { (Get-Content -LiteralPath "/proc/$($Holder.Id)/comm" -ErrorAction SilentlyContinue) -eq 'sleep' -and (Get-Content -LiteralPath "/proc/$($Holder.Id)/mountinfo" -Raw) -like "*$Merged*" }
            Dismount-Overlay -Target $Merged -WarningAction SilentlyContinue
            $null = New-Layer "$Case/merged2"
            $p = & $Second
            $before = @(Get-ChildItem -LiteralPath $Case -Force).Name
            Mount-Overlay @p -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.MountOverlayCommand"
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].Exception.Message | Should -BeLike "*mounted at '$Merged' in the mount namespace of pid $($Holder.Id) (sleep)*"
            $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*nsenter -t $($Holder.Id) -m umount*"
            if ($Inside) { $err[0].Exception.Message | Should -BeLike "*'$($p.Upper)' $Inside mounted at '$Merged'*" }
            Test-MountedAt "$Case/merged2" | Should -BeFalse
            @(Get-ChildItem -LiteralPath $Case -Force).Name | Should -Be $before

            # Once that namespace is gone, the same mount works.
            Stop-Process -Id $Holder.Id -Force; $Holder.WaitForExit(); $script:Holder = $null
            Mount-Overlay @p
            Test-MountedAt "$Case/merged2" | Should -BeTrue
        }
    }

    Context 'mount ids the kernel reuses' {
        # The kernel hands out the lowest free mount id: an overlay mounted right after another was
        # dismounted usually gets its id. A command that keeps the mount table between records
        # must not take the new overlay for the old one.
        It 'Resolve-OverlayPath in one pipeline names the layers of the overlay mounted now, not of the one whose mount id it took' {
            $L3 = New-Layer "$Case/lower3" @{ 'in-lower' = 'l3' }
            # Settle on the lowest free mount id (other mounts come and go): remount until the id repeats.
            Mount-Overlay -Lower $L1, $L2 -Target $Merged
            $first = (Get-OverlayMount -Target $Merged).MountId
            foreach ($i in 1..20) {
                Dismount-Overlay -Target $Merged
                Mount-Overlay -Lower $L1, $L2 -Target $Merged
                $id = (Get-OverlayMount -Target $Merged).MountId
                if ($id -eq $first) { break }
                $first = $id
            }
            $reused = @{ Id = $false }   # set inside the script block's own scope
            $r = @(& {
                    "$Merged/in-lower"   # Resolve-OverlayPath reads the mount table for this one
                    foreach ($i in 1..20) {
                        Dismount-Overlay -Target $Merged
                        Mount-Overlay -Lower $L3, $L2 -Target $Merged
                        if ((Get-OverlayMount -Target $Merged).MountId -eq $first) { $reused.Id = $true; break }
                    }
                    "$Merged/in-lower"
                } | Resolve-OverlayPath)
            Assert-Prerequisite $reused.Id 'the kernel gives the new overlay the mount id of the one dismounted before it'
            $r.Count | Should -Be 2
            $r[0].Layer | Should -Be $L1
            $r[1].Layer | Should -Be $L3
            $r[1].LayerPath | Should -Be "$L3/in-lower"
        }

        It 'Dismount-Overlay -PassThru emits each overlay it dismounted, stacked ones in turn, read while it held each' {
            Mount-Overlay -Lower $L1, $L2 -Target $Merged
            $out = @(& {
                    $Merged
                    Mount-Overlay -Lower $L2, $L1 -Target $Merged  # stacked on the first
                    $Merged
                } | Dismount-Overlay -PassThru)
            $out.Count | Should -Be 2
            $out[0].Lower | Should -Be @($L1, $L2)
            $out[1].Lower | Should -Be @($L2, $L1)
            Test-MountedAt $Merged | Should -BeFalse
        }
    }

    Context 'the kernel''s quiet fallbacks' {
        It 'does not keep a mount the kernel made read-only because the work dir is immutable, and says so (<Api>)' -ForEach @(
            @{ Api = 'auto' }
            @{ Api = 'legacy' }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            $work = New-Layer "$Case/immutable-work"
            & chattr +i $work 2>$null
            $immutable = $LASTEXITCODE -eq 0
            Assert-Prerequisite $immutable 'chattr +i needs a file system with the immutable flag (ext4, xfs, btrfs) under the test root'
            try {
                Mount-Overlay -Lower $L1 -Upper $Up -Work $work -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
                $err[0].FullyQualifiedErrorId | Should -Be 'MountFellBackToReadOnly,OverlayTools.MountOverlayCommand'
                $err[0].CategoryInfo.Category | Should -Be 'InvalidResult'
                $err[0].Exception.Message | Should -BeLike '*read-only*'
                $err[0].ErrorDetails.RecommendedAction | Should -BeLike '*immutable*'
                Test-MountedAt $Merged | Should -BeFalse
                @(Get-MountsUnder $Case).Count | Should -Be 0
            }
            finally { & chattr -i $work }
        }

        It 'refuses an upper on a file system without d_type (ext4 made with -O ^filetype on a loop device)' {
            $mkfs = Get-Command mkfs.ext4 -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
            Assert-Prerequisite ([bool] $mkfs) 'mkfs.ext4 (e2fsprogs) is needed to make a file system without d_type'
            Assert-Prerequisite (Test-Path /dev/loop-control) 'loop devices are needed for a file system image'
            $image = Join-Path $Case 'nodtype.img'
            $fs = New-Layer "$Case/nodtype"
            & truncate -s 32M $image
            & $mkfs.Source -q -F -O '^filetype' $image
            & mount -o loop $image $fs
            $LASTEXITCODE | Should -Be 0
            $upper = New-Layer "$fs/upper"
            $before = @(Get-ChildItem -LiteralPath $fs -Force).Name
            Mount-Overlay -Lower $L1 -Upper $upper -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperNoDType,OverlayTools.MountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].Exception.Message | Should -BeLike '*d_type*'
            Test-MountedAt $Merged | Should -BeFalse
            @(Get-ChildItem -LiteralPath $fs -Force).Name | Should -Be $before
        }
    }

    Context 'concurrency' {
        It 'leaves nothing behind after 32 parallel runspaces each mount and dismount in a loop' {
            $dirs = foreach ($i in 1..32) {
                [pscustomobject]@{
                    N      = $i
                    Upper  = New-Layer "$Case/par/$i/upper"
                    Target = New-Layer "$Case/par/$i/merged"
                    RoTarget = New-Layer "$Case/par/$i/ro"
                }
            }
            $before = @(Get-ChildItem -LiteralPath "$Case/par" -Force -Recurse).FullName
            $results = $dirs | ForEach-Object -ThrottleLimit 32 -Parallel {
                Import-Module $using:ModulePath
                $d = $_
                $errors = 0
                foreach ($i in 1..15) {
                    Mount-Overlay -Lower $using:L1, $using:L2 -Upper $d.Upper -Work "$($d.Upper).work" -Target $d.Target -ErrorVariable +e -ErrorAction SilentlyContinue
                    Mount-Overlay -Lower $using:L1 -Target $d.RoTarget -ErrorVariable +e -ErrorAction SilentlyContinue
                    if (-not (Test-Path -LiteralPath (Join-Path $d.Target 'in-lower2'))) { $errors++ }
                    Dismount-Overlay -Target $d.Target, $d.RoTarget -ErrorVariable +e -ErrorAction SilentlyContinue
                }
                "$($d.N):${errors}:$(@($e).Count):$(@($e | ForEach-Object FullyQualifiedErrorId) -join '|')"
            }
            $results | Should -HaveCount 32
            foreach ($r in $results) { $r | Should -Match '^\d+:0:0:$' }
            @(Get-MountsUnder $Case).Count | Should -Be 0
            # What is left is what was there plus each upper's work dir, which stays by design.
            $after = @(Get-ChildItem -LiteralPath "$Case/par" -Force -Recurse | Where-Object { $_.FullName -notlike '*/upper.work*' }).FullName
            $after | Should -Be $before
        }

        It 'lets exactly one of two racing mounts of the same <What> win; the other gets <ErrorId>' -ForEach @(
            @{ What = 'upper'; ErrorId = 'UpperInUse' }
            @{ What = 'work dir'; ErrorId = 'WorkInUse' }
        ) {
            foreach ($round in 1..15) {
                $jobs = foreach ($k in 1, 2) {
                    [pscustomobject]@{
                        K      = $k
                        Upper  = if ($What -eq 'upper') { $Up } else { New-Layer "$Case/r$round-up$k" }
                        Work   = if ($What -eq 'upper') { "$Case/r$round-work$k" } else { "$Case/r$round-work" }
                        Target = New-Layer "$Case/r$round-merged$k"
                    }
                }
                $null = [IO.Directory]::CreateDirectory("$Case/r$round-work")
                $gate = [Threading.Barrier]::new(2)
                $out = $jobs | ForEach-Object -ThrottleLimit 2 -Parallel {
                    Import-Module $using:ModulePath
                    $d = $_
                    ($using:gate).SignalAndWait()
                    Mount-Overlay -Lower $using:L1 -Upper $d.Upper -Work $d.Work -Target $d.Target -ErrorVariable e -ErrorAction SilentlyContinue
                    if ($e) { "$($d.K):$($e[0].FullyQualifiedErrorId)" } else { "$($d.K):ok" }
                }
                $gate.Dispose()
                @($out | Where-Object { $_ -like '*:ok' }).Count | Should -Be 1 -Because "round ${round}: $($out -join ', ')"
                @($out | Where-Object { $_ -notlike '*:ok' }) | ForEach-Object { $_ | Should -BeLike "*:$ErrorId,OverlayTools.MountOverlayCommand" }
                $winner = $jobs | Where-Object { "$($_.K):ok" -in $out }
                Test-MountedAt $winner.Target | Should -BeTrue
                $loser = $jobs | Where-Object { $_ -ne $winner }
                Test-MountedAt $loser.Target | Should -BeFalse
                Dismount-Overlay -Target $winner.Target
            }
        }

        It 'lets exactly one of eight racing mounts of a fresh upper win, and the default work dir it made stays with the winner' {
            foreach ($round in 1..3) {
                $upper = New-Layer "$Case/d$round/upper"
                $targets = foreach ($k in 1..8) { New-Layer "$Case/d$round/m$k" }
                $gate = [Threading.Barrier]::new(8)
                $out = $targets | ForEach-Object -ThrottleLimit 8 -Parallel {
                    Import-Module $using:ModulePath
                    ($using:gate).SignalAndWait()
                    Mount-Overlay -Lower $using:L1 -Upper $using:upper -Target $_ -ErrorVariable e -ErrorAction SilentlyContinue
                    if ($e) { "$($_):$($e[0].FullyQualifiedErrorId)" } else { "$($_):ok" }
                }
                $gate.Dispose()
                $won = @($out | Where-Object { $_ -like '*:ok' })
                $won.Count | Should -Be 1 -Because "round ${round}: $($out -join ', ')"
                @($out | Where-Object { $_ -notlike '*:ok' }) | ForEach-Object { $_ | Should -BeLike '*:UpperInUse,OverlayTools.MountOverlayCommand' }
                # A loser never removes the work dir the winner is mounted with: the winner still copies up.
                Test-Path -LiteralPath "$upper.work/work" | Should -BeTrue
                $winner = $won[0] -replace ':ok$', ''
                Set-Content -LiteralPath "$winner/in-lower" -Value 'changed'
                Get-Content -LiteralPath "$upper/in-lower" | Should -Be 'changed'
                Dismount-Overlay -Target $winner
            }
        }

        It 'stops while it waits for the upper''s lock, and mounts nothing' {
            # Hold the lock Mount-Overlay takes on the upper dir.
            $lock = [OverlayToolsHardeningTests.Libc]::LockDirectory($Up)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$ModulePath'; Mount-Overlay -Lower '$L1' -Upper '$Up' -Target '$Merged'")
                $handle = $ps.BeginInvoke()
                Start-Sleep -Milliseconds 500
                $ps.InvocationStateInfo.State | Should -Be 'Running'
                $ps.Stop()
                $ps.InvocationStateInfo.State | Should -Be 'Stopped'
                Test-MountedAt $Merged | Should -BeFalse
                Test-Path -LiteralPath "$Up.work" | Should -BeFalse
            }
            finally {
                $ps.Dispose()
                [OverlayToolsHardeningTests.Libc]::Unlock($lock)
            }
        }

        It 'does not take another mount''s "mounting read-only" in the kernel log for its own' {
            # mount(8) on an immutable work dir makes the kernel log a read-only fallback, over and over.
            $noise = New-Layer "$Case/noise"
            foreach ($d in 'l', 'u', 'w/work', 'm') { $null = New-Layer "$noise/$d" }
            & chattr +i "$noise/w/work" 2>$null
            Assert-Prerequisite ($LASTEXITCODE -eq 0) 'chattr +i needs a file system with the immutable flag (ext4, xfs, btrfs) under the test root'
            $loop = Start-Process -FilePath bash -ArgumentList '-c', "cd '$noise' && while :; do mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w m 2>/dev/null; umount m 2>/dev/null; done" -PassThru
            try {
                foreach ($i in 1..30) {
                    $t = New-Layer "$Case/quiet/$i/m"
                    Mount-Overlay -Lower $L1 -Upper (New-Layer "$Case/quiet/$i/u") -Target $t -ErrorVariable err -ErrorAction SilentlyContinue
                    $err.Count | Should -Be 0 -Because "mount ${i}: $err"
                    Dismount-Overlay -Target $t
                }
            }
            finally {
                $loop | Stop-Process -ErrorAction SilentlyContinue
                $loop.WaitForExit()
                & umount "$noise/m" 2>$null
                & chattr -i "$noise/w/work"
            }
        }
    }
}
