#Requires -Version 7.4
# PowerShell remoting over SSH, the way the cmdlets run across a fleet: objects come back
# deserialized and must still format and pipe into the cmdlets by property name, both ways.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestRemoting.psm1') -Force
    $script:CanRun = (Test-IsRoot) -and (Test-SshdAvailable)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestRemoting.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:ModulePath = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
    $script:Root = New-TestRoot 'remoting'
    $script:Sshd = $null
    $script:Session = $null
    if ((Test-IsRoot) -and (Test-SshdAvailable)) {   # else the Describe below is skipped
        $script:Sshd = Start-TestSshd (Join-Path $script:Root 'sshd')
        $script:Session = New-TestSshSession $script:Sshd
        Invoke-Command -Session $script:Session -ScriptBlock { param($m) Import-Module $m } -ArgumentList $script:ModulePath
    }
}

AfterAll {
    if ($script:Session) { Remove-PSSession $script:Session }
    if ($script:Sshd) { Stop-TestSshd $script:Sshd }
    Remove-TestRoot $script:Root
}

Describe 'Remoting over SSH' -Tag 'RequiresRoot', 'RequiresSsh' -Skip:(-not $CanRun) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:L1 = New-Layer "$script:Case/lower" @{ 'a' = '1' }
        $script:Up = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    It 'returns mounts made remotely as deserialized objects that format like live ones' {
        $remote = Invoke-Command -Session $Session -ScriptBlock { param($l, $u, $t) Mount-Overlay -Lower $l -Upper $u -Target $t -PassThru } -ArgumentList $L1, $Up, $Merged
        $remote.PSObject.TypeNames[0] | Should -Be 'Deserialized.OverlayTools.OverlayMount'
        $remote.Lower | Should -Be @($L1)
        $live = Get-OverlayMount -Target $Merged
        ($remote | Select-Object * -ExcludeProperty PSComputerName, RunspaceId, PSShowComputerName | Out-String -Width 300) | Should -Match ([regex]::Escape($Merged))
        ($remote | Format-Table | Out-String -Width 300) | Should -Match 'Target\s+Mode\s+Container\s+Upper\s+Lower'
        $live.MountId | Should -Be $remote.MountId
    }

    It 'pipes remote results into a local Dismount-Overlay' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        Invoke-Command -Session $Session -ScriptBlock { param($t) Get-OverlayMount -Target $t } -ArgumentList $Merged | Dismount-Overlay
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'pipes local objects into the remote cmdlets by property name' {
        $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -PassThru
        $out = $m | Invoke-Command -Session $Session -ScriptBlock { $input | Dismount-Overlay -PassThru }
        $out.Target | Should -Be $Merged
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'carries error records with their id, category and target back from the remote side' {
        Invoke-Command -Session $Session -ScriptBlock { param($t) Dismount-Overlay -Target $t } -ArgumentList "$Case/nope" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'OverlayNotMounted,OverlayTools.DismountOverlayCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject | Should -Be "$Case/nope"
    }
}
