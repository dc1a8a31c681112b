#Requires -Version 7.4
# Get-OverlayLayer against a private dockerd (overlay2) and a private podman store: every image and
# container compared with the engine's own inspect, history, ps --size and export; again with the
# daemon stopped; the store unchanged by reading it; tampered copies of the stores.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    # Known before the run: skipped here (a failure under CI=true), never a test that returns early.
    $script:DockerReady = (Test-IsRoot) -and (Test-EngineAvailable Docker)
    $script:PodmanReady = (Test-IsRoot) -and (Test-EngineAvailable Podman)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestTree.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Root = New-TestRoot 'layer'

    # Dockerfile steps shared by both engines: several layers, an empty (ENV) layer, a deleted
    # file, a replaced directory, odd file names, a symlink and a hard link.
    $script:AppSteps = @(
        'RUN mkdir -p /data/dir /data/keep && echo one > /data/a.txt && echo x > /data/dir/f && echo gone > /data/del.txt && echo k > /data/keep/old'
        'ENV STAGE=two'
        'RUN rm /data/del.txt && rm -rf /data/dir && mkdir /data/dir && echo new > /data/dir/g'
        'RUN touch "/data/odd name:with,comma=eq" "/data/back\\slash" "/data/ünï" && ln -s /data/a.txt /data/link && ln /data/a.txt /data/hard'
    )
    $script:WebCommand = 'echo changed > /data/a.txt; rm /data/dir/g; rm -rf /data/keep; mkdir /data/keep; echo n > /data/keep/new; echo x > "/newfile odd:name"; rm /data/link'

    function script:Get-ExpectedPaths($GraphDriverData) {
        # Top first: UpperDir, then LowerDir's colon-joined list.
        @($GraphDriverData.UpperDir) + @(if ($GraphDriverData.LowerDir) { $GraphDriverData.LowerDir -split ':' })
    }

    function script:Get-MountEntryName([string] $Target) {
        # Every entry below a mount point, relative, as tar lists them.
        $prefix = $Target.TrimEnd('/') + '/'
        [IO.Directory]::EnumerateFileSystemEntries($Target, '*', [IO.SearchOption]::AllDirectories) | ForEach-Object { $_.Substring($prefix.Length) }
    }

    function script:Assert-ReadOnlyMountEqualsExport([string] $Container, [string] $DataRoot, [string] $ExportTar, [string] $Target) {
        $null = New-Item -ItemType Directory -Force -Path $Target
        try {
            Get-OverlayLayer -Container $Container -DataRoot $DataRoot | Mount-Overlay -Target $Target -ReadOnly -ErrorAction Stop
            $ours = @(Get-MountEntryName $Target | Sort-Object -CaseSensitive)
            $theirs = @(Get-TarEntryName $ExportTar | Sort-Object -CaseSensitive -Unique)
            $diff = Compare-Object $ours $theirs -CaseSensitive | ForEach-Object { "$($_.SideIndicator) $($_.InputObject)" }
            $diff | Should -BeNullOrEmpty -Because "the read-only mount of $Container must list what its export lists"
            $ours.Count | Should -BeGreaterThan 10
        }
        finally {
            Clear-TestMounts $Target
        }
    }
}

AfterAll {
    if ($script:Root) { Remove-TestRoot $script:Root }
}

