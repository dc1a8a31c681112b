#Requires -Version 7.4
# Get-OverlayLayer on containerd's overlayfs snapshotter store, against a private containerd 1.6:
# images built offline with a private dockerd, saved, imported with ctr; containers created with
# ctr (and one run). Our paths must be what `ctr snapshots mounts` prints, our diff ids what the
# image configs say, with the daemon running, committing and stopped; reading changes nothing.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    # Known before the run: skipped here (a failure under CI=true), never a test that returns early.
    $script:Ready = (Test-IsRoot) -and (Test-EngineAvailable Docker) -and (Test-EngineAvailable Containerd)
    $script:HasRunc = [bool] (Get-Command runc -CommandType Application -ErrorAction SilentlyContinue)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestTree.psm1') -Force
    Import-OverlayToolsUnderTest

    # The Describe below is skipped without these (BeforeDiscovery); set up only when it runs.
    $script:Ready = (Test-IsRoot) -and (Test-EngineAvailable Docker) -and (Test-EngineAvailable Containerd)
    # Short: dockerd's own containerd socket path must stay under 104 bytes.
    $script:Root = New-TestRoot 'ctd'
    $script:Docker = $null
    $script:Ctd = $null
    $script:Running = $null

    function Get-Layers {
        # Get-OverlayLayer on the private store; extra arguments pass through (not -ErrorVariable:
        # it would land in this function's scope).
        Get-OverlayLayer -DataRoot $script:Ctd.DataRoot @args
    }

    function Get-CtrMount([string] $Namespace, [string] $Key) {
        # "mount -t overlay overlay /mnt -o index=off,workdir=W,upperdir=U,lowerdir=A:B".
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
        # Every image record of every namespace with the diff ids of its config, as ctr reads them.
        foreach ($ns in Invoke-TestCtr $script:Ctd namespaces ls -q) {
            foreach ($row in Invoke-TestCtr $script:Ctd -n $ns images ls | Select-Object -Skip 1) {
                $f = $row -split '\s+'
                $manifest = (Invoke-TestCtr $script:Ctd -n $ns content get $f[2]) -join "`n" | ConvertFrom-Json
                $config = (Invoke-TestCtr $script:Ctd -n $ns content get $manifest.config.digest) -join "`n" | ConvertFrom-Json
                [pscustomobject]@{ Namespace = $ns; Name = $f[0]; Digest = $f[2]; DiffIds = @($config.rootfs.diff_ids) }
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

    function Assert-ReadAsCtrSaid($Read, [string] $Copy, [string[]] $Containers = @(), [hashtable[]] $Images = @()) {
        # The items a tampering does not touch, read from a copy of the store exactly as ctr described
        # them: containers ('<namespace>/<id>') with the upper, work and lowers of ctr snapshots mounts;
        # images (Namespace, Name, and Via: a container of that image, whose lowers are its layers)
        # with those dirs and the diff ids of their config.
        $data = $script:Ctd.DataRoot
        foreach ($key in $Containers) {
            $ns, $id = $key -split '/', 2
            $m = $script:CtrMounts[$key]
            $m | Should -Not -BeNullOrEmpty
            $mine = @($Read.Containers | Where-Object { $_.Namespace -eq $ns -and $_.ContainerId -eq $id } | Sort-Object Position)
            @($mine.Path) | Should -Be @(@($m.Upper) + @($m.Lowers) | ForEach-Object { $_.Replace($data, $Copy) }) -Because "container $key is untouched by the tampering"
            $mine[0].Work | Should -Be $m.Work.Replace($data, $Copy)
        }
        foreach ($image in $Images) {
            $x = @($script:CtrImageRecords | Where-Object { $_.Namespace -eq $image.Ns -and $_.Name -eq $image.Name })
            $x | Should -HaveCount 1
            $mine = @($Read.Images | Where-Object { $_.Namespace -eq $image.Ns -and $_.ImageId -eq $x[0].Digest } | Sort-Object Position)
            @($mine.Path) | Should -Be @($script:CtrMounts["$($image.Ns)/$($image.Via)"].Lowers | ForEach-Object { $_.Replace($data, $Copy) }) -Because "image $($image.Name) in $($image.Ns) is untouched by the tampering"
            @($mine | Sort-Object Position -Descending | ForEach-Object DiffId) | Should -Be $x[0].DiffIds
        }
    }

    function Format-Layers($Layers) {
        # A stable text form of what Get-OverlayLayer emitted, to compare two reads.
        ($Layers | ForEach-Object { '{0}|{1}|{2}|{3}|{4}|{5}|{6}|{7}|{8}|{9}' -f $_.Namespace, $_.Image, $_.ImageId, $_.Container, $_.Position, $_.Role, $_.Path, $_.Work, $_.DiffId, $_.Size }) -join "`n"
    }

    function Stop-RunningTask {
        if ($script:Running -and $script:Ctd -and -not $script:Ctd.Process.HasExited) {
            & ctr --address $script:Ctd.Socket -n k8s.io tasks kill -s SIGKILL r1 *> $null
            for ($i = 0; $i -lt 50 -and (& ctr --address $script:Ctd.Socket -n k8s.io tasks delete r1 *>&1) -match 'running'; $i++) { Start-Sleep -Milliseconds 100 }
            & ctr --address $script:Ctd.Socket -n k8s.io tasks delete --force r1 *> $null
            & ctr --address $script:Ctd.Socket -n k8s.io containers delete r1 *> $null
            $script:Running = $null
        }
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

            # What ctr says about the store, recorded while containerd runs: every image record with
            # its diff ids, every container's mount (to compare copies of the store with, daemon stopped).
            $script:CtrImageRecords = @(Get-CtrImages)
            $script:CtrMounts = @{}
            foreach ($c in Get-CtrContainers) { $script:CtrMounts["$($c.Namespace)/$($c.Id)"] = Get-CtrMount $c.Namespace $c.SnapshotKey }
        }
        catch {
            $script:SetupError = $_
        }
    }
}

AfterAll {
    Stop-RunningTask
    if ($script:Docker) { Stop-TestDocker $script:Docker }
    if ($script:Ctd) { Stop-TestContainerd $script:Ctd }
    Remove-TestRoot $script:Root
}

Describe 'Get-OverlayLayer on a containerd store' -Tag 'RequiresRoot', 'Engines' -Skip:(-not $Ready) {
    BeforeEach {
        if ($script:SetupError) { throw $script:SetupError }
    }

    Context 'with the daemon running' {
        AfterEach {
            Clear-TestMounts "$script:Root/m"
        }

        It 'gives every container the upperdir, workdir and lowerdirs of ctr snapshots mounts, and the upper''s size as ctr snapshots usage' {
            # What a container writes: files and a directory in one upper, so that its size is more than an empty dir's.
            $written = "$($script:CtrMounts['k8s.io/c1'].Upper)/written"
            $null = New-Item -ItemType Directory -Path "$written/sub"
            [IO.File]::WriteAllBytes("$written/sub/data.bin", [byte[]]::new(10000))
            Set-Content -LiteralPath "$written/small.txt" -Value 'x'
            try {
                $ours = Get-OverlayLayer -DataRoot $script:Ctd.DataRoot -Container * -ErrorVariable err
                $err | Should -BeNullOrEmpty
                $ctr = @(Get-CtrContainers)
                $ctr | Should -HaveCount 4
                foreach ($c in $ctr) {
                    $m = Get-CtrMount $c.Namespace $c.SnapshotKey
                    $m.Type | Should -Be 'overlay'
                    $mine = @($ours | Where-Object { $_.Namespace -eq $c.Namespace -and $_.ContainerId -eq $c.Id } | Sort-Object Position)
                    $mine[0].Role | Should -Be 'Upper'
                    $mine[0].Path | Should -Be $m.Upper
                    $mine[0].Work | Should -Be $m.Work
                    $usage = @(Invoke-TestCtr $script:Ctd -n $c.Namespace snapshots usage -b $c.SnapshotKey | Select-Object -Skip 1)[0] -split '\s+'
                    $mine[0].Size | Should -Be ([long] $usage[1]) -Because "ctr snapshots usage reports the size of $($c.Id)'s upper"
                    @($mine | Select-Object -Skip 1 | ForEach-Object Path) | Should -Be $m.Lowers
                    @($mine | Select-Object -Skip 1 | ForEach-Object Role | Sort-Object -Unique) | Should -Be 'Lower'
                    $mine | ForEach-Object { $_.Backend | Should -Be 'containerd'; $_.DataRoot | Should -Be $script:Ctd.DataRoot }
                }
                ($ours | Where-Object { $_.ContainerId -eq 'c1' -and $_.Role -eq 'Upper' }).Size | Should -BeGreaterThan 10000
            }
            finally {
                Remove-Item -LiteralPath $written -Recurse -Force
            }
        }

        It 'gives every image the diff ids of its image config, by name and by listing' {
            $all = Get-Layers -Image *
            $ctr = @(Get-CtrImages)
            $ctr.Count | Should -BeGreaterOrEqual 6
            foreach ($x in $ctr) {
                # Ours are top first, the config's bottom first.
                $listed = @($all | Where-Object { $_.Namespace -eq $x.Namespace -and $_.ImageId -eq $x.Digest } | Sort-Object Position -Descending)
                @($listed.DiffId) | Should -Be $x.DiffIds
                $named = @(Get-Layers -Image $x.Name -Namespace $x.Namespace | Sort-Object Position -Descending)
                @($named.DiffId) | Should -Be $x.DiffIds
                $named | ForEach-Object { $_.ImageId | Should -Be $x.Digest }
            }
        }

        It 'points each image layer at the snapshot dir holding that layer''s files' {
            $app = @(Get-Layers -Image example.com/demo/app:1.0)
            $app | Should -HaveCount 5
            # Top first: rm /one + three, data/sub/two, one, the busybox links, busybox itself.
            Test-Path -LiteralPath "$($app[0].Path)/three" | Should -BeTrue
            & stat -c '%F %t:%T' -- "$($app[0].Path)/one" | Should -Be 'character special file 0:0'   # the whiteout of /one
            Get-Content -LiteralPath "$($app[1].Path)/data/sub/two" | Should -Be 'two'
            Get-Content -LiteralPath "$($app[2].Path)/one" | Should -Be 'one'
            Test-Path -LiteralPath "$($app[4].Path)/bin/busybox" | Should -BeTrue
            $app[0].CreatedBy | Should -Match 'echo three'
            $app | ForEach-Object { $_.Size | Should -BeGreaterThan 0; $_.ChainId | Should -Match '^sha256:[0-9a-f]{64}$' }
            $app[4].ChainId | Should -Be $app[4].DiffId
        }

        It 'finds images by the short names users type, in Docker''s namespace first' {
            foreach ($typed in 'busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest') {
                $l = @(Get-Layers -Image $typed)
                $l.Namespace | Sort-Object -Unique | Should -Be 'moby'
                $l[0].Image | Should -Be 'docker.io/library/busybox:latest'
                (Get-Layers -Image $typed -Namespace k8s.io).Namespace | Sort-Object -Unique | Should -Be 'k8s.io'
            }
            (Get-Layers -Image app2)[0].Image | Should -Be 'docker.io/library/app2:latest'
            # Shown by the name the query matched, of the names of one target.
            @(Get-Layers -Image '*app2*' -Namespace k8s.io).Image | Sort-Object -Unique | Should -Be 'docker.io/library/app2:latest'
            @(Get-Layers -Image 'example.com/*' -Namespace k8s.io).Image | Sort-Object -Unique | Should -Be 'example.com/demo/app:1.0'
            # One image per target: the tags of one target come together, shown by the first name.
            (Get-Layers -Image 'example.com/demo/*' -Namespace 'k8s*')[0].ImageId | Should -Be (Get-Layers -Image example.com/demo/app:1.0)[0].ImageId
            (Get-Layers -Container * -Namespace moby).ContainerId | Sort-Object -Unique | Should -Be 'm1'
        }

        It 'finds an image by id, full or short, in Docker''s namespace first when two namespaces hold it' {
            $id = (Get-Layers -Image busybox -Namespace k8s.io)[0].ImageId
            $id | Should -Be (Get-Layers -Image busybox -Namespace moby)[0].ImageId
            foreach ($typed in $id, ($id -replace '^sha256:'), ($id -replace '^sha256:').Substring(0, 12)) {
                $l = @(Get-Layers -Image $typed)
                $l.Namespace | Sort-Object -Unique | Should -Be 'moby'
                $l[0].ImageId | Should -Be $id
                (Get-Layers -Image $typed -Namespace k8s.io).Namespace | Sort-Object -Unique | Should -Be 'k8s.io'
            }
        }

        It 'reports a namespace that does not exist, and an image that is not there' {
            Get-OverlayLayer -DataRoot $script:Ctd.DataRoot -Image * -Namespace nope -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'ContainerdNamespaceNotFound,OverlayTools.GetOverlayLayerCommand'
            $err[0].TargetObject | Should -Be 'nope'
            Get-OverlayLayer -DataRoot $script:Ctd.DataRoot -Image nginx -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'ImageNotFound,OverlayTools.GetOverlayLayerCommand'
            # Filtered by -Namespace, the error says where it looked.
            Get-OverlayLayer -DataRoot $script:Ctd.DataRoot -Image app2 -Namespace moby -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'ImageNotFound,OverlayTools.GetOverlayLayerCommand'
            $err[0].Exception.Message | Should -BeLike "No image 'app2' in namespace 'moby' of the store at *"
        }

        It 'completes names within -Namespace by the rule the command selects with' {
            $line = "Get-OverlayLayer -DataRoot '$($script:Ctd.DataRoot)' -Namespace moby -Container "
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('m1')
            # Namespaces match case-sensitively, as in the command: K8S.IO offers nothing, as it selects nothing.
            $line = "Get-OverlayLayer -DataRoot '$($script:Ctd.DataRoot)' -Namespace K8S.IO -Container c"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Should -BeNullOrEmpty
            Get-Layers -Container 'c*' -Namespace 'K8S.IO' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $line = "Get-OverlayLayer -DataRoot '$($script:Ctd.DataRoot)' -Namespace 'k8s*' -Container c"
            $r = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
            foreach ($c in 'c1', 'c2', 'c3') { $r | Should -Contain $c }
        }

        It 'describes a snapshot dir given by -Path, and maps an upper dir back to its container' {
            $c1 = @(Get-Layers -Container c1)
            $up = Get-OverlayLayer -Path $c1[0].Path
            $up.Role | Should -Be 'Upper'
            $up.ContainerId | Should -Be 'c1'
            $up.Namespace | Should -Be 'k8s.io'
            $up.Image | Should -Be 'example.com/demo/app:1.0'
            $low = Get-OverlayLayer -Path (Split-Path $c1[1].Path)   # the snapshot dir itself
            $low.Path | Should -Be $c1[1].Path
            $low.ChainId | Should -Be $c1[1].ChainId
        }

        It 'mounts a container read-only from the piped layers, as its image''s files' {
            $target = New-Layer "$script:Root/m/ro"
            Get-Layers -Container c1 | Mount-Overlay -ReadOnly -Target $target -ErrorAction Stop
            Get-Content -LiteralPath "$target/three" | Should -Be 'three'
            Get-Content -LiteralPath "$target/data/sub/two" | Should -Be 'two'
            Test-Path -LiteralPath "$target/one" | Should -BeFalse
            Test-Path -LiteralPath "$target/bin/busybox" | Should -BeTrue
        }

        It 'matches the mount of a running task, and a mount with relative lowerdirs, to the container' -Skip:(-not $HasRunc) {
            $null = Invoke-TestCtr $script:Ctd -n k8s.io run -d docker.io/library/busybox:latest r1 sleep 600
            $script:Running = 'r1'
            try {
                $rootfs = "$($script:Ctd.State)/io.containerd.runtime.v2.task/k8s.io/r1/rootfs"
                $l = @(Get-OverlayLayer -Target $rootfs -DataRoot $script:Ctd.DataRoot)
                $l | Should -HaveCount 3
                $l[0].Role | Should -Be 'Upper'
                $l[0].ContainerId | Should -Be 'r1'
                $l[0].Work | Should -Not -BeNullOrEmpty
                $l[1..2].DiffId | Should -Be (Get-Layers -Image busybox -Namespace k8s.io).DiffId
                # Get-OverlayMount names the task's container too.
                $m = Get-OverlayMount -Target $rootfs
                $m.Backend | Should -Be 'containerd'
                $m.ContainerId | Should -Be 'r1'
            }
            finally { Stop-RunningTask }

            # containerd mounts long stacks from the snapshots dir with relative lowerdirs ("5/fs").
            $c1 = @(Get-Layers -Container c1)
            $snapshots = Split-Path (Split-Path $c1[0].Path)
            $rel = ($c1 | Select-Object -Skip 1 | ForEach-Object { $_.Path.Substring($snapshots.Length + 1) }) -join ':'
            $target = New-Layer "$script:Root/m/rel"
            & bash -c 'cd "$1" && mount -t overlay overlay -o "ro,lowerdir=$2" "$3"' mount $snapshots $rel $target
            $LASTEXITCODE | Should -Be 0
            $m = @(Get-OverlayLayer -Target $target -DataRoot $script:Ctd.DataRoot)
            @($m.Path) | Should -Be @($c1 | Select-Object -Skip 1 | ForEach-Object Path)
            @($m.DiffId) | Should -Be @($c1 | Select-Object -Skip 1 | ForEach-Object DiffId)
            $m[0].Image | Should -Not -BeNullOrEmpty
        }

        It 'reads consistently while containerd commits' {
            $expected = Format-Layers (Get-Layers -Container * -Namespace moby)
            # Tag images in a loop (each tag is a commit to meta.db) while reading.
            $psi = [Diagnostics.ProcessStartInfo]::new('bash')
            foreach ($a in '-c', 'for i in $(seq 1 150); do ctr --address "$1" -n k8s.io images tag --force docker.io/library/busybox:latest example.com/churn:$i >/dev/null || exit 1; done', 'churn', $script:Ctd.Socket) { $psi.ArgumentList.Add($a) }
            $job = [Diagnostics.Process]::Start($psi)
            try {
                $reads = 0
                while (-not $job.HasExited -or $reads -lt 5) {
                    $images = Get-OverlayLayer -DataRoot $script:Ctd.DataRoot -Image * -ErrorVariable err
                    $err | Should -BeNullOrEmpty
                    $images | Should -Not -BeNullOrEmpty
                    Format-Layers (Get-Layers -Container * -Namespace moby) | Should -Be $expected
                    @(Get-Layers -Container * -Namespace k8s.io | Where-Object Role -EQ 'Upper') | Should -HaveCount 3
                    $reads++
                }
            }
            finally { $job.WaitForExit() }
            $job.ExitCode | Should -Be 0
            $script:Live = Format-Layers ((Get-Layers -Image *) + (Get-Layers -Container *))
        }
    }

    Context 'with the daemon stopped' {
        BeforeAll {
            if ($script:Ready -and $script:Ctd -and -not $script:SetupError) {
                Stop-RunningTask
                Stop-TestContainerd $script:Ctd -KeepData
            }
        }

        It 'gives the same layers as while it ran' {
            $script:Ctd.Process.HasExited | Should -BeTrue
            Format-Layers ((Get-Layers -Image *) + (Get-Layers -Container *)) | Should -Be $script:Live
        }

        It 'changes nothing in the store: contents, modes and timestamps of files and dirs (access times aged first)' {
            $data = $script:Ctd.DataRoot
            Assert-TestTreeUnchanged $data {
                @(Get-Layers -Image *).Count | Should -BeGreaterThan 0
                $c = @(Get-Layers -Container *)
                $upper = @($c | Where-Object Role -EQ 'Upper')
                $upper.Count | Should -BeGreaterThan 0
                @(Get-OverlayLayer -Path $upper.Path).Count | Should -BeGreaterOrEqual $upper.Count
            }
        }

        It 'reports a truncated or damaged meta.db clearly, and leaves the copy as it was' {
            $copy = "$script:Root/copy"
            $null = New-Item -ItemType Directory -Force -Path "$copy/io.containerd.metadata.v1.bolt"
            $db = "$copy/io.containerd.metadata.v1.bolt/meta.db"
            $bytes = [IO.File]::ReadAllBytes("$($script:Ctd.DataRoot)/io.containerd.metadata.v1.bolt/meta.db")
            [IO.File]::WriteAllBytes($db, [byte[]] $bytes[0..(4096 * 3 - 1)])
            Get-OverlayLayer -DataRoot $copy -Image * -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'BoltDatabaseTruncated,OverlayTools.GetOverlayLayerCommand'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
            $err[0].TargetObject | Should -Be $db

            $bad = [byte[]] $bytes.Clone()
            $bad[16 + 20] = $bad[16 + 20] -bxor 0xFF
            $bad[4096 + 16 + 20] = $bad[4096 + 16 + 20] -bxor 0xFF
            [IO.File]::WriteAllBytes($db, $bad)
            Get-OverlayLayer -DataRoot $copy -Container * -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'BoltDatabaseCorrupt,OverlayTools.GetOverlayLayerCommand'
            $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
            (Get-FileHash -LiteralPath $db -Algorithm SHA256).Hash | Should -Be ([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bad)))
        }

        It 'changes nothing when inspected with every tool: contents, modes and times of files and dirs, access times aged first' {
            $data = $script:Ctd.DataRoot
            $target = New-Layer "$script:Root/m/strict"
            $c1 = @(Get-Layers -Container c1)
            $c1 | Select-Object -Skip 1 | Mount-Overlay -ReadOnly -Target $target
            try {
                $names = @([IO.Directory]::EnumerateFileSystemEntries($target, '*', [IO.SearchOption]::AllDirectories))
                Assert-TestTreeUnchanged $data {
                    $null = Get-Layers -Image *
                    $all = @(Get-Layers -Container *)
                    $all | Select-Object -ExpandProperty Path -Unique | ForEach-Object { $null = Get-OverlayLayer -Path $_ }
                    $null = Get-OverlayLayer -Target $target -DataRoot $data
                    foreach ($id in 'c1', 'c2', 'c3') {
                        $l = @(Get-Layers -Container $id -Namespace k8s.io)
                        $null = Get-OverlayChange -Upper $l[0].Path -Lower @($l | Select-Object -Skip 1 -ExpandProperty Path)
                    }
                    @($names | ForEach-Object { [pscustomobject]@{ LiteralPath = $_ } } | Resolve-OverlayPath -All).Count | Should -BeGreaterOrEqual $names.Count
                }
            }
            finally {
                Clear-TestMounts $target
            }
        }

        It 'gives per-item errors and no path outside the store when <Name>' -ForEach @(
            @{ Name = 'a snapshot dir is a symlink out of the store'; Id = 'LayerPathOutsideStore'; Containers = 'k8s.io/c2', 'k8s.io/c3', 'moby/m1'; Images = @{ Ns = 'k8s.io'; Name = 'example.com/demo/app:1.0'; Via = 'c2' }, @{ Ns = 'k8s.io'; Name = 'docker.io/library/busybox:latest'; Via = 'c3' }, @{ Ns = 'moby'; Name = 'docker.io/library/busybox:latest'; Via = 'm1' }; Tamper = { param($c, $s) Remove-Item -LiteralPath "$s/$($script:C1Ids[0])" -Recurse -Force; $null = New-Item -ItemType SymbolicLink -Path "$s/$($script:C1Ids[0])" -Target '/etc' } }
            @{ Name = 'a lower''s fs dir is a symlink to /'; Id = 'LayerPathOutsideStore'; Containers = 'k8s.io/c3', 'moby/m1'; Images = @{ Ns = 'k8s.io'; Name = 'docker.io/library/busybox:latest'; Via = 'c3' }, @{ Ns = 'moby'; Name = 'docker.io/library/busybox:latest'; Via = 'm1' }; Tamper = { param($c, $s) Remove-Item -LiteralPath "$s/$($script:C1Ids[2])/fs" -Recurse -Force; $null = New-Item -ItemType SymbolicLink -Path "$s/$($script:C1Ids[2])/fs" -Target '/' } }
            @{ Name = 'a lower''s snapshot dir is gone'; Id = 'LayerContentMissing'; Containers = 'k8s.io/c3', 'moby/m1'; Images = @{ Ns = 'k8s.io'; Name = 'docker.io/library/busybox:latest'; Via = 'c3' }, @{ Ns = 'moby'; Name = 'docker.io/library/busybox:latest'; Via = 'm1' }; Tamper = { param($c, $s) & rm -rf -- "$s/$($script:C1Ids[1])" } }
            @{ Name = 'an image''s target blob is cut short'; Id = 'ContainerdBlobInvalid'; Containers = 'k8s.io/c1', 'k8s.io/c2', 'k8s.io/c3', 'moby/m1'; Images = @{ Ns = 'k8s.io'; Name = 'docker.io/library/busybox:latest'; Via = 'c3' }, @{ Ns = 'moby'; Name = 'docker.io/library/busybox:latest'; Via = 'm1' }; Tamper = { param($c, $s) $f = "$c/io.containerd.content.v1.content/blobs/sha256/$($script:AppTarget)"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 2))]) } }
            @{ Name = 'an image''s target blob is gone'; Id = 'ContainerdBlobMissing'; Says = "The image docker.io/library/app2:latest in namespace 'k8s.io' cannot be read: The content blob sha256:* is missing*"; Containers = 'k8s.io/c1', 'k8s.io/c2', 'k8s.io/c3', 'moby/m1'; Images = @{ Ns = 'k8s.io'; Name = 'docker.io/library/busybox:latest'; Via = 'c3' }, @{ Ns = 'moby'; Name = 'docker.io/library/busybox:latest'; Via = 'm1' }; Tamper = { param($c, $s) Remove-Item -LiteralPath "$c/io.containerd.content.v1.content/blobs/sha256/$($script:AppTarget)" -Force } }
            @{ Name = 'the snapshotter''s metadata.db is cut short'; Id = 'BoltDatabaseTruncated'; Index = $true; Tamper = { param($c, $s) $f = "$c/io.containerd.snapshotter.v1.overlayfs/metadata.db"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..(4096 * 4 - 1)]) } }
        ) {
            $data = $script:Ctd.DataRoot
            $copy = "$script:Root/tamper-" + [guid]::NewGuid().ToString('N').Substring(0, 8)
            & cp -a --one-file-system -- $data $copy
            try {
                $c1 = @(Get-OverlayLayer -DataRoot $copy -Container c1)
                # Snapshot ids of c1 (upper, then lowers top first), and the target blob of its image.
                $script:C1Ids = @($c1 | ForEach-Object { Split-Path -Leaf (Split-Path $_.Path) })
                $script:AppTarget = ($c1[1].ImageId -replace '^sha256:', '')
                $paths = @(Get-OverlayLayer -DataRoot $copy -Image *) + @(Get-OverlayLayer -DataRoot $copy -Container *) | ForEach-Object Path | Sort-Object -Unique
                & $Tamper $copy "$copy/io.containerd.snapshotter.v1.overlayfs/snapshots"
                $r = Invoke-TestStoreRead -DataRoot $copy -Path $paths
                $r.Ids | Should -Contain $Id
                if ($_.ContainsKey('Says')) {
                    # The error names the image and its namespace (one image may be in several).
                    $said = @($r.Errors | Where-Object FullyQualifiedErrorId -Like "$Id,*" | ForEach-Object { $_.Exception.Message })
                    @($said -like $Says).Count | Should -BeGreaterThan 0 -Because ($said -join ' | ')
                }
                Assert-TestPathsInside -Objects $r.Objects -Root $copy
                # Per item: what the tampering does not touch is still read, exactly as ctr described it.
                if (-not $_.ContainsKey('Index')) {
                    @($Containers).Count + @($Images).Count | Should -BeGreaterThan 0
                    Assert-ReadAsCtrSaid $r $copy -Containers $Containers -Images $Images
                }
            }
            finally {
                & rm -rf --one-file-system -- $copy
            }
        }
    }
}
