#Requires -Version 7.4
# Dismount-Overlay against real mounts.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Root = New-TestRoot 'dismount'
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Dismount-Overlay' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:L1 = New-Layer "$script:Case/lower" @{ 'a' = '1' }
        $script:Up = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    It 'dismounts a mount point and emits nothing by default' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Dismount-Overlay -Target $Merged | Should -BeNullOrEmpty
        Test-MountedAt $Merged | Should -BeFalse
        Test-Path -LiteralPath "$Merged/a" | Should -BeFalse
    }

    It 'takes Get-OverlayMount output from the pipeline and emits it with -PassThru' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $out = Get-OverlayMount -Target $Merged | Dismount-Overlay -PassThru
        $out.Target | Should -Be $Merged
        $out.Upper | Should -Be $Up
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'emits the mount with -PassThru when the target is given with a trailing slash' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $out = Dismount-Overlay -Target "$Merged/" -PassThru
        $out.Target | Should -Be $Merged
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'lists, dismounts and mounts again an overlay whose mount point and layers have names that are not UTF-8' {
        # mount(8) at such names; Get-OverlayMount keeps their bytes (U+DC00 + byte), so the
        # objects it emits lead back to the mount, also through Export-Clixml.
        & bash -c 'cd "$1" && mkdir "l:$(printf "\xfe")" "u$(printf "\xff")" w "m$(printf "\xff")" && mount -t overlay overlay -o "lowerdir=$1/l\\:$(printf "\xfe"),upperdir=$1/u$(printf "\xff"),workdir=$1/w" "$1/m$(printf "\xff")"' bash $Case
        try {
            $LASTEXITCODE | Should -Be 0
            $m = Get-OverlayMount -Target "$Case/m*"
            $m.Target | Should -Be "$Case/m$([char]0xDCFF)"
            $m.Lower | Should -Be @("$Case/l:$([char]0xDCFE)")
            $m.Upper | Should -Be "$Case/u$([char]0xDCFF)"
            $xml = Join-Path $Case 'mounts.xml'
            $m | Export-Clixml -LiteralPath $xml
            Import-Clixml -LiteralPath $xml | Dismount-Overlay
            @(Get-OverlayMount -Target "$Case/*") | Should -BeNullOrEmpty
            # The same object mounts it again (its lower holds a colon: one directory, not two).
            $m | Mount-Overlay
            (Get-OverlayMount -Target "$Case/m*").Lower | Should -Be $m.Lower
            $m | Dismount-Overlay
        }
        finally {
            # Clear-TestMounts reads mountinfo as text, where this name is lost.
            & bash -c 'umount -l "$1/m$(printf "\xff")" 2>/dev/null; true' bash $Case
        }
    }

    It 'takes deserialized mounts (Export-Clixml / Import-Clixml) from the pipeline' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $xml = Join-Path $Case 'mounts.xml'
        Get-OverlayMount -Target $Merged | Export-Clixml -LiteralPath $xml
        $back = Import-Clixml -LiteralPath $xml
        $back.PSObject.TypeNames[0] | Should -Be 'Deserialized.OverlayTools.OverlayMount'
        $back | Dismount-Overlay
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'dismounts every overlay a wildcard matches, and nothing for no match' {
        $m2 = New-Layer "$Case/merged2"
        $up2 = New-Layer "$Case/upper2"
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Mount-Overlay -Lower $L1 -Upper $up2 -Target $m2
        Dismount-Overlay -Target "$Case/merged*"
        Test-MountedAt $Merged | Should -BeFalse
        Test-MountedAt $m2 | Should -BeFalse
        Dismount-Overlay -Target "$Case/nothing*" -ErrorVariable err
        $err.Count | Should -Be 0
    }

    It 'dismounts each of the overlays stacked on one mount point that a wildcard matches' {
        $l2 = New-Layer "$Case/lower2" @{ 'b' = '2' }
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Mount-Overlay -Lower $l2 -Target $Merged
        Dismount-Overlay -Target "$Case/*" -ErrorVariable err
        $err.Count | Should -Be 0
        Test-MountedAt $Merged | Should -BeFalse
        Get-MountsUnder $Case | Should -BeNullOrEmpty
    }

    It 'dismounts a directory object piped in (Get-Item) by its path' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Get-Item -LiteralPath $Merged | Dismount-Overlay -ErrorVariable err
        $err.Count | Should -Be 0
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'refuses an object that is no path and has no Target, instead of dismounting its text' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Get-Process -Id $PID | Dismount-Overlay -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'InputObjectNotBound,OverlayTools.DismountOverlayCommand'
        Test-MountedAt $Merged | Should -BeTrue
        [pscustomobject]@{ Target = '' } | Dismount-Overlay -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -Be 'TargetEmpty,OverlayTools.DismountOverlayCommand'
        Test-MountedAt $Merged | Should -BeTrue
        [pscustomobject]@{ Target = $null } | Dismount-Overlay -ErrorVariable err3 -ErrorAction SilentlyContinue
        $err3[0].FullyQualifiedErrorId | Should -Be 'TargetEmpty,OverlayTools.DismountOverlayCommand'
        Dismount-Overlay -Target @() -ErrorVariable err4 -ErrorAction SilentlyContinue
        $err4[0].FullyQualifiedErrorId | Should -Be 'TargetEmpty,OverlayTools.DismountOverlayCommand'
        Test-MountedAt $Merged | Should -BeTrue
    }

    It 'takes a mount point named with [ ] relative to the location, as written or escaped' {
        $odd = New-Layer "$Case/m[1]"
        Push-Location -LiteralPath $Case
        try {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $odd
            Dismount-Overlay 'm[1]' -ErrorVariable err
            $err.Count | Should -Be 0
            Test-MountedAt $odd | Should -BeFalse
            Mount-Overlay -Lower $L1 -Upper $Up -Target $odd
            Dismount-Overlay 'm`[1`]' -ErrorVariable err2
            $err2.Count | Should -Be 0
            Test-MountedAt $odd | Should -BeFalse
        }
        finally { Pop-Location }
    }

    It 'refuses an overlay that Get-OverlayMount -ProcessId listed in another mount namespace' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        # The other namespace starts as a copy of this one: the same path, another mount.
        $other = Start-Process -FilePath unshare -ArgumentList '--mount', '--propagation', 'private', 'sleep', '300' -PassThru
        try {
            $myNs = (Get-Item /proc/self/ns/mnt).LinkTarget
            $deadline = [datetime]::UtcNow.AddSeconds(10)
            while (((Get-Content -LiteralPath "/proc/$($other.Id)/comm" -ErrorAction SilentlyContinue) -ne 'sleep' -or (Get-Item "/proc/$($other.Id)/ns/mnt").LinkTarget -eq $myNs) -and [datetime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 20
            }
            $theirs = Get-OverlayMount -ProcessId $other.Id -Target $Merged
            $theirs.ProcessId | Should -Be $other.Id
            $theirs | Dismount-Overlay -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'ForeignMountNamespace,OverlayTools.DismountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
            $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*nsenter -t $($other.Id) -m*"
            Test-MountedAt $Merged | Should -BeTrue
            # Listed with this process's own id, the namespace is this one.
            Get-OverlayMount -ProcessId $PID -Target $Merged | Dismount-Overlay -ErrorVariable err2 -WarningAction SilentlyContinue
            $err2.Count | Should -Be 0
            Test-MountedAt $Merged | Should -BeFalse
        }
        finally {
            $other | Stop-Process -ErrorAction SilentlyContinue
            $other.WaitForExit()
        }
    }

    It 'resolves a relative -Target against the PowerShell location' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Push-Location -LiteralPath $Case
        try { Dismount-Overlay ./merged } finally { Pop-Location }
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'leaves the mount alone with -WhatIf' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Dismount-Overlay -Target $Merged -WhatIf
        Test-MountedAt $Merged | Should -BeTrue
    }

    It 'reports <Label> as <ErrorId> (<How>)' -ForEach @(
        # -WhatIf reports what a dismount would refuse, instead of announcing the dismount.
        foreach ($how in 'dismounting', 'with -WhatIf') {
            @{ How = $how; Label = 'a directory that is not mounted'; ErrorId = 'OverlayNotMounted'; Category = 'ObjectNotFound'; Setup = { $Merged } }
            @{ How = $how; Label = 'a path that does not exist'; ErrorId = 'OverlayNotMounted'; Category = 'ObjectNotFound'; Setup = { "$Case/nope" } }
            @{ How = $how; Label = 'a mount that is not an overlay'; ErrorId = 'NotAnOverlayMount'; Category = 'InvalidArgument'; Setup = { & mount -t tmpfs tmpfs $Merged; $Merged } }
            @{ How = $how; Label = 'a symlink to an overlay'; ErrorId = 'TargetIsSymlink'; Category = 'SecurityError'; Setup = { Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged; $null = New-Item -ItemType SymbolicLink -Path "$Case/link" -Target $Merged; "$Case/link" } }
        }
    ) {
        $target = & $Setup
        Dismount-Overlay -Target $target -WhatIf:($How -eq 'with -WhatIf') -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.DismountOverlayCommand"
        $err[0].CategoryInfo.Category | Should -Be $Category
        $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'gives a clear error, not a crash, when dismounting twice' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Dismount-Overlay -Target $Merged
        Dismount-Overlay -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'OverlayNotMounted,OverlayTools.DismountOverlayCommand'
    }

    It 'keeps going after a per-item error (non-terminating)' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Dismount-Overlay -Target "$Case/nope", $Merged -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'names a holder with several descriptors of the mount once in OverlayBusy, with their number' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $script = Join-Path $Case 'hold.sh'
        Set-Content -LiteralPath $script -Value "exec 3<'$Merged' 4<'$Merged' 5<'$Merged'; exec sleep 60"
        $holder = Start-Process -FilePath bash -ArgumentList $script -WorkingDirectory / -PassThru
        try {
            Wait-Until -IntervalMilliseconds 10 { (Get-Content -LiteralPath "/proc/$($holder.Id)/comm" -ErrorAction SilentlyContinue) -eq 'sleep' }
            Dismount-Overlay -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayBusy,OverlayTools.DismountOverlayCommand'
            $message = $err[0].Exception.Message
            $message | Should -BeLike "*pid $($holder.Id) (sleep) has open $Merged (3 descriptors)*"
            [regex]::Matches($message, "pid $($holder.Id) ").Count | Should -Be 1
            Test-MountedAt $Merged | Should -BeTrue
        }
        finally {
            Stop-Process -Id $holder.Id -Force -ErrorAction SilentlyContinue
            $holder.WaitForExit()
        }
    }

    Context 'refused by the kernel' {
        BeforeEach {
            $script:Pwsh = Get-PwshExe
            $script:ModulePath = if ($env:OVERLAYTOOLS_MODULE) { $env:OVERLAYTOOLS_MODULE } else { Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1' }
            $script:Holder = $null
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        }
        AfterEach {
            # The outer AfterEach dismounts what is left.
            if ($script:Holder) {
                Stop-Process -Id $script:Holder.Id -Force -ErrorAction SilentlyContinue
                $script:Holder.WaitForExit()
            }
        }

        It 'reports missing CAP_SYS_ADMIN as NotRoot, not as a failure to look up in dmesg' {
            $script = "Import-Module '$ModulePath'; Dismount-Overlay -Target '$Merged' -ErrorAction SilentlyContinue -ErrorVariable e; `$e[0].FullyQualifiedErrorId; `$e[0].CategoryInfo.Category; `$e[0].Exception.Message"
            $out = & setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- @Pwsh -NoProfile -NonInteractive -Command $script
            $out | Select-Object -Last 3 | Select-Object -First 1 | Should -Be 'NotRoot,OverlayTools.DismountOverlayCommand'
            $out | Select-Object -Last 2 | Select-Object -First 1 | Should -Be 'PermissionDenied'
            $out | Select-Object -Last 1 | Should -BeLike '*EPERM*CAP_SYS_ADMIN*'
            $out | Select-Object -Last 1 | Should -Not -BeLike '*dmesg*'
            Test-MountedAt $Merged | Should -BeTrue
        }

        It 'reports an overlay locked in a less privileged mount namespace as locked, not as dismounted meanwhile' {
            $script = "Import-Module '$ModulePath'; Dismount-Overlay -Target '$Merged' -ErrorAction SilentlyContinue -ErrorVariable e; `$e[0].FullyQualifiedErrorId; `$e[0].Exception.Message"
            $out = & unshare --user --map-root-user --mount -- @Pwsh -NoProfile -NonInteractive -Command $script
            $out | Select-Object -Last 2 | Select-Object -First 1 | Should -Be 'DismountFailed,OverlayTools.DismountOverlayCommand'
            $out | Select-Object -Last 1 | Should -BeLike '*EINVAL*locked*'
            Test-MountedAt $Merged | Should -BeTrue
        }

        It 'reports an overlay of another mount namespace, reached through /proc/PID/root, as not dismountable from here' {
            $script:Holder = Start-Process -FilePath unshare -ArgumentList '--mount', '--propagation', 'private', 'sleep', '300' -PassThru
            $myNs = (Get-Item /proc/self/ns/mnt).LinkTarget
            $deadline = [datetime]::UtcNow.AddSeconds(10)
            while (((Get-Content -LiteralPath "/proc/$($Holder.Id)/comm" -ErrorAction SilentlyContinue) -ne 'sleep' -or (Get-Item "/proc/$($Holder.Id)/ns/mnt").LinkTarget -eq $myNs) -and [datetime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 20
            }
            Dismount-Overlay -Target "/proc/$($Holder.Id)/root$Merged" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'DismountFailed,OverlayTools.DismountOverlayCommand'
            $err[0].Exception.Message | Should -BeLike '*another mount namespace*'
            $err[0].Exception.Message | Should -Not -BeLike '*dismounted meanwhile*'
            Test-MountedAt $Merged | Should -BeTrue
        }
    }

    Context 'another dismount at the same moment, over a tmpfs' {
        # umount2 takes a path and dismounts whatever is on top there. Here another process's
        # umount (or umount -l, or mount) happens at a fixed point of the command: a handler on
        # the command's debug stream runs on the command's own thread while it writes that line.
        BeforeAll {
            $script:ModulePath = if ($env:OVERLAYTOOLS_MODULE) { $env:OVERLAYTOOLS_MODULE } else { Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1' }
            Add-Type -TypeDefinition @'
using System;
using System.Collections;
using System.Management.Automation;
using System.Runtime.InteropServices;

namespace OverlayToolsDismountTests
{
    /// <summary>Once the command writes a debug line containing When, does What to Target: umount, umount -l or mount a tmpfs on it.</summary>
    public sealed class Meanwhile
    {
        [DllImport("libc", SetLastError = true)] private static extern int umount2(string target, int flags);
        [DllImport("libc", SetLastError = true)] private static extern int mount(string source, string target, string fstype, ulong flags, string data);

        public string Target, When, What;
        public bool Done;
        public int Result = -1;

        public void Attach(PowerShell ps) { ps.Streams.Debug.DataAdded += OnAdded; }

        private void OnAdded(object sender, DataAddedEventArgs e)
        {
            var record = (InformationalRecord)((IList)sender)[e.Index];
            if (Done || record.Message.IndexOf(When, StringComparison.Ordinal) < 0) return;
            Done = true;
            Result = What == "umount" ? umount2(Target, 0)
                : What == "umount -l" ? umount2(Target, 2 /* MNT_DETACH */)
                : mount("cover", Target, "tmpfs", 0, null);
            if (Result != 0) Result = Marshal.GetLastWin32Error();
        }
    }
}
'@
            function Invoke-DismountMeanwhile([string] $When, [string] $What) {
                # Dismount-Overlay -Debug in a fresh runspace; $What is done to the mount point as
                # the cmdlet writes the debug line holding $When (on its own thread: no timing).
                $hook = [OverlayToolsDismountTests.Meanwhile]@{ Target = $Merged; When = $When; What = $What }
                $ps = [powershell]::Create()
                try {
                    $hook.Attach($ps)
                    $null = $ps.AddCommand('Import-Module').AddParameter('Name', $ModulePath).AddStatement().
                        AddCommand('Dismount-Overlay').AddParameter('Target', $Merged).AddParameter('Debug')
                    $null = $ps.Invoke()
                    $hook.Done | Should -BeTrue
                    $hook.Result | Should -Be 0
                    return , @($ps.Streams.Error)
                }
                finally { $ps.Dispose() }
            }
        }
        BeforeEach {
            $script:Holder = $null
            & mount -t tmpfs beneath $Merged
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        }
        AfterEach {
            if ($script:Holder) {
                Stop-Process -Id $script:Holder.Id -Force -ErrorAction SilentlyContinue
                $script:Holder.WaitForExit()
            }
        }

        It 'leaves the tmpfs beneath alone when <Label>, reporting <ErrorId>' -ForEach @(
            @{ Label = 'another command dismounted the overlay between the check and the dismount'; When = 'Dismounting overlay at'; What = 'umount'; Busy = $false; ErrorId = 'OverlayNotMounted'; Message = '*dismounted meanwhile*'; OverlayLeft = $false }
            @{ Label = 'the overlay was busy and umount -l took it off between two retries'; When = '= -1 EBUSY'; What = 'umount -l'; Busy = $true; ErrorId = 'OverlayNotMounted'; Message = '*dismounted meanwhile*'; OverlayLeft = $false }
            @{ Label = 'a tmpfs was mounted on the overlay between the check and the dismount'; When = 'Dismounting overlay at'; What = 'cover'; Busy = $false; ErrorId = 'DismountFailed'; Message = '*mount was made on top of the overlay*'; OverlayLeft = $true }
        ) {
            if ($Busy) {
                $script:Holder = Start-Process -FilePath sleep -ArgumentList 60 -WorkingDirectory $Merged -PassThru
                Wait-Until -IntervalMilliseconds 10 { (& readlink "/proc/$($Holder.Id)/cwd") -eq $Merged }
            }
            $errors = Invoke-DismountMeanwhile $When $What
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.DismountOverlayCommand"
            $errors[0].Exception.Message | Should -BeLike $Message
            Test-MountedAt $Merged | Should -Be $OverlayLeft
            @(Get-Content -LiteralPath /proc/self/mountinfo | Where-Object { $_ -like "* $Merged * - tmpfs beneath *" }).Count | Should -Be 1
        }

        It 'reports DismountedOtherMount, not success, when <Label> at the last moment' -ForEach @(
            @{ Label = 'umount -l took the overlay off'; What = 'umount -l'; Message = "*dismounted by another process*the tmpfs 'beneath' mounted at '*' * is gone*"; OverlayLeft = $false; Left = @() }
            @{ Label = 'a tmpfs was mounted on the overlay'; What = 'cover'; Message = '*the overlay is still mounted there*'; OverlayLeft = $true; Left = @('beneath') }
        ) {
            # The one window the module cannot close: between its last check and umount2 (no
            # system call dismounts by descriptor). What umount2 then took off is reported.
            $errors = Invoke-DismountMeanwhile 'is still the overlay checked' $What
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'DismountedOtherMount,OverlayTools.DismountOverlayCommand'
            $errors[0].CategoryInfo.Category | Should -Be 'InvalidResult'
            $errors[0].Exception.Message | Should -BeLike $Message
            Test-MountedAt $Merged | Should -Be $OverlayLeft
            (@(Get-Content -LiteralPath /proc/self/mountinfo | Where-Object { $_ -like "* $Merged * - tmpfs *" } | ForEach-Object { ($_ -split ' - ')[1].Split(' ')[1] }) -join ',') | Should -Be ($Left -join ',')
        }
    }

    Context 'a busy mount' {
        BeforeEach {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $script:Holder = Start-Process -FilePath sleep -ArgumentList 60 -WorkingDirectory $Merged -PassThru
            Start-Sleep -Milliseconds 200
        }
        AfterEach {
            Stop-Process -Id $script:Holder.Id -Force -ErrorAction SilentlyContinue
            $script:Holder.WaitForExit()
        }

        It 'fails with OverlayBusy naming the process that holds it' {
            Dismount-Overlay -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayBusy,OverlayTools.DismountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].Exception.Message | Should -Match "pid $($Holder.Id) \(sleep\) has its cwd in"
            $err[0].ErrorDetails.RecommendedAction | Should -Match '-Force'
            Test-MountedAt $Merged | Should -BeTrue
        }

        It 'detaches lazily with -Force and warns, naming the holder' {
            Dismount-Overlay -Target $Merged -Force -WarningVariable warn -WarningAction SilentlyContinue
            Test-MountedAt $Merged | Should -BeFalse
            "$warn" | Should -Match 'detached lazily'
            "$warn" | Should -Match "pid $($Holder.Id) \(sleep\)"
        }
    }
}