Describe 'Get-OverlayLayer without an engine' {
    It 'reports a -DataRoot that holds no store' {
        $dir = Join-Path $Root 'not-a-store'
        $null = New-Item -ItemType Directory -Force -Path $dir
        $out = Get-OverlayLayer -DataRoot $dir -Image * -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'LayerStoreNotFound,OverlayTools.GetOverlayLayerCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'reports a store it may not read as a permission error, not as no store' {
        # Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH stands for any other user facing
        # /var/lib/docker (root's alone): the store is there, this process just may not look.
        $dir = Join-Path $Root 'unreadable-docker'
        $null = New-Item -ItemType Directory -Force -Path "$dir/image/overlay2/layerdb", "$dir/overlay2"
        & chown 65534 $dir; & chmod 0700 $dir
        try {
            $pwsh = Get-PwshExe
            $module = if ($env:OVERLAYTOOLS_MODULE) { $env:OVERLAYTOOLS_MODULE } else { Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1' }
            $script = "Import-Module '$module'; Get-OverlayLayer -DataRoot '$dir' -ErrorAction SilentlyContinue -ErrorVariable e; '{0}|{1}|{2}' -f `$e[0].FullyQualifiedErrorId, `$e[0].CategoryInfo.Category, `$e[0].TargetObject"
            $caps = '-dac_override,-dac_read_search'
            $out = & setpriv --bounding-set=$caps --inh-caps=$caps -- @pwsh -NoProfile -NonInteractive -Command $script
            $out | Select-Object -Last 1 | Should -Be "LayerStoreUnreadable,OverlayTools.GetOverlayLayerCommand|PermissionDenied|$dir"
        }
        finally { & chmod 0755 $dir }
    }

    It 'reports a -Path that is no layer of a store' {
        $dir = Join-Path $Root 'plain-dir'
        $null = New-Item -ItemType Directory -Force -Path $dir
        Get-OverlayLayer -Path $dir -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'LayerNotInStore,OverlayTools.GetOverlayLayerCommand'
    }

    It 'names a Docker data root that uses another storage driver' {
        $dir = Join-Path $Root 'vfs-docker'
        $null = New-Item -ItemType Directory -Force -Path "$dir/image/vfs/layerdb", "$dir/vfs"
        Get-OverlayLayer -DataRoot $dir -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'LayerStoreUnsupported,OverlayTools.GetOverlayLayerCommand'
        $err[0].Exception.Message | Should -Match "'vfs'"
    }

    It 'declares its output type and the parameters of the issue' {
        $cmd = Get-Command Get-OverlayLayer
        $cmd.OutputType.Type | Should -Be ([OverlayTools.OverlayLayer])
        foreach ($p in 'Image', 'Container', 'Path', 'Target', 'DataRoot') { $cmd.Parameters.Keys | Should -Contain $p }
        $cmd.Parameters.Target.Aliases | Should -Contain 'MergedDir'
        (Get-Command Mount-Overlay).Parameters.LayerPath.Aliases | Should -Contain 'Path'
    }

    It 'documents every parameter, set and section in docs/en-US (<_>)' -ForEach 'Get-OverlayLayer', 'Mount-Overlay' {
        $name = $_
        $md = Get-Content -LiteralPath (Join-Path $PSScriptRoot "../docs/en-US/$name.md") -Raw
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters | Where-Object { $_ -notin 'WhatIf', 'Confirm' }
        # DontShow parameters (pipeline plumbing) are left out of help, as Help.Tests checks.
        $parameters = (Get-Command $name).Parameters.Values | Where-Object { @($_.Attributes | Where-Object { $_ -is [Parameter] -and -not $_.DontShow }).Count -gt 0 }
        $expected = $parameters.Name | Where-Object { $_ -notin $common } | Sort-Object
        $documented = [regex]::Matches($md, '(?m)^### -(\w+)$') | ForEach-Object { $_.Groups[1].Value } | Sort-Object
        $documented | Should -Be $expected
        # A set of plumbing (one that a DontShow parameter is mandatory in) is hidden too.
        $shown = (Get-Command $name).ParameterSets | Where-Object { @($_.Parameters | Where-Object { $_.IsMandatory -and $_.Attributes.Where({ $_ -is [Parameter] -and $_.DontShow }) }).Count -eq 0 }
        foreach ($set in $shown.Name) { $md | Should -Match "(?m)^### $set( \(Default\))?$" }
        $sections = [regex]::Matches($md, '(?m)^## ([A-Z ]+)$') | ForEach-Object { $_.Groups[1].Value }
        $sections | Should -Be @('SYNOPSIS', 'SYNTAX', 'ALIASES', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS')
        ([regex]::Matches($md, '(?m)^### Example \d+:')).Count | Should -BeGreaterOrEqual 2
    }

    It 'formats sizes the way docker does' {
        [OverlayTools.OverlayLayer]::FormatSize(3) | Should -Be '3B'
        [OverlayTools.OverlayLayer]::FormatSize(3216) | Should -Be '3.22kB'
        [OverlayTools.OverlayLayer]::FormatSize(1982256) | Should -Be '1.98MB'
        [OverlayTools.OverlayLayer]::FormatSize(142848) | Should -Be '143kB'
    }
}

Describe 'Get-OverlayLayer with a private dockerd (overlay2)' -Tag 'RequiresRoot', 'RequiresDocker' -Skip:(-not $DockerReady) {
    BeforeAll {
        $script:D = Start-TestDocker -Root (Join-Path $Root 'docker')
        $script:DataRoot = $D.DataRoot
        $ctx = New-BusyboxContext -Path (Join-Path $Root 'ctx-app') -Steps $AppSteps
        Invoke-TestDocker $D build -q -t app:1 $ctx | Out-Null
        Invoke-TestDocker $D tag app:1 app:latest | Out-Null
        $ctx2 = New-BusyboxContext -Path (Join-Path $Root 'ctx-app2') -From 'app:1' -Steps @('RUN echo two > /data/two.txt')
        Invoke-TestDocker $D build -q -t app:2 $ctx2 | Out-Null
        $ctx3 = New-BusyboxContext -Path (Join-Path $Root 'ctx-other') -From 'scratch' -Files @{ 'hello.txt' = 'hello' } -Steps @('COPY hello.txt /hello.txt')
        Invoke-TestDocker $D build -q -t other:1 $ctx3 | Out-Null
        Invoke-TestDocker $D create --name web app:1 sh -c $WebCommand | Out-Null
        Invoke-TestDocker $D start -a web | Out-Null
        Invoke-TestDocker $D create --name app-1 app:2 true | Out-Null

        # What the engine says, recorded while it runs.
        $script:ImageIds = @(Invoke-TestDocker $D images -a -q --no-trunc | Sort-Object -Unique)
        $script:ContainerIds = @(Invoke-TestDocker $D ps -a -q --no-trunc)
        $script:ImageInspect = @{}
        $script:History = @{}
        foreach ($id in $ImageIds) {
            $ImageInspect[$id] = (Invoke-TestDocker $D image inspect $id) -join "`n" | ConvertFrom-Json
            $History[$id] = @(Invoke-TestDocker $D history --no-trunc --human=false --format '{{json .}}' $id | ConvertFrom-Json)
        }
        $script:ContainerInspect = @{}
        $script:Exports = @{}
        foreach ($id in $ContainerIds) {
            $ContainerInspect[$id] = (Invoke-TestDocker $D inspect --size $id) -join "`n" | ConvertFrom-Json
            $tar = Join-Path $Root "docker-export-$($id.Substring(0, 12)).tar"
            Invoke-TestDocker $D export -o $tar $id | Out-Null
            $Exports[$id] = $tar
        }

        function script:Assert-DockerStoreMatchesEngine {
            foreach ($id in $ImageIds) {
                $inspect = $ImageInspect[$id]
                $layers = @(Get-OverlayLayer -DataRoot $DataRoot -Image $id -ErrorAction Stop)
                $layers.Path | Should -Be (Get-ExpectedPaths $inspect.GraphDriver.Data) -Because "the paths of image $id"
                $layers.DiffId | Should -Be @($inspect.RootFS.Layers[($inspect.RootFS.Layers.Count - 1)..0]) -Because "the diff ids of image $id"
                ($layers.Size | Measure-Object -Sum).Sum | Should -Be $inspect.Size -Because "the size of image $id"
                $layers.Position | Should -Be @(0..($layers.Count - 1))
                $layers.Role | Sort-Object -Unique | Should -Be 'Lower'
                $layers.ImageId | Sort-Object -Unique | Should -Be $inspect.Id
                $layers.Backend | Sort-Object -Unique | Should -Be 'overlay2'
                foreach ($l in $layers) {
                    $h = @($History[$id] | Where-Object CreatedBy -EQ $l.CreatedBy)
                    $h.Count | Should -BeGreaterThan 0 -Because "layer $($l.Position) of $id has a history entry ($($l.CreatedBy))"
                    [long] $h[0].Size | Should -Be $l.Size -Because "the history size of layer $($l.Position) of $id"
                }
            }
            foreach ($id in $ContainerIds) {
                $inspect = $ContainerInspect[$id]
                $layers = @(Get-OverlayLayer -DataRoot $DataRoot -Container $id -ErrorAction Stop)
                $gd = $inspect.GraphDriver.Data
                $layers.Path | Should -Be (Get-ExpectedPaths $gd) -Because "the paths of container $id"
                $layers[0].Role | Should -Be 'Upper'
                $layers[1].Role | Should -Be 'Init'
                $layers[0].Work | Should -Be $gd.WorkDir
                $layers[0].Merged | Should -Be $gd.MergedDir
                $layers[0].Size | Should -Be ([long] $inspect.SizeRw) -Because "docker inspect --size reports the upper's size"
                $layers[0].Container | Should -Be $inspect.Name.TrimStart('/')
                $layers[0].ContainerId | Should -Be $id
                $image = $ImageInspect[$inspect.Image]
                $image | Should -Not -BeNullOrEmpty
                @($layers | Where-Object Role -EQ 'Lower').DiffId | Should -Be @($image.RootFS.Layers[($image.RootFS.Layers.Count - 1)..0])
            }
        }
    }

    AfterAll {
        if ($script:D) {
            Clear-TestMounts $Root
            Stop-TestDocker $script:D
        }
        # Store copies hold absolute symlinks (etc/mtab, a planted l/ link to /etc): rm never follows them.
        Get-ChildItem -LiteralPath $Root -Directory -Filter 'tamper-*' | ForEach-Object { & rm -rf --one-file-system -- $_.FullName }
    }

    Context 'with the daemon running' {
        It 'gives, for every image and container, the paths of docker inspect in order, its diff ids, sizes and history' {
            $ImageIds.Count | Should -BeGreaterThan 6
            $ContainerIds.Count | Should -Be 2
            Assert-DockerStoreMatchesEngine
        }

        It 'mounts each container read-only as docker export shows it' {
            foreach ($id in $ContainerIds) {
                Assert-ReadOnlyMountEqualsExport $id $DataRoot $Exports[$id] (Join-Path $Root "mnt-d-$($id.Substring(0, 12))")
            }
        }

        It 'finds images by repo:tag, by name alone (latest), by full and short id, and by wildcard' {
            $id = (Invoke-TestDocker $D image inspect app:1 --format '{{.Id}}')
            $byTag = @(Get-OverlayLayer -DataRoot $DataRoot -Image app:1)
            $byTag[0].Image | Should -Be 'app:1'
            $byTag[0].ImageId | Should -Be $id
            (Get-OverlayLayer -DataRoot $DataRoot -Image app)[0].Image | Should -Be 'app:latest'
            (Get-OverlayLayer -DataRoot $DataRoot -Image $id).Path | Should -Be $byTag.Path
            (Get-OverlayLayer -DataRoot $DataRoot -Image $id.Substring(7, 12)).Path | Should -Be $byTag.Path
            (Get-OverlayLayer -DataRoot $DataRoot -Image docker.io/library/app:1).Path | Should -Be $byTag.Path
            $all = Get-OverlayLayer -DataRoot $DataRoot -Image 'app:*'
            @($all.ImageId | Sort-Object -Unique).Count | Should -Be 2
            # Shown by the name the query matched: app:1 and app:latest are one image.
            (Get-OverlayLayer -DataRoot $DataRoot -Image docker.io/library/app:latest)[0].Image | Should -Be 'app:latest'
            @(Get-OverlayLayer -DataRoot $DataRoot -Image 'app:l*').Image | Sort-Object -Unique | Should -Be 'app:latest'
            @(Get-OverlayLayer -DataRoot $DataRoot -Image '*/library/app:l*').Image | Sort-Object -Unique | Should -Be 'app:latest'
            # Every image docker images shows (no intermediate ones).
            $shown = @(Invoke-TestDocker $D images -q --no-trunc | Sort-Object -Unique)
            @(Get-OverlayLayer -DataRoot $DataRoot).ImageId | Sort-Object -Unique | Should -Be $shown
        }

        It 'finds containers by name, id prefix and wildcard' {
            $webId = $ContainerInspect.Values | Where-Object Name -EQ '/web' | ForEach-Object Id
            (Get-OverlayLayer -DataRoot $DataRoot -Container web)[0].ContainerId | Should -Be $webId
            (Get-OverlayLayer -DataRoot $DataRoot -Container $webId.Substring(0, 10))[0].Container | Should -Be 'web'
            @(Get-OverlayLayer -DataRoot $DataRoot -Container 'app-*' | Select-Object -ExpandProperty Container -Unique) | Should -Be @('app-1')
            @(Get-OverlayLayer -DataRoot $DataRoot -Container * | Where-Object Role -EQ Upper).Count | Should -Be 2
        }

        It 'still lists a container whose upper holds a directory it may not read, with no size' {
            # As in a rootless store: files of a sub-uid the reading user cannot enter. Root
            # without its DAC capabilities stands for that user.
            $upper = (Get-OverlayLayer -DataRoot $DataRoot -Container web | Where-Object Role -EQ Upper).Path
            $locked = Join-Path $upper 'locked-by-subuid'
            $null = New-Item -ItemType Directory -Path $locked
            Set-Content -LiteralPath "$locked/secret" -Value 's'
            & chown -R 65534 $locked; & chmod 0700 $locked
            try {
                $pwsh = Get-PwshExe
                $module = (Get-Module OverlayTools).Path -replace '\.dll$', '.psd1'
                $script = "Import-Module '$module'; `$l = @(Get-OverlayLayer -DataRoot '$DataRoot' -Container web -ErrorVariable e -ErrorAction SilentlyContinue); '{0}|{1}|{2}' -f `$l.Count, `$e.Count, (`$null -eq (`$l | Where-Object Role -EQ Upper).Size)"
                $caps = '-dac_override,-dac_read_search'
                $out = & setpriv --bounding-set=$caps --inh-caps=$caps -- @pwsh -NoProfile -NonInteractive -Command $script
                $expected = @(Get-OverlayLayer -DataRoot $DataRoot -Container web).Count
                $out | Select-Object -Last 1 | Should -Be "$expected|0|True"
            }
            finally { & rm -rf -- $locked }
        }

        It 'reports names that match nothing, and keeps going with the others' {
            $out = Get-OverlayLayer -DataRoot $DataRoot -Image nosuch:1, other:1 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'ImageNotFound,OverlayTools.GetOverlayLayerCommand'
            $err[0].TargetObject | Should -Be 'nosuch:1'
            @($err).Count | Should -Be 1
            @($out).Count | Should -Be 1
            $out.Image | Should -Be 'other:1'
            Get-OverlayLayer -DataRoot $DataRoot -Container nosuch -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err2[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayLayerCommand'
            Get-OverlayLayer -DataRoot $DataRoot -Image 'nosuch*' -ErrorVariable err3 | Should -BeNullOrEmpty
            $err3 | Should -BeNullOrEmpty
        }

        It 'reports an id prefix that matches several images' {
            # Image ids are random: build tiny extra images until two ids share a first digit
            # (16 digits, so at most 17 ids are needed), rather than skip when none do.
            $extra = @()
            try {
                for ($i = 0; $i -lt 17; $i++) {
                    $ids = @(Invoke-TestDocker $D images -a -q --no-trunc | Sort-Object -Unique)
                    $prefix = $ids | ForEach-Object { $_.Substring(7, 1) } | Group-Object | Where-Object Count -GT 1 | Select-Object -First 1 -ExpandProperty Name
                    if ($prefix) { break }
                    $ctx = New-BusyboxContext -Path (Join-Path $Root "ctx-amb-$i") -From 'scratch' -Files @{ 'n.txt' = "$i" } -Steps @('COPY n.txt /n.txt')
                    Invoke-TestDocker $D build -q -t "amb:$i" $ctx | Out-Null
                    $extra += "amb:$i"
                }
                $prefix | Should -Not -BeNullOrEmpty
                Get-OverlayLayer -DataRoot $DataRoot -Image $prefix -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
                $err[0].FullyQualifiedErrorId | Should -Be 'ImageAmbiguous,OverlayTools.GetOverlayLayerCommand'
                @($err).Count | Should -Be 1 -Because 'an ambiguous prefix is not also reported as not found'
            }
            finally {
                foreach ($tag in $extra) { Invoke-TestDocker $D rmi $tag | Out-Null }
            }
        }

        It 'describes one layer by its diff dir, its layer dir or its l/ link' {
            $top = (Get-OverlayLayer -DataRoot $DataRoot -Image app:2)[0]
            $byDiff = Get-OverlayLayer -Path $top.Path
            $byDiff.ChainId | Should -Be $top.ChainId
            $byDiff.Image | Should -Be 'app:2'
            $byDiff.CreatedBy | Should -Be $top.CreatedBy
            (Get-OverlayLayer -Path (Split-Path $top.Path)).ChainId | Should -Be $top.ChainId
            $link = Get-Content -LiteralPath ((Split-Path $top.Path) + '/link') -Raw
            (Get-OverlayLayer -Path "$DataRoot/overlay2/l/$link").Path | Should -Be $top.Path
            $upper = (Get-OverlayLayer -DataRoot $DataRoot -Container web)[0]
            $u = Get-OverlayLayer -Path $upper.Path
            $u.Role | Should -Be 'Upper'
            $u.Container | Should -Be 'web'
            $u.Work | Should -Be $upper.Work
        }

        It 'matches the layers of a running container''s live mount back to the container and its image' {
            Invoke-TestDocker $D run -d --name live app:2 sleep 600 | Out-Null
            try {
                $gd = (Invoke-TestDocker $D inspect live) -join "`n" | ConvertFrom-Json | ForEach-Object { $_.GraphDriver.Data }
                $mount = Get-OverlayMount -Target $gd.MergedDir
                $mount | Should -Not -BeNullOrEmpty
                # Get-OverlayMount names the container behind the mount.
                $mount.Backend | Should -Be 'overlay2'
                $mount.Container | Should -Be 'live'
                $mount.ContainerId | Should -Match '^[0-9a-f]{64}$'
                $mount.Image | Should -Be 'app:2'
                $layers = @(Get-OverlayLayer -Target $gd.MergedDir)
                $layers.Path | Should -Be (Get-ExpectedPaths $gd)
                $layers[0].Role | Should -Be 'Upper'
                $layers[0].Work | Should -Be $gd.WorkDir
                $layers[0].Merged | Should -Be $gd.MergedDir
                $layers[1].Role | Should -Be 'Init'
                $layers.Container | Sort-Object -Unique | Should -Be 'live'
                @($layers | Where-Object Role -EQ Lower).Image | Sort-Object -Unique | Should -Be 'app:2'
                # OverlayMount objects pipe in by their Target.
                ($mount | Get-OverlayLayer).Path | Should -Be $layers.Path
                # A directory piped in is the overlay mounted there, or else the layer it is.
                (Get-Item -LiteralPath $gd.MergedDir | Get-OverlayLayer).Path | Should -Be $layers.Path
                $upper = @(Get-Item -LiteralPath $gd.UpperDir | Get-OverlayLayer)
                $upper.Role | Should -Be 'Upper'
                $upper.Container | Should -Be 'live'
                # Deserialized ones (Import-Clixml, remoting) too, by their FullName.
                $xml = Join-Path $Root 'live-dirs.xml'
                Get-Item -LiteralPath $gd.MergedDir, $gd.UpperDir | Export-Clixml -LiteralPath $xml
                $fromXml = @(Import-Clixml -LiteralPath $xml | Get-OverlayLayer -ErrorVariable err)
                $err.Count | Should -Be 0
                $fromXml.Path | Should -Be (@($layers.Path) + $upper.Path)
                # Resolve-OverlayPath output pipes in as the layer that supplies the file.
                $busybox = @(Resolve-OverlayPath "$($gd.MergedDir)/bin/busybox" | Get-OverlayLayer -ErrorVariable err)
                $err.Count | Should -Be 0
                $busybox.Count | Should -Be 1
                $busybox[0].Role | Should -Be 'Lower'
                (Get-OverlayLayer -DataRoot $DataRoot -Image app:2).DiffId | Should -Contain $busybox[0].DiffId
                $layers.Path | Should -Contain $busybox[0].Path
                # Deserialized (Import-Clixml, remoting), the same layer.
                Resolve-OverlayPath "$($gd.MergedDir)/bin/busybox" | Export-Clixml -LiteralPath $xml
                $fromXml = @(Import-Clixml -LiteralPath $xml | Get-OverlayLayer -ErrorVariable err)
                $err.Count | Should -Be 0
                $fromXml.Path | Should -Be $busybox[0].Path
                $fromXml.DiffId | Should -Be $busybox[0].DiffId
                Set-Content -LiteralPath "$($gd.MergedDir)/from-host" -Value 'x'
                $written = @(Resolve-OverlayPath "$($gd.MergedDir)/from-host" | Get-OverlayLayer)
                $written.Role | Should -Be 'Upper'
                $written.Path | Should -Be $gd.UpperDir
            }
            finally {
                Invoke-TestDocker $D rm -f live | Out-Null
            }
        }

        It 'refuses to mount a container''s layers read-write without a fresh upper' {
            $target = Join-Path $Root 'mnt-rw-refused'
            $null = New-Item -ItemType Directory -Force -Path $target
            Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerStreamNeedsUpper,OverlayTools.MountOverlayCommand'
            Test-MountedAt $target | Should -BeFalse
            $upper = (Get-OverlayLayer -DataRoot $DataRoot -Container web)[0]
            Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -Upper $upper.Path -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerStreamUpperNotFresh,OverlayTools.MountOverlayCommand'
            Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -Upper (Join-Path $Root 'fresh-up') -Work $upper.Work -ErrorVariable err3 -ErrorAction SilentlyContinue
            $err3[0].FullyQualifiedErrorId | Should -Be 'LayerStreamUpperNotFresh,OverlayTools.MountOverlayCommand'
            Test-MountedAt $target | Should -BeFalse
        }

        It 'mounts a container read-write over a fresh upper, leaving the container''s own upper untouched' {
            $target = Join-Path $Root 'mnt-rw'
            $fresh = Join-Path $Root 'rw-upper'
            $null = New-Item -ItemType Directory -Force -Path $target, $fresh
            $upper = (Get-OverlayLayer -DataRoot $DataRoot -Container web)[0]
            $before = Get-TreeFingerprint (Split-Path $upper.Path)
            try {
                $m = Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -Upper $fresh -PassThru
                $m.Upper | Should -Be $fresh
                $m.Lower[0] | Should -Be $upper.Path
                Get-Content -LiteralPath "$target/data/a.txt" | Should -Be 'changed'
                Set-Content -LiteralPath "$target/data/a.txt" -Value 'third'
                Get-Content -LiteralPath "$fresh/data/a.txt" | Should -Be 'third'
            }
            finally {
                Clear-TestMounts $target
            }
            Get-TreeFingerprint (Split-Path $upper.Path) | Should -Be $before
        }

        It 'names no container for a read-only view of its layers, but the container for its own root' {
            $target = Join-Path $Root 'mnt-view'
            $null = New-Item -ItemType Directory -Force -Path $target
            try {
                $view = Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -ReadOnly -PassThru
                $view.Backend | Should -Be 'overlay2'
                $view.Container | Should -BeNullOrEmpty
                (Get-OverlayMount -Target $target).Container | Should -BeNullOrEmpty
            }
            finally {
                Clear-TestMounts $target
            }
        }

        It 'pipes layers into Mount-Overlay after Export-Clixml and Import-Clixml' {
            $xml = Join-Path $Root 'layers.clixml'
            Get-OverlayLayer -DataRoot $DataRoot -Image app:2 | Export-Clixml -LiteralPath $xml
            $target = Join-Path $Root 'mnt-clixml'
            $null = New-Item -ItemType Directory -Force -Path $target
            try {
                $m = Import-Clixml -LiteralPath $xml | Mount-Overlay -Target $target -ReadOnly -PassThru
                $m.Lower.Count | Should -Be 6
                Get-Content -LiteralPath "$target/data/two.txt" | Should -Be 'two'
                Test-Path -LiteralPath "$target/data/del.txt" | Should -BeFalse
                Test-Path -LiteralPath "$target/data/dir/f" | Should -BeFalse
                Get-Content -LiteralPath "$target/data/dir/g" | Should -Be 'new'
            }
            finally {
                Clear-TestMounts $target
            }
        }

        It 'completes image and container names from the store named by -DataRoot' {
            $line = "Get-OverlayLayer -DataRoot '$DataRoot' -Image ap"
            $r = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            $r | Should -Contain 'app:1'
            $r | Should -Contain 'app:2'
            $r | Should -Not -Contain 'other:1'
            $line = "Get-OverlayLayer -DataRoot '$DataRoot' -Container w"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('web')
            $line = "Get-OverlayLayer -DataRoot '$Root/nowhere' -Image ap"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Should -BeNullOrEmpty
            # -Namespace selects containerd items only, in completion as in the command.
            $line = "Get-OverlayLayer -DataRoot '$DataRoot' -Namespace * -Image ap"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Should -BeNullOrEmpty
            Get-OverlayLayer -DataRoot $DataRoot -Namespace * -Image * | Should -BeNullOrEmpty
        }

        It 'completes names from a -DataRoot given relative to the location' {
            Push-Location -LiteralPath (Split-Path -Parent $DataRoot)
            try {
                $line = "Get-OverlayLayer -DataRoot ./$(Split-Path -Leaf $DataRoot) -Container w"
                (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('web')
            }
            finally { Pop-Location }
        }
    }

    Context 'with the daemon stopped' {
        BeforeAll {
            Stop-TestDocker $script:D -KeepData
        }

        It 'gives the same paths, diff ids and sizes as the engine did' {
            $D.Process.HasExited | Should -BeTrue
            Assert-DockerStoreMatchesEngine
        }

        It 'still mounts each container read-only as docker export showed it' {
            foreach ($id in $ContainerIds) {
                Assert-ReadOnlyMountEqualsExport $id $DataRoot $Exports[$id] (Join-Path $Root "mnt-ds-$($id.Substring(0, 12))")
            }
        }

        It 'changes nothing in the store, not even access times, through a read-only mount of a container and back' {
            # Access times aged first; the kernel reads the layers of an overlay with O_NOATIME too.
            $target = Join-Path $Root 'mnt-fingerprint'
            $null = New-Item -ItemType Directory -Force -Path $target
            Assert-TestTreeUnchanged $DataRoot {
                $layers = @(Get-OverlayLayer -DataRoot $DataRoot -Image * ) + @(Get-OverlayLayer -DataRoot $DataRoot -Container *)
                $layers.Count | Should -BeGreaterThan 20
                $layers | Select-Object -ExpandProperty Path -Unique | ForEach-Object { $null = Get-OverlayLayer -Path $_ }
                try {
                    Get-OverlayLayer -DataRoot $DataRoot -Container web | Mount-Overlay -Target $target -ReadOnly
                    $null = Get-OverlayLayer -Target $target
                    @(Get-MountEntryName $target).Count | Should -BeGreaterThan 10
                    Get-Content -LiteralPath "$target/data/a.txt" | Should -Be 'changed'
                }
                finally {
                    Clear-TestMounts $target
                }
            }
        }

        It 'changes nothing when inspected with every tool: contents, modes and times, access times aged first' {
            # The user's own step, not inspection: a read-only overlay of the container, for Resolve-OverlayPath.
            $target = Join-Path $Root 'mnt-strict'
            $null = New-Item -ItemType Directory -Force -Path $target
            $web = @(Get-OverlayLayer -DataRoot $DataRoot -Container web)
            $web | Mount-Overlay -Target $target -ReadOnly
            try {
                $names = @(Get-MountEntryName $target)
                $names.Count | Should -BeGreaterThan 10
                Assert-TestTreeUnchanged $DataRoot {
                    $null = Get-OverlayLayer -DataRoot $DataRoot -Image *
                    $all = @(Get-OverlayLayer -DataRoot $DataRoot -Container *)
                    $all | Select-Object -ExpandProperty Path -Unique | ForEach-Object { $null = Get-OverlayLayer -Path $_ }
                    $null = Get-OverlayLayer -Target $target
                    $null = Get-OverlayMount -Target $target
                    foreach ($id in $ContainerIds) {
                        $l = @(Get-OverlayLayer -DataRoot $DataRoot -Container $id)
                        $changes = @(Get-OverlayChange -Upper $l[0].Path -Lower @($l | Select-Object -Skip 1 -ExpandProperty Path))
                        if ($l[0].Container -eq 'web') { $changes.Count | Should -BeGreaterThan 0 }
                        $null = Get-OverlayChange -Upper $l[0].Path -Lower @($l | Select-Object -Skip 1 -ExpandProperty Path) -Style Podman
                    }
                    $resolved = @($names | ForEach-Object { [pscustomobject]@{ LiteralPath = "$target/$_" } } | Resolve-OverlayPath -All)
                    $resolved.Count | Should -BeGreaterOrEqual $names.Count
                }
            }
            finally {
                Clear-TestMounts $target
            }
        }
    }

    Context 'with a tampered or half-deleted copy of the store' {
        BeforeAll {
            if (-not $script:D.Process.HasExited) { Stop-TestDocker $script:D -KeepData }
            function script:New-StoreCopy([string] $Name) {
                $copy = Join-Path $Root $Name
                & cp -a --one-file-system -- $DataRoot $copy
                if ($LASTEXITCODE -ne 0) { throw "cp failed: $LASTEXITCODE" }
                return $copy
            }
            function script:Get-LayerDbDir([string] $Store, [string] $ChainId) { "$Store/image/overlay2/layerdb/sha256/$($ChainId.Substring(7))" }
            $script:App2Top = (Get-OverlayLayer -DataRoot $DataRoot -Image app:2)[0]
            $script:App1Top = (Get-OverlayLayer -DataRoot $DataRoot -Image app:1)[0]
            $script:Other = (Get-OverlayLayer -DataRoot $DataRoot -Image other:1)[0]
            $script:WebId = ($ContainerInspect.Values | Where-Object Name -EQ '/web').Id

            function script:Assert-ReadAsDockerSaid($Read, [string] $Copy, [string[]] $Images = @(), [string[]] $Containers = @()) {
                # The items the tampering does not touch, read from the copy exactly as docker inspect
                # described them before: the same layer dirs (in the copy) in order, the same diff ids.
                foreach ($tag in $Images) {
                    $id = @($ImageInspect.Keys | Where-Object { $ImageInspect[$_].RepoTags -contains $tag })
                    $id | Should -HaveCount 1
                    $inspect = $ImageInspect[$id[0]]
                    $layers = @($Read.Images | Where-Object ImageId -EQ $inspect.Id)
                    $layers.Path | Should -Be @(Get-ExpectedPaths $inspect.GraphDriver.Data | ForEach-Object { $_.Replace($DataRoot, $Copy) }) -Because "image $tag is untouched by the tampering"
                    $layers.DiffId | Should -Be @($inspect.RootFS.Layers[($inspect.RootFS.Layers.Count - 1)..0]) -Because "image $tag is untouched by the tampering"
                }
                foreach ($name in $Containers) {
                    $inspect = @($ContainerInspect.Values | Where-Object Name -EQ "/$name")
                    $inspect | Should -HaveCount 1
                    $layers = @($Read.Containers | Where-Object ContainerId -EQ $inspect[0].Id)
                    $layers.Path | Should -Be @(Get-ExpectedPaths $inspect[0].GraphDriver.Data | ForEach-Object { $_.Replace($DataRoot, $Copy) }) -Because "container $name is untouched by the tampering"
                    $layers[0].Work | Should -Be $inspect[0].GraphDriver.Data.WorkDir.Replace($DataRoot, $Copy)
                }
            }
        }

        It 'reports a layer Docker is removing (a -removing dir) and still lists the other images' {
            $copy = New-StoreCopy 'tamper-removing'
            $dir = Get-LayerDbDir $copy $App2Top.ChainId
            Rename-Item -LiteralPath $dir -NewName ((Split-Path $dir -Leaf) + '-4242-removing')
            $out = Get-OverlayLayer -DataRoot $copy -Image app:2, app:1, other:1 -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerBeingRemoved,OverlayTools.GetOverlayLayerCommand'
            $out.Image | Sort-Object -Unique | Should -Be @('app:1', 'other:1')
            Get-OverlayLayer -DataRoot $copy -Container * -ErrorVariable err2 -ErrorAction SilentlyContinue | Select-Object -ExpandProperty Container -Unique | Should -Be 'web'
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerBeingRemoved,OverlayTools.GetOverlayLayerCommand'
        }

        It 'leaves out a container docker rm is removing when a wildcard lists it, and says so for its name' {
            # What docker rm leaves on disk between its steps: the container marked Dead in its
            # config.v2.json, its layer released (layerdb/mounts/<id> gone), containers/<id> not yet.
            $copy = New-StoreCopy 'tamper-rm'
            $config = "$copy/containers/$WebId/config.v2.json"
            $json = Get-Content -LiteralPath $config -Raw | ConvertFrom-Json
            $json.State.Dead = $true
            $json.State.RemovalInProgress = $true
            [IO.File]::WriteAllText($config, ($json | ConvertTo-Json -Depth 20 -Compress))
            Remove-Item -LiteralPath "$copy/image/overlay2/layerdb/mounts/$WebId" -Recurse -Force
            $out = Get-OverlayLayer -DataRoot $copy -Container * -ErrorVariable err -ErrorAction SilentlyContinue
            $err | Should -BeNullOrEmpty
            $out.Container | Sort-Object -Unique | Should -Be 'app-1'
            # app-1 never ran, so it changes nothing; web is left out rather than an error.
            $changes = Get-OverlayChange -DataRoot $copy -Container * -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2 | Should -BeNullOrEmpty
            $changes | Should -BeNullOrEmpty
            @(Get-OverlayChange -DataRoot $DataRoot -Container web).Count | Should -BeGreaterThan 0 -Because 'web itself has changes'
            Get-OverlayLayer -DataRoot $copy -Container web -ErrorVariable err3 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err3[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayLayerCommand'
            $err3[0].Exception.Message | Should -Match '^The container web was removed, or is being removed'
            # The same missing layer without docker rm's mark is damage, reported as before.
            $copy2 = New-StoreCopy 'tamper-rm-unmarked'
            Remove-Item -LiteralPath "$copy2/image/overlay2/layerdb/mounts/$WebId" -Recurse -Force
            Get-OverlayLayer -DataRoot $copy2 -Container * -ErrorVariable err4 -ErrorAction SilentlyContinue | Out-Null
            $err4.FullyQualifiedErrorId | Should -Be 'LayerMissing,OverlayTools.GetOverlayLayerCommand'
        }

        It 'refuses a cache-id that leads out of the store' {
            $copy = New-StoreCopy 'tamper-cacheid'
            [IO.File]::WriteAllText("$(Get-LayerDbDir $copy $Other.ChainId)/cache-id", '../../../../../../../etc')
            $out = Get-OverlayLayer -DataRoot $copy -Image other:1, app:2 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerPathOutsideStore,OverlayTools.GetOverlayLayerCommand'
            $err[0].CategoryInfo.Category | Should -Be 'SecurityError'
            $out.Image | Sort-Object -Unique | Should -Be 'app:2'
            $out.Path | Where-Object { -not $_.StartsWith("$copy/overlay2/") } | Should -BeNullOrEmpty
        }

        It 'refuses an l/ link or a layer dir turned into a symlink out of the store' {
            $copy = New-StoreCopy 'tamper-link'
            $link = Get-Content -LiteralPath "$copy/overlay2/$($App2Top.CacheId)/link" -Raw
            Remove-Item -LiteralPath "$copy/overlay2/l/$link"
            $null = New-Item -ItemType SymbolicLink -Path "$copy/overlay2/l/$link" -Target '/etc'
            $out = Get-OverlayLayer -DataRoot $copy -Image app:2, other:1 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerPathOutsideStore,OverlayTools.GetOverlayLayerCommand'
            $out.Image | Sort-Object -Unique | Should -Be 'other:1'
            # A layer dir replaced by a symlink to a directory outside the store.
            $copy2 = New-StoreCopy 'tamper-dirlink'
            Rename-Item -LiteralPath "$copy2/overlay2/$($Other.CacheId)" -NewName 'moved'
            $null = New-Item -ItemType SymbolicLink -Path "$copy2/overlay2/$($Other.CacheId)" -Target "$copy2/overlay2/moved"
            Get-OverlayLayer -DataRoot $copy2 -Image other:1 -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerPathOutsideStore,OverlayTools.GetOverlayLayerCommand'
        }

        It 'reports a missing diff dir and an edited image config' {
            $copy = New-StoreCopy 'tamper-missing'
            Rename-Item -LiteralPath "$copy/overlay2/$($Other.CacheId)/diff" -NewName 'diff-gone'
            $configId = $ImageInspect.Keys | Where-Object { $ImageInspect[$_].RepoTags -contains 'app:2' }
            $config = "$copy/image/overlay2/imagedb/content/sha256/$($configId.Substring(7))"
            [IO.File]::WriteAllText($config, [IO.File]::ReadAllText($config).Replace('"architecture"', '"architecture" '))
            $out = Get-OverlayLayer -DataRoot $copy -Image other:1, app:2, app:1 -ErrorVariable err -ErrorAction SilentlyContinue
            @($err.FullyQualifiedErrorId) | Should -Be @('LayerContentMissing,OverlayTools.GetOverlayLayerCommand', 'ImageConfigInvalid,OverlayTools.GetOverlayLayerCommand')
            $out.Image | Sort-Object -Unique | Should -Be 'app:1'
            # Listed by a wildcard, each error names the image it is an error of.
            $null = Get-OverlayLayer -DataRoot $copy -Image * -ErrorVariable err2 -ErrorAction SilentlyContinue
            $missing = @($err2 | Where-Object FullyQualifiedErrorId -Like 'LayerContentMissing,*')
            $missing | Should -HaveCount 1
            $missing[0].Exception.Message | Should -Match '^The image other:1 cannot be read: '
            $missing[0].TargetObject | Should -Be "$copy/overlay2/$($Other.CacheId)/diff"
        }

        It 'reports a lower file that does not match the layer''s parents' {
            $copy = New-StoreCopy 'tamper-lower'
            $lowerFile = "$copy/overlay2/$($App1Top.CacheId)/lower"
            $entries = (Get-Content -LiteralPath $lowerFile -Raw) -split ':'
            [IO.File]::WriteAllText($lowerFile, ($entries[1..($entries.Count - 1)] + $entries[0]) -join ':')
            Get-OverlayLayer -DataRoot $copy -Image app:1 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be 'LayerChainMismatch,OverlayTools.GetOverlayLayerCommand'
            (Get-OverlayLayer -DataRoot $copy -Image other:1).Image | Should -Be 'other:1'
        }

        It 'says, when a container named is not found, which containers could not be read' {
            $copy = New-StoreCopy ('unread-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
            try {
                $f = "$copy/containers/$WebId/config.v2.json"
                $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 3))])
                Get-OverlayLayer -DataRoot $copy -Container web -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
                $err[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayLayerCommand'
                $err[0].Exception.Message | Should -BeLike "*1 container there could not be read ($($WebId.Substring(0, 12))); it may be that one*"
                # A name the store never had says so too, and nothing more where all could be read.
                Get-OverlayLayer -DataRoot $DataRoot -Container nope -ErrorVariable err2 -ErrorAction SilentlyContinue
                $err2[0].Exception.Message | Should -Not -BeLike '*could not be read*'
            }
            finally {
                & rm -rf --one-file-system -- $copy
            }
        }

        It 'gives per-item errors and no path outside the store when <Name>' -ForEach @(
            @{ Name = 'a cache-id is an absolute path'; Id = 'LayerPathOutsideStore'; Images = 'app:1', 'app:2'; Containers = 'web', 'app-1'; Tamper = { param($c) [IO.File]::WriteAllText("$(Get-LayerDbDir $c $Other.ChainId)/cache-id", '/etc') } }
            @{ Name = 'a link file names a path'; Id = 'LayerPathOutsideStore'; Images = 'other:1'; Tamper = { param($c) [IO.File]::WriteAllText("$c/overlay2/$($App1Top.CacheId)/link", '../../../../etc') } }
            @{ Name = 'a lower file climbs out'; Id = 'LayerPathOutsideStore'; Images = 'other:1'; Tamper = { param($c) [IO.File]::WriteAllText("$c/overlay2/$($App1Top.CacheId)/lower", 'l/../../../etc') } }
            @{ Name = 'a diff dir is a symlink out of the store'; Id = 'LayerPathOutsideStore'; Images = 'app:1', 'app:2'; Containers = 'web', 'app-1'; Tamper = { param($c) Remove-Item -LiteralPath "$c/overlay2/$($Other.CacheId)/diff" -Recurse -Force; $null = New-Item -ItemType SymbolicLink -Path "$c/overlay2/$($Other.CacheId)/diff" -Target '/etc' } }
            @{ Name = 'a container''s mount-id is a path'; Id = 'LayerPathOutsideStore'; Images = 'app:1', 'app:2', 'other:1'; Containers = 'app-1'; Tamper = { param($c) [IO.File]::WriteAllText("$c/image/overlay2/layerdb/mounts/$WebId/mount-id", '../../../../etc') } }
            @{ Name = 'a layer''s parent is a path'; Id = 'LayerPathOutsideStore'; Images = 'app:1', 'other:1'; Containers = 'web'; Tamper = { param($c) [IO.File]::WriteAllText("$(Get-LayerDbDir $c $App2Top.ChainId)/parent", '../../../etc') } }
            @{ Name = 'a layer''s diff file is cut short'; Id = 'LayerStoreMetadataInvalid'; Images = 'app:1', 'app:2'; Containers = 'web', 'app-1'; Tamper = { param($c) $f = "$(Get-LayerDbDir $c $Other.ChainId)/diff"; [IO.File]::WriteAllText($f, [IO.File]::ReadAllText($f).Substring(0, 20)) } }
            @{ Name = 'repositories.json is cut short'; Id = 'LayerStoreMetadataInvalid'; Index = $true; Tamper = { param($c) $f = "$c/image/overlay2/repositories.json"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 2))]) } }
            @{ Name = 'a container''s config.v2.json is cut short'; Id = 'LayerStoreMetadataInvalid'; Says = { "The container $($WebId.Substring(0, 12)) cannot be read: *config.v2.json*" }; Images = 'app:1', 'app:2', 'other:1'; Containers = 'app-1'; Tamper = { param($c) $f = "$c/containers/$WebId/config.v2.json"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 3))]) } }
            @{ Name = 'an image config is cut short under its own digest'; Id = 'LayerStoreMetadataInvalid'; Images = 'app:1', 'app:2', 'other:1'; Containers = 'web', 'app-1'; Tamper = {
                    param($c)
                    $dir = "$c/image/overlay2/imagedb/content/sha256"
                    $f = "$dir/$($App2Top.ImageId.Substring(7))"
                    $b = [IO.File]::ReadAllBytes($f)
                    $cut = [byte[]] $b[0..([int]($b.Length / 2))]
                    [IO.File]::WriteAllBytes("$dir/$([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($cut)).ToLowerInvariant())", $cut)
                } }
            @{ Name = 'a FIFO stands where a cache-id file was'; Id = 'LayerStoreUnreadable'; Images = 'app:1', 'app:2'; Containers = 'web', 'app-1'; Tamper = { param($c) $f = "$(Get-LayerDbDir $c $Other.ChainId)/cache-id"; Remove-Item -LiteralPath $f; & mkfifo $f } }
        ) {
            $copy = New-StoreCopy ('tamper-t-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
            try {
                & $Tamper $copy
                $paths = @(Get-OverlayLayer -DataRoot $DataRoot -Image *) + @(Get-OverlayLayer -DataRoot $DataRoot -Container *) |
                    ForEach-Object { $_.Path.Replace($DataRoot, $copy) } | Sort-Object -Unique
                $r = Invoke-TestStoreRead -DataRoot $copy -Path ($paths + "$copy/overlay2/l/$('A' * 26)")
                $r.Ids | Should -Contain $Id
                if ($_.ContainsKey('Says')) {
                    # The error names the item it is about (not only a store file holding its id).
                    $said = @($r.Errors | Where-Object FullyQualifiedErrorId -Like "$Id,*" | ForEach-Object { $_.Exception.Message })
                    @($said -like (& $Says)).Count | Should -BeGreaterThan 0 -Because ($said -join ' | ')
                }
                Assert-TestPathsInside -Objects $r.Objects -Root $copy
                # Per item: what the tampering does not touch is still read, exactly as the engine described it
                # (every case but a broken name index names such items).
                if (-not $_.ContainsKey('Index')) {
                    @(@($Images) + @($Containers) | Where-Object { $_ }).Count | Should -BeGreaterThan 0
                    Assert-ReadAsDockerSaid $r $copy -Images $Images -Containers $Containers
                }
            }
            finally {
                & rm -rf --one-file-system -- $copy
            }
        }
    }
}

