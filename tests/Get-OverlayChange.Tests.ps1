#Requires -Version 7.4
# Get-OverlayChange against the real kernel: change lists after real operations through the
# merged view, cross-checked with what the kernel itself shows (merged view against the lowers).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestOpenWatch.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:ModulePath = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
    $script:Root = New-TestRoot 'changes'

    if (-not ('OverlayToolsChangeTests.StopGate' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Threading;

namespace OverlayToolsChangeTests
{
    /// <summary>What Wait-TestStop saw, and its handshake with the test's thread.</summary>
    public sealed class StopGate
    {
        public readonly ManualResetEventSlim FirstSeen = new ManualResetEventSlim(false);
        public readonly ManualResetEventSlim StopRequested = new ManualResetEventSlim(false);
        public int Seen;
    }

    /// <summary>
    /// Passes its input on, and after the first object holds the pipeline until the pipeline is
    /// stopped. PowerShell marks a pipeline as stopping before it calls any StopProcessing, so
    /// once this lets go, the next WriteObject upstream throws: no race with the stop.
    /// </summary>
    [Cmdlet("Wait", "TestStop")]
    public sealed class WaitTestStopCommand : Cmdlet
    {
        [Parameter(Mandatory = true)] public StopGate Gate { get; set; }
        [Parameter(ValueFromPipeline = true)] public PSObject InputObject { get; set; }

        protected override void ProcessRecord()
        {
            Interlocked.Increment(ref Gate.Seen);
            WriteObject(InputObject);
            if (!Gate.FirstSeen.IsSet)
            {
                Gate.FirstSeen.Set();
                Gate.StopRequested.Wait(TimeSpan.FromSeconds(60));
            }
        }

        protected override void StopProcessing() { Gate.StopRequested.Set(); }
    }
}
'@
    }

    function ConvertTo-DiffLines($changes) {
        # docker diff's lines: "C /etc"
        @($changes | ForEach-Object { '{0} {1}' -f $_.Kind.Substring(0, 1), $_.Path })
    }

    function Assert-MatchesKernel {
        # Cross-check: compare the merged view with the lowers alone (mounted read-only), as the
        # kernel shows them, using find(1), which opens no file.
        param([string] $Merged, [string[]] $Lowers, $Changes)
        $image = New-Layer (Join-Path $Case ('image-' + [guid]::NewGuid().ToString('N').Substring(0, 6)))
        Mount-Overlay -Lower $Lowers -Target $image
        try {
            $m = Get-TestTreeState $Merged
            $i = Get-TestTreeState $image
        }
        finally {
            Dismount-Overlay $image
        }
        $byPath = @{}
        foreach ($c in $Changes) { $byPath[$c.Path] = $c.Kind }
        foreach ($p in $m.Keys) {
            if (-not $i.ContainsKey($p)) {
                $byPath[$p] | Should -Be 'Added' -Because "$p is only in the merged view"
                continue
            }
            $a = $m[$p]; $b = $i[$p]
            $differs = $a.Type -ne $b.Type -or $a.Mode -ne $b.Mode -or $a.Uid -ne $b.Uid -or $a.Gid -ne $b.Gid -or $a.Target -ne $b.Target -or
                ($a.Type -ne 'd' -and ($a.Size -ne $b.Size -or $a.Mtime -ne $b.Mtime))
            if ($differs) { $byPath[$p] | Should -Be 'Changed' -Because "$p differs between the merged view and the lowers" }
            elseif ($byPath.ContainsKey($p)) { $byPath[$p] | Should -Be 'Changed' -Because "$p exists on both sides" }
        }
        foreach ($p in $i.Keys) {
            if ($m.ContainsKey($p)) { continue }
            $parent = $p.Substring(0, $p.LastIndexOf('/'))
            if ($parent -eq '' -or $m.ContainsKey($parent)) {
                $byPath[$p] | Should -Be 'Deleted' -Because "$p is gone from the merged view"
            }
            else {
                $byPath.ContainsKey($p) | Should -BeFalse -Because "$p lies below a deleted directory, which docker diff lists alone"
            }
        }
        foreach ($c in $Changes) {
            switch ($c.Kind) {
                'Added' { $m.ContainsKey($c.Path) | Should -BeTrue; $i.ContainsKey($c.Path) | Should -BeFalse }
                'Changed' { $m.ContainsKey($c.Path) | Should -BeTrue; $i.ContainsKey($c.Path) | Should -BeTrue }
                'Deleted' { $m.ContainsKey($c.Path) | Should -BeFalse; $i.ContainsKey($c.Path) | Should -BeTrue }
            }
        }
    }
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Get-OverlayChange' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:Lower = New-Layer "$script:Case/lower" @{
            'etc/passwd' = 'root:x:0:0'; 'etc/hosts' = '127.0.0.1 localhost'; 'var/cache/a' = 'a'; 'var/cache/sub/b' = 'b'
            'data/moved/file' = 'f'; 'data/keep' = 'k'; 'usr/bin/tool' = 'tool'
        }
        $script:Upper = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    Context 'docker diff semantics' {
        It 'lists creates as Added and their parents as Changed' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Set-Content -LiteralPath "$Merged/etc/new.conf" -Value 'x'
            $null = New-Item -ItemType Directory -Path "$Merged/opt/app"
            Set-Content -LiteralPath "$Merged/opt/app/run.sh" -Value 'echo'
            $c = Get-OverlayChange -Target $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /etc', 'A /etc/new.conf', 'A /opt', 'A /opt/app', 'A /opt/app/run.sh')
            $c[0] | Should -BeOfType ([OverlayTools.OverlayChange])
            ($c | Where-Object Path -EQ '/opt/app/run.sh').ItemType | Should -Be 'File'
            ($c | Where-Object Path -EQ '/opt/app/run.sh').Size | Should -Be 5
            ($c | Where-Object Path -EQ '/opt').ItemType | Should -Be 'Directory'
            $c.Layer | Select-Object -Unique | Should -Be $Upper
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists an append as Changed with every parent' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Add-Content -LiteralPath "$Merged/data/moved/file" -Value 'more'
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /data', 'C /data/moved', 'C /data/moved/file')
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists deletions as Deleted, a deleted directory once' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Remove-Item -LiteralPath "$Merged/etc/hosts"
            Remove-Item -LiteralPath "$Merged/var/cache" -Recurse -Force
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /etc', 'D /etc/hosts', 'C /var', 'D /var/cache')
            ($c | Where-Object Path -EQ '/var/cache').ItemType | Should -Be 'Directory'
            ($c | Where-Object Path -EQ '/etc/hosts').ItemType | Should -Be 'File'
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists rm -rf of a lower directory and its re-creation as Changed, hidden children Deleted, new ones Added' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Remove-Item -LiteralPath "$Merged/var/cache" -Recurse -Force
            $null = New-Item -ItemType Directory -Path "$Merged/var/cache"
            Set-Content -LiteralPath "$Merged/var/cache/new" -Value 'n'
            Set-Content -LiteralPath "$Merged/var/cache/a" -Value 'replaced'
            Get-TestXattr "$Upper/var/cache" 'trusted.overlay.opaque' | Should -Be 'y'
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /var', 'C /var/cache', 'C /var/cache/a', 'A /var/cache/new', 'D /var/cache/sub')
            ($c | Where-Object Path -EQ '/var/cache').Opaque | Should -BeTrue
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists a directory renamed with redirect_dir=on as Deleted at the old path and Added, with its content, at the new one' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option redirect_dir=on
            Move-Item -LiteralPath "$Merged/data/moved" -Destination "$Merged/data/renamed"
            Move-Item -LiteralPath "$Merged/var/cache" -Destination "$Merged/cache-at-top"
            Get-TestXattr "$Upper/data/renamed" 'trusted.overlay.redirect' | Should -Be 'moved'
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @(
                'A /cache-at-top', 'A /cache-at-top/a', 'A /cache-at-top/sub', 'A /cache-at-top/sub/b',
                'C /data', 'D /data/moved', 'A /data/renamed', 'A /data/renamed/file',
                'C /var', 'D /var/cache')
            ($c | Where-Object Path -EQ '/data/renamed').RenamedFrom | Should -Be '/data/moved'
            ($c | Where-Object Path -EQ '/cache-at-top').RenamedFrom | Should -Be '/var/cache'
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'marks metadata-only copies with metacopy=on' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option metacopy=on, redirect_dir=on
            & chmod 0600 "$Merged/usr/bin/tool"
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /usr', 'C /usr/bin', 'C /usr/bin/tool')
            $tool = $c | Where-Object Path -EQ '/usr/bin/tool'
            $tool.MetadataOnly | Should -BeTrue
            $tool.Size | Should -Be 4
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists each name of a hard link' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option index=on
            & ln "$Merged/etc/passwd" "$Merged/etc/passwd-link"
            $null = New-Item -ItemType HardLink -Path "$Merged/hl-new" -Target "$Merged/etc/passwd-link"
            $c = Get-OverlayChange $Merged
            # /etc/passwd was copied up to be linked, but looks as it did: docker diff does not list it.
            ConvertTo-DiffLines $c | Should -Be @('C /etc', 'A /etc/passwd-link', 'A /hl-new')
            ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman) | Should -Be @('C /etc', 'C /etc/passwd', 'A /etc/passwd-link', 'A /hl-new')
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'lists FIFOs, sockets and devices without opening them' {
            & mkfifo "$Lower/usr/bin/lower-fifo"
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            & mkfifo "$Merged/usr/fifo"
            & mknod "$Merged/usr/null" c 1 3
            & chmod 0600 "$Merged/usr/bin/lower-fifo"
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /usr', 'C /usr/bin', 'C /usr/bin/lower-fifo', 'A /usr/fifo', 'A /usr/null')
            ($c | Where-Object Path -EQ '/usr/fifo').ItemType | Should -Be 'Fifo'
            ($c | Where-Object Path -EQ '/usr/null').ItemType | Should -Be 'CharacterDevice'
            Assert-MatchesKernel $Merged @($Lower) $c
        }

        It 'keeps apart names that are not UTF-8, finds them in the lowers, and hands out paths that reach them' {
            # Bytes 0xFE and 0xFF are no UTF-8: decoded as such, both names would be U+FFFD and
            # one change would be lost (and a lookup of U+FFFD's bytes in a lower finds nothing).
            # Each such byte is the lone surrogate U+DC00 + byte, which shows as U+FFFD when printed.
            & bash -c 'cd "$1" && mkdir d e && touch "d/$(printf "\xfe")" "d/$(printf "\xff")" && echo x > "e/$(printf "\xff")"' bash $Lower
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            & bash -c 'cd "$1" && rm -rf d && mkdir d && echo y >> "e/$(printf "\xff")"' bash $Merged
            $fe = [string][char]0xDCFE; $ff = [string][char]0xDCFF
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /d', "D /d/$fe", "D /d/$ff", 'C /e', "C /e/$ff")
            $podman = ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman)
            $podman | Should -Contain "C /e/$ff"
            $podman | Should -Not -Contain "A /e/$ff"
            # The path reaches the file: Resolve-OverlayPath finds it in the upper.
            $r = Resolve-OverlayPath -LiteralPath ($Merged + ($c | Where-Object Path -EQ "/e/$ff").Path)
            $r.Layer | Should -Be $Upper
            $r.LayerPath | Should -Be "$Upper/e/$ff"
        }

        It 'follows a renamed directory whose names are not UTF-8 (redirect_dir=on)' {
            # The redirect xattr holds the old name's bytes; read as UTF-8 they would lead nowhere.
            & bash -c 'cd "$1" && mkdir "d$(printf "\xff")" && echo x > "d$(printf "\xff")/x$(printf "\xfe")"' bash $Lower
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option redirect_dir=on
            & bash -c 'cd "$1" && mv "d$(printf "\xff")" "ren$(printf "\xfc")"' bash $Merged
            $LASTEXITCODE | Should -Be 0
            $d = "/d$([char]0xDCFF)"; $ren = "/ren$([char]0xDCFC)"
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @("D $d", "A $ren", "A $ren/x$([char]0xDCFE)")
            ($c | Where-Object Path -EQ $ren).RenamedFrom | Should -Be $d
            (Resolve-OverlayPath -LiteralPath "$Merged$ren/x$([char]0xDCFE)").Layer | Should -Be $Lower
        }

        It 'matches the kernel after a mix of everything, over two lower layers' {
            $top = New-Layer "$Case/lower-top" @{ 'etc/hosts' = 'from top'; 'srv/www/index.html' = '<html>'; 'data/other' = 'o' }
            & mknod "$top/data/keep" c 0 0
            Mount-Overlay -Lower $top, $Lower -Upper $Upper -Target $Merged -Option redirect_dir=on
            Test-Path -LiteralPath "$Merged/data/keep" | Should -BeFalse -Because 'the top lower deletes it'
            Add-Content -LiteralPath "$Merged/etc/hosts" -Value 'x'
            Remove-Item -LiteralPath "$Merged/srv/www" -Recurse -Force
            $null = New-Item -ItemType Directory -Path "$Merged/srv/www"
            Move-Item -LiteralPath "$Merged/var/cache" -Destination "$Merged/var/cache2"
            Set-Content -LiteralPath "$Merged/data/keep" -Value 'new keep'
            Remove-Item -LiteralPath "$Merged/usr" -Recurse -Force
            & chmod 0700 "$Merged/etc"
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Contain 'A /data/keep' -Because 'the lowers delete it, so for them it is new'
            ConvertTo-DiffLines $c | Should -Contain 'D /srv/www/index.html'
            ConvertTo-DiffLines $c | Should -Contain 'D /usr'
            Assert-MatchesKernel $Merged @($top, $Lower) $c
        }
    }

    Context 'unmounted layers and pipeline input' {
        It 'reads -Upper and -Lower directly, with LowerDir as docker inspect prints it' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Remove-Item -LiteralPath "$Merged/etc/hosts"
            Set-Content -LiteralPath "$Merged/new" -Value 'n'
            $mounted = ConvertTo-DiffLines (Get-OverlayChange $Merged)
            Dismount-Overlay $Merged
            $other = New-Layer "$Case/other"
            ConvertTo-DiffLines (Get-OverlayChange -Upper $Upper -Lower $Lower) | Should -Be $mounted
            ConvertTo-DiffLines (Get-OverlayChange -Upper $Upper -Lower "${Lower}:$other") | Should -Be $mounted
            Push-Location -LiteralPath $Case
            try {
                # Relative and colon-joined: PowerShell alone would read the first part as a drive.
                ConvertTo-DiffLines (Get-OverlayChange -Upper $Upper -Lower ((Split-Path -Leaf $Lower) + ':other')) | Should -Be $mounted
            }
            finally { Pop-Location }
            $data = [pscustomobject]@{ LowerDir = "${Lower}:$other"; UpperDir = $Upper; WorkDir = "$Upper.work"; MergedDir = $Merged }
            ConvertTo-DiffLines ($data | Get-OverlayChange) | Should -Be $mounted
        }

        It 'takes mounted overlays from Get-OverlayMount' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Set-Content -LiteralPath "$Merged/new" -Value 'n'
            ConvertTo-DiffLines (Get-OverlayMount -Target $Merged | Get-OverlayChange) | Should -Be @('A /new')
            # An overlay of no container's store names no container, piped or not.
            $piped = @(Get-OverlayMount -Target $Merged | Get-OverlayChange)
            $piped.Count | Should -Be 1
            @($piped | Where-Object Container) | Should -BeNullOrEmpty
            @(Get-OverlayChange -Target $Merged | Where-Object Container) | Should -BeNullOrEmpty
            # Strings and other objects with a Target still bind -Target.
            ConvertTo-DiffLines ($Merged | Get-OverlayChange) | Should -Be @('A /new')
            ConvertTo-DiffLines ([pscustomobject]@{ Target = $Merged } | Get-OverlayChange) | Should -Be @('A /new')
            ConvertTo-DiffLines (Get-OverlayMount -Target $Merged | Get-OverlayChange -Style Upper) | Should -Be @('A /new')
            # A directory object is its mount point (its own Target, a link's target, is null).
            ConvertTo-DiffLines (Get-Item -LiteralPath $Merged | Get-OverlayChange) | Should -Be @('A /new')
            # So is a deserialized one (Import-Clixml, remoting), by its FullName.
            Get-Item -LiteralPath $Merged | Export-Clixml -LiteralPath "$Case/item.xml"
            ConvertTo-DiffLines (Import-Clixml -LiteralPath "$Case/item.xml" | Get-OverlayChange) | Should -Be @('A /new')
        }

        It 'lists nothing for a read-only overlay' {
            Mount-Overlay -Lower $Lower -Target $Merged
            Get-OverlayChange $Merged | Should -BeNullOrEmpty
        }

        It 'handles xattr whiteouts in a lower layer' {
            $top = New-Layer "$Case/xw-top" @{ 'etc/placeholder' = 'p' }
            $null = New-Item -ItemType File -Path "$top/etc/passwd"
            Set-TestXattr "$top/etc/passwd" 'trusted.overlay.whiteout' 'y'
            Set-TestXattr "$top/etc" 'trusted.overlay.opaque' 'x'
            Mount-Overlay -Lower $top, $Lower -Upper $Upper -Target $Merged
            Test-Path -LiteralPath "$Merged/etc/passwd" | Should -BeFalse -Because 'the kernel honours the xattr whiteout'
            Set-Content -LiteralPath "$Merged/etc/passwd" -Value 'again'
            Remove-Item -LiteralPath "$Merged/etc/hosts"
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /etc', 'D /etc/hosts', 'A /etc/passwd')
            Assert-MatchesKernel $Merged @($top, $Lower) $c
        }

        It 'takes an xattr whiteout in the upper for a deletion in any directory, as the kernel lookup does' {
            # A listing of the merged view still shows these names; a lookup finds nothing (kernel 6.18).
            $null = New-Item -ItemType Directory -Path "$Upper/etc", "$Upper/var", "$Upper/var/cache"
            foreach ($f in 'etc/hosts', 'etc/never-was', 'var/cache/a') {
                $null = New-Item -ItemType File -Path "$Upper/$f"
                Set-TestXattr "$Upper/$f" 'trusted.overlay.whiteout' 'y'
            }
            Set-TestXattr "$Upper/var/cache" 'trusted.overlay.opaque' 'x'
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            foreach ($f in 'etc/hosts', 'etc/never-was', 'var/cache/a') {
                Test-Path -LiteralPath "$Merged/$f" | Should -BeFalse -Because "the kernel lookup takes the marked empty file $f for a whiteout"
            }
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /etc', 'D /etc/hosts', 'C /var', 'C /var/cache', 'D /var/cache/a')
            Assert-MatchesKernel $Merged @($Lower) $c
            (Resolve-OverlayPath "$Merged/etc/hosts" -All).State | Should -Be @('Whiteout', 'WhitedOut') -Because 'Resolve-OverlayPath says the same'
            ConvertTo-DiffLines (Get-OverlayChange -Upper $Upper -Lower $Lower) | Should -Be (ConvertTo-DiffLines $c)
        }

        It 'refuses a mount whose layers are named by relative paths, and reads them with -Upper and -Lower' {
            $null = New-Item -ItemType Directory -Path "$Case/work"
            & sh -c 'cd "$1" && mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged' sh $Case
            $LASTEXITCODE | Should -Be 0
            Set-Content -LiteralPath "$Merged/new" -Value 'n'
            Get-OverlayChange -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayLayersUnreachable,OverlayTools.GetOverlayChangeCommand'
            ConvertTo-DiffLines (Get-OverlayChange -Upper $Upper -Lower $Lower) | Should -Be @('A /new')
        }

        It 'reports a missing upper and an unmounted target' {
            Get-OverlayChange -Upper "$Case/missing" -Lower $Lower -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperNotFound,OverlayTools.GetOverlayChangeCommand'
            Get-OverlayChange -Target $Merged -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayChangeCommand'
        }

        It 'prints like docker diff by default' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Remove-Item -LiteralPath "$Merged/etc/hosts"
            $text = (Get-OverlayChange $Merged | Out-String).Trim() -split "`r?`n" | Where-Object { $_ }
            $text | Should -Be @('C /etc', 'D /etc/hosts')
        }

        It 'stops walking when the pipeline stops (<Style> style): after Select-Object -First 1, and after a stop (Ctrl+C) at the first change' -ForEach @(
            @{ Style = 'Docker' }, @{ Style = 'Upper' }
        ) {
            # Ten added directories of ten files, walked in name order: d0 first, d9 last. The
            # walker opens every directory it walks, and inotify counts the opens of d0 and d9,
            # so a walk that went on after the stop shows as an open of d9. Counts, no timing.
            foreach ($i in 0..9) { $null = New-Layer "$Upper/d$i" @{ 'f0' = 0; 'f1' = 1; 'f2' = 2; 'f3' = 3; 'f4' = 4; 'f5' = 5; 'f6' = 6; 'f7' = 7; 'f8' = 8; 'f9' = 9 } }
            $walk = @{ Upper = $Upper; Lower = $Lower; Style = $Style }
            $dirs = [string[]] @("$Upper/d0", "$Upper/d9")

            # The whole walk: 110 changes, and the watch sees d9 opened.
            $watch = New-DirectoryOpenWatch $dirs
            try {
                $total = @(Get-OverlayChange @walk).Count
                $total | Should -Be 110
                $watch.Opens("$Upper/d9") | Should -Be 1
            }
            finally { $watch.Dispose() }

            # Select-Object -First 1: one change leaves the cmdlet, and the walk ends in d0.
            $watch = New-DirectoryOpenWatch $dirs
            try {
                $written = 0
                $first = Get-OverlayChange @walk | ForEach-Object { $written++; $_ } | Select-Object -First 1
                $first.Path | Should -Be '/d0'
                $written | Should -Be 1
                $watch.Opens("$Upper/d0") | Should -Be 1
                $watch.Opens("$Upper/d9") | Should -Be 0 -Because 'the walk must end when the pipeline stops, not run to the end unseen'
            }
            finally { $watch.Dispose() }

            # A stop from another thread, as Ctrl+C does, while the first change is downstream.
            $watch = New-DirectoryOpenWatch $dirs
            $gate = [OverlayToolsChangeTests.StopGate]::new()
            # The modules come with the session, so the invocation is one pipeline: a batch of
            # statements goes on in a pool thread after Stop, which crashed pwsh once the runspace closed.
            $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
            $iss.ImportPSModule([string[]] @($ModulePath))
            $iss.Commands.Add([Management.Automation.Runspaces.SessionStateCmdletEntry]::new('Wait-TestStop', [OverlayToolsChangeTests.WaitTestStopCommand], $null))
            $ps = [powershell]::Create($iss)
            try {
                $null = $ps.AddCommand('Get-OverlayChange').AddParameters($walk).AddCommand('Wait-TestStop').AddParameter('Gate', $gate)
                $null = $ps.BeginInvoke()
                $gate.FirstSeen.Wait([TimeSpan]::FromSeconds(60)) | Should -BeTrue -Because 'the first change reaches the next command'
                $ps.Stop()
                $ps.InvocationStateInfo.State | Should -Be 'Stopped'
                $gate.Seen | Should -Be 1 -Because "nothing may follow the stop (the whole walk has $total changes)"
                $watch.Opens("$Upper/d0") | Should -Be 1
                $watch.Opens("$Upper/d9") | Should -Be 0 -Because 'the walk must end when the pipeline is stopped'
            }
            finally {
                $gate.StopRequested.Set()
                if ($ps.InvocationStateInfo.State -eq 'Running') { $ps.Stop() }
                $ps.Dispose()
                $watch.Dispose()
            }
        }
    }

    Context 'progress' {
        It 'reports its progress with Write-Progress while a walk lasts, and completes it' {
            # Progress is reported every 256 entries once 200 ms have passed. The walk waits for
            # the next command (1 ms per change here), so by the 256th entry it has lasted at
            # least 256 ms on any machine.
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $null = New-Item -ItemType Directory -Path "$Merged/many"
            foreach ($i in 1..300) { [IO.File]::WriteAllText("$Merged/many/f$i", 'x') }
            $r = Invoke-WithProgress -ModulePath $ModulePath -ArgumentList $Merged -Script 'param($t) Get-OverlayChange -Target $t | ForEach-Object { Start-Sleep -Milliseconds 1; $_ }'
            $r.Output.Count | Should -Be 301
            Assert-ProgressReported $r -Activity 'Get-OverlayChange' -Status "Compared * entries of '$Upper', * changes" -Current '/many'
        }
    }

    Context 'podman diff semantics' {
        It 'lists a directory only when its own metadata changed or an entry in it was added or deleted, and hides podman''s own files' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Add-Content -LiteralPath "$Merged/data/moved/file" -Value 'more'
            Remove-Item -LiteralPath "$Merged/var/cache/a"
            Set-Content -LiteralPath "$Merged/etc/mtab" -Value 'podman'
            $null = New-Item -ItemType Directory -Path "$Merged/run"
            Set-Content -LiteralPath "$Merged/run/.containerenv" -Value 'podman'
            $docker = ConvertTo-DiffLines (Get-OverlayChange $Merged)
            $docker | Should -Be @('C /data', 'C /data/moved', 'C /data/moved/file', 'C /etc', 'A /etc/mtab', 'A /run', 'A /run/.containerenv', 'C /var', 'C /var/cache', 'D /var/cache/a')
            $podman = ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman)
            # /data and /data/moved were only copied up: not listed. /var was only copied up, but an
            # entry below it was deleted, so (as in containers/storage) it is listed. /etc/mtab and
            # /run are podman's own.
            $podman | Should -Be @('C /data/moved/file', 'C /etc', 'C /var', 'C /var/cache', 'D /var/cache/a')
        }

        It 'lists a re-created directory as podman does: Deleted, then what is in it' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Remove-Item -LiteralPath "$Merged/var/cache" -Recurse -Force
            $null = New-Item -ItemType Directory -Path "$Merged/var/cache"
            Set-Content -LiteralPath "$Merged/var/cache/a" -Value 'again'
            Set-Content -LiteralPath "$Merged/var/cache/new" -Value 'n'
            ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman) | Should -Be @('C /var', 'D /var/cache', 'C /var/cache/a', 'A /var/cache/new')
            ConvertTo-DiffLines (Get-OverlayChange $Merged) | Should -Be @('C /var', 'C /var/cache', 'C /var/cache/a', 'A /var/cache/new', 'D /var/cache/sub')
        }

        It 'lists a file whose only change is its file capabilities, as docker diff does' {
            # security.capability, version 2: CAP_NET_RAW, then CAP_NET_BIND_SERVICE (permitted).
            $raw = [byte[]] (1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            $bind = [byte[]] (1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            Set-TestXattr "$Lower/usr/bin/tool" 'security.capability' $raw
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/usr/bin/tool" -WarningAction SilentlyContinue
            Get-TestXattr "$Upper/usr/bin/tool" 'security.capability' -Raw | Should -Be $raw
            Get-OverlayChange $Merged | Should -BeNullOrEmpty -Because 'the copy has the same capabilities'
            Set-TestXattr "$Merged/usr/bin/tool" 'security.capability' $bind
            ConvertTo-DiffLines (Get-OverlayChange $Merged) | Should -Be @('C /usr', 'C /usr/bin', 'C /usr/bin/tool')
        }

        It 'lists an item that was only copied up under Podman, but not under Docker' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/etc/passwd", "$Merged/var/cache" -Recurse
            Test-Path -LiteralPath "$Upper/etc/passwd" | Should -BeTrue
            Get-OverlayChange $Merged | Should -BeNullOrEmpty -Because 'docker diff compares what the container sees, which did not change'
            ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman) | Should -Be @('C /etc/passwd', 'C /var/cache/a', 'C /var/cache/sub/b')
            # Upper: everything the upper layer holds, the parents the kernel copied up included.
            ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Upper) |
                Should -Be @('C /etc', 'C /etc/passwd', 'C /var', 'C /var/cache', 'C /var/cache/a', 'C /var/cache/sub', 'C /var/cache/sub/b')
        }

        It 'decides Added or Changed as containers/storage does: following the lowers'' links, ignoring their opaque directories' {
            & ln -s "/nonexistent-$([guid]::NewGuid().ToString('N'))" "$Lower/gone-link"
            & ln -s data/keep "$Lower/rel-link"
            $top = New-Layer "$Case/top" @{ 'var/cache/only-top' = 't' }
            Set-TestXattr "$top/var/cache" 'trusted.overlay.opaque' 'y'
            Mount-Overlay -Lower $top, $Lower -Upper $Upper -Target $Merged
            Test-Path -LiteralPath "$Merged/var/cache/a" | Should -BeFalse -Because 'the top layer''s opaque directory hides it'
            & rm "$Merged/gone-link" "$Merged/rel-link"
            & ln -s elsewhere "$Merged/gone-link"
            & ln -s elsewhere "$Merged/rel-link"
            Set-Content -LiteralPath "$Merged/var/cache/a" -Value 'again'
            # podman stats the old links (following them): the dangling one counts as absent; the
            # opaque directory of the top layer does not hide the bottom layer's /var/cache/a.
            ConvertTo-DiffLines (Get-OverlayChange $Merged -Style Podman) | Should -Be @('A /gone-link', 'C /rel-link', 'C /var/cache', 'C /var/cache/a')
            $c = Get-OverlayChange $Merged
            ConvertTo-DiffLines $c | Should -Be @('C /gone-link', 'C /rel-link', 'C /var', 'C /var/cache', 'A /var/cache/a')
            Assert-MatchesKernel $Merged @($top, $Lower) $c
        }
    }
}
