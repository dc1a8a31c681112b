#Requires -Version 7.4
# Resolve-OverlayPath against the real kernel: which layer supplies a path, before and after
# copy-up, through whiteouts, opaque and renamed directories and metadata-only copies.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestOpenWatch.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Root = New-TestRoot 'resolve'
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Resolve-OverlayPath' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:Base = New-Layer "$script:Case/base" @{ 'etc/os-release' = 'base'; 'etc/hosts' = 'base hosts'; 'app/lib/a.so' = 'a'; 'app/lib/b.so' = 'b' }
        $script:Patch = New-Layer "$script:Case/patch" @{ 'etc/os-release' = 'patched'; 'app/lib/c.so' = 'c' }
        $script:Upper = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
    }

    AfterEach {
        Clear-TestMounts $script:Case
    }

    It 'warns once when it cannot read the trusted.overlay.* marks (no CAP_SYS_ADMIN), also as uid 0' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $pwsh = Get-PwshExe
        $module = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
        $script = "Import-Module '$module'; `$w = @(); `$r = @(Resolve-OverlayPath '$Merged/etc/os-release', '$Merged/etc/hosts' -WarningVariable w -WarningAction SilentlyContinue); '{0}|{1}|{2}' -f `$r.Count, `$w.Count, `$w[0]"
        $out = & setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- @pwsh -NoProfile -NonInteractive -Command $script
        $count, $warnings, $text = ($out | Select-Object -Last 1) -split '\|', 3
        $count | Should -Be 2
        $warnings | Should -Be 1
        $text | Should -Match 'CAP_SYS_ADMIN'
        Resolve-OverlayPath "$Merged/etc/os-release" -WarningVariable mine -WarningAction SilentlyContinue | Should -Not -BeNullOrEmpty
        $mine | Should -BeNullOrEmpty
    }

    It 'names the layer that supplies a file: the top-most lower that has it' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $r = Resolve-OverlayPath "$Merged/etc/os-release"
        $r | Should -BeOfType ([OverlayTools.OverlayPathInfo])
        $r.Layer | Should -Be $Patch
        $r.LayerPath | Should -Be "$Patch/etc/os-release"
        $r.Position | Should -Be 1
        $r.Role | Should -Be 'Lower'
        $r.State | Should -Be 'Supplies'
        $r.Visible | Should -BeTrue
        $r.OverlayPath | Should -Be '/etc/os-release'
        $r.Target | Should -Be $Merged
        (Resolve-OverlayPath "$Merged/etc/hosts").Position | Should -Be 2
    }

    It 'numbers the layers as Get-OverlayLayer does, also on a read-only overlay without an upper' {
        foreach ($upper in $Upper, $null) {
            $params = @{ Lower = $Patch, $Base; Target = $Merged }
            if ($upper) { $params.Upper = $upper }
            Mount-Overlay @params
            try {
                $byPath = @{}
                Get-OverlayLayer -Target $Merged | ForEach-Object { $byPath[$_.Path] = $_.Position }
                foreach ($r in Resolve-OverlayPath "$Merged/etc/os-release", "$Merged/etc/hosts") {
                    $r.Position | Should -Be $byPath[$r.Layer] -Because "Get-OverlayLayer numbers $($r.Layer) so (upper: $([bool] $upper))"
                }
                (Resolve-OverlayPath "$Merged/etc/hosts").Position | Should -Be ($upper ? 2 : 1)
            }
            finally {
                Dismount-Overlay $Merged
            }
        }
    }

    It 'lists every layer that holds the path with -All, the lower ones shadowed' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $all = Resolve-OverlayPath "$Merged/etc/os-release" -All
        $all.Layer | Should -Be @($Patch, $Base)
        $all.State | Should -Be @('Supplies', 'Shadowed')
        $all[1].HiddenBy | Should -Be $Patch
        $all[1].Visible | Should -BeFalse
    }

    It 'follows the file through a copy-up: the upper supplies it afterwards' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        (Resolve-OverlayPath "$Merged/etc/hosts").Role | Should -Be 'Lower'
        Invoke-OverlayCopyUp "$Merged/etc/hosts"
        $r = Resolve-OverlayPath "$Merged/etc/hosts"
        $r.Role | Should -Be 'Upper'
        $r.Position | Should -Be 0
        $r.LayerPath | Should -Be "$Upper/etc/hosts"
        (Resolve-OverlayPath "$Merged/etc/hosts" -All).State | Should -Be @('Supplies', 'Shadowed')
    }

    It 'shows directories merging across layers' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $all = Resolve-OverlayPath "$Merged/app/lib" -All
        $all.Layer | Should -Be @($Patch, $Base)
        $all.State | Should -Be @('Supplies', 'Merged')
        $all.Visible | Should -Be @($true, $true)
        (Resolve-OverlayPath $Merged -All).State | Should -Be @('Supplies', 'Merged', 'Merged')
    }

    It 'explains a deleted path: an error without -All, the whiteout and the whited-out layers with it' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        Remove-Item -LiteralPath "$Merged/etc/os-release"
        Resolve-OverlayPath "$Merged/etc/os-release" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'OverlayPathNotFound,OverlayTools.ResolveOverlayPathCommand'
        $err[0].Exception.Message | Should -Match 'whiteout'
        $all = Resolve-OverlayPath "$Merged/etc/os-release" -All
        $all.State | Should -Be @('Whiteout', 'WhitedOut', 'WhitedOut')
        $all.Role | Should -Be @('Upper', 'Lower', 'Lower')
        $all[0].ItemType | Should -Be 'Whiteout'
        $all[1].WhitedOut | Should -BeTrue
        $all[1].HiddenBy | Should -Be $Upper
    }

    It 'honours xattr whiteouts at the top of a lower layer (its root marked opaque="x") for every path of a pipeline' {
        $xw = New-Layer "$Case/xw" @{ 'keep' = 'k' }
        $null = New-Item -ItemType File -Path "$xw/gone"
        Set-TestXattr "$xw/gone" 'trusted.overlay.whiteout' 'y'
        Set-TestXattr $xw 'trusted.overlay.opaque' 'x'
        Set-Content -LiteralPath "$Base/gone" -Value 'below'
        Mount-Overlay -Lower $xw, $Patch, $Base -Upper $Upper -Target $Merged
        Test-Path -LiteralPath "$Merged/gone" | Should -BeFalse -Because 'the kernel honours the xattr whiteout in a lower root marked opaque="x"'
        # The root's mark is read once for the pipeline's layers; every path after the first sees it too.
        $all = @("$Merged/gone", "$Merged/keep", "$Merged/gone", "$Merged/etc/hosts" | Resolve-OverlayPath -All)
        $gone = @($all | Where-Object Path -EQ "$Merged/gone")
        $gone.State | Should -Be @('Whiteout', 'WhitedOut', 'Whiteout', 'WhitedOut')
        $gone.Layer | Should -Be @($xw, $Base, $xw, $Base)
        ($all | Where-Object Path -EQ "$Merged/keep").Layer | Should -Be $xw
        ($all | Where-Object Path -EQ "$Merged/etc/hosts").Layer | Should -Be $Base
        $r = "$Merged/keep", "$Merged/gone", "$Merged/etc/hosts" | Resolve-OverlayPath -ErrorVariable err -ErrorAction SilentlyContinue
        $r.LayerPath | Should -Be @("$xw/keep", "$Base/etc/hosts")
        $err.FullyQualifiedErrorId | Should -Be @('OverlayPathNotFound,OverlayTools.ResolveOverlayPathCommand')
    }

    It 'honours an xattr whiteout in a directory not marked opaque="x", in a lower layer and in the upper, as the kernel lookup does' {
        # Only a listing asks for the directory's mark; a lookup of the path does not (kernel 6.18).
        $xw = New-Layer "$Case/xw" @{ 'etc/motd' = 'm' }
        $null = New-Item -ItemType File -Path "$xw/etc/hosts"
        Set-TestXattr "$xw/etc/hosts" 'trusted.overlay.whiteout' 'y'
        $null = New-Item -ItemType Directory -Path "$Upper/etc"
        $null = New-Item -ItemType File -Path "$Upper/etc/os-release"
        Set-TestXattr "$Upper/etc/os-release" 'trusted.overlay.whiteout' 'y'
        Mount-Overlay -Lower $xw, $Patch, $Base -Upper $Upper -Target $Merged
        Test-Path -LiteralPath "$Merged/etc/hosts" | Should -BeFalse -Because 'the kernel lookup takes the marked empty file for a whiteout'
        Test-Path -LiteralPath "$Merged/etc/os-release" | Should -BeFalse -Because 'the same in the upper'

        $hosts = Resolve-OverlayPath "$Merged/etc/hosts" -All
        $hosts.State | Should -Be @('Whiteout', 'WhitedOut')
        $hosts.Layer | Should -Be @($xw, $Base)
        $release = Resolve-OverlayPath "$Merged/etc/os-release" -All
        $release.State | Should -Be @('Whiteout', 'WhitedOut', 'WhitedOut')
        $release.Layer | Should -Be @($Upper, $Patch, $Base)
        "$Merged/etc/hosts", "$Merged/etc/os-release", "$Merged/etc/motd" | Resolve-OverlayPath -ErrorVariable err -ErrorAction SilentlyContinue |
            ForEach-Object LayerPath | Should -Be @("$xw/etc/motd")
        $err.FullyQualifiedErrorId | Should -Be @('OverlayPathNotFound,OverlayTools.ResolveOverlayPathCommand', 'OverlayPathNotFound,OverlayTools.ResolveOverlayPathCommand')
    }

    It 'shows entries hidden by an opaque directory' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        Remove-Item -LiteralPath "$Merged/app/lib" -Recurse -Force
        $null = New-Item -ItemType Directory -Path "$Merged/app/lib"
        Set-Content -LiteralPath "$Merged/app/lib/a.so" -Value 'new'
        $r = Resolve-OverlayPath "$Merged/app/lib" -All
        $r[0].Opaque | Should -BeTrue
        $r.State | Should -Be @('Supplies', 'HiddenByOpaque', 'HiddenByOpaque')
        $a = Resolve-OverlayPath "$Merged/app/lib/a.so" -All
        $a.State | Should -Be @('Supplies', 'HiddenByOpaque')
        $a[1].Layer | Should -Be $Base
        $a[1].HiddenByOpaque | Should -BeTrue
        $a[1].HiddenBy | Should -Be $Upper
    }

    It 'follows a renamed directory (redirect_dir=on) to the lower it came from' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged -Option redirect_dir=on
        Move-Item -LiteralPath "$Merged/app/lib" -Destination "$Merged/app/lib64"
        $r = Resolve-OverlayPath "$Merged/app/lib64/b.so"
        $r.Layer | Should -Be $Base
        $r.LayerPath | Should -Be "$Base/app/lib/b.so"
        $d = Resolve-OverlayPath "$Merged/app/lib64" -All
        $d[0].RenamedFrom | Should -Be '/app/lib'
        $d.LayerPath | Should -Be @("$Upper/app/lib64", "$Patch/app/lib", "$Base/app/lib")
    }

    It 'lists the lower entry a directory renamed into its place hides (redirect_dir=on), as Shadowed by it' {
        $null = New-Layer $Base @{ 'A/a1/fa' = 'a'; 'B/b1/fb' = 'b' }
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged -Option redirect_dir=on
        Move-Item -LiteralPath "$Merged/A" -Destination "$Merged/T"
        Move-Item -LiteralPath "$Merged/B" -Destination "$Merged/A"
        (Get-ChildItem -LiteralPath "$Merged/A" -Name) | Should -Be 'b1'

        $r = Resolve-OverlayPath "$Merged/A" -All
        $r.LayerPath | Should -Be @("$Upper/A", "$Base/B", "$Base/A")
        $r.State | Should -Be @('Supplies', 'Merged', 'Shadowed')
        $r[0].RenamedFrom | Should -Be '/B'
        $r[2].HiddenBy | Should -Be $Upper
        $r[2].Visible | Should -BeFalse

        # A path only the hidden directory holds: -All lists it, the error says what covers it.
        $f = Resolve-OverlayPath "$Merged/A/a1/fa" -All
        $f.LayerPath | Should -Be "$Base/A/a1/fa"
        $f.State | Should -Be 'Shadowed'
        $f.HiddenBy | Should -Be $Upper
        Resolve-OverlayPath "$Merged/A/a1/fa" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'OverlayPathNotFound,OverlayTools.ResolveOverlayPathCommand'
        $err[0].Exception.Message | Should -BeLike "*the entry in '$Base' is covered in '$Upper'*"

        # The directory it came from is still found where it went.
        (Resolve-OverlayPath "$Merged/T/a1/fa").LayerPath | Should -Be "$Base/A/a1/fa"
    }

    It 'shows where the data of a metadata-only copy lives' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged -Option metacopy=on, redirect_dir=on
        & chmod 0600 "$Merged/app/lib/a.so"
        $all = Resolve-OverlayPath "$Merged/app/lib/a.so" -All
        $all[0].Role | Should -Be 'Upper'
        $all[0].MetadataOnly | Should -BeTrue
        ($all | Where-Object State -EQ 'Data').LayerPath | Should -Be "$Base/app/lib/a.so"
    }

    It 'takes Get-ChildItem output and wildcards' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $r = Get-ChildItem -LiteralPath "$Merged/app/lib" | Resolve-OverlayPath
        $r.Layer | Should -Be @($Base, $Base, $Patch)
        (Resolve-OverlayPath "$Merged/app/lib/*.so").LayerPath | Should -Be @("$Base/app/lib/a.so", "$Base/app/lib/b.so", "$Patch/app/lib/c.so")
    }

    It 'takes PowerShell''s escapes in -Path for names that hold wildcard characters' {
        Set-Content -LiteralPath "$Base/br[1]" -Value 'b'
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        (Resolve-OverlayPath -Path "$Merged/br``[1``]").LayerPath | Should -Be "$Base/br[1]"
        (Resolve-OverlayPath -Path ("$Merged/" + [WildcardPattern]::Escape('br[1]'))).LayerPath | Should -Be "$Base/br[1]"
        (Invoke-OverlayCopyUp -Path "$Merged/br``[1``]" -PassThru).Status | Should -Be 'CopiedUp'
        Test-Path -LiteralPath "$Upper/br[1]" | Should -BeTrue
    }

    It 'pipes to and from Invoke-OverlayCopyUp by path' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        $copied = Get-ChildItem -LiteralPath "$Merged/app/lib" | Resolve-OverlayPath | Where-Object Layer -EQ $Base | Invoke-OverlayCopyUp -PassThru
        $copied.Path | Should -Be @("$Merged/app/lib/a.so", "$Merged/app/lib/b.so")
        ($copied | Resolve-OverlayPath).Role | Should -Be @('Upper', 'Upper')
    }

    It 'opens the layers once for a pipeline of paths, and sees a copy-up made while the pipeline runs' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        # inotify counts the opens of each layer directory itself (no timing): one per command.
        $watch = New-DirectoryOpenWatch ([string[]] @($Upper, $Patch, $Base))
        try {
            $r = "$Merged/etc/os-release", "$Merged/etc/hosts", "$Merged/app/lib/a.so", "$Merged/app/lib/c.so" | Resolve-OverlayPath
            $r.LayerPath | Should -Be @("$Patch/etc/os-release", "$Base/etc/hosts", "$Base/app/lib/a.so", "$Patch/app/lib/c.so")
            foreach ($layer in $Upper, $Patch, $Base) {
                $watch.Opens($layer) | Should -Be 1 -Because "the layers of one overlay are opened once for all the paths of a pipeline ($layer)"
            }
        }
        finally { $watch.Dispose() }

        # The same path twice, copied up downstream after the first: the second answer sees the upper.
        $r = "$Merged/etc/hosts", "$Merged/etc/hosts" | Resolve-OverlayPath | ForEach-Object {
            $_
            if ($_.Role -eq 'Lower') { Invoke-OverlayCopyUp -LiteralPath $_.Path }
        }
        $r.Role | Should -Be @('Lower', 'Upper')
        $r.LayerPath | Should -Be @("$Base/etc/hosts", "$Upper/etc/hosts")
    }

    It 'refuses a path that is not on an overlay' {
        Resolve-OverlayPath "$Base/etc/hosts" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.ResolveOverlayPathCommand'
    }

    It 'names the layer and the merged path of a path inside a layer directory of a mounted overlay' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        Set-Content -LiteralPath "$Merged/app/new.txt" -Value 'new'
        $link = Join-Path $Case 'base-link'
        $null = New-Item -ItemType SymbolicLink -Path $link -Target $Base
        $cases = @(
            @{ Path = "$Base/app/lib/a.so"; Role = 'lower'; Layer = $Base; Merged = "$Merged/app/lib/a.so" }
            @{ Path = "$link/app/lib/a.so"; Role = 'lower'; Layer = $Base; Merged = "$Merged/app/lib/a.so" }
            @{ Path = "$Upper/app/new.txt"; Role = 'upper'; Layer = $Upper; Merged = "$Merged/app/new.txt" }
            @{ Path = "$Patch/etc/missing"; Role = 'lower'; Layer = $Patch; Merged = "$Merged/etc/missing" }
            @{ Path = $Patch; Role = 'lower'; Layer = $Patch; Merged = $Merged }
        )
        foreach ($c in $cases) {
            Resolve-OverlayPath -LiteralPath $c.Path -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err.Count | Should -Be 1 -Because $c.Path
            $err[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.ResolveOverlayPathCommand'
            $err[0].Exception.Message | Should -BeExactly "'$($c.Path)' is not on an overlay: it is inside the $($c.Role) layer '$($c.Layer)' of the overlay at '$Merged'; its merged path is '$($c.Merged)'."
            $err[0].ErrorDetails.RecommendedAction | Should -BeLike "Give the merged path '$($c.Merged)'*"
        }
        Invoke-OverlayCopyUp -LiteralPath "$Base/etc/hosts" -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.InvokeOverlayCopyUpCommand'
        $err2[0].Exception.Message | Should -BeLike "*inside the lower layer '$Base' of the overlay at '$Merged'; its merged path is '$Merged/etc/hosts'."
    }

    It 'reports a path longer than the kernel takes (PATH_MAX) as too long, not as missing, here and in Invoke-OverlayCopyUp' {
        # A tree deeper than PATH_MAX, made one directory at a time (each mkdir relative to the last).
        $name = 'd' * 200
        & /bin/bash -c 'cd "$1" && for i in $(seq 30); do mkdir "$2" && cd "$2" || exit 1; done && echo x > f' sh $Base $name
        $LASTEXITCODE | Should -Be 0
        try {
            Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
            $long = "$Merged/" + ((@($name) * 30) -join '/') + '/f'
            $long.Length | Should -BeGreaterThan 6000
            Resolve-OverlayPath -LiteralPath $long -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'PathTooLong,OverlayTools.ResolveOverlayPathCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].TargetObject | Should -Be $long
            $err[0].Exception.Message | Should -BeLike "*is too long to look up: it is $($long.Length.ToString('N0')) bytes long*PATH_MAX*"
            $err[0].ErrorDetails.RecommendedAction | Should -BeLike '*bind-mount*'
            Invoke-OverlayCopyUp -LiteralPath $long -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'PathTooLong,OverlayTools.InvokeOverlayCopyUpCommand'
            Test-Path -LiteralPath "$Upper/$name" | Should -BeFalse
            # One name longer than 255 bytes says so.
            Resolve-OverlayPath -LiteralPath "$Merged/$('n' * 300)" -ErrorVariable err3 -ErrorAction SilentlyContinue
            $err3[0].FullyQualifiedErrorId | Should -Be 'PathTooLong,OverlayTools.ResolveOverlayPathCommand'
            $err3[0].Exception.Message | Should -BeLike '*is 300 bytes long, and the kernel takes names of at most 255 bytes*'
        }
        finally {
            Clear-TestMounts $Case
            # Remove-Item cannot reach below PATH_MAX; rm walks the tree by descriptors.
            & rm -rf -- "$Base/$name"
        }
    }

    It 'names the overlay when a layer its mount table gives has been moved away since mounting' {
        Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged
        Rename-Item -LiteralPath $Base -NewName 'base-moved'
        try {
            Resolve-OverlayPath "$Merged/etc/hosts" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayLayersUnreachable,OverlayTools.ResolveOverlayPathCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].TargetObject | Should -Be "$Merged/etc/hosts"
            $err[0].Exception.Message | Should -BeLike "The overlay at '$Merged' was mounted with the lower layer '$Base', which this process cannot see*moved or deleted after mounting*another mount namespace*"
            $err[0].ErrorDetails.RecommendedAction + $err[0].Exception.Message | Should -Not -BeLike '*read directly from disk*'
            Invoke-OverlayCopyUp "$Merged/etc/hosts" -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'OverlayLayersUnreachable,OverlayTools.InvokeOverlayCopyUpCommand'
            $err2[0].Exception.Message | Should -BeLike "The overlay at '$Merged' was mounted with the lower layer '$Base'*"
            Get-OverlayChange -Target $Merged -ErrorVariable err3 -ErrorAction SilentlyContinue
            $err3[0].FullyQualifiedErrorId | Should -Be 'OverlayLayersUnreachable,OverlayTools.GetOverlayChangeCommand'
            $err3[0].Exception.Message | Should -BeLike "The overlay at '$Merged' was mounted with the lower layer '$Base'*"
        }
        finally {
            Rename-Item -LiteralPath "$Case/base-moved" -NewName 'base'
        }
        (Resolve-OverlayPath "$Merged/etc/hosts").LayerPath | Should -Be "$Base/etc/hosts"
    }

    It 'finds an overlay mounted after the command read the mount table, as Invoke-OverlayCopyUp does' {
        $items = { "$Base/etc/hosts"; Mount-Overlay -Lower $Patch, $Base -Upper $Upper -Target $Merged; "$Merged/etc/hosts" }
        $r = & $items | Resolve-OverlayPath -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.ResolveOverlayPathCommand'
        $r.LayerPath | Should -Be "$Base/etc/hosts"
        Dismount-Overlay $Merged
        $c = & $items | Invoke-OverlayCopyUp -PassThru -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2.Count | Should -Be 1
        $err2[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.InvokeOverlayCopyUpCommand'
        $c.UpperPath | Should -Be "$Upper/etc/hosts"
    }
}