Describe 'Get-OverlayLayer with a private podman store (containers/storage overlay)' -Tag 'RequiresRoot', 'RequiresPodman' -Skip:(-not $PodmanReady) {
    BeforeAll {
        $script:P = New-TestPodman -Root (Join-Path $Root 'podman')
        $script:PRoot = $P.StorageRoot
        $ctx = New-BusyboxContext -Path (Join-Path $Root 'pctx-app') -Steps $AppSteps
        Invoke-TestPodman $P build -q -t app:1 $ctx | Out-Null
        $ctx2 = New-BusyboxContext -Path (Join-Path $Root 'pctx-app2') -From 'localhost/app:1' -Steps @('RUN echo two > /data/two.txt')
        Invoke-TestPodman $P build -q -t app:2 $ctx2 | Out-Null
        $ctx3 = New-BusyboxContext -Path (Join-Path $Root 'pctx-other') -From 'scratch' -Files @{ 'hello.txt' = 'hello' } -Steps @('COPY hello.txt /hello.txt')
        Invoke-TestPodman $P build -q -t other:1 $ctx3 | Out-Null
        Invoke-TestPodman $P create --name web app:1 sh -c $WebCommand | Out-Null
        Invoke-TestPodman $P start -a web | Out-Null
        Invoke-TestPodman $P create --name app-1 app:2 true | Out-Null

        $script:PImageIds = @(Invoke-TestPodman $P images -a -q --no-trunc | ForEach-Object { $_ -replace '^sha256:', '' } | Sort-Object -Unique)
        $script:PContainerIds = @(Invoke-TestPodman $P ps -a -q --no-trunc)
        $script:PImageInspect = @{}
        $script:PHistory = @{}
        foreach ($id in $PImageIds) {
            $PImageInspect[$id] = (Invoke-TestPodman $P image inspect $id) -join "`n" | ConvertFrom-Json | Select-Object -First 1
            # podman's history JSON holds both "created" and "Created": read it as hashtables.
            $PHistory[$id] = @((Invoke-TestPodman $P history --format json $id) -join "`n" | ConvertFrom-Json -AsHashtable)
        }
        $script:PContainerInspect = @{}
        $script:PExports = @{}
        foreach ($id in $PContainerIds) {
            $PContainerInspect[$id] = (Invoke-TestPodman $P inspect --size $id) -join "`n" | ConvertFrom-Json | Select-Object -First 1
            $tar = Join-Path $Root "podman-export-$($id.Substring(0, 12)).tar"
            Invoke-TestPodman $P export -o $tar $id | Out-Null
            $PExports[$id] = $tar
        }
    }

    AfterAll {
        if ($script:P) {
            Clear-TestMounts $Root
            Remove-TestPodman $script:P
        }
        if (Test-Path -LiteralPath (Join-Path $Root 'ptamper')) { & rm -rf --one-file-system -- (Join-Path $Root 'ptamper') }
    }

    It 'gives, for every image, the paths of podman image inspect in order, its diff ids, sizes and history' {
        $PImageIds.Count | Should -BeGreaterThan 6
        foreach ($id in $PImageIds) {
            $inspect = $PImageInspect[$id]
            $layers = @(Get-OverlayLayer -DataRoot $PRoot -Image $id -ErrorAction Stop)
            $layers.Path | Should -Be (Get-ExpectedPaths $inspect.GraphDriver.Data) -Because "the paths of image $id"
            $layers.DiffId | Should -Be @($inspect.RootFS.Layers[($inspect.RootFS.Layers.Count - 1)..0]) -Because "the diff ids of image $id"
            $layers.Backend | Sort-Object -Unique | Should -Be 'podman'
            $layers.ImageId | Sort-Object -Unique | Should -Be $id
            foreach ($l in $layers) {
                $h = @($PHistory[$id] | Where-Object { $_['CreatedBy'] -eq $l.CreatedBy })
                $h.Count | Should -BeGreaterThan 0 -Because "layer $($l.Position) of $id has a history entry ($($l.CreatedBy))"
                [long] $h[0]['size'] | Should -Be $l.Size -Because "the history size of layer $($l.Position) of $id"
            }
        }
    }

    It 'gives, for every container, the paths of podman inspect, its upper size and work dir' {
        $PContainerIds.Count | Should -Be 2
        foreach ($id in $PContainerIds) {
            $inspect = $PContainerInspect[$id]
            $layers = @(Get-OverlayLayer -DataRoot $PRoot -Container $id -ErrorAction Stop)
            $layers.Path | Should -Be (Get-ExpectedPaths $inspect.GraphDriver.Data) -Because "the paths of container $id"
            $layers[0].Role | Should -Be 'Upper'
            $layers[0].Work | Should -Be $inspect.GraphDriver.Data.WorkDir
            $layers[0].Size | Should -Be ([long] $inspect.SizeRw) -Because 'podman inspect --size reports the upper''s size'
            $layers[0].Container | Should -Be $inspect.Name
            $image = $PImageInspect[$inspect.Image]
            @($layers | Select-Object -Skip 1).DiffId | Should -Be @($image.RootFS.Layers[($image.RootFS.Layers.Count - 1)..0])
            @($layers | Select-Object -Skip 1).Image | Sort-Object -Unique | Should -Be $inspect.ImageName
        }
    }

    It 'mounts each container read-only as podman export shows it' {
        foreach ($id in $PContainerIds) {
            Assert-ReadOnlyMountEqualsExport $id $PRoot $PExports[$id] (Join-Path $Root "mnt-p-$($id.Substring(0, 12))")
        }
    }

    It 'finds podman images by short name, full name, id and wildcard' {
        $full = @(Get-OverlayLayer -DataRoot $PRoot -Image localhost/app:1)
        $full[0].Image | Should -Be 'localhost/app:1'
        (Get-OverlayLayer -DataRoot $PRoot -Image app:1).Path | Should -Be $full.Path
        (Get-OverlayLayer -DataRoot $PRoot -Image $full[0].ImageId.Substring(0, 12)).Path | Should -Be $full.Path
        # By the digest references podman image inspect lists (RepoDigests), in full and short.
        $digests = @(Invoke-TestPodman $P image inspect localhost/app:1 --format '{{range .RepoDigests}}{{println .}}{{end}}' | Where-Object { $_ })
        $digests | Should -Not -BeNullOrEmpty
        foreach ($d in $digests) {
            (Get-OverlayLayer -DataRoot $PRoot -Image $d -ErrorAction Stop).Path | Should -Be $full.Path -Because "podman finds localhost/app:1 as $d"
            (Get-OverlayLayer -DataRoot $PRoot -Image ($d -replace '^localhost/', '') -ErrorAction Stop).Path | Should -Be $full.Path
        }
        @(Get-OverlayLayer -DataRoot $PRoot -Image 'app:*' | Select-Object -ExpandProperty ImageId -Unique).Count | Should -Be 2
        $line = "Get-OverlayLayer -DataRoot '$PRoot' -Image loc"
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'localhost/app:1'
    }

    It 'finds a podman image by the end of a repository or by a digest alone, as podman image inspect does' {
        # podman's last resort for a name nothing else matched: a short name may leave out any
        # leading part of a repository, at a '/'; a digest finds its image under any repository.
        # Two images share a tag's end, so which one wins is podman's order too.
        $tags = @{ 'localhost/other:1' = 'quay.io/x/y:2', 'example.com/a/b/z:3', 'registry.test:5000/q:latest'; 'localhost/app:2' = @('other.io/y:2', 'aaa.io/x/y:2') }
        foreach ($image in $tags.Keys) { $a = @($image) + $tags[$image]; Invoke-TestPodman $P tag @a | Out-Null }
        try {
            $digest = Invoke-TestPodman $P image inspect localhost/other:1 --format '{{.Digest}}' | Select-Object -Last 1
            $digest | Should -Match '^sha256:[0-9a-f]{64}$'
            $queries = 'y:2', 'x/y:2', 'z:3', 'b/z:3', 'a/b/z:3', 'q', 'q:latest', 'io/x/y:2', 'y', 'quay.io/y:2', 'o/y:2',
                "nosuch@$digest", "quay.io/zzz@$digest", "y:9@$digest", "y@sha256:$('0' * 64)"
            foreach ($q in $queries) {
                $expected = try { Invoke-TestPodman $P image inspect --format '{{.Id}}' $q | Select-Object -Last 1 } catch { $null }
                $got = @(Get-OverlayLayer -DataRoot $PRoot -Image $q -ErrorAction SilentlyContinue -ErrorVariable err)
                if ($expected) {
                    $err | Should -BeNullOrEmpty -Because "podman image inspect $q finds $expected"
                    $got.ImageId | Sort-Object -Unique | Should -Be $expected -Because "podman image inspect $q finds $expected"
                }
                else {
                    $got | Should -BeNullOrEmpty -Because "podman image inspect $q finds nothing"
                    $err[0].FullyQualifiedErrorId | Should -Be 'ImageNotFound,OverlayTools.GetOverlayLayerCommand'
                }
            }
            # Each is shown by the name it matched.
            (Get-OverlayLayer -DataRoot $PRoot -Image z:3)[0].Image | Should -Be 'example.com/a/b/z:3'
            (Get-OverlayLayer -DataRoot $PRoot -Image "nosuch@$digest")[0].Image | Should -Be "localhost/other@$digest"
        }
        finally {
            foreach ($image in $tags.Keys) { $a = @($image) + $tags[$image]; Invoke-TestPodman $P untag @a | Out-Null }
        }
    }

    It 'matches the layers of a container mounted by podman back to the container' {
        $merged = (Invoke-TestPodman $P mount web) | Select-Object -Last 1
        try {
            $layers = @(Get-OverlayLayer -Target $merged)
            $layers.Path | Should -Be (Get-ExpectedPaths $PContainerInspect[($PContainerInspect.Keys | Where-Object { $PContainerInspect[$_].Name -eq 'web' })].GraphDriver.Data)
            $layers[0].Role | Should -Be 'Upper'
            $layers.Container | Sort-Object -Unique | Should -Be 'web'
            $layers.Backend | Sort-Object -Unique | Should -Be 'podman'
            $m = Get-OverlayMount -Target $merged
            $m.Backend | Should -Be 'podman'
            $m.Container | Should -Be 'web'
        }
        finally {
            Invoke-TestPodman $P unmount web | Out-Null
        }
    }

    It 'changes nothing in the store, not even access times, through a read-only mount of a container and back' {
        # Access times aged first; the kernel reads the layers of an overlay with O_NOATIME too.
        $target = Join-Path $Root 'mnt-p-fingerprint'
        $null = New-Item -ItemType Directory -Force -Path $target
        Assert-TestTreeUnchanged $PRoot {
            $layers = @(Get-OverlayLayer -DataRoot $PRoot -Image *) + @(Get-OverlayLayer -DataRoot $PRoot -Container *)
            $layers.Count | Should -BeGreaterThan 5
            $layers | Select-Object -ExpandProperty Path -Unique | ForEach-Object { $null = Get-OverlayLayer -Path $_ }
            try {
                Get-OverlayLayer -DataRoot $PRoot -Container web | Mount-Overlay -Target $target -ReadOnly
                @(Get-MountEntryName $target).Count | Should -BeGreaterThan 10
            }
            finally {
                Clear-TestMounts $target
            }
        }
    }

    It 'reports a layer flagged incomplete and a missing diff dir, and lists the rest' {
        $copy = Join-Path $Root 'ptamper'
        & cp -a --one-file-system -- $PRoot $copy
        $app2 = (Get-OverlayLayer -DataRoot $copy -Image app:2)[0]
        $other = (Get-OverlayLayer -DataRoot $copy -Image other:1)[0]
        $layersJson = "$copy/overlay-layers/layers.json"
        $doc = Get-Content -LiteralPath $layersJson -Raw | ConvertFrom-Json
        ($doc | Where-Object id -EQ $app2.CacheId) | Add-Member -NotePropertyName flags -NotePropertyValue @{ incomplete = $true } -Force
        [IO.File]::WriteAllText($layersJson, (ConvertTo-Json -InputObject @($doc) -Depth 10))
        Rename-Item -LiteralPath "$copy/overlay/$($other.CacheId)/diff" -NewName 'diff-gone'
        $out = Get-OverlayLayer -DataRoot $copy -Image app:2, other:1, app:1 -ErrorVariable err -ErrorAction SilentlyContinue
        @($err.FullyQualifiedErrorId) | Should -Be @('LayerIncomplete,OverlayTools.GetOverlayLayerCommand', 'LayerContentMissing,OverlayTools.GetOverlayLayerCommand')
        $out.Image | Sort-Object -Unique | Should -Be 'localhost/app:1'
    }

    It 'leaves out a container podman rm is removing when a wildcard lists it, and says so for its name' {
        # podman rm flags the container's own layer incomplete in layers.json before it deletes it.
        $copy = Join-Path $Root 'ptamper-rm'
        & cp -a --one-file-system -- $PRoot $copy
        try {
            $upper = (Get-OverlayLayer -DataRoot $copy -Container web)[0].CacheId
            $layersJson = "$copy/overlay-layers/layers.json"
            $doc = Get-Content -LiteralPath $layersJson -Raw | ConvertFrom-Json
            ($doc | Where-Object id -EQ $upper) | Add-Member -NotePropertyName flags -NotePropertyValue @{ incomplete = $true } -Force
            [IO.File]::WriteAllText($layersJson, (ConvertTo-Json -InputObject @($doc) -Depth 10))
            $out = Get-OverlayLayer -DataRoot $copy -Container * -ErrorVariable err -ErrorAction SilentlyContinue
            $err | Should -BeNullOrEmpty
            $out.Container | Sort-Object -Unique | Should -Be 'app-1'
            $changes = Get-OverlayChange -DataRoot $copy -Container * -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2 | Should -BeNullOrEmpty
            @($changes | Where-Object Container -EQ 'web') | Should -BeNullOrEmpty
            Get-OverlayChange -DataRoot $copy -Container web -ErrorVariable err3 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err3[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayChangeCommand'
            $err3[0].Exception.Message | Should -Match '^The container web was removed, or is being removed'
        }
        finally {
            & rm -rf --one-file-system -- $copy
        }
    }

    It 'changes nothing when inspected with every tool: contents, modes and times, access times aged first' {
        $target = Join-Path $Root 'mnt-p-strict'
        $null = New-Item -ItemType Directory -Force -Path $target
        Get-OverlayLayer -DataRoot $PRoot -Container web | Mount-Overlay -Target $target -ReadOnly
        try {
            $names = @(Get-MountEntryName $target)
            Assert-TestTreeUnchanged $PRoot {
                $null = Get-OverlayLayer -DataRoot $PRoot -Image *
                $all = @(Get-OverlayLayer -DataRoot $PRoot -Container *)
                $all | Select-Object -ExpandProperty Path -Unique | ForEach-Object { $null = Get-OverlayLayer -Path $_ }
                $null = Get-OverlayLayer -Target $target
                foreach ($id in $PContainerIds) {
                    $l = @(Get-OverlayLayer -DataRoot $PRoot -Container $id)
                    $null = Get-OverlayChange -Upper $l[0].Path -Lower @($l | Select-Object -Skip 1 -ExpandProperty Path) -Style Podman
                }
                @($names | ForEach-Object { [pscustomobject]@{ LiteralPath = "$target/$_" } } | Resolve-OverlayPath -All).Count | Should -BeGreaterOrEqual $names.Count
            }
        }
        finally {
            Clear-TestMounts $target
        }
    }

    It 'gives per-item errors and no path outside the store when <Name>' -ForEach @(
        @{ Name = 'layers.json gives a layer a parent that is a path'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/other:1'; Containers = 'web'; Tamper = { param($c, $l) Set-PodmanRecord "$c/overlay-layers/layers.json" $l.App2 'parent' '../../../etc' } }
        @{ Name = 'images.json gives an image the top layer /etc'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/other:1'; Containers = 'web'; Tamper = { param($c, $l) Set-PodmanRecord "$c/overlay-images/images.json" $l.App2Image 'layer' '/etc' } }
        @{ Name = 'containers.json gives a container a layer that is a path'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/app:2', 'localhost/other:1'; Containers = 'app-1'; Tamper = { param($c, $l) Set-PodmanRecord "$c/overlay-containers/containers.json" $l.WebId 'layer' '../../etc' } }
        @{ Name = 'a link file names a path'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/other:1'; Containers = 'web'; Tamper = { param($c, $l) [IO.File]::WriteAllText("$c/overlay/$($l.App2)/link", '../../../etc') } }
        @{ Name = 'an l/ link points at /'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/other:1'; Containers = 'web'; Tamper = { param($c, $l) $link = [IO.File]::ReadAllText("$c/overlay/$($l.App2)/link").Trim(); Remove-Item -LiteralPath "$c/overlay/l/$link"; $null = New-Item -ItemType SymbolicLink -Path "$c/overlay/l/$link" -Target '/' } }
        @{ Name = 'a diff dir is a symlink out of the store'; Id = 'LayerPathOutsideStore'; Images = 'localhost/app:1', 'localhost/app:2'; Containers = 'web', 'app-1'; Tamper = { param($c, $l) Remove-Item -LiteralPath "$c/overlay/$($l.Other)/diff" -Recurse -Force; $null = New-Item -ItemType SymbolicLink -Path "$c/overlay/$($l.Other)/diff" -Target '/etc' } }
        @{ Name = 'an image config is cut short'; Id = 'ImageConfigInvalid'; Images = 'localhost/app:1', 'localhost/other:1'; Containers = 'web'; Tamper = { param($c, $l) Get-ChildItem -LiteralPath "$c/overlay-images/$($l.App2Image)" -Filter '=*' | ForEach-Object { $b = [IO.File]::ReadAllBytes($_.FullName); [IO.File]::WriteAllBytes($_.FullName, $b[0..([int]($b.Length / 2))]) } } }
        @{ Name = 'layers.json is cut short'; Id = 'LayerStoreMetadataInvalid'; Index = $true; Tamper = { param($c, $l) $f = "$c/overlay-layers/layers.json"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 2))]) } }
        @{ Name = 'images.json is cut short'; Id = 'LayerStoreMetadataInvalid'; Index = $true; Tamper = { param($c, $l) $f = "$c/overlay-images/images.json"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 2))]) } }
        @{ Name = 'containers.json is cut short'; Id = 'LayerStoreMetadataInvalid'; Index = $true; Tamper = { param($c, $l) $f = "$c/overlay-containers/containers.json"; $b = [IO.File]::ReadAllBytes($f); [IO.File]::WriteAllBytes($f, $b[0..([int]($b.Length / 2))]) } }
    ) {
        function Set-PodmanRecord([string] $File, [string] $Id, [string] $Field, [string] $Value) {
            $doc = @(Get-Content -LiteralPath $File -Raw | ConvertFrom-Json)
            $rec = $doc | Where-Object id -EQ $Id
            $rec | Should -Not -BeNullOrEmpty
            $rec | Add-Member -NotePropertyName $Field -NotePropertyValue $Value -Force
            [IO.File]::WriteAllText($File, (ConvertTo-Json -InputObject $doc -Depth 20))
        }
        $copy = Join-Path $Root ('ptamper-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
        & cp -a --one-file-system -- $PRoot $copy
        try {
            $web = @(Get-OverlayLayer -DataRoot $copy -Container web)
            $ids = @{
                App2 = (Get-OverlayLayer -DataRoot $copy -Image app:2)[0].CacheId
                App2Image = (Get-OverlayLayer -DataRoot $copy -Image app:2)[0].ImageId
                Other = (Get-OverlayLayer -DataRoot $copy -Image other:1)[0].CacheId
                WebId = $web[0].ContainerId
            }
            $paths = @(Get-OverlayLayer -DataRoot $copy -Image *) + $web | ForEach-Object Path | Sort-Object -Unique
            & $Tamper $copy $ids
            $r = Invoke-TestStoreRead -DataRoot $copy -Path ($paths + "$copy/overlay/l/$('A' * 26)")
            $r.Ids | Should -Contain $Id
            Assert-TestPathsInside -Objects $r.Objects -Root $copy
            # Per item: what the tampering does not touch is still read, exactly as podman inspect described it
            # (every case but a broken index names such items).
            if (-not $_.ContainsKey('Index')) {
                @(@($Images) + @($Containers) | Where-Object { $_ }).Count | Should -BeGreaterThan 0
                foreach ($tag in $Images) {
                    $id = @($PImageInspect.Keys | Where-Object { $PImageInspect[$_].RepoTags -contains $tag })
                    $id | Should -HaveCount 1
                    $inspect = $PImageInspect[$id[0]]
                    $layers = @($r.Images | Where-Object ImageId -EQ $id[0])
                    $layers.Path | Should -Be @(Get-ExpectedPaths $inspect.GraphDriver.Data | ForEach-Object { $_.Replace($PRoot, $copy) }) -Because "image $tag is untouched by the tampering"
                    $layers.DiffId | Should -Be @($inspect.RootFS.Layers[($inspect.RootFS.Layers.Count - 1)..0]) -Because "image $tag is untouched by the tampering"
                }
                foreach ($name in $Containers) {
                    $inspect = @($PContainerInspect.Values | Where-Object Name -EQ $name)
                    $inspect | Should -HaveCount 1
                    $layers = @($r.Containers | Where-Object ContainerId -EQ $inspect[0].Id)
                    $layers.Path | Should -Be @(Get-ExpectedPaths $inspect[0].GraphDriver.Data | ForEach-Object { $_.Replace($PRoot, $copy) }) -Because "container $name is untouched by the tampering"
                    $layers[0].Work | Should -Be $inspect[0].GraphDriver.Data.WorkDir.Replace($PRoot, $copy)
                }
            }
        }
        finally {
            & rm -rf --one-file-system -- $copy
        }
    }
}
