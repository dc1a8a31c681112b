#Requires -Version 7.4
# The containerd store reader (OverlayTools.Core) against a private containerd 1.6: images built
# offline with a private dockerd, saved, imported with ctr; containers created with ctr. Our paths
# must be what `ctr snapshots mounts` prints, our diff ids what the image configs say, with the
# daemon running and stopped, and reading must change nothing in the store.
#
# Until Get-OverlayLayer has a containerd backend, the tests call the Core directly through the
# built module's assembly: [OverlayTools.Stores.Containerd.ContainerdStore]::Read(<root>).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    Import-OverlayToolsUnderTest

    $script:Ready = (Test-IsRoot) -and (Test-EngineAvailable Docker) -and (Test-EngineAvailable Containerd)
    $script:Why = 'needs root, docker.io (dockerd, containerd, ctr) and busybox-static'
    $script:Root = New-TestRoot 'ctd'   # short: dockerd's own containerd socket path must stay under 104 bytes
    $script:Docker = $null
    $script:Ctd = $null

    function Read-Store([string[]] $Namespace) {
        $opts = [OverlayTools.Stores.Containerd.ContainerdReadOptions]@{ Namespaces = $Namespace }
        [OverlayTools.Stores.Containerd.ContainerdStore]::Read($script:Ctd.DataRoot, $opts, $null, [Threading.CancellationToken]::None)
    }

    function Get-CtrMount([string] $Namespace, [string] $Key) {
        # "mount -t overlay overlay /mnt -o index=off,workdir=W,upperdir=U,lowerdir=A:B", or a bind mount.
        $line = Invoke-TestCtr $script:Ctd -n $Namespace snapshots mounts /mnt $Key | Select-Object -First 1
        $opts = @{}
        if ($line -match ' -o (\S+)$') { foreach ($kv in $Matches[1] -split ',') { $k, $v = $kv -split '=', 2; $opts[$k] = $v } }
        [pscustomobject]@{
            Type = if ($line -match '^mount -t (\S+)') { $Matches[1] } else { '' }
            Upper = $opts['upperdir']; Work = $opts['workdir']
            Lowers = if ($opts['lowerdir']) { @($opts['lowerdir'] -split ':') } else { @() }
        }
    }

    function Get-CtrImages {
        # Every image of every namespace with the diff ids of its config, as ctr reads them.
        foreach ($ns in Invoke-TestCtr $script:Ctd namespaces ls -q) {
            foreach ($row in Invoke-TestCtr $script:Ctd -n $ns images ls | Select-Object -Skip 1) {
                $f = $row -split '\s+'
                $manifest = (Invoke-TestCtr $script:Ctd -n $ns content get $f[2]) -join "`n" | ConvertFrom-Json
                $config = (Invoke-TestCtr $script:Ctd -n $ns content get $manifest.config.digest) -join "`n" | ConvertFrom-Json
                [pscustomobject]@{ Namespace = $ns; Name = $f[0]; Digest = $f[2]; ConfigDigest = $manifest.config.digest; DiffIds = @($config.rootfs.diff_ids) }
            }
        }
    }

    function Get-CtrContainers {
        foreach ($ns in Invoke-TestCtr $script:Ctd namespaces ls -q) {
            foreach ($id in Invoke-TestCtr $script:Ctd -n $ns containers ls -q) {
                $info = (Invoke-TestCtr $script:Ctd -n $ns containers info $id) -join "`n" | ConvertFrom-Json
                [pscustomobject]@{ Namespace = $ns; Id = $id; SnapshotKey = $info.SnapshotKey; Snapshotter = $info.Snapshotter }
            }
        }
    }

    function Format-Inventory($Inventory) {
        # A stable text form of what was read, to compare two reads.
        $lines = foreach ($i in $Inventory.Images) {
            "image $($i.Namespace) $($i.Name) $($i.ConfigDigest) " + (($i.Layers | ForEach-Object { "$($_.Path)|$($_.DiffId)|$($_.ChainId)|$($_.Size)|$($_.CreatedBy)" }) -join ' ')
        }
        $lines += foreach ($c in $Inventory.Containers) { "container $($c.Namespace) $($c.Id) $($c.Kind) $($c.Upper) $($c.Work) $($c.Lowers -join ':')" }
        $lines += foreach ($e in $Inventory.Errors) { "error $($e.ErrorId) $($e.Message)" }
        return ($lines -join "`n")
    }

    function Get-TreeState([string] $Path) {
        # Every entry below $Path: type, size, mode, owner, modify/change times (ns), link target,
        # and the access time of regular files (find itself reads directories and links, which moves theirs).
        & find $Path '(' -type f -printf '%P|%y|%s|%m|%U|%G|%A@|%T@|%C@\n' ')' -o -printf '%P|%y|%s|%m|%U|%G|%T@|%C@|%l\n' | Sort-Object
    }

    function Get-TreeHashes([string] $Path) {
        & find $Path -type f -exec sha256sum '{}' '+' | Sort-Object
    }

    if ($script:Ready) {
        try {
            # Images built offline (FROM scratch with the static busybox) by a private dockerd.
            $script:Docker = Start-TestDocker -Root "$script:Root/d"
            $app = New-BusyboxContext -Path "$script:Root/ctx-app" -Steps @(
                'RUN echo one > /one', 'RUN mkdir -p /data/sub && echo two > /data/sub/two', 'ENV X=1', 'RUN rm /one && echo three > /three')
            $null = Invoke-TestDocker $script:Docker build -q -t example.com/demo/app:1.0 $app
            $null = Invoke-TestDocker $script:Docker tag example.com/demo/app:1.0 app2:latest
            $base = New-BusyboxContext -Path "$script:Root/ctx-base"
            $null = Invoke-TestDocker $script:Docker build -q -t busybox:latest $base
            $null = Invoke-TestDocker $script:Docker save -o "$script:Root/app.tar" example.com/demo/app:1.0 app2:latest
            $null = Invoke-TestDocker $script:Docker save -o "$script:Root/base.tar" busybox:latest
            Stop-TestDocker $script:Docker
            $script:Docker = $null

            # A private containerd: Kubernetes' namespace and Docker's.
            $script:Ctd = Start-TestContainerd -Root "$script:Root/ctd"
            $null = Invoke-TestCtr $script:Ctd -n k8s.io images import "$script:Root/app.tar"
            $null = Invoke-TestCtr $script:Ctd -n moby images import "$script:Root/base.tar"
            $null = Invoke-TestCtr $script:Ctd -n k8s.io images import "$script:Root/base.tar"
            $null = Invoke-TestCtr $script:Ctd -n k8s.io containers create example.com/demo/app:1.0 c1
            $null = Invoke-TestCtr $script:Ctd -n k8s.io containers create docker.io/library/app2:latest c2
            $null = Invoke-TestCtr $script:Ctd -n k8s.io containers create docker.io/library/busybox:latest c3
            $null = Invoke-TestCtr $script:Ctd -n moby containers create docker.io/library/busybox:latest m1
        }
        catch {
            $script:SetupError = $_
        }
    }
}

