#Requires -Version 7.4
# Objects survive serialization (Export-Clixml, jobs: the same PSRP serializer remoting uses) and
# the cmdlets are safe in parallel runspaces.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:ModulePath = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
    $script:Root = New-TestRoot 'roundtrip'
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Round trips and parallel use' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:L1 = New-Layer "$script:Case/lower" @{ 'a' = '1' }
        $script:L2 = New-Layer "$script:Case/lower2" @{ 'b' = '2' }
        $script:Up = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Get-Job | Remove-Job -Force
        Clear-TestMounts $script:Case
    }

    It 'keeps every OverlayMount property through Export-Clixml and Import-Clixml' {
        $m = Mount-Overlay -Lower $L1, $L2 -Upper $Up -Target $Merged -Option nosuid -PassThru
        $xml = Join-Path $Case 'm.xml'
        $m | Export-Clixml -LiteralPath $xml
        $back = Import-Clixml -LiteralPath $xml
        $back.PSObject.TypeNames | Should -Contain 'Deserialized.OverlayTools.OverlayMount'
        foreach ($p in 'Target', 'Upper', 'Work', 'ReadOnly', 'MountId', 'ParentId', 'Source', 'HasModuleEmptyLower') {
            $back.$p | Should -Be $m.$p -Because $p
        }
        @($back.Lower) | Should -Be @($m.Lower)
        @($back.MountOptions) | Should -Be @($m.MountOptions)
    }

    It 'shows deserialized mounts with the same default table' {
        $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -PassThru
        $live = $m | Out-String -Width 300
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($m))
        $back | Out-String -Width 300 | Should -Be $live
    }

    It 'pipes mounts returned by a background job (out of process) into Dismount-Overlay' {
        Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
        $remote = Start-Job -ScriptBlock {
            param($module, $target)
            Import-Module $module
            Get-OverlayMount -Target $target
        } -ArgumentList $ModulePath, $Merged | Wait-Job -Timeout 60 | Receive-Job
        $remote.PSObject.TypeNames[0] | Should -Be 'Deserialized.OverlayTools.OverlayMount'
        $remote | Dismount-Overlay
        Test-MountedAt $Merged | Should -BeFalse
    }

    It 'mounts again from a deserialized mount by property name' {
        $m = Mount-Overlay -Lower $L1, $L2 -Upper $Up -Target $Merged -PassThru
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($m))
        Dismount-Overlay -Target $Merged
        $again = $back | Mount-Overlay -PassThru
        $again.Lower | Should -Be @($L1, $L2)
        $again.Upper | Should -Be $Up
        $again.Target | Should -Be $Merged
    }

    It 'keeps the table view of every output type after serialization, and their pipelines by property name' {
        Mount-Overlay -Lower $L1, $L2 -Upper $Up -Target $Merged
        Set-Content -LiteralPath "$Merged/new" -Value 'x'
        Remove-Item -LiteralPath "$Merged/b"
        $outputs = [ordered]@{
            'OverlayTools.OverlayMount'    = @(Get-OverlayMount -Target $Merged)
            'OverlayTools.OverlayLayer'    = @(Get-OverlayLayer -Target $Merged)
            'OverlayTools.OverlayChange'   = @(Get-OverlayChange -Target $Merged)
            'OverlayTools.CopyUpResult'    = @(Invoke-OverlayCopyUp -Path "$Merged/a" -PassThru)
            'OverlayTools.OverlayPathInfo' = @(Resolve-OverlayPath -Path "$Merged/a")
        }
        foreach ($type in $outputs.Keys) {
            $live = $outputs[$type]
            $live.Count | Should -BeGreaterThan 0 -Because "$type needs a sample"
            $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($live))
            @($back)[0].PSObject.TypeNames[0] | Should -Be "Deserialized.$type"
            ($back | Format-Table | Out-String -Width 400) | Should -Be ($live | Format-Table | Out-String -Width 400) -Because "$type keeps its table"
        }
        # Deserialized results pipe on: a path info into copy-up, layers into a new mount, mounts into dismount.
        $info = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($outputs['OverlayTools.OverlayPathInfo']))
        ($info | Invoke-OverlayCopyUp -PassThru).Status | Should -Be 'AlreadyUp'
        $layers = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($outputs['OverlayTools.OverlayLayer']))
        $view = New-Layer "$Case/view"
        $m = $layers | Mount-Overlay -Target $view -ReadOnly -PassThru
        $m.Lower | Should -Be @($Up, $L1, $L2)
        Test-Path -LiteralPath "$view/new" | Should -BeTrue
        Test-Path -LiteralPath "$view/b" | Should -BeFalse
        $mounts = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize(@(Get-OverlayMount -Target "$Case/*")))
        $mounts | Dismount-Overlay
        @(Get-MountsUnder $Case).Count | Should -Be 0
    }

    It 'takes the Target of a piped OverlayMount, live or deserialized, as a path, never as a pattern, in every cmdlet' {
        $m1 = New-Layer "$Case/m1"
        $odd = New-Layer "$Case/m[1]"
        Mount-Overlay -Lower $L1 -Upper $Up -Target $m1
        $gone = Mount-Overlay -Lower $L1, $L2 -Target $odd -PassThru
        $xml = Join-Path $Case 'gone.xml'
        $gone | Export-Clixml -LiteralPath $xml
        $gone | Dismount-Overlay
        Test-MountedAt $odd | Should -BeFalse
        # m[1] is gone: its object, piped again, must not name m1 (which 'm[1]' matches as a pattern).
        foreach ($piped in $gone, (Import-Clixml -LiteralPath $xml)) {
            $piped | Dismount-Overlay -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayNotMounted,OverlayTools.DismountOverlayCommand'
            Test-MountedAt $m1 | Should -BeTrue
            $piped | Get-OverlayMount -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayMountCommand'
            $piped | Get-OverlayChange -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayChangeCommand'
            $piped | Get-OverlayLayer -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'MountNotFound,OverlayTools.GetOverlayLayerCommand'
        }
        # A string is still a pattern, and -Target given with a piped process too.
        ("$Case/m[1]" | Get-OverlayMount).Target | Should -Be $m1
        (Get-Process -Id $PID | Get-OverlayMount -Target "$Case/m[1]").Target | Should -Be $m1
    }

    It 'runs the cmdlets in thread jobs' {
        $jobs = 1..4 | ForEach-Object {
            $d = Join-Path $Case "tj$_"
            $l = New-Layer "$d/lower" @{ "t$_" = "$_" }; $u = New-Layer "$d/upper"; $t = New-Layer "$d/merged"
            Start-ThreadJob -ArgumentList $ModulePath, $l, $u, $t -ScriptBlock {
                param($module, $l, $u, $t)
                Import-Module $module
                foreach ($i in 1..3) {
                    Mount-Overlay -Lower $l -Upper $u -Target $t
                    Set-Content -LiteralPath "$t/w$i" -Value $i
                    $c = @(Get-OverlayChange -Target $t).Count
                    Dismount-Overlay -Target $t
                }
                $c
            }
        }
        $counts = $jobs | Wait-Job -Timeout 120 | Receive-Job
        $counts | Should -Be @(3, 3, 3, 3)
        @(Get-MountsUnder $Case).Count | Should -Be 0
    }

    It 'mounts, lists and dismounts from many runspaces at once without interference' {
        $dirs = 1..16 | ForEach-Object {
            $d = Join-Path $Case "p$_"
            [pscustomobject]@{ Lower = (New-Layer "$d/lower" @{ "f$_" = "$_" }); Upper = (New-Layer "$d/upper"); Target = (New-Layer "$d/merged"); N = $_ }
        }
        $results = $dirs | ForEach-Object -ThrottleLimit 8 -Parallel {
            Import-Module $using:ModulePath
            $d = $_
            $out = foreach ($i in 1..5) {
                Mount-Overlay -Lower $d.Lower -Upper $d.Upper -Target $d.Target
                $seen = Test-Path -LiteralPath (Join-Path $d.Target "f$($d.N)")
                $listed = @(Get-OverlayMount -Target $d.Target).Count
                Dismount-Overlay -Target $d.Target
                "$seen/$listed"
            }
            $out -join ','
        }
        $results | Should -HaveCount 16
        $results | ForEach-Object { $_ | Should -Be 'True/1,True/1,True/1,True/1,True/1' }
        @(Get-MountsUnder $Case).Count | Should -Be 0
    }

    It 'resolves relative paths per runspace, not through the process directory' {
        $a = New-Layer "$Case/ra"; $null = New-Layer "$Case/ra/lower" @{ 'from-a' = 'a' }; $null = New-Layer "$Case/ra/upper"; $null = New-Layer "$Case/ra/merged"
        $b = New-Layer "$Case/rb"; $null = New-Layer "$Case/rb/lower" @{ 'from-b' = 'b' }; $null = New-Layer "$Case/rb/upper"; $null = New-Layer "$Case/rb/merged"
        $results = $a, $b | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:ModulePath
            Set-Location -LiteralPath $_
            $m = Mount-Overlay -Lower lower -Upper upper -Target merged -PassThru
            $names = (Get-ChildItem -LiteralPath $m.Target).Name -join ','
            Dismount-Overlay -Target merged
            "$($m.Target)=$names"
        }
        $results | Should -Contain "$a/merged=from-a"
        $results | Should -Contain "$b/merged=from-b"
    }
}
