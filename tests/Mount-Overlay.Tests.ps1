#Requires -Version 7.4
# Mount-Overlay against the real kernel. Every test that mounts cleans up in AfterEach/AfterAll.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Root = New-TestRoot 'mount'

    function Assert-RefusedForLiveOverlay {
        # A second mount was refused with WorkInUse naming the overlay at $Merged, mounted
        # nothing at $Target2, and that overlay still copies up into $Upper.
        param($Err, [string] $Target2, [string] $Upper)
        $Err[0].FullyQualifiedErrorId | Should -Be 'WorkInUse,OverlayTools.MountOverlayCommand'
        $Err[0].Exception.Message | Should -BeLike "*mounted at '$Merged'*"
        Test-MountedAt $Target2 | Should -BeFalse
        Set-Content -LiteralPath "$Merged/config.yaml" -Value 'changed'
        Get-Content -LiteralPath "$Upper/config.yaml" | Should -Be 'changed'
    }
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Mount-Overlay' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $null = New-Item -ItemType Directory -Path $script:Case
        $script:L1 = New-Layer "$script:Case/lower" @{ 'code.py' = 'lower code'; 'config.yaml' = 'lower config'; 'dir/deep.txt' = 'deep' }
        $script:L2 = New-Layer "$script:Case/lower2" @{ 'code.py' = 'lower2 code'; 'only2.txt' = 'two' }
        $script:Up = New-Layer "$script:Case/upper" @{ 'code.py' = 'upper code'; 'script.py' = 'upper script' }
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    Context 'a read-write overlay' {
        It 'shows the union of the layers, the upper winning, and writes into the upper' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            (Get-ChildItem -LiteralPath $Merged).Name | Sort-Object | Should -Be @('code.py', 'config.yaml', 'dir', 'script.py')
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'upper code'
            Set-Content -LiteralPath "$Merged/config.yaml" -Value 'changed'
            Get-Content -LiteralPath "$Up/config.yaml" | Should -Be 'changed'
            Get-Content -LiteralPath "$L1/config.yaml" | Should -Be 'lower config'
        }

        It 'creates the documented work dir beside the upper and reports it' {
            $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -PassThru
            $m.Work | Should -Be "$Up.work"
            Test-Path -LiteralPath "$Up.work/work" | Should -BeTrue
            (Get-MountInfoLine $Merged) | Should -Match ([regex]::Escape("workdir=$Up.work"))
        }

        It 'uses a given -Work dir' {
            $work = New-Layer "$Case/mywork"
            $m = Mount-Overlay -Lower $L1 -Upper $Up -Work $work -Target $Merged -PassThru
            $m.Work | Should -Be $work
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }

        It 'emits nothing without -PassThru and an OverlayMount with it' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged | Should -BeNullOrEmpty
            Dismount-Overlay $Merged
            $m = Mount-Overlay -Lower $L2, $L1 -Upper $Up -Target $Merged -PassThru
            $m | Should -BeOfType ([OverlayTools.OverlayMount])
            $m.Target | Should -Be $Merged
            $m.Lower | Should -Be @($L2, $L1)
            $m.Upper | Should -Be $Up
            $m.ReadOnly | Should -BeFalse
            $m.Source | Should -Be 'overlay'
        }

        It 'stacks lowers highest priority first' {
            Mount-Overlay -Lower $L2, $L1 -Target $Merged
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'lower2 code'
            Get-Content -LiteralPath "$Merged/only2.txt" | Should -Be 'two'
            Get-Content -LiteralPath "$Merged/dir/deep.txt" | Should -Be 'deep'
        }

        It 'writes the equivalent mount command with -Verbose' {
            $verbose = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Verbose 4>&1 | ForEach-Object { "$_" }
            $verbose -join "`n" | Should -Match ([regex]::Escape("mount -t overlay overlay -o lowerdir=$L1,upperdir=$Up,workdir=$Up.work $Merged"))
        }

        It 'reports with -WhatIf what the mount would refuse, and creates nothing: <Label>' -ForEach @(
            @{ Label = 'a missing lower'; ErrorId = 'LayerNotFound'; Setup = { @{ Lower = "$Case/nope"; Upper = $Up; Target = $Merged } } }
            @{ Label = 'an upper that is a file'; ErrorId = 'UpperNotDirectory'; Setup = { Set-Content "$Case/file" 'x'; @{ Lower = $L1; Upper = "$Case/file"; Target = $Merged } } }
            @{ Label = 'a work dir holding files'; ErrorId = 'WorkNotEmpty'; Setup = { $null = New-Layer "$Case/dirty" @{ 'keep' = 'k' }; @{ Lower = $L1; Upper = $Up; Work = "$Case/dirty"; Target = $Merged } } }
            @{ Label = 'a missing target without -Force'; ErrorId = 'TargetNotFound'; Setup = { @{ Lower = $L1; Upper = $Up; Target = "$Case/nowhere" } } }
            @{ Label = 'a target that is a symbolic link'; ErrorId = 'TargetIsSymlink'; Setup = { $null = New-Item -ItemType SymbolicLink -Path "$Case/link" -Target $Merged; @{ Lower = $L1; Upper = $Up; Target = "$Case/link" } } }
            @{ Label = 'a work dir to be made inside the upper'; ErrorId = 'WorkInsideUpper'; Setup = { @{ Lower = $L1; Upper = $Up; Work = "$Up/w"; Target = $Merged } } }
        ) {
            $p = & $Setup
            $before = @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName
            Mount-Overlay @p -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.MountOverlayCommand"
            @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName | Should -Be $before
            @(Get-MountsUnder $Case).Count | Should -Be 0
        }

        It 'refuses with -WhatIf, as the mount itself does, an upper or work dir a mounted overlay uses: <Label>' -ForEach @(
            @{ Label = 'the same upper'; ErrorId = 'UpperInUse'; Setup = { @{ Lower = $L1; Upper = $Up; Target = $other } } }
            @{ Label = 'the same upper, another work dir'; ErrorId = 'UpperInUse'; Setup = { @{ Lower = $L1; Upper = $Up; Work = (New-Layer "$Case/w2"); Target = $other } } }
            @{ Label = 'its work dir'; ErrorId = 'WorkInUse'; Setup = { @{ Lower = $L1; Upper = (New-Layer "$Case/u2"); Work = "$Up.work"; Target = $other } } }
            @{ Label = 'an upper inside its upper'; ErrorId = 'UpperInUse'; Setup = { @{ Lower = $L1; Upper = (New-Layer "$Up/sub"); Work = (New-Layer "$Up/subwork"); Target = $other } } }
        ) {
            $other = New-Layer "$Case/other"
            $p = & $Setup
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $before = @(Get-ChildItem -LiteralPath $Case -Force -Recurse -ErrorAction Ignore).FullName
            Mount-Overlay @p -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.MountOverlayCommand"
            $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
            @(Get-ChildItem -LiteralPath $Case -Force -Recurse -ErrorAction Ignore).FullName | Should -Be $before
            Mount-Overlay @p -ErrorVariable real -ErrorAction SilentlyContinue
            $real[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.MountOverlayCommand" -Because 'the mount refuses it the same way'
            @(Get-MountsUnder $Case).Count | Should -Be 1
        }

        It 'mounts nothing and creates nothing with -WhatIf' {
            $target = "$Case/not-yet"
            Mount-Overlay -Lower $L1 -Upper $Up -Target $target -Force -WhatIf
            Test-Path -LiteralPath $target | Should -BeFalse
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }
    }

    Context 'read-only overlays' {
        It 'mounts a single lower read-only, hiding the module''s empty layer' {
            $m = Mount-Overlay -Lower $L1 -Target $Merged -PassThru
            $m.ReadOnly | Should -BeTrue
            $m.Lower | Should -Be @($L1)
            $m.HasModuleEmptyLower | Should -BeTrue
            $m.Upper | Should -BeNullOrEmpty
            { Set-Content -LiteralPath "$Merged/new.txt" -Value x -ErrorAction Stop } | Should -Throw
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'lower code'
        }

        It 'mounts with an upper read-only under -ReadOnly' {
            $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -ReadOnly -PassThru
            $m.ReadOnly | Should -BeTrue
            { Set-Content -LiteralPath "$Merged/new.txt" -Value x -ErrorAction Stop } | Should -Throw
            Test-Path -LiteralPath "$Up/new.txt" | Should -BeFalse
        }

        It 'refuses to stack the same read-only layers on the overlay that already shows them (OverlayAlreadyMounted)' {
            # Get-OverlayMount piped back, or a runbook run twice: the kernel would stack a copy,
            # and one Dismount-Overlay would take off only that copy.
            foreach ($lower in @([string[]] @($L1), [string[]] @($L2, $L1))) {
                $first = Mount-Overlay -Lower $lower -Target $Merged -PassThru
                try {
                    Get-OverlayMount -Target $Merged | Mount-Overlay -ErrorVariable err -ErrorAction SilentlyContinue
                    Mount-Overlay -Lower $lower -Target $Merged -WhatIf -ErrorVariable err2 -ErrorAction SilentlyContinue
                    foreach ($e in $err, $err2) {
                        $e.Count | Should -Be 1
                        $e[0].FullyQualifiedErrorId | Should -Be 'OverlayAlreadyMounted,OverlayTools.MountOverlayCommand'
                        $e[0].CategoryInfo.Category | Should -Be 'ResourceExists'
                        $e[0].TargetObject | Should -Be $Merged
                        $e[0].ErrorDetails.RecommendedAction | Should -BeLike '*Dismount-Overlay*'
                    }
                    @(Get-MountsUnder $Merged).Count | Should -Be 1 -Because 'nothing was stacked'
                    # Other layers, or the same ones with an upper, may still be mounted there.
                    $other = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -PassThru
                    $other.Upper | Should -Be $Up
                    @(Get-MountsUnder $Merged).Count | Should -Be 2
                }
                finally {
                    Clear-TestMounts $Case
                }
                $first.Lower | Should -Be $lower
            }
        }

        It 'mounts data-only layers and reports them apart' {
            $data = New-Layer "$Case/data" @{ 'blob' = 'x' }
            $m = Mount-Overlay -Lower $L1 -DataLower $data -Target $Merged -PassThru
            $m.Lower | Should -Be @($L1)
            $m.DataLower | Should -Be @($data)
            Test-Path -LiteralPath "$Merged/blob" | Should -BeFalse
            # Get-OverlayLayer lists them last, as Data, and they pipe back in as data-only layers.
            $layers = @(Get-OverlayLayer -Target $Merged)
            $layers.Role | Should -Be @('Lower', 'Data')
            $layers.Path | Should -Be @($L1, $data)
            $layers.Position | Should -Be @(0, 1)
            $view = New-Layer "$Case/view"
            $again = $layers | Mount-Overlay -Target $view -ReadOnly -PassThru
            $again.Lower | Should -Be @($L1)
            $again.DataLower | Should -Be @($data)
            Test-Path -LiteralPath "$view/blob" | Should -BeFalse
        }

        It 'mounts the layers of a plain overlay piped from Get-OverlayLayer over a fresh upper beside its upper' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $view = New-Layer "$Case/view"
            # Beside the piped upper, in the same parent: fresh (only a store's layer dir, around
            # a container's diff or fs dir, is the container's own).
            $fresh = New-Layer "$Case/fresh"
            Get-OverlayLayer -Target $Merged | Mount-Overlay -Target $view -Upper $fresh -ErrorVariable err
            $err.Count | Should -Be 0
            Test-MountedAt $view | Should -BeTrue
            Get-Content -LiteralPath "$view/code.py" | Should -Be 'upper code'
            Set-Content -LiteralPath "$view/new.txt" -Value 'n'
            Test-Path -LiteralPath "$fresh/new.txt" | Should -BeTrue
            Test-Path -LiteralPath "$Up/new.txt" | Should -BeFalse
            # The piped upper itself is never the new upper.
            $again = New-Layer "$Case/again"
            Get-OverlayLayer -Target $Merged | Mount-Overlay -Target $again -Upper $Up -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerStreamUpperNotFresh,OverlayTools.MountOverlayCommand'
            Test-MountedAt $again | Should -BeFalse
        }
    }

    Context 'paths' {
        It 'mounts on a directory object piped in (Get-Item), taken by its path' {
            $m = Get-Item -LiteralPath $Merged | Mount-Overlay -Lower $L1 -Upper $Up -PassThru
            $m.Target | Should -Be $Merged
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'upper code'
        }

        It 'mounts on a deserialized directory object piped in (Import-Clixml), taken by its FullName' {
            # Its own Target property (a symbolic link's target) is empty: bound as -Target it was TargetEmpty.
            Get-Item -LiteralPath $Merged | Export-Clixml -LiteralPath "$Case/item.xml"
            $item = Import-Clixml -LiteralPath "$Case/item.xml"
            $item.PSObject.TypeNames | Should -Contain 'Deserialized.System.IO.DirectoryInfo'
            $m = $item | Mount-Overlay -Lower $L1 -Upper $Up -PassThru
            $m.Target | Should -Be $Merged
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'upper code'
            $other = New-Layer "$Case/other"
            $item | Mount-Overlay -Lower $L1 -Upper $other -Target $other -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'TargetGivenTwice,OverlayTools.MountOverlayCommand'
            Test-MountedAt $other | Should -BeFalse
        }

        It 'still binds docker inspect objects and layer streams piped in with -Target to their own parameter sets' {
            # Neither is a directory object, so neither may choose the set a piped directory uses.
            $other = New-Layer "$Case/other"
            [pscustomobject]@{ LowerDir = "${L2}:$L1"; UpperDir = $Up; WorkDir = "$Up.work"; MergedDir = '/nonexistent' } |
                Mount-Overlay -Target $Merged -ReadOnly -ErrorVariable err
            $err.Count | Should -Be 0
            (Get-OverlayMount -Target $Merged).Lower | Should -Be @($L2, $L1)
            @([pscustomobject]@{ Path = $L2; Position = 0 }, [pscustomobject]@{ Path = $L1; Position = 1 }) |
                Mount-Overlay -Target $other -ReadOnly -ErrorVariable err2
            $err2.Count | Should -Be 0
            (Get-OverlayMount -Target $other).Lower | Should -Be @($L2, $L1)
        }

        It 'refuses a directory piped in together with -Target as TargetGivenTwice, and mounts nothing' {
            $other = New-Layer "$Case/other"
            Get-Item -LiteralPath $Merged | Mount-Overlay -Lower $L1 -Upper $Up -Target $other -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'TargetGivenTwice,OverlayTools.MountOverlayCommand'
            $err[0].Exception.Message | Should -BeLike "*'$Merged'*"
            Test-MountedAt $Merged | Should -BeFalse
            Test-MountedAt $other | Should -BeFalse
        }

        It 'resolves relative paths and ~ against the PowerShell location, not the process directory' {
            Push-Location -LiteralPath $Case
            try {
                [Environment]::CurrentDirectory = '/'
                $m = Mount-Overlay -Lower ./lower -Upper upper -Target ./merged -PassThru
                $m.Lower | Should -Be @($L1)
                $m.Upper | Should -Be $Up
                $m.Target | Should -Be $Merged
            }
            finally { Pop-Location }
        }

        It 'resolves ~ to the home directory' {
            $homeLayer = Join-Path $HOME ('.ot-test-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
            $null = [IO.Directory]::CreateDirectory($homeLayer)
            try {
                $m = Mount-Overlay -Lower ('~/' + (Split-Path -Leaf $homeLayer)) -Target $Merged -PassThru
                $m.Lower | Should -Be @($homeLayer)
            }
            finally {
                Clear-TestMounts $Case
                Remove-Item -LiteralPath $homeLayer -Force
            }
        }

        It 'splits a colon-joined -Lower as docker inspect prints it' {
            $m = Mount-Overlay -Lower "${L2}:${L1}" -Target $Merged -PassThru
            $m.Lower | Should -Be @($L2, $L1)
        }

        It 'splits a colon-joined -Lower of relative paths (which PowerShell would read as a drive)' {
            Push-Location -LiteralPath $Case
            try {
                $m = Mount-Overlay -Lower ((Split-Path -Leaf $L2) + ':' + (Split-Path -Leaf $L1)) -Target $Merged -PassThru
                $m.Lower | Should -Be @($L2, $L1)
            }
            finally { Pop-Location }
        }

        It 'takes "\:" in a colon-joined -Lower as a literal colon' {
            $colon = New-Layer "$Case/with:colon" @{ 'c' = 'c' }
            $escaped = $colon -replace ':', '\:'
            $m = Mount-Overlay -Lower "${escaped}:${L1}" -Target $Merged -PassThru
            $m.Lower | Should -Be @($colon, $L1)
        }

        It 'takes "\:" in a relative part of a colon-joined -Lower as a literal colon, not a drive' {
            $colon = New-Layer "$Case/lo:a" @{ 'c' = 'c' }
            Push-Location -LiteralPath $Case
            try {
                $m = Mount-Overlay -Lower ((Split-Path -Leaf $L2) + ':lo\:a') -Target $Merged -PassThru
                (Get-OverlayChange -Upper $Up -Lower 'lo\:a:lower').Path | Should -Contain '/code.py'
            }
            finally { Pop-Location }
            $m.Lower | Should -Be @($L2, $colon)
        }

        It 'takes an existing directory whose name holds a colon literally' {
            $colon = New-Layer "$Case/a:b" @{ 'c' = 'c' }
            $m = Mount-Overlay -Lower $colon -Target $Merged -PassThru
            $m.Lower | Should -Be @($colon)
        }

        It 'takes a relative name that holds a colon as that directory' {
            $colon = New-Layer "$Case/a:b" @{ 'c' = 'c' }
            Push-Location -LiteralPath $Case
            try { $m = Mount-Overlay -Lower 'a:b' -Target $Merged -PassThru }
            finally { Pop-Location }
            $m.Lower | Should -Be @($colon)
        }

        It 'takes a -Lower on a PowerShell drive as a path on it, never as a colon-joined list' {
            $drive = 'OT' + [guid]::NewGuid().ToString('N').Substring(0, 6)
            $null = New-PSDrive -Name $drive -PSProvider FileSystem -Root $Case
            try {
                $m = Mount-Overlay -Lower "${drive}:/lower" -Target $Merged -PassThru
                $m.Lower | Should -Be @($L1)
                Dismount-Overlay -Target $Merged
                Mount-Overlay -Lower "${drive}:/missing" -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
                $err[0].FullyQualifiedErrorId | Should -Be 'LayerNotFound,OverlayTools.MountOverlayCommand'
                $err[0].TargetObject | Should -Be "$Case/missing"
                Mount-Overlay -Lower 'Env:/HOME' -Target $Merged -ErrorVariable err2 -ErrorAction SilentlyContinue
                $err2[0].FullyQualifiedErrorId | Should -Be 'NotAFileSystemPath,OverlayTools.MountOverlayCommand'
                Test-MountedAt $Merged | Should -BeFalse
            }
            finally { Remove-PSDrive -Name $drive }
        }

        It 'binds LowerDir/UpperDir/WorkDir/MergedDir from the pipeline (docker inspect GraphDriver.Data)' {
            $work = New-Layer "$Case/work"
            $data = [pscustomobject]@{ LowerDir = "${L2}:${L1}"; UpperDir = $Up; WorkDir = $work; MergedDir = $Merged }
            $m = $data | Mount-Overlay -PassThru
            $m.Lower | Should -Be @($L2, $L1)
            $m.Upper | Should -Be $Up
            $m.Work | Should -Be $work
            $m.Target | Should -Be $Merged
        }

        It 'mounts directories whose names hold <Label> literally, through <Api>' -ForEach @(
            foreach ($api in 'auto', 'legacy') {
                @{ Label = 'commas, colons and equals'; Name = 'we,ird:na=me'; Api = $api }
                @{ Label = 'spaces and tabs'; Name = "sp ace`ttab"; Api = $api }
                @{ Label = 'a newline'; Name = "new`nline"; Api = $api }
                @{ Label = 'backslashes'; Name = 'back\slash\'; Api = $api }
                @{ Label = 'unicode'; Name = 'üñï©ødé-层'; Api = $api }
                @{ Label = 'option syntax'; Name = 'x,upperdir=evil,workdir=evil2'; Api = $api }
            }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            try {
                $lower = New-Layer "$Case/L-$Name" @{ 'in-lower' = 'l' }
                $upper = New-Layer "$Case/U-$Name"
                $work = New-Layer "$Case/W-$Name"
                $target = New-Layer "$Case/M-$Name"
                $m = Mount-Overlay -Lower $lower, $L1 -Upper $upper -Work $work -Target $target -PassThru
                $m.Lower | Should -Be @($lower, $L1)
                $m.Upper | Should -Be $upper
                $m.Work | Should -Be $work
                $m.Target | Should -Be $target
                Test-Path -LiteralPath "$Case/evil" | Should -BeFalse
                # .NET calls: PowerShell's provider would read a backslash as a separator.
                [IO.File]::WriteAllText("$target/written", 'w')
                [IO.File]::Exists("$upper/written") | Should -BeTrue
                [IO.File]::Exists("$target/in-lower") | Should -BeTrue
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
        }

        It 'refuses a NUL character in a path' {
            Mount-Overlay -Lower "$L1`0x" -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'PathContainsNul,OverlayTools.MountOverlayCommand'
            Test-MountedAt $Merged | Should -BeFalse
        }

        It 'treats wildcard characters in layer names literally' {
            $odd = New-Layer "$Case/[ab]*?" @{ 'x' = 'x' }
            $m = Mount-Overlay -Lower $odd -Target $Merged -PassThru
            $m.Lower | Should -Be @($odd)
        }
    }

    Context 'limits' {
        It 'mounts 500 lower layers with long paths, where util-linux mount fails' {
            $deep = Join-Path $Case ('d' * 60)
            $lowers = foreach ($i in 1..500) { New-Layer (Join-Path $deep ('layer-{0:D4}-{1}' -f $i, ('x' * 50))) }
            $null = New-Item -ItemType File -Path (Join-Path $lowers[499] 'bottom.txt')
            $m = Mount-Overlay -Lower $lowers -Target $Merged -PassThru
            $m.Lower.Count | Should -Be 500
            $m.Lower[0] | Should -Be $lowers[0]
            $m.Lower[499] | Should -Be $lowers[499]
            Test-Path -LiteralPath "$Merged/bottom.txt" | Should -BeTrue
        }

        It 'refuses 501 lower layers with TooManyLayers' {
            $lowers = foreach ($i in 1..501) { New-Layer "$Case/many/$i" }
            Mount-Overlay -Lower $lowers -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'TooManyLayers,OverlayTools.MountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
        }

        It 'mounts a layer whose path is longer than fsconfig''s 255-byte limit' {
            $long = New-Layer (Join-Path $Case (('p' * 100) + '/' + ('q' * 100) + '/' + ('r' * 100))) @{ 'long.txt' = 'l' }
            [Text.Encoding]::UTF8.GetByteCount($long) | Should -BeGreaterThan 255
            $m = Mount-Overlay -Lower $long, $L1 -Upper $Up -Target $Merged -PassThru
            $m.Lower[0] | Should -Be $long
            Test-Path -LiteralPath "$Merged/long.txt" | Should -BeTrue
        }

        It 'refuses on the mount(2) path what would not fit one page, instead of letting the kernel cut it' {
            $env:OVERLAYTOOLS_MOUNT_API = 'legacy'
            try {
                $lowers = foreach ($i in 1..300) { New-Layer "$Case/legacy/$i" }
                Mount-Overlay -Lower $lowers -Upper $Up -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
                $err[0].FullyQualifiedErrorId | Should -Be 'MountOptionsTooLong,OverlayTools.MountOverlayCommand'
                Test-MountedAt $Merged | Should -BeFalse
                Test-Path -LiteralPath "$Up.work" | Should -BeFalse
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
        }

        It 'mounts through mount(2) with long paths by passing descriptors' {
            $env:OVERLAYTOOLS_MOUNT_API = 'legacy'
            try {
                $lowers = foreach ($i in 1..40) { New-Layer (Join-Path $Case ("legacy-long/{0}-{1}" -f $i, ('z' * 120))) }
                $m = Mount-Overlay -Lower $lowers -Upper $Up -Target $Merged -PassThru
                $m.Lower.Count | Should -Be 40
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
        }
    }

    Context 'options' {
        It 'passes overlay options and mount flags' {
            $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Option 'redirect_dir=on', 'index=on', 'metacopy=on', 'nosuid', 'nodev', 'noexec', 'noatime' -PassThru
            $m.Options | Should -Contain 'redirect_dir=on'
            $m.Options | Should -Contain 'index=on'
            $m.Options | Should -Contain 'metacopy=on'
            foreach ($f in 'nosuid', 'nodev', 'noexec', 'noatime') { $m.MountOptions | Should -Contain $f }
        }

        It 'accepts comma-joined options and read-only as an option' {
            $m = Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Option 'redirect_dir=on,read-only' -PassThru
            $m.ReadOnly | Should -BeTrue
            $m.Options | Should -Contain 'redirect_dir=on'
        }

        It 'refuses <Label> with InvalidOption' -ForEach @(
            @{ Label = 'an unknown option'; Option = 'frobnicate=on' }
            @{ Label = 'a bad value'; Option = 'redirect_dir=maybe' }
            @{ Label = 'a layer given as an option'; Option = 'upperdir=/etc' }
            @{ Label = 'lowerdir as an option'; Option = 'lowerdir=/x' }
            @{ Label = 'a value on a flag'; Option = 'volatile=3' }
        ) {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Option $Option -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidOption,OverlayTools.MountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
            Test-MountedAt $Merged | Should -BeFalse
        }

        It 'refuses contradicting options before the kernel sees them' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Option 'metacopy=on', 'redirect_dir=off' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'ConflictingOptions,OverlayTools.MountOverlayCommand'
        }

        It 'puts the kernel''s own message into the error and leaves nothing behind' {
            $target = "$Case/created-by-force/sub"
            Mount-Overlay -Lower $L1 -Upper $Up -Target $target -Force -Option 'nfs_export=on', 'index=off' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'MountFailed,OverlayTools.MountOverlayCommand'
            $err[0].Exception.Message | Should -Match 'conflicting options'
            $err[0].Exception.Message | Should -Match 'EINVAL'
            Test-Path -LiteralPath "$Case/created-by-force" | Should -BeFalse
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }
        It 'says how to reuse an upper and work dir that a volatile mount left marked' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -Option volatile
            Dismount-Overlay -Target $Merged
            Test-Path -LiteralPath "$Up.work/work/incompat/volatile" | Should -BeTrue
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'WorkDirVolatile,OverlayTools.MountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
            $err[0].Exception.Message | Should -Match "incompat feature 'volatile'"
            $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*fresh upper and work dir*$Up.work/work/incompat*"
            Test-MountedAt $Merged | Should -BeFalse
            # Doing what it says makes the pair usable again.
            Remove-Item -Recurse -LiteralPath "$Up.work/work/incompat"
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            Test-MountedAt $Merged | Should -BeTrue
        }
    }

    Context 'bad input' {
        It 'reports <Label> as <ErrorId> (<Category>) and leaves nothing behind' -ForEach @(
            @{ Label = 'a missing lower'; ErrorId = 'LayerNotFound'; Category = 'ObjectNotFound'; Setup = { @{ Lower = "$Case/nope"; Upper = $Up; Target = $Merged } } }
            @{ Label = 'a lower that is a file'; ErrorId = 'LayerNotDirectory'; Category = 'InvalidArgument'; Setup = { @{ Lower = "$L1/code.py"; Upper = $Up; Target = $Merged } } }
            @{ Label = 'a repeated lower'; ErrorId = 'LayerRepeated'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1, $L1; Target = $Merged } } }
            @{ Label = 'a missing upper'; ErrorId = 'UpperNotFound'; Category = 'ObjectNotFound'; Setup = { @{ Lower = $L1; Upper = "$Case/nope"; Target = $Merged } } }
            @{ Label = 'an upper that is also a lower'; ErrorId = 'UpperIsLower'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1; Upper = $L1; Target = $Merged } } }
            @{ Label = 'a work dir inside the upper'; ErrorId = 'WorkInsideUpper'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1; Upper = $Up; Work = "$Up/work"; Target = $Merged } } }
            @{ Label = 'an upper inside the work dir'; ErrorId = 'UpperInsideWork'; Category = 'InvalidArgument'; Setup = { $null = New-Item -ItemType Directory "$Case/w2/up"; @{ Lower = $L1; Upper = "$Case/w2/up"; Work = "$Case/w2"; Target = $Merged } } }
            @{ Label = 'a work dir inside the upper through a symbolic link'; ErrorId = 'WorkInsideUpper'; Category = 'InvalidArgument'; Setup = { $null = New-Item -ItemType Directory "$Case/up3/w"; $null = New-Item -ItemType SymbolicLink -Path "$Case/via" -Target "$Case/up3"; @{ Lower = $L1; Upper = "$Case/up3"; Work = "$Case/via/w"; Target = $Merged } } }
            @{ Label = 'an upper inside the work dir through a symbolic link'; ErrorId = 'UpperInsideWork'; Category = 'InvalidArgument'; Setup = { $null = New-Item -ItemType Directory "$Case/w4/up"; $null = New-Item -ItemType SymbolicLink -Path "$Case/via4" -Target "$Case/w4"; @{ Lower = $L1; Upper = "$Case/via4/up"; Work = "$Case/w4"; Target = $Merged } } }
            @{ Label = '-Work without -Upper'; ErrorId = 'WorkWithoutUpper'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1; Work = "$Case/w"; Target = $Merged } } }
            @{ Label = 'a missing target'; ErrorId = 'TargetNotFound'; Category = 'ObjectNotFound'; Setup = { @{ Lower = $L1; Upper = $Up; Target = "$Case/nope" } } }
            @{ Label = 'a target that is a file'; ErrorId = 'TargetNotDirectory'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1; Target = "$L1/code.py" } } }
            @{ Label = 'a target that is a symlink'; ErrorId = 'TargetIsSymlink'; Category = 'SecurityError'; Setup = { $null = New-Item -ItemType SymbolicLink -Path "$Case/link" -Target $Merged; @{ Lower = $L1; Upper = $Up; Target = "$Case/link" } } }
            @{ Label = 'a work dir holding files'; ErrorId = 'WorkNotEmpty'; Category = 'InvalidOperation'; Setup = { $w = New-Layer "$Case/dirty" @{ 'precious.txt' = 'p' }; @{ Lower = $L1; Upper = $Up; Work = $w; Target = $Merged } } }
            @{ Label = 'a work dir that is a file'; ErrorId = 'WorkNotDirectory'; Category = 'InvalidArgument'; Setup = { @{ Lower = $L1; Upper = $Up; Work = "$L1/code.py"; Target = $Merged } } }
            @{ Label = 'a work dir whose parent is missing'; ErrorId = 'WorkNotFound'; Category = 'ObjectNotFound'; Setup = { @{ Lower = $L1; Upper = $Up; Work = "$Case/no/such/work"; Target = $Merged } } }
        ) {
            $params = & $Setup
            $before = @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName
            Mount-Overlay @params -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId,OverlayTools.MountOverlayCommand"
            $err[0].CategoryInfo.Category | Should -Be $Category
            $err[0].TargetObject | Should -Not -BeNullOrEmpty
            $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
            @(Get-MountsUnder $Case).Count | Should -Be 0
            @(Get-ChildItem -LiteralPath $Case -Force -Recurse).FullName | Should -Be $before
            if ($ErrorId -eq 'WorkNotEmpty') { Test-Path -LiteralPath "$Case/dirty/precious.txt" | Should -BeTrue }
        }

        It 'refuses an upper and work dir on different mounts' {
            $other = New-Layer "$Case/tmpfs"
            & mount -t tmpfs tmpfs $other
            Mount-Overlay -Lower $L1 -Upper $Up -Work $other -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperWorkDifferentMount,OverlayTools.MountOverlayCommand'
            Test-MountedAt $Merged | Should -BeFalse
        }

        It 'refuses an upper that is itself a mount point when the default work dir would be on another mount' {
            $upMount = New-Layer "$Case/upmount"
            & mount -t tmpfs tmpfs $upMount
            Mount-Overlay -Lower $L1 -Upper $upMount -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperWorkDifferentMount,OverlayTools.MountOverlayCommand'
            $err[0].ErrorDetails.RecommendedAction | Should -Match '-Work'
            Test-Path -LiteralPath "$upMount.work" | Should -BeFalse
        }

        It 'refuses an upper on a read-only file system' {
            $ro = New-Layer "$Case/ro"
            & mount -t tmpfs -o ro tmpfs $ro
            Mount-Overlay -Lower $L1 -Upper $ro -Work "$Case/unused" -Target $Merged -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeIn @('UpperReadOnly,OverlayTools.MountOverlayCommand', 'UpperWorkDifferentMount,OverlayTools.MountOverlayCommand')
            Test-Path -LiteralPath "$Case/unused" | Should -BeFalse
        }

        It 'refuses an upper on a read-only file system even for a read-only overlay, and says how to view it' {
            $ro = New-Layer "$Case/rofs"
            & mount -t tmpfs tmpfs $ro
            $null = New-Layer "$ro/up" @{ 'from-upper' = 'u' }
            $null = New-Layer "$ro/wk"
            & mount -o remount,ro $ro
            Mount-Overlay -Lower $L1 -Upper "$ro/up" -Work "$ro/wk" -Target $Merged -Option ro -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperReadOnly,OverlayTools.MountOverlayCommand'
            $err[0].ErrorDetails.RecommendedAction | Should -Match '-Lower'
            Test-MountedAt $Merged | Should -BeFalse
            $m = Mount-Overlay -Lower "$ro/up", $L1 -Target $Merged -PassThru
            Test-Path -LiteralPath "$Merged/from-upper" | Should -BeTrue
        }

        It 'refuses layers of two stacks piped into one mount' {
            $stream = foreach ($stack in 1, 2) { [pscustomobject]@{ Path = $L1; Position = 0 }; [pscustomobject]@{ Path = $L2; Position = 1 } }
            $stream | Mount-Overlay -Target $Merged -ReadOnly -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerStreamMixed,OverlayTools.MountOverlayCommand'
            Test-MountedAt $Merged | Should -BeFalse
        }

        It 'stacks piped layers that came out of order by their positions, with a warning' {
            $stream = @([pscustomobject]@{ Path = $L1; Position = 0 }, [pscustomobject]@{ Path = $L2; Position = 1 })
            $stream | Sort-Object Position -Descending | Mount-Overlay -Target $Merged -ReadOnly -WarningVariable warn -WarningAction SilentlyContinue
            # $L1 is the top layer (position 0): its code.py wins.
            Get-Content -LiteralPath "$Merged/code.py" | Should -Be 'lower code'
            (Get-OverlayMount -Target $Merged).Lower | Should -Be @($L1, $L2)
            "$warn" | Should -BeLike '*out of stack order (positions 1, 0)*'
        }

        It 'warns about <What> in piped layers, and mounts them in the order received' -ForEach @(
            @{ What = 'skipped positions'; Positions = @(0, 3); Says = '*skip 2 positions 1, 2;*' }
            @{ What = 'a far position'; Positions = @(0, [int]::MaxValue); Says = '*skip 2,147,483,646 positions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...;*' }
            @{ What = 'layers without a position'; Positions = @(2, $null); Says = '*1 of the 2 piped layers carry no Position; stacking them all in the order received*' }
        ) {
            $stream = @([pscustomobject]@{ Path = $L1; Position = $Positions[0] }, [pscustomobject]@{ Path = $L2; Position = $Positions[1] })
            $stream | Mount-Overlay -Target $Merged -ReadOnly -WarningVariable warn -WarningAction SilentlyContinue
            (Get-OverlayMount -Target $Merged).Lower | Should -Be @($L1, $L2)
            "$warn" | Should -BeLike $Says
        }

        It 'refuses a negative position in piped layers as a binding error' {
            [pscustomobject]@{ Path = $L1; Position = -3 } | Mount-Overlay -Target $Merged -ReadOnly -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ParameterArgumentValidationError*'
            Test-MountedAt $Merged | Should -BeFalse
        }

        It 'checks first what would be refused when $ConfirmPreference is set in a function (a string there)' {
            function Test-Confirming { $ConfirmPreference = 'Low'; Mount-Overlay -Lower "$Case/nope" -Target $Merged -ErrorAction SilentlyContinue -ErrorVariable +script:ce }
            $script:ce = @()
            Test-Confirming
            $script:ce[0].FullyQualifiedErrorId | Should -Be 'LayerNotFound,OverlayTools.MountOverlayCommand'
        }

        It 'refuses an upper that lives on an overlay' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $inner = New-Layer "$Merged/inner-upper"
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper $inner -Work "$Merged/inner-work" -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperOnOverlay,OverlayTools.MountOverlayCommand'
            Test-MountedAt $target2 | Should -BeFalse
        }

        It 'refuses an upper that a mounted overlay already uses, naming that mount' {
            Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper $Up -Work "$Case/otherwork" -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'UpperInUse,OverlayTools.MountOverlayCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].Exception.Message | Should -Match ([regex]::Escape($Merged))
            Test-Path -LiteralPath "$Case/otherwork" | Should -BeFalse
        }

        It 'refuses a work dir used before that a mounted overlay uses, its name holding <Name>, and leaves that overlay working (<Api>)' -ForEach @(
            foreach ($api in 'auto', 'legacy') {
                @{ Api = $api; Name = 'a comma and a space'; Dir = 'shared, work' }
                @{ Api = $api; Name = 'a colon, an equals sign and a backslash'; Dir = 'shared:w=x\y' }
            }
        ) {
            # The pre-check finds the overlay among all the mounts of this namespace (listmount and
            # statmount where the kernel has them) and decodes its escaped options. With index=off
            # the kernel would only warn, and empty that overlay's work dir under it.
            $work = New-Layer (Join-Path $Case $Dir)
            $up0 = New-Layer (Join-Path $Case "up, $Dir")
            $target2 = New-Layer "$Case/merged2"
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            try {
                Mount-Overlay -Lower $L1 -Upper $up0 -Work $work -Target $Merged -Option index=off
                Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/upper2") -Work $work -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
            Assert-RefusedForLiveOverlay $err $target2 $up0
        }

        It 'finds the overlay using a work dir among more mounts than one listmount call returns' {
            # listmount(2) is read in chunks of 512 ids: the user must be found past the first.
            # 600 small mounts under one tmpfs, made by one shell and detached together (umount -l
            # of the parent takes its whole subtree).
            $many = New-Layer "$Case/many"
            & bash -c 'mount -t tmpfs many "$1" && cd "$1" && for i in $(seq 600); do mkdir $i && mount -t tmpfs -o size=4k t$i $i || exit 1; done' bash $many
            $LASTEXITCODE | Should -Be 0
            try {
                $work = New-Layer "$Case/sharedwork"
                Mount-Overlay -Lower $L1 -Upper $Up -Work $work -Target $Merged
                $target2 = New-Layer "$Case/merged2"
                Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/upper2") -Work $work -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
            }
            finally { & umount -l $many }
            Assert-RefusedForLiveOverlay $err $target2 $Up
        }

        It 'finds the overlay using a work dir when its mount options are larger than 16 KiB' {
            # statmount(2) is asked again with a larger buffer when the options do not fit.
            $lowers = foreach ($i in 1..200) { New-Layer ("$Case/lowers/{0:D3}-{1}" -f $i, ('x' * 100)) }
            $work = New-Layer "$Case/sharedwork"
            Mount-Overlay -Lower $lowers -Upper $Up -Work $work -Target $Merged
            (Get-MountInfoLine $Merged).Length | Should -BeGreaterThan 20000
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/upper2") -Work $work -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'WorkInUse,OverlayTools.MountOverlayCommand'
            Test-MountedAt $target2 | Should -BeFalse
            Set-Content -LiteralPath "$Merged/new.txt" -Value 'written'
            Get-Content -LiteralPath "$Up/new.txt" | Should -Be 'written'
        }

        It 'refuses a work dir that a mounted overlay uses under another name (a bind mount of its parent), naming that overlay' {
            # The kernel knows a directory by what it is, not by name; so does the pre-check.
            $orig = New-Layer "$Case/orig"
            $work = New-Layer "$orig/work"
            Mount-Overlay -Lower $L1 -Upper $Up -Work $work -Target $Merged -Option index=off
            $alias = New-Layer "$Case/alias"
            & mount --bind $orig $alias
            $LASTEXITCODE | Should -Be 0
            $null = New-Layer "$orig/upper2"
            $target2 = New-Layer "$Case/merged2"
            # Upper and work dir both through the bind mount: the kernel needs them on one mount.
            Mount-Overlay -Lower $L2 -Upper "$alias/upper2" -Work "$alias/work" -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            Assert-RefusedForLiveOverlay $err $target2 $Up
        }

        It 'refuses as -Work the empty upper of a mounted overlay, leaving nothing in it' {
            # An empty directory need not be unused: the kernel would make work/ in it, and that
            # would show in the other overlay's merged view.
            $up0 = New-Layer "$Case/upper0"
            Mount-Overlay -Lower $L1 -Upper $up0 -Target $Merged -Option index=off
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper $Up -Work $up0 -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'WorkInUse,OverlayTools.MountOverlayCommand'
            $err[0].Exception.Message | Should -BeLike "*mounted at '$Merged'*"
            Test-MountedAt $target2 | Should -BeFalse
            @(Get-ChildItem -LiteralPath $up0 -Force).Count | Should -Be 0
            (Get-ChildItem -LiteralPath $Merged -Force).Name | Should -Not -Contain 'work'
        }

        It 'refuses a work dir whose work/ is the <Role> of a mounted overlay, and that overlay keeps its files and works' -ForEach @(
            @{ Role = 'work dir' }
            @{ Role = 'upper' }
        ) {
            # The kernel empties its work dir's work/ when mounting: that would be the other
            # overlay's work dir, or its upper and the files in it.
            $p = New-Layer "$Case/p"
            $inner = New-Layer "$p/work"
            if ($Role -eq 'upper') {
                $null = New-Layer $inner @{ 'mine.txt' = 'keep'; 'sub/deep.txt' = 'keep too' }
                Mount-Overlay -Lower $L1 -Upper $inner -Work "$Case/w0" -Target $Merged -Option index=off
            }
            else {
                Mount-Overlay -Lower $L1 -Upper $Up -Work $inner -Target $Merged -Option index=off
            }
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/upper2") -Work $p -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'WorkInUse,OverlayTools.MountOverlayCommand'
            $err[0].Exception.Message | Should -BeLike "*holds 'work', which is the $Role of the overlay mounted at '$Merged'*"
            Test-MountedAt $target2 | Should -BeFalse
            Set-Content -LiteralPath "$Merged/config.yaml" -Value 'changed'
            if ($Role -eq 'upper') {
                Get-Content -LiteralPath "$inner/config.yaml" | Should -Be 'changed'
                Get-Content -LiteralPath "$inner/mine.txt" | Should -Be 'keep'
                Get-Content -LiteralPath "$inner/sub/deep.txt" | Should -Be 'keep too'
            }
            else {
                Get-Content -LiteralPath "$Up/config.yaml" | Should -Be 'changed'
            }
        }

        It 'refuses <Kind> of a mounted overlay, naming it, and leaves that overlay''s dirs as they were (<Api>)' -ForEach @(
            foreach ($api in 'auto', 'legacy') {
                @{ Api = $api; Kind = 'an upper inside the upper'; Id = 'UpperInUse' }
                @{ Api = $api; Kind = 'a work dir inside the work dir'; Id = 'WorkInUse' }
                @{ Api = $api; Kind = 'an upper that holds the upper'; Id = 'UpperInUse' }
                @{ Api = $api; Kind = 'a work dir that holds the upper'; Id = 'WorkInUse' }
            }
        ) {
            # The kernel counts every directory inside an overlay's upper or work dir as in use
            # (with index=off it only warns). It does not look the other way: an upper around
            # another overlay's upper would write into that layer, and the kernel removes what is
            # in a work dir's work/ when mounting, silently: an upper there is deleted with its files.
            $p = New-Layer "$Case/p"
            $theirWork = "$Case/w0"
            $theirUpper = switch ($Kind) {
                'a work dir that holds the upper' { "$p/work/upper0" }
                default { "$p/upper0" }
            }
            $null = New-Layer $theirUpper @{ 'mine.txt' = 'keep' }
            if ($Kind -eq 'a work dir inside the work dir') { $theirWork = New-Layer "$p/work0" }
            if ($Kind -eq 'an upper inside the upper') { $null = New-Layer "$theirUpper/nested" }
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            try {
                Mount-Overlay -Lower $L1 -Upper $theirUpper -Work $theirWork -Target $Merged -Option index=off
                $target2 = New-Layer "$Case/merged2"
                $mine = @{ Lower = $L2; Target = $target2; Option = 'index=off' }
                $ours = switch ($Kind) {
                    # No -Work: the default work dir beside it would be inside that upper too.
                    'an upper inside the upper' { $mine.Upper = "$theirUpper/nested"; $mine.Upper }
                    'a work dir inside the work dir' { $mine.Upper = New-Layer "$Case/upper2"; $mine.Work = New-Layer "$theirWork/mine"; $mine.Work }
                    'an upper that holds the upper' { $mine.Upper = $p; $mine.Work = New-Layer "$Case/w2"; $p }
                    'a work dir that holds the upper' { $mine.Upper = New-Layer "$Case/upper2"; $mine.Work = $p; $p }
                }
                $shown = @(Get-ChildItem -LiteralPath $Merged -Force).Name
                $held = @(Get-ChildItem -LiteralPath $p -Recurse -Force).FullName
                Mount-Overlay @mine -ErrorVariable err -ErrorAction SilentlyContinue
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$Id,OverlayTools.MountOverlayCommand"
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].TargetObject | Should -Be $ours
            $theirs = if ($Kind -eq 'a work dir inside the work dir') { "'$theirWork', the work dir" } else { "'$theirUpper', the upper" }
            $relation = if ($Kind -like '*inside*') { 'is inside' } else { 'holds' }
            $err[0].Exception.Message | Should -BeLike "*'$ours' $relation $theirs of the overlay mounted at '$Merged'*"
            Test-MountedAt $target2 | Should -BeFalse
            @(Get-ChildItem -LiteralPath $p -Recurse -Force).FullName | Should -Be $held
            @(Get-ChildItem -LiteralPath $Merged -Force).Name | Should -Be $shown
            Set-Content -LiteralPath "$Merged/config.yaml" -Value 'changed'
            Get-Content -LiteralPath "$theirUpper/config.yaml" | Should -Be 'changed'
        }

        It 'refuses <Kind> of a mounted overlay reached through a bind mount, and that overlay keeps its files' -ForEach @(
            @{ Kind = 'a work dir that holds the upper'; Id = 'WorkInUse'; Relation = 'holds' }
            @{ Kind = 'an upper that holds the upper'; Id = 'UpperInUse'; Relation = 'holds' }
            @{ Kind = 'an upper inside the upper'; Id = 'UpperInUse'; Relation = 'is inside' }
        ) {
            # A bind mount of a subdirectory names a directory by another path, and the '..' walk
            # of one mount stops at its root: where the directories are within their file system
            # tells. (A work dir holding the live upper in its work/ would have it deleted.)
            $data = New-Layer "$Case/data"
            $inner = New-Layer "$data/work"
            $null = New-Layer "$inner/up" @{ 'mine.txt' = 'keep' }
            $null = New-Layer "$inner/wk"
            $bm = New-Layer "$Case/bm"
            if ($Kind -eq 'an upper inside the upper') {
                # The live overlay uses the directory itself; the new upper is reached through a bind of a subdirectory.
                $null = New-Layer "$inner/up/sub/nested"
                & mount --bind "$inner/up/sub" $bm
                $LASTEXITCODE | Should -Be 0
                Mount-Overlay -Lower $L1 -Upper "$inner/up" -Work "$inner/wk" -Target $Merged -Option index=off
                $theirs = "$inner/up"
                $null = New-Layer "$inner/up/sub/w2"  # the work dir must be on the same mount
                $mine = @{ Upper = "$bm/nested"; Work = "$bm/w2" }
                $ours = "$bm/nested"
            }
            else {
                & mount --bind $inner $bm
                $LASTEXITCODE | Should -Be 0
                Mount-Overlay -Lower $L1 -Upper "$bm/up" -Work "$bm/wk" -Target $Merged -Option index=off
                $theirs = "$bm/up"
                $mine = if ($Kind -like 'a work dir*') { @{ Upper = (New-Layer "$Case/upper2"); Work = $data } } else { @{ Upper = $data; Work = (New-Layer "$Case/w2") } }
                $ours = $data
            }
            $target2 = New-Layer "$Case/merged2"
            $held = @(Get-ChildItem -LiteralPath $data -Recurse -Force).FullName
            Mount-Overlay -Lower $L2 @mine -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$Id,OverlayTools.MountOverlayCommand"
            $err[0].Exception.Message | Should -BeLike "*'$ours' $Relation '$theirs', the upper of the overlay mounted at '$Merged'*"
            Test-MountedAt $target2 | Should -BeFalse
            @(Get-ChildItem -LiteralPath $data -Recurse -Force).FullName | Should -Be $held
            Set-Content -LiteralPath "$Merged/config.yaml" -Value 'changed'
            Get-Content -LiteralPath "$inner/up/config.yaml" | Should -Be 'changed'
        }

        It 'takes an overlay mounted by mount(8) with relative paths for none of the directories of this location' {
            # The kernel resolved them against mount(8)'s directory, which is not known here:
            # read against this process's directory they would name other directories.
            $a = New-Layer "$Case/a"; $b = New-Layer "$Case/b"
            foreach ($d in 'diff', 'work', 'merged') { $null = New-Layer "$a/$d"; $null = New-Layer "$b/$d" }
            & bash -c 'cd "$1" && mount -t overlay overlay -o lowerdir=../lower,upperdir=diff,workdir=work merged' bash $a
            $LASTEXITCODE | Should -Be 0
            # Both the PowerShell location and the process's directory (what a relative name in
            # a system call is read against) are the other directory here.
            $cwd = [Environment]::CurrentDirectory
            Push-Location -LiteralPath $b
            [Environment]::CurrentDirectory = $b
            try { $m = Mount-Overlay -Lower ../lower -Upper diff -Work work -Target merged -PassThru }
            finally { Pop-Location; [Environment]::CurrentDirectory = $cwd }
            $m.Upper | Should -Be "$b/diff"
            Test-MountedAt "$a/merged" | Should -BeTrue
        }

        It 'recognises the work dir of a mounted overlay after its parent was renamed, once it has seen that overlay' {
            $p = New-Layer "$Case/p"
            $null = New-Layer "$p/upper0"
            Mount-Overlay -Lower $L1 -Upper "$p/upper0" -Work "$p/work0" -Target $Merged -Option index=off
            # A mount with a work dir that existed looks at the overlays mounted: it sees this one.
            $seen = New-Layer "$Case/seen"
            Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/upper-seen") -Work (New-Layer "$Case/work-seen") -Target $seen
            Dismount-Overlay -Target $seen
            Rename-Item -LiteralPath $p -NewName 'p2'
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper (New-Layer "$Case/p2/upper2") -Work "$Case/p2/work0" -Target $target2 -Option index=off -ErrorVariable err -ErrorAction SilentlyContinue
            Assert-RefusedForLiveOverlay $err $target2 "$Case/p2/upper0"
        }

        It 'refuses a work dir that a mounted overlay already uses' {
            $work = New-Layer "$Case/sharedwork"
            Mount-Overlay -Lower $L1 -Upper $Up -Work $work -Target $Merged
            $up2 = New-Layer "$Case/upper2"
            $target2 = New-Layer "$Case/merged2"
            Mount-Overlay -Lower $L2 -Upper $up2 -Work $work -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'WorkInUse,OverlayTools.MountOverlayCommand'
        }

        It 'refuses with index=on a lower that a mounted overlay uses as upper, naming that overlay, as LowerInUse (<Api>)' -ForEach @(
            @{ Api = 'auto' }
            @{ Api = 'legacy' }
        ) {
            $env:OVERLAYTOOLS_MOUNT_API = $Api
            try {
                Mount-Overlay -Lower $L1 -Upper $Up -Target $Merged
                $up2 = New-Layer "$Case/upper2"
                $target2 = New-Layer "$Case/merged2"
                $before = @(Get-ChildItem -LiteralPath $Case -Force).Name
                Mount-Overlay -Lower $Up, $L2 -Upper $up2 -Option index=on -Target $target2 -ErrorVariable err -ErrorAction SilentlyContinue
                $err.Count | Should -Be 1
                $err[0].FullyQualifiedErrorId | Should -Be 'LowerInUse,OverlayTools.MountOverlayCommand'
                $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
                $err[0].Exception.Message | Should -BeLike "*the lower '$Up' is the upper of the overlay mounted at '$Merged'*"
                $err[0].Exception.Message | Should -BeLike '*lowerdir is in-use*'
                $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*Dismount-Overlay -Target '$Merged'*"
                $err[0].TargetObject | Should -Be $Up
                Test-MountedAt $target2 | Should -BeFalse
                @(Get-ChildItem -LiteralPath $Case -Force).Name | Should -Be $before
                Test-MountedAt $Merged | Should -BeTrue
            }
            finally { $env:OVERLAYTOOLS_MOUNT_API = $null }
        }

        It 'creates a missing target with -Force and keeps it while mounted' {
            $target = "$Case/made/by/force"
            Mount-Overlay -Lower $L1 -Upper $Up -Target $target -Force
            Test-MountedAt $target | Should -BeTrue
        }

        It 'asks for -Lower, not for the pipeline-only LayerPath, when the lower layers are forgotten' {
            { Mount-Overlay -Upper $Up -Target $Merged -ErrorAction Stop } | Should -Throw -ErrorId 'MissingMandatoryParameter,OverlayTools.MountOverlayCommand' -ExpectedMessage '*-Lower*'
            Test-MountedAt $Merged | Should -BeFalse
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }

        It 'refuses an empty -Target, given or piped, as TargetEmpty instead of mounting on the current directory' {
            Push-Location -LiteralPath $Merged
            try {
                Mount-Overlay -Lower $L1 -Upper $Up -Target '' -ErrorVariable err -ErrorAction SilentlyContinue
                [pscustomobject]@{ LowerDir = $L1; UpperDir = $Up; MergedDir = '' } | Mount-Overlay -ErrorVariable err2 -ErrorAction SilentlyContinue
                [pscustomobject]@{ Path = $L1; Position = 0 } | Mount-Overlay -Target '' -ReadOnly -ErrorVariable err3 -ErrorAction SilentlyContinue
            }
            finally { Pop-Location }
            foreach ($e in $err, $err2, $err3) {
                $e.Count | Should -Be 1
                $e[0].FullyQualifiedErrorId | Should -Be 'TargetEmpty,OverlayTools.MountOverlayCommand'
                $e[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            }
            Test-MountedAt $Merged | Should -BeFalse
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }

        It 'reports missing CAP_SYS_ADMIN as NotRoot' {
            $pwsh = Get-PwshExe
            $module = if ($env:OVERLAYTOOLS_MODULE) { $env:OVERLAYTOOLS_MODULE } else { Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1' }
            $script = "Import-Module '$module'; Mount-Overlay -Lower '$L1' -Upper '$Up' -Target '$Merged' -ErrorAction SilentlyContinue -ErrorVariable e; `$e[0].FullyQualifiedErrorId"
            $out = & setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- @pwsh -NoProfile -NonInteractive -Command $script
            $out | Select-Object -Last 1 | Should -Be 'NotRoot,OverlayTools.MountOverlayCommand'
            Test-MountedAt $Merged | Should -BeFalse
            Test-Path -LiteralPath "$Up.work" | Should -BeFalse
        }
    }
}
