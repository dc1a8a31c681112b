#Requires -Version 7.4
# Invoke-OverlayCopyUp against the real kernel: what lands in the upper layer must equal the
# lower item (bytes, mode, owner, times, xattrs), and the merged view must read the same.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:IsRoot = Test-IsRoot
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestOpenWatch.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:ModulePath = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
    $script:Root = New-TestRoot 'copyup'

    function Get-Meta([string] $Path) {
        # What copy-up must keep, read without following a final link (ctime is the only field allowed to change).
        $line = & stat -c '%F|%a|%u|%g|%s|%Y.%y|%X.%x|%t:%T' -- $Path
        [pscustomobject]@{ Line = $line; Xattrs = (Get-TestXattr -Path $Path -List | Where-Object { $_ -notlike 'trusted.overlay.*' }) -join ',' }
    }
}

AfterAll {
    Remove-TestRoot $script:Root
}

Describe 'Invoke-OverlayCopyUp' -Tag 'RequiresRoot' -Skip:(-not $IsRoot) {
    BeforeEach {
        $script:Case = Join-Path $script:Root ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:Lower = New-Layer "$script:Case/lower" @{ 'etc/app.conf' = 'setting=1'; 'etc/deep/nested/file.txt' = 'deep'; 'top.txt' = 'top' }
        $script:Upper = New-Layer "$script:Case/upper"
        $script:Merged = New-Layer "$script:Case/merged"
        & touch -d '2001-02-03 04:05:06.123456789' "$Lower/etc/app.conf" "$Lower/etc/deep/nested" "$Lower/etc/deep" "$Lower/etc"
    }

    AfterEach {
        Get-Process -Name 'sleep-under-test' -ErrorAction SilentlyContinue | Stop-Process -Force -ErrorAction SilentlyContinue
        Clear-TestMounts $script:Case
    }

    Context 'regular files' {
        It 'copies the file into the upper layer with its bytes, mode, owner, times and xattrs' {
            & chmod 0640 "$Lower/etc/app.conf"
            & chown 1234:4321 "$Lower/etc/app.conf"
            Set-TestXattr "$Lower/etc/app.conf" 'user.origin' 'lower'
            & touch -d '2001-02-03 04:05:06.123456789' "$Lower/etc/app.conf"
            $before = Get-Meta "$Lower/etc/app.conf"
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $mergedBefore = Get-Meta "$Merged/etc/app.conf"

            $r = Invoke-OverlayCopyUp -Path "$Merged/etc/app.conf" -PassThru

            $r | Should -BeOfType ([OverlayTools.CopyUpResult])
            $r.Status | Should -Be 'CopiedUp'
            $r.Path | Should -Be "$Merged/etc/app.conf"
            $r.UpperPath | Should -Be "$Upper/etc/app.conf"
            $r.SourceLayer | Should -Be $Lower
            $r.ItemType | Should -Be 'File'
            $r.Bytes | Should -Be 9
            $r.Duration | Should -BeOfType ([timespan])
            # Metadata first: reading the content afterwards updates the access time, as any read does.
            (Get-Meta "$Upper/etc/app.conf").Line | Should -Be $before.Line
            (Get-Meta "$Upper/etc/app.conf").Xattrs | Should -Be $before.Xattrs
            (Get-Meta "$Merged/etc/app.conf").Line | Should -Be $mergedBefore.Line
            (Get-Meta "$Merged/etc/app.conf").Xattrs | Should -Be $mergedBefore.Xattrs
            Get-Content -LiteralPath "$Upper/etc/app.conf" -Raw | Should -Be 'setting=1'
            Get-Content -LiteralPath "$Merged/etc/app.conf" -Raw | Should -Be 'setting=1'
            Get-Content -LiteralPath "$Lower/etc/app.conf" -Raw | Should -Be 'setting=1'
        }

        It 'copies the parents too, keeping their modification times, without making them opaque' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/etc/deep/nested/file.txt"
            foreach ($d in 'etc', 'etc/deep', 'etc/deep/nested') {
                Test-Path -LiteralPath "$Upper/$d" -PathType Container | Should -BeTrue
                (& stat -c '%Y.%y' "$Upper/$d") | Should -Be (& stat -c '%Y.%y' "$Lower/$d")
                Get-TestXattr "$Upper/$d" 'trusted.overlay.opaque' | Should -BeNullOrEmpty
            }
            (Get-ChildItem -LiteralPath "$Merged/etc" -Name | Sort-Object) | Should -Be @('app.conf', 'deep')
        }

        It 'copies a large file whose content hash stays equal' {
            $big = "$Lower/big.bin"
            & dd if=/dev/urandom of=$big bs=1M count=48 status=none
            $hash = (Get-FileHash -LiteralPath $big -Algorithm SHA256).Hash
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Invoke-OverlayCopyUp "$Merged/big.bin" -PassThru
            $r.Bytes | Should -Be (48MB)
            (Get-FileHash -LiteralPath "$Upper/big.bin" -Algorithm SHA256).Hash | Should -Be $hash
            (Get-FileHash -LiteralPath "$Merged/big.bin" -Algorithm SHA256).Hash | Should -Be $hash
        }

        It 'reports AlreadyUp for an item that is in the upper layer, and copies nothing' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/top.txt"
            $r = Invoke-OverlayCopyUp "$Merged/top.txt" -PassThru
            $r.Status | Should -Be 'AlreadyUp'
            $r.SourceLayer | Should -Be $Upper
            $r.Bytes | Should -Be 0
        }

        It 'warns when it copies up a setuid file or one with file capabilities' {
            Set-Content -LiteralPath "$Lower/suid" -Value 'x'
            & chmod 4755 "$Lower/suid"
            Set-Content -LiteralPath "$Lower/caps" -Value 'x'
            Set-TestXattr "$Lower/caps" 'security.capability' ([byte[]] (1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $w = Invoke-OverlayCopyUp "$Merged/suid", "$Merged/caps" 3>&1 | ForEach-Object { "$_" }
            $w | Should -HaveCount 2
            $w[0] | Should -Match 'setuid'
            $w[1] | Should -Match 'capabilities'
            (& stat -c '%a' "$Upper/suid") | Should -Be '4755'
            Get-TestXattr "$Upper/caps" 'security.capability' -Raw | Should -Be (Get-TestXattr "$Lower/caps" 'security.capability' -Raw)
        }

        It 'warns that copying up a hard-linked file splits its links without index=on, and not with it' {
            $null = New-Item -ItemType HardLink -Path "$Lower/link-b" -Target "$Lower/top.txt"
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option index=off
            $r = Invoke-OverlayCopyUp "$Merged/top.txt" -PassThru -WarningVariable w -WarningAction SilentlyContinue
            $r.Status | Should -Be 'CopiedUp'
            @($w).Count | Should -Be 1
            "$($w[0])" | Should -BeLike "Copied up '$Merged/top.txt', which has 2 hard links: *without index=on*other names still show the lower file*-Option index=on*"
            # What the warning says: the names are separate files now.
            (& stat -c '%h' "$Merged/top.txt") | Should -Be 1
            (& stat -c '%i' "$Merged/top.txt") | Should -Not -Be (& stat -c '%i' "$Merged/link-b")

            $indexed = New-Layer "$Case/indexed"
            $upper2 = New-Layer "$Case/upper2"
            Mount-Overlay -Lower $Lower -Upper $upper2 -Target $indexed -Option index=on
            $r2 = Invoke-OverlayCopyUp "$indexed/top.txt" -PassThru -WarningVariable w2 -WarningAction SilentlyContinue
            $r2.Status | Should -Be 'CopiedUp'
            $w2 | Should -BeNullOrEmpty
            (& stat -c '%h' "$indexed/top.txt") | Should -Be 2
            (& stat -c '%i' "$indexed/top.txt") | Should -Be (& stat -c '%i' "$indexed/link-b")
        }

        It 'copies a running program up although it cannot be opened for writing' {
            Copy-Item -LiteralPath (Get-Command sleep -CommandType Application | Select-Object -First 1).Source -Destination "$Lower/sleep-under-test"
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $p = Start-Process -FilePath "$Merged/sleep-under-test" -ArgumentList 300 -PassThru
            try {
                $r = Invoke-OverlayCopyUp "$Merged/sleep-under-test" -PassThru
                $r.Status | Should -Be 'CopiedUp'
                (Get-FileHash "$Upper/sleep-under-test").Hash | Should -Be (Get-FileHash "$Lower/sleep-under-test").Hash
            }
            finally {
                $p | Stop-Process -Force
                $p.WaitForExit()
            }
        }
    }

    Context 'directories, links and special files' {
        It 'copies a directory alone, or with -Recurse everything below it' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Invoke-OverlayCopyUp "$Merged/etc" -PassThru
            $r.ItemType | Should -Be 'Directory'
            $r.Status | Should -Be 'CopiedUp'
            Test-Path -LiteralPath "$Upper/etc" -PathType Container | Should -BeTrue
            Test-Path -LiteralPath "$Upper/etc/app.conf" | Should -BeFalse
            (& stat -c '%Y.%y|%a' "$Upper/etc") | Should -Be (& stat -c '%Y.%y|%a' "$Lower/etc")

            $all = Invoke-OverlayCopyUp "$Merged/etc" -Recurse -PassThru
            $all.Path | Should -Be @("$Merged/etc", "$Merged/etc/app.conf", "$Merged/etc/deep", "$Merged/etc/deep/nested", "$Merged/etc/deep/nested/file.txt")
            $all[0].Status | Should -Be 'AlreadyUp'
            $all[1..4].Status | Should -Be @('CopiedUp', 'CopiedUp', 'CopiedUp', 'CopiedUp')
            # Listing /etc again (it was up already) updates its access time like any ls; what -Recurse copied keeps both times.
            foreach ($d in 'etc/deep', 'etc/deep/nested', 'etc/app.conf', 'etc/deep/nested/file.txt') {
                (& stat -c '%Y.%y|%X.%x|%a|%u' "$Upper/$d") | Should -Be (& stat -c '%Y.%y|%X.%x|%a|%u' "$Lower/$d")
            }
            Get-Content -LiteralPath "$Upper/etc/deep/nested/file.txt" | Should -Be 'deep'
        }

        It 'reports the progress of -Recurse with Write-Progress while it lasts, and completes it' {
            # Progress is reported at most every 200 ms; -PassThru waits for the next command
            # (1 ms per item here), so 300 items last long enough on any machine.
            $null = New-Item -ItemType Directory -Path "$Lower/many"
            foreach ($i in 1..300) { [IO.File]::WriteAllText("$Lower/many/f$i", 'x') }
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Invoke-WithProgress -ModulePath $ModulePath -ArgumentList "$Merged/many" -Script 'param($m) Invoke-OverlayCopyUp -LiteralPath $m -Recurse -PassThru | ForEach-Object { Start-Sleep -Milliseconds 1; $_ }'
            $r.Output.Count | Should -Be 301
            Assert-ProgressReported $r -Activity 'Invoke-OverlayCopyUp' -Status '* items, * bytes copied up' -Current "$Merged/many/f*"
        }

        It 'copies a directory named with a trailing /. as the directory itself' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $byDot = Resolve-OverlayPath "$Merged/etc/deep/."
            $byName = Resolve-OverlayPath "$Merged/etc/deep"
            $byDot.Layer | Should -Be $Lower
            $byDot.PSObject.Properties.ForEach({ "$($_.Name)=$($_.Value)" }) | Should -Be $byName.PSObject.Properties.ForEach({ "$($_.Name)=$($_.Value)" })

            $r = Invoke-OverlayCopyUp "$Merged/etc/deep/." -PassThru
            $r.Status | Should -Be 'CopiedUp'
            $r.Path | Should -Be "$Merged/etc/deep"
            $r.UpperPath | Should -Be "$Upper/etc/deep"
            $r.SourceLayer | Should -Be $Lower
            $r.ItemType | Should -Be 'Directory'
            Test-Path -LiteralPath "$Upper/etc/deep" -PathType Container | Should -BeTrue
            Test-Path -LiteralPath "$Upper/etc/deep/nested" | Should -BeFalse
            (& stat -c '%Y.%y|%a' "$Upper/etc/deep") | Should -Be (& stat -c '%Y.%y|%a' "$Lower/etc/deep")

            $root = Invoke-OverlayCopyUp "$Merged/." -PassThru
            $root.Path | Should -Be $Merged
            $root.Status | Should -Be 'AlreadyUp'
        }

        It 'copies up through a bind mount of an overlay directory or file, by the names inside the overlay' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Add-Content -LiteralPath "$Merged/etc/app.conf" -Value 'setting=2'
            $bind = New-Layer "$Case/bind"
            & mount --bind "$Merged/etc" $bind
            $null = New-Item -ItemType File -Path "$Case/top-bind"
            & mount --bind "$Merged/top.txt" "$Case/top-bind"

            $r = Invoke-OverlayCopyUp $bind -Recurse -PassThru -ErrorVariable err -ErrorAction SilentlyContinue
            $err | Should -BeNullOrEmpty
            $r.Path | Should -Be @($bind, "$bind/app.conf", "$bind/deep", "$bind/deep/nested", "$bind/deep/nested/file.txt")
            $r.Status | Should -Be @('AlreadyUp', 'AlreadyUp', 'CopiedUp', 'CopiedUp', 'CopiedUp')
            $r.SourceLayer | Should -Be @($Upper, $Upper, $Lower, $Lower, $Lower)
            $r.UpperPath | Should -Be @("$Upper/etc", "$Upper/etc/app.conf", "$Upper/etc/deep", "$Upper/etc/deep/nested", "$Upper/etc/deep/nested/file.txt")
            Get-Content -LiteralPath "$Upper/etc/deep/nested/file.txt" | Should -Be 'deep'
            Get-Content -LiteralPath "$Upper/etc/app.conf" -Raw | Should -Be "setting=1setting=2`n" -Because 'the file written before stays as written'

            $f = Invoke-OverlayCopyUp -LiteralPath "$Case/top-bind" -PassThru -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2 | Should -BeNullOrEmpty
            $f.Status | Should -Be 'CopiedUp'
            $f.SourceLayer | Should -Be $Lower
            $f.UpperPath | Should -Be "$Upper/top.txt"
            $f.Bytes | Should -Be 3
            Get-Content -LiteralPath "$Upper/top.txt" | Should -Be 'top'
            Test-Path -LiteralPath "$Upper/top-bind" | Should -BeFalse
        }

        It 'skips with -Recurse a name the directory lists but an xattr whiteout deletes (its directory not marked opaque="x")' {
            # The kernel's readdir lists such a name; its lookup takes the file for a whiteout.
            $null = New-Item -ItemType File -Path "$Lower/etc/gone"
            Set-TestXattr "$Lower/etc/gone" 'trusted.overlay.whiteout' 'y'
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            (& ls -1f -- "$Merged/etc") | Should -Contain 'gone' -Because 'readdir lists it (ls -f does not stat the names)'
            Test-Path -LiteralPath "$Merged/etc/gone" | Should -BeFalse

            $r = Invoke-OverlayCopyUp "$Merged/etc" -Recurse -PassThru -ErrorVariable err -ErrorAction SilentlyContinue -Verbose 4>&1
            $err | Should -BeNullOrEmpty
            $results = @($r | Where-Object { $_ -is [OverlayTools.CopyUpResult] })
            $results.Path | Should -Be @("$Merged/etc", "$Merged/etc/app.conf", "$Merged/etc/deep", "$Merged/etc/deep/nested", "$Merged/etc/deep/nested/file.txt")
            $results.Status | Should -Be @('CopiedUp', 'CopiedUp', 'CopiedUp', 'CopiedUp', 'CopiedUp')
            @($r | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -like "Skipping '$Merged/etc/gone': a whiteout*" }).Count | Should -Be 1
            Test-Path -LiteralPath "$Upper/etc/gone" | Should -BeFalse
            Resolve-OverlayPath -LiteralPath "$Merged/etc/gone" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }

        It 'copies a symbolic link itself, not its target' {
            $null = New-Item -ItemType SymbolicLink -Path "$Lower/link" -Target 'top.txt'
            $null = New-Item -ItemType SymbolicLink -Path "$Lower/dangling" -Target '/nonexistent/target'
            & touch -h -d '2002-02-02 02:02:02' "$Lower/link"
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Invoke-OverlayCopyUp -LiteralPath "$Merged/link", "$Merged/dangling" -PassThru
            $r.ItemType | Should -Be @('SymbolicLink', 'SymbolicLink')
            $r.Status | Should -Be @('CopiedUp', 'CopiedUp')
            (Get-Item -LiteralPath "$Upper/link").LinkTarget | Should -Be 'top.txt'
            (Get-Item -LiteralPath "$Upper/dangling").LinkTarget | Should -Be '/nonexistent/target'
            (& stat -c '%Y' "$Upper/link") | Should -Be (& stat -c '%Y' "$Lower/link")
            Test-Path -LiteralPath "$Upper/top.txt" | Should -BeFalse
        }

        It 'copies FIFOs and device nodes without opening them, keeping setuid and setgid bits' {
            & mkfifo "$Lower/fifo"
            & mkfifo "$Lower/fifo-suid"
            & chmod 6750 "$Lower/fifo-suid"
            & mknod "$Lower/blockdev" b 7 250
            & mknod "$Lower/chardev" c 1 3
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Invoke-OverlayCopyUp "$Merged/fifo", "$Merged/fifo-suid", "$Merged/blockdev", "$Merged/chardev" -PassThru
            $r.ItemType | Should -Be @('Fifo', 'Fifo', 'BlockDevice', 'CharacterDevice')
            $r.Status | Should -Be @('CopiedUp', 'CopiedUp', 'CopiedUp', 'CopiedUp')
            foreach ($n in 'fifo', 'fifo-suid', 'blockdev', 'chardev') {
                (& stat -c '%F|%a|%t:%T|%Y' "$Upper/$n") | Should -Be (& stat -c '%F|%a|%t:%T|%Y' "$Lower/$n")
            }
        }

        It 'takes -LiteralPath from Get-ChildItem and -Path wildcards' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $r = Get-ChildItem -LiteralPath "$Merged/etc" -File | Invoke-OverlayCopyUp -PassThru
            $r.Path | Should -Be @("$Merged/etc/app.conf")
            $r = Invoke-OverlayCopyUp -Path "$Merged/*.txt" -PassThru
            $r.Path | Should -Be @("$Merged/top.txt")
        }

        It 'opens the layers once for a pipeline of paths, each path seeing what the ones before it copied up' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            # inotify counts the opens of each layer directory itself (no timing): one per command.
            $watch = New-DirectoryOpenWatch ([string[]] @($Upper, $Lower))
            try {
                $paths = "$Merged/etc/deep", "$Merged/etc/deep/nested/file.txt", "$Merged/top.txt", "$Merged/top.txt"
                $r = $paths | Invoke-OverlayCopyUp -PassThru
                $r.Path | Should -Be $paths
                $r.Status | Should -Be @('CopiedUp', 'CopiedUp', 'CopiedUp', 'AlreadyUp')
                $r[3].SourceLayer | Should -Be $Upper
                $watch.Opens($Upper) | Should -Be 1 -Because 'the layers of one overlay are opened once for all the paths of a pipeline'
                $watch.Opens($Lower) | Should -Be 1 -Because 'the layers of one overlay are opened once for all the paths of a pipeline'
            }
            finally { $watch.Dispose() }
            Get-Content -LiteralPath "$Upper/etc/deep/nested/file.txt" | Should -Be 'deep'
            Get-Content -LiteralPath "$Upper/top.txt" | Should -Be 'top'
        }

        It 'opens the copy''s directory in the upper layer once, for the lookup and the check after the copy' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/etc"
            # inotify counts the opens of the upper's etc: the lookup opens it, the check reuses it.
            $watch = New-DirectoryOpenWatch ([string[]] @("$Upper/etc"))
            try {
                (Invoke-OverlayCopyUp "$Merged/etc/app.conf" -PassThru).Status | Should -Be 'CopiedUp'
                $watch.Opens("$Upper/etc") | Should -Be 1
            }
            finally { $watch.Dispose() }
            # Parents the kernel copies up during the copy are reached from the upper's root.
            $r = Invoke-OverlayCopyUp "$Merged/etc/deep/nested/file.txt" -PassThru
            $r.Status | Should -Be 'CopiedUp'
            $r.UpperPath | Should -Be "$Upper/etc/deep/nested/file.txt"
        }

        It 'copies nothing with -WhatIf' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/etc" -Recurse -WhatIf
            @(Get-ChildItem -LiteralPath $Upper -Force).Count | Should -Be 0
        }

        It 'is exported under the alias Invoke-CopyUp' {
            (Get-Alias Invoke-CopyUp).ResolvedCommandName | Should -Be 'Invoke-OverlayCopyUp'
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            (Invoke-CopyUp "$Merged/top.txt" -PassThru).Status | Should -Be 'CopiedUp'
        }
    }

    Context 'metacopy' {
        It 'copies only the metadata with -MetadataOnly, and the data at the next copy-up' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -Option metacopy=on, redirect_dir=on
            $r = Invoke-OverlayCopyUp "$Merged/etc/app.conf" -MetadataOnly -PassThru
            $r.Status | Should -Be 'MetadataOnly'
            $r.Bytes | Should -Be 0
            Get-TestXattr "$Upper/etc/app.conf" -List | Should -Contain 'trusted.overlay.metacopy' -Because 'the upper holds a metadata-only copy'
            Get-Content -LiteralPath "$Merged/etc/app.conf" | Should -Be 'setting=1'
            (Resolve-OverlayPath "$Merged/etc/app.conf" -All | Where-Object State -EQ 'Data').Layer | Should -Be $Lower

            $full = Invoke-OverlayCopyUp "$Merged/etc/app.conf" -PassThru
            $full.Status | Should -Be 'CopiedUp'
            $full.Bytes | Should -Be 9
            $full.SourceLayer | Should -Be $Lower -Because 'the data came from the lower, not from the metadata-only copy in the upper'
            Get-TestXattr "$Upper/etc/app.conf" -List | Should -Not -Contain 'trusted.overlay.metacopy'
            (& stat -c '%Y.%y|%a|%s' "$Upper/etc/app.conf") | Should -Be (& stat -c '%Y.%y|%a|%s' "$Lower/etc/app.conf") -Because 'the kernel stamps the data copy with the current time and the cmdlet puts it back'
            Get-Content -LiteralPath "$Upper/etc/app.conf" | Should -Be 'setting=1'
        }

        It 'keeps track of the data of a lower metadata-only copy whose data is in a data-only layer, and completes it from there' {
            # What a composefs-style image holds: a sparse metacopy file redirected to a blob of a data-only layer.
            $data = New-Layer "$Case/data" @{ 'blobs/abc' = 'data-layer-bytes' }
            $meta = New-Layer "$Case/meta"
            & truncate -s 16 "$meta/f"
            Set-TestXattr "$meta/f" 'trusted.overlay.metacopy' ''
            Set-TestXattr "$meta/f" 'trusted.overlay.redirect' '/blobs/abc'
            Mount-Overlay -Lower $meta -DataLower $data -Upper $Upper -Target $Merged -Option metacopy=on, redirect_dir=on
            Get-Content -LiteralPath "$Merged/f" -Raw | Should -Be 'data-layer-bytes'
            $before = Resolve-OverlayPath "$Merged/f" -All
            ($before | Where-Object State -EQ 'Data').LayerPath | Should -Be "$data/blobs/abc"

            (Invoke-OverlayCopyUp "$Merged/f" -MetadataOnly -PassThru).Status | Should -Be 'MetadataOnly'
            $mid = Resolve-OverlayPath "$Merged/f" -All
            $mid[0].Role | Should -Be 'Upper'
            $mid[0].MetadataOnly | Should -BeTrue
            ($mid | Where-Object State -EQ 'Data').LayerPath | Should -Be "$data/blobs/abc" -Because 'the kernel reads the copy''s data through the lower metacopy''s redirect'

            $full = Invoke-OverlayCopyUp "$Merged/f" -PassThru
            $full.Status | Should -Be 'CopiedUp'
            $full.SourceLayer | Should -Be $data -Because 'the data came from the data-only layer'
            $full.Bytes | Should -Be 16
            Get-Content -LiteralPath "$Upper/f" -Raw | Should -Be 'data-layer-bytes'
            Get-TestXattr "$Upper/f" -List | Should -Not -Contain 'trusted.overlay.metacopy'
        }

        It 'refuses -MetadataOnly where metacopy is off' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp "$Merged/top.txt" -MetadataOnly -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'MetacopyNotEnabled,OverlayTools.InvokeOverlayCopyUpCommand'
            Test-Path -LiteralPath "$Upper/top.txt" | Should -BeFalse
        }
    }

    Context 'errors' {
        It 'refuses a path that is not on an overlay' {
            Invoke-OverlayCopyUp "$Lower/top.txt" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'PathNotOnOverlay,OverlayTools.InvokeOverlayCopyUpCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].TargetObject | Should -Be "$Lower/top.txt"
        }

        It 'refuses a read-only overlay without an upper layer' {
            Mount-Overlay -Lower $Lower -Target $Merged
            Invoke-OverlayCopyUp "$Merged/top.txt" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayHasNoUpper,OverlayTools.InvokeOverlayCopyUpCommand'
        }

        It 'refuses an overlay mounted read-only' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged -ReadOnly
            Invoke-OverlayCopyUp "$Merged/top.txt" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayMountedReadOnly,OverlayTools.InvokeOverlayCopyUpCommand'
            Test-Path -LiteralPath "$Upper/top.txt" | Should -BeFalse
        }

        It 'reports a missing path' {
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            Invoke-OverlayCopyUp -LiteralPath "$Merged/nothing-here" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'OverlayPathNotFound,OverlayTools.InvokeOverlayCopyUpCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }

        It 'reports ENOSPC on a full upper and leaves no partial file, whether it checks first or the kernel fails' {
            $small = New-Layer "$Case/small"
            & mount -t tmpfs -o size=2m tmpfs $small
            $null = New-Item -ItemType Directory -Path "$small/upper"
            & dd if=/dev/urandom of="$Lower/big.bin" bs=1M count=4 status=none
            Mount-Overlay -Lower $Lower -Upper "$small/upper" -Target $Merged

            Invoke-OverlayCopyUp "$Merged/big.bin" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'CopyUpNoSpace,OverlayTools.InvokeOverlayCopyUpCommand'
            $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
            Test-Path -LiteralPath "$small/upper/big.bin" | Should -BeFalse

            $env:OVERLAYTOOLS_COPYUP_SPACE_CHECK = 'off'
            try {
                Invoke-OverlayCopyUp "$Merged/big.bin" -ErrorVariable err2 -ErrorAction SilentlyContinue
            }
            finally {
                Remove-Item Env:OVERLAYTOOLS_COPYUP_SPACE_CHECK
            }
            $err2[0].FullyQualifiedErrorId | Should -Be 'CopyUpNoSpace,OverlayTools.InvokeOverlayCopyUpCommand'
            $err2[0].Exception.Message | Should -Match 'ENOSPC'
            Test-Path -LiteralPath "$small/upper/big.bin" | Should -BeFalse
            @(Get-ChildItem -LiteralPath "$small/upper.work/work" -Force).Count | Should -Be 0
            (Get-FileHash "$Merged/big.bin").Hash | Should -Be (Get-FileHash "$Lower/big.bin").Hash
            (Invoke-OverlayCopyUp "$Merged/top.txt" -PassThru).Status | Should -Be 'CopiedUp' -Because 'small files still fit'
        }

        It 'reports ENOSPC for a directory (no inode left) and leaves no partial directory, then copies once there is room' {
            $small = New-Layer "$Case/small-inodes"
            & mount -t tmpfs -o size=8m,nr_inodes=40 tmpfs $small
            $null = New-Item -ItemType Directory -Path "$small/upper"
            Mount-Overlay -Lower $Lower -Upper "$small/upper" -Target $Merged
            # Use up every inode left.
            $null = New-Item -ItemType Directory -Path "$small/filler"
            $filled = 0
            try { while ($filled -lt 1000) { [IO.File]::WriteAllText("$small/filler/$filled", ''); $filled++ } } catch [IO.IOException] { }
            $filled | Should -BeLessThan 1000

            Invoke-OverlayCopyUp -LiteralPath "$Merged/etc" -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'CopyUpNoSpace,OverlayTools.InvokeOverlayCopyUpCommand'
            $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
            Test-Path -LiteralPath "$small/upper/etc" | Should -BeFalse
            @(Get-ChildItem -LiteralPath "$small/upper.work/work" -Force).Count | Should -Be 0
            (Get-ChildItem -LiteralPath "$Merged/etc" -Name | Sort-Object) | Should -Be @('app.conf', 'deep')

            Remove-Item -LiteralPath "$small/filler/0", "$small/filler/1"
            (Invoke-OverlayCopyUp -LiteralPath "$Merged/etc" -PassThru).Status | Should -Be 'CopiedUp'
            (& stat -c '%Y.%y|%a' "$small/upper/etc") | Should -Be (& stat -c '%Y.%y|%a' "$Lower/etc")
        }

        It 'stops -Recurse at the first ENOSPC, with only complete copies in the upper (<How>)' -ForEach @(
            @{ How = 'the free-space check'; Check = 'on' }
            @{ How = 'the kernel failing'; Check = 'off' }
        ) {
            $small = New-Layer "$Case/small-recurse"
            & mount -t tmpfs -o size=2m tmpfs $small
            $null = New-Item -ItemType Directory -Path "$small/upper"
            & dd if=/dev/urandom of="$Lower/etc/big.bin" bs=1M count=4 status=none
            Mount-Overlay -Lower $Lower -Upper "$small/upper" -Target $Merged
            $env:OVERLAYTOOLS_COPYUP_SPACE_CHECK = $Check
            try {
                $out = Invoke-OverlayCopyUp -LiteralPath "$Merged/etc" -Recurse -PassThru -ErrorVariable err -ErrorAction SilentlyContinue
            }
            finally {
                Remove-Item Env:OVERLAYTOOLS_COPYUP_SPACE_CHECK
            }
            @($err).Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'CopyUpNoSpace,OverlayTools.InvokeOverlayCopyUpCommand'
            $err[0].TargetObject | Should -Be "$Merged/etc/big.bin"
            # Sorted walk: etc, app.conf, big.bin (fails), and nothing after it.
            @($out.Path) | Should -Be @("$Merged/etc", "$Merged/etc/app.conf")
            @($out.Status) | Should -Be @('CopiedUp', 'CopiedUp')
            Test-Path -LiteralPath "$small/upper/etc/big.bin" | Should -BeFalse
            Test-Path -LiteralPath "$small/upper/etc/deep" | Should -BeFalse
            Get-Content -LiteralPath "$small/upper/etc/app.conf" -Raw | Should -Be 'setting=1'
            @(Get-ChildItem -LiteralPath "$small/upper.work/work" -Force).Count | Should -Be 0
            (Get-FileHash -LiteralPath "$Merged/etc/big.bin").Hash | Should -Be (Get-FileHash -LiteralPath "$Lower/etc/big.bin").Hash
        }

        It 'leaves the upper consistent when a copy-up is killed midway, and the next mount of the same upper and work reads the lower' {
            $null = New-Item -ItemType Directory -Path "$Lower/data"
            & dd if=/dev/urandom of="$Lower/data/big.bin" bs=1M count=1024 status=none
            $hash = (Get-FileHash -LiteralPath "$Lower/data/big.bin").Hash
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            $module = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
            $exe = Get-PwshExe
            $psi = [Diagnostics.ProcessStartInfo]::new($exe[0])
            foreach ($a in @($exe | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command',
                    "Import-Module '$module'; [Console]::Out.WriteLine('go'); [Console]::Out.Flush(); Invoke-OverlayCopyUp -LiteralPath '$Merged/data/big.bin'")) {
                $psi.ArgumentList.Add($a)
            }
            $psi.RedirectStandardOutput = $true
            $psi.UseShellExecute = $false
            $p = [Diagnostics.Process]::Start($psi)
            $killedWhileCopying = $false
            try {
                $p.StandardOutput.ReadLine() | Should -Be 'go'
                $base = $null
                # The kernel copies in the child's own context: its write_bytes grow with the copy.
                while (-not $p.HasExited) {
                    $io = [IO.File]::ReadAllText("/proc/$($p.Id)/io")
                    $written = [long] ([regex]::Match($io, 'write_bytes: (\d+)').Groups[1].Value)
                    if ($null -eq $base) { $base = $written }
                    elseif ($written - $base -ge 16MB) {
                        & kill -KILL $p.Id
                        $killedWhileCopying = $true
                        break
                    }
                    Start-Sleep -Milliseconds 2
                }
                $p.WaitForExit()
            }
            finally {
                if (-not $p.HasExited) { $p.Kill(); $p.WaitForExit() }
            }
            $killedWhileCopying | Should -BeTrue -Because 'the copy must be under way when the process is killed'
            $p.ExitCode | Should -Not -Be 0
            # The parent was copied up whole before the file; the file itself left nothing in the upper.
            Test-Path -LiteralPath "$Upper/data" -PathType Container | Should -BeTrue
            Test-Path -LiteralPath "$Upper/data/big.bin" | Should -BeFalse
            (& find $Upper -type f) | Should -BeNullOrEmpty
            (Get-FileHash -LiteralPath "$Merged/data/big.bin").Hash | Should -Be $hash

            # The next mount of the same upper and work works and reads the lower's content; the copy then completes.
            Dismount-Overlay -Target $Merged
            Mount-Overlay -Lower $Lower -Upper $Upper -Target $Merged
            (Get-FileHash -LiteralPath "$Merged/data/big.bin").Hash | Should -Be $hash
            (Invoke-OverlayCopyUp -LiteralPath "$Merged/data/big.bin" -PassThru).Status | Should -Be 'CopiedUp'
            (Get-FileHash -LiteralPath "$Upper/data/big.bin").Hash | Should -Be $hash
            @(Get-ChildItem -LiteralPath "$Upper.work/work" -Force).Count | Should -Be 0
        }
    }

    Context 'a file another process changes meanwhile' {
        It 'reports CopyUpChangedItem when the file changed between its check and the copy' {
            # A writer process moves the lower file's modification time on, again and again. A
            # copy-up takes the times the file has when the kernel starts it; when they moved
            # after the cmdlet looked at the file, the copy is not what the file was: reported.
            # The writer runs while the cmdlet copies up the file over fresh uppers until one copy
            # is caught (most are: the writer moves the time every few microseconds).
            $hot = "$Lower/hot.txt"
            [IO.File]::WriteAllText($hot, 'hot')
            $script_ = "$Case/writer.ps1"
            Set-Content -LiteralPath $script_ -Value @'
$file = $args[0]; $stop = $args[1]; $ready = $args[2]
$t = [DateTime]::new(2001, 1, 1, 0, 0, 0, [DateTimeKind]::Utc)
$i = 0
[IO.File]::WriteAllText($ready, 'running')
while (-not [IO.File]::Exists($stop)) {
    for ($k = 0; $k -lt 200; $k++) { $i++; [IO.File]::SetLastWriteTimeUtc($file, $t.AddTicks($i * 10)) }
}
'@
            $exe = Get-PwshExe
            $psi = [Diagnostics.ProcessStartInfo]::new($exe[0])
            foreach ($a in @($exe | Select-Object -Skip 1) + '-NoProfile', '-NonInteractive', '-File', $script_, $hot, "$Case/stop", "$Case/ready") { $psi.ArgumentList.Add($a) }
            $psi.UseShellExecute = $false
            $writer = [Diagnostics.Process]::Start($psi)
            $caught = $null
            $clean = 0
            try {
                for ($w = 0; $w -lt 600 -and -not (Test-Path -LiteralPath "$Case/ready"); $w++) {
                    if ($writer.HasExited) { throw "The writer process exited ($($writer.ExitCode))." }
                    Start-Sleep -Milliseconds 100
                }
                for ($n = 0; $n -lt 200 -and -not $caught; $n++) {
                    $u = New-Layer "$Case/u$n"
                    $m = New-Layer "$Case/m$n"
                    Mount-Overlay -Lower $Lower -Upper $u -Target $m
                    try {
                        $r = Invoke-OverlayCopyUp -LiteralPath "$m/hot.txt" -PassThru -ErrorVariable err -ErrorAction SilentlyContinue
                        Test-Path -LiteralPath "$u/hot.txt" | Should -BeTrue -Because 'the copy-up itself happened'
                        if ($err) {
                            $caught = $err[0]
                            $caught.TargetObject | Should -Be "$m/hot.txt"
                        }
                        else {
                            $r.Status | Should -Be 'CopiedUp'
                            $clean++
                        }
                    }
                    finally {
                        Dismount-Overlay -Target $m
                    }
                }
            }
            finally {
                $null = New-Item -ItemType File -Path "$Case/stop"
                if (-not $writer.WaitForExit(30000)) { Stop-Process -Id $writer.Id -Force -ErrorAction SilentlyContinue }
            }
            $caught | Should -Not -BeNullOrEmpty -Because "the writer changed the file during one of $($clean + 1) copy-ups"
            $caught.FullyQualifiedErrorId | Should -Be 'CopyUpChangedItem,OverlayTools.InvokeOverlayCopyUpCommand'
            $caught.CategoryInfo.Category | Should -Be 'InvalidResult'
            $caught.Exception.Message | Should -Match 'modification time changed'
            $caught.ErrorDetails.RecommendedAction | Should -Match 'another process'
        }
    }
}
