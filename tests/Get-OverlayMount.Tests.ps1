#Requires -Version 7.4
# Get-OverlayMount against real mounts, made by this module and by util-linux mount(8).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Root = New-TestRoot 'get'
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Get-OverlayMount' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:L1 = New-Layer "$script:Case/lower1" @{ 'a' = '1' }
        $script:L2 = New-Layer "$script:Case/lower2" @{ 'b' = '2' }
        $script:Up = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    It 'lists an overlay mounted by Mount-Overlay with its layers decoded' {
        Mount-Overlay -Lower $L1, $L2 -Upper $Up -Target $Merged
        $m = Get-OverlayMount | Where-Object Target -EQ $Merged
        $m | Should -HaveCount 1
        $m.Lower | Should -Be @($L1, $L2)
        $m.Upper | Should -Be $Up
        $m.Work | Should -Be "$Up.work"
        $fields = (Get-MountInfoLine $Merged) -split ' '
        $m.MountId | Should -Be ([int] $fields[0])
        $m.ParentId | Should -Be ([int] $fields[1])
        $m.ReadOnly | Should -BeFalse
    }

    It 'decodes a mount(8) overlay whose paths hold <Label>' -ForEach @(
        @{ Label = 'commas and colons'; Name = 'we,ird:dir' }
        @{ Label = 'spaces and tabs'; Name = "sp ace`tt" }
        @{ Label = 'a newline'; Name = "n`nl" }
        @{ Label = 'backslashes'; Name = 'b\a\\ck' }
        @{ Label = 'equals signs'; Name = 'k=v' }
        @{ Label = 'unicode'; Name = 'ünï-层' }
    ) {
        $lower = New-Layer "$Case/L-$Name"
        $upper = New-Layer "$Case/U-$Name"
        $work = New-Layer "$Case/W-$Name"
        $target = New-Layer "$Case/M-$Name"
        # util-linux mount with the kernel's own escaping: '\' before '\', ',' and ':'.
        function Esc([string] $p) { $p -replace '([\\,:])', '\$1' }
        $data = "lowerdir=$(Esc $lower):$(Esc $L1),upperdir=$(Esc $upper),workdir=$(Esc $work)"
        $env:LIBMOUNT_FORCE_MOUNT2 = 'always'
        try { & mount -t overlay overlay -o $data $target } finally { $env:LIBMOUNT_FORCE_MOUNT2 = $null }
        $LASTEXITCODE | Should -Be 0
        $m = Get-OverlayMount -Target $target
        $m.Target | Should -Be $target
        $m.Lower | Should -Be @($lower, $L1)
        $m.Upper | Should -Be $upper
        $m.Work | Should -Be $work
    }

    It 'decodes data-only layers of a mount(8) overlay ("::")' {
        $data = New-Layer "$Case/data"
        $env:LIBMOUNT_FORCE_MOUNT2 = 'always'
        try { & mount -t overlay overlay -o "lowerdir=${L1}:${L2}::$data" $Merged } finally { $env:LIBMOUNT_FORCE_MOUNT2 = $null }
        $LASTEXITCODE | Should -Be 0
        $m = Get-OverlayMount -Target $Merged
        $m.Lower | Should -Be @($L1, $L2)
        $m.DataLower | Should -Be @($data)
        $m.ReadOnly | Should -BeTrue
    }

    It 'matches -Target wildcards and returns nothing for a pattern that matches nothing' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        (Get-OverlayMount -Target "$Case/mer*").Target | Should -Be $Merged
        Get-OverlayMount -Target "$Case/nothing*" -ErrorVariable err | Should -BeNullOrEmpty
        $err.Count | Should -Be 0
    }

    It 'resolves a relative -Target against the PowerShell location' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Push-Location -LiteralPath $Case
        try { (Get-OverlayMount -Target ./merged).Target | Should -Be $Merged } finally { Pop-Location }
    }

    It 'finds a mount point named with [ ] relative to the location, as written, escaped or with a trailing slash' {
        $odd = New-Layer "$Case/m[1]"
        Mount-Overlay -Lower $L1 -Upper $Up -Target $odd
        Push-Location -LiteralPath $Case
        try {
            @(Get-OverlayMount 'm[1]').Target | Should -Be @($odd)
            @(Get-OverlayMount 'm`[1`]').Target | Should -Be @($odd)
        }
        finally { Pop-Location }
        @(Get-OverlayMount "$odd/").Target | Should -Be @($odd)
    }

    It 'finds a mount point written with <Label>' -ForEach @(
        @{ Label = "'.'"; Write = { "$Case/./merged" } }
        @{ Label = "'//'"; Write = { "$Case//merged" } }
        @{ Label = "'..'"; Write = { "$Case/lower1/../merged" } }
        @{ Label = 'a symbolic link among its parents'; Write = { $null = New-Item -ItemType SymbolicLink -Path "$Case/via" -Target $Case; "$Case/via/merged" } }
    ) {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $written = & $Write
        @(Get-OverlayMount -Target $written -ErrorVariable err).Target | Should -Be @($Merged)
        $err.Count | Should -Be 0
    }

    It 'takes a directory piped in (Get-Item) by its path, never by the link target it carries' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $other = New-Layer "$Case/merged2"
        Mount-Overlay -Lower $L2 -Target $other
        @(Get-Item -LiteralPath $Merged | Get-OverlayMount).Target | Should -Be @($Merged)
        # A directory that is no mount point is an error, not every overlay.
        Get-Item -LiteralPath $L1 | Get-OverlayMount -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayMountCommand'
        # So is an object whose Target is empty.
        [pscustomobject]@{ Target = '' } | Get-OverlayMount -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err2[0].FullyQualifiedErrorId | Should -Be 'TargetEmpty,OverlayTools.GetOverlayMountCommand'
    }

    It 'reports a literal -Target that is not an overlay mount as MountNotFound' {
        Get-OverlayMount -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayMountCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject | Should -Be $Merged
    }

    It 'filters by -Lower and -Upper' {
        $other = New-Layer "$Case/merged2"
        $up2 = New-Layer "$Case/upper2"
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Mount-Overlay -Lower $L2 -Upper $up2 -Target $other
        (Get-OverlayMount -Lower $L1).Target | Should -Be $Merged
        (Get-OverlayMount -Lower "$L1/").Target | Should -Be $Merged
        (Get-OverlayMount -Upper $up2).Target | Should -Be $other
        (Get-OverlayMount -Lower "$Case/lower*" | Where-Object Target -Like "$Case/*").Count | Should -Be 2
        Get-OverlayMount -Upper $L1 | Should -BeNullOrEmpty
    }

    It 'reads another process''s mount namespace with -ProcessId' {
        $psi = [Diagnostics.ProcessStartInfo]::new('unshare')
        foreach ($a in '--mount', '--propagation', 'private', '--', 'sh', '-c', "mount -t overlay overlay -o 'lowerdir=${L1}:${L2}' '$Merged' && exec sleep 60") { $psi.ArgumentList.Add($a) }
        $ns = [Diagnostics.Process]::Start($psi)
        try {
            $m = $null
            for ($i = 0; $i -lt 50 -and -not $m; $i++) {
                Start-Sleep -Milliseconds 100
                $m = Get-OverlayMount -ProcessId $ns.Id -ErrorAction SilentlyContinue | Where-Object Target -EQ $Merged
            }
            $m | Should -Not -BeNullOrEmpty
            $m.ProcessId | Should -Be $ns.Id
            $m.Lower | Should -Be @($L1, $L2)
            Get-OverlayMount | Where-Object Target -EQ $Merged | Should -BeNullOrEmpty
        }
        finally {
            $ns.Kill(); $ns.WaitForExit()
        }
    }

    It 'lists the overlays of a mount namespace once when several of its processes are piped in' {
        Mount-Overlay -Lower $L1, $L2 -Target $Merged
        $self = [pscustomobject]@{ Id = $PID }
        $shell = [pscustomobject]@{ Id = (Get-Process -Id $PID).Parent.Id }
        $m = @($self, $shell | Get-OverlayMount -Verbose 4>&1)
        @($m | Where-Object { $_ -is [OverlayTools.OverlayMount] -and $_.Target -eq $Merged }).Count | Should -Be 1
        @($m | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'already listed' }).Count | Should -Be 1
    }

    It 'takes mount points piped in as strings, literal or wildcard, each string its own selection' {
        $other = New-Layer "$Case/merged2"
        Mount-Overlay -Lower $L1, $L2 -Target $Merged
        Mount-Overlay -Lower $L2, $L1 -Target $other
        $m = @($Merged, "$Case/merged*" | Get-OverlayMount)
        $m.Target | Should -Be @($Merged, $Merged, $other)
        $m[0].Lower | Should -Be @($L1, $L2)
        (Get-Item -LiteralPath $Case).FullName | Get-OverlayMount -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayMountCommand'
        @($Merged | Get-OverlayMount -ProcessId $PID).Target | Should -Be @($Merged)
    }

    It 'binds process objects to -ProcessId only, never to -Target, with strings piped in alongside' {
        Mount-Overlay -Lower $L1, $L2 -Target $Merged
        $m = @(Get-Process -Id $PID | Get-OverlayMount -ErrorVariable err)
        $err | Should -BeNullOrEmpty
        @($m | Where-Object Target -EQ $Merged).Count | Should -Be 1
        $m[0].ProcessId | Should -Be $PID
        $mixed = @((Get-Process -Id $PID), $Merged | Get-OverlayMount -ErrorVariable err2)
        $err2 | Should -BeNullOrEmpty
        @($mixed | Where-Object Target -EQ $Merged).Count | Should -Be 2
        42 | Get-OverlayMount -ErrorVariable err3 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err3[0].FullyQualifiedErrorId | Should -Be 'InputObjectNotBound,OverlayTools.GetOverlayMountCommand'
    }

    It 'takes its own output from the pipeline again (a null ProcessId is this namespace)' {
        Mount-Overlay -Lower $L1, $L2 -Target $Merged
        $again = @(Get-OverlayMount -Target $Merged | Get-OverlayMount)
        $again.Count | Should -Be 1
        $again[0].MountId | Should -Be (Get-OverlayMount -Target $Merged).MountId
        Get-OverlayMount -ProcessId 0 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'ProcessIdOutOfRange,OverlayTools.GetOverlayMountCommand'
    }

    It 'reports an unreadable process as MountInfoUnreadable' {
        Get-OverlayMount -ProcessId 999999999 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'MountInfoUnreadable,OverlayTools.GetOverlayMountCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'shows a default table with target, mode, container, upper and lower' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $text = Get-OverlayMount -Target $Merged | Out-String -Width 400
        $text | Should -Match 'Target\s+Mode\s+Container\s+Upper\s+Lower'
        $text | Should -Match ([regex]::Escape($Merged) + '\s+rw\s+' + [regex]::Escape($Up) + '\s+' + [regex]::Escape($L1))
    }

    It 'shortens 64-digit ids in the table, and only there' {
        $id = 'db73ca6c860f21a71de160a18f4a4916ca2ec1324e08fdb271d2348c3d097c02'
        $long = New-Layer "$Case/$id/merged"
        Mount-Overlay -Lower $L1 -Upper $Up -Target $long
        $m = Get-OverlayMount -Target $long
        ($m | Out-String -Width 400) | Should -Match ([regex]::Escape("$Case/db73ca6c860f…/merged"))
        $m.Target | Should -Be $long
    }

    It 'completes -Target with mounted overlays' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $line = "Get-OverlayMount -Target $Case/me"
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Contain $Merged
        # A relative word completes as typed, against the location.
        Push-Location -LiteralPath $Case
        try {
            $line = 'Dismount-Overlay -Target me'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('merged')
            $line = 'Get-OverlayMount ./me'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('./merged')
        }
        finally { Pop-Location }
    }
}