AfterAll {
    if ($script:Docker) { Stop-TestDocker $script:Docker }
    if ($script:Ctd) { Stop-TestContainerd $script:Ctd }
    Remove-TestRoot $script:Root
}

Describe 'containerd store reader' -Tag 'RequiresRoot', 'Engines' {
    BeforeEach {
        $script:Go = Assert-Prerequisite $script:Ready $script:Why
        if ($script:Go -and $script:SetupError) { throw $script:SetupError }
    }

    Context 'with the daemon running' {
        It 'gives every container the upperdir, workdir and lowerdirs of ctr snapshots mounts' {
            if (-not $Go) { return }
            $inv = Read-Store
            $inv.Errors | Should -BeNullOrEmpty
            $ctr = @(Get-CtrContainers)
            $ctr | Should -HaveCount 4
            foreach ($c in $ctr) {
                $m = Get-CtrMount $c.Namespace $c.SnapshotKey
                $ours = $inv.Containers | Where-Object { $_.Namespace -eq $c.Namespace -and $_.Id -eq $c.Id }
                $ours | Should -HaveCount 1
                $m.Type | Should -Be 'overlay'
                $ours.Upper | Should -Be $m.Upper
                $ours.Work | Should -Be $m.Work
                $ours.Lowers | Should -Be $m.Lowers
                $ours.Snapshotter | Should -Be $c.Snapshotter
                $ours.Kind | Should -Be 'Active'
            }
        }

        It 'gives every image the diff ids and config digest of its image config' {
            if (-not $Go) { return }
            $inv = Read-Store
            $ctr = @(Get-CtrImages)
            $ctr.Count | Should -BeGreaterOrEqual 5
            $inv.Images | Should -HaveCount $ctr.Count
            foreach ($x in $ctr) {
                $i = $inv.Images | Where-Object { $_.Namespace -eq $x.Namespace -and $_.Name -eq $x.Name }
                $i | Should -HaveCount 1
                $i.Digest | Should -Be $x.Digest
                $i.ConfigDigest | Should -Be $x.ConfigDigest
                # Ours are top first, the config's bottom first.
                [array]::Reverse(($bottomFirst = @($i.Layers.DiffId)))
                $bottomFirst | Should -Be $x.DiffIds
            }
        }

        It 'points each image layer at the snapshot dir holding that layer''s files' {
            if (-not $Go) { return }
            $app = (Read-Store 'k8s.io').Images | Where-Object Name -EQ 'example.com/demo/app:1.0'
            $app.Layers | Should -HaveCount 5
            # Top first: rm /one + three, data/sub/two, one, the busybox links, busybox itself.
            Test-Path -LiteralPath "$($app.Layers[0].Path)/three" | Should -BeTrue
            & stat -c '%F %t:%T' -- "$($app.Layers[0].Path)/one" | Should -Be 'character special file 0:0'   # the whiteout of /one
            Get-Content -LiteralPath "$($app.Layers[1].Path)/data/sub/two" | Should -Be 'two'
            Get-Content -LiteralPath "$($app.Layers[2].Path)/one" | Should -Be 'one'
            Test-Path -LiteralPath "$($app.Layers[4].Path)/bin/busybox" | Should -BeTrue
            $app.Layers[0].CreatedBy | Should -Match 'echo three'
            $app.Layers | ForEach-Object { $_.Size | Should -BeGreaterThan 0 }
        }

        It 'finds images by the short names users type' {
            if (-not $Go) { return }
            $images = (Read-Store).Images
            foreach ($typed in 'busybox', 'busybox:latest', 'library/busybox', 'docker.io/busybox', 'docker.io/library/busybox:latest') {
                $hits = $images | Where-Object { [OverlayTools.Stores.Containerd.ImageReference]::Matches($_.Name, $typed) }
                $hits.Namespace | Sort-Object | Should -Be @('k8s.io', 'moby')
            }
            ($images | Where-Object { [OverlayTools.Stores.Containerd.ImageReference]::Matches($_.Name, 'app2') }).Name | Should -Be 'docker.io/library/app2:latest'
            ($images | Where-Object { [OverlayTools.Stores.Containerd.ImageReference]::Matches($_.Name, 'example.com/demo/app:1.0') }) | Should -HaveCount 1
        }

        It 'maps a container''s upper dir back to the container' {
            if (-not $Go) { return }
            $inv = Read-Store
            $reader = [OverlayTools.Stores.Containerd.ContainerdStoreReader]::Open($script:Ctd.DataRoot, $null)
            try {
                foreach ($c in $inv.Containers) {
                    $m = $reader.FindLayer($c.Upper)
                    $m.ContainerIds | Should -Be @($c.Id)
                    $m.Namespace | Should -Be $c.Namespace
                    $reader.FindLayer($c.Lowers[0]).Kind | Should -Be 'Committed'
                }
            }
            finally { $reader.Dispose() }
        }

        It 'reads consistently while containerd commits' {
            if (-not $Go) { return }
            $expected = Format-Inventory (Read-Store 'moby')
            # Tag images in a loop (each tag is a commit to meta.db) while reading.
            $psi = [Diagnostics.ProcessStartInfo]::new('bash')
            $psi.ArgumentList.Add('-c')
            $psi.ArgumentList.Add('for i in $(seq 1 150); do ctr --address "$1" -n k8s.io images tag --force docker.io/library/busybox:latest example.com/churn:$i >/dev/null || exit 1; done')
            $psi.ArgumentList.Add('churn')
            $psi.ArgumentList.Add($script:Ctd.Socket)
            $job = [Diagnostics.Process]::Start($psi)
            try {
                $reads = 0
                while (-not $job.HasExited -or $reads -lt 5) {
                    $inv = Read-Store
                    $inv.Errors | Should -BeNullOrEmpty
                    Format-Inventory ([pscustomobject]@{ Images = @($inv.Images | Where-Object Namespace -EQ 'moby'); Containers = @($inv.Containers | Where-Object Namespace -EQ 'moby'); Errors = @() }) |
                        Should -Be $expected
                    ($inv.Containers | Where-Object Namespace -EQ 'k8s.io') | Should -HaveCount 3
                    $reads++
                }
            }
            finally { $job.WaitForExit() }
            $job.ExitCode | Should -Be 0
            $script:Live = Format-Inventory (Read-Store)
        }
    }

    Context 'with the daemon stopped' {
        BeforeAll {
            if ($script:Ready -and $script:Ctd -and -not $script:SetupError) { Stop-TestContainerd $script:Ctd -KeepData }
        }

        It 'reads the same store as while it ran' {
            if (-not $Go) { return }
            $script:Ctd.Process.HasExited | Should -BeTrue
            Format-Inventory (Read-Store) | Should -Be $script:Live
        }

        It 'changes nothing in the store: contents, modes and timestamps (atime included)' {
            if (-not $Go) { return }
            $data = $script:Ctd.DataRoot
            $hashes = Get-TreeHashes $data
            # Age the access time of every file, so that any plain read would visibly update it (relatime).
            & find $data -type f -exec touch -a -d '@946684800' '{}' '+'
            $before = Get-TreeState $data
            $inv = Read-Store
            $reader = [OverlayTools.Stores.Containerd.ContainerdStoreReader]::Open($data, $null)
            try { foreach ($c in $inv.Containers) { $null = $reader.FindLayer($c.Upper) } } finally { $reader.Dispose() }
            $after = Get-TreeState $data
            Compare-Object $before $after | Should -BeNullOrEmpty
            Compare-Object $hashes (Get-TreeHashes $data) | Should -BeNullOrEmpty
        }

        It 'gives a clear error for a truncated or damaged meta.db, and leaves the copy as it was' {
            if (-not $Go) { return }
            $copy = "$script:Root/copy"
            $null = New-Item -ItemType Directory -Force -Path "$copy/io.containerd.metadata.v1.bolt"
            $db = "$copy/io.containerd.metadata.v1.bolt/meta.db"
            $bytes = [IO.File]::ReadAllBytes("$($script:Ctd.DataRoot)/io.containerd.metadata.v1.bolt/meta.db")
            [IO.File]::WriteAllBytes($db, $bytes[0..(4096 * 3 - 1)])
            $e = { [OverlayTools.Stores.Containerd.ContainerdStore]::Read($copy) } | Should -Throw -PassThru
            $e.Exception.InnerException.ErrorId | Should -Be 'BoltDatabaseTruncated'
            $e.Exception.InnerException.Target | Should -Be $db

            $bad = [byte[]] $bytes.Clone()
            $bad[16 + 20] = $bad[16 + 20] -bxor 0xFF
            $bad[4096 + 16 + 20] = $bad[4096 + 16 + 20] -bxor 0xFF
            [IO.File]::WriteAllBytes($db, $bad)
            $e = { [OverlayTools.Stores.Containerd.ContainerdStore]::Read($copy) } | Should -Throw -PassThru
            $e.Exception.InnerException.ErrorId | Should -Be 'BoltDatabaseCorrupt'
            (Get-FileHash -LiteralPath $db -Algorithm SHA256).Hash | Should -Be ([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bad)))
        }
    }
}
