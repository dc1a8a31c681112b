#Requires -Version 7.4
# Get-OverlayChange -Container against real engines: a private dockerd, a private podman store and
# a private containerd. The same image and the same changes (adds, changes, appends, deletes,
# replaced directories, odd names, hard links, symbolic links, chmod and chown only, bare
# copy-ups) in every engine; for every container the set of (Kind, Path) must equal the engine's
# own diff (`docker diff`, `podman container diff`), while the engine runs and after it stopped.
# ctr has no diff: a containerd container is compared with `docker diff` of a Docker container that
# ran the same command on the same image (imported from docker save).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    $isRoot = Test-IsRoot
    $script:NoDocker = -not ($isRoot -and (Test-EngineAvailable Docker))
    $script:NoPodman = -not ($isRoot -and (Test-EngineAvailable Podman))
    $script:NoContainerd = -not ($isRoot -and (Test-EngineAvailable Docker) -and (Test-EngineAvailable Containerd) -and
        [bool] (Get-Command runc -CommandType Application -ErrorAction SilentlyContinue))
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestEngines.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestTree.psm1') -Force
    Import-OverlayToolsUnderTest
    # Short: dockerd's own containerd socket path must stay under 104 bytes.
    $script:Root = New-TestRoot 'chg'

    # The image: one layer with everything the containers touch, one that deletes a file (a
    # whiteout in a lower layer) and adds another.
    $script:ImageSteps = @(
        'RUN mkdir -p /data/dir/sub /data/keep /data/modedir /data/tree/deep && echo one > /data/a.txt && echo x > /data/dir/f && echo y > /data/dir/sub/h && echo gone > /data/del.txt && echo k > /data/keep/old && echo log > /data/app.log && echo m > /data/mode.txt && echo c > /data/copyonly && echo o > /data/own.txt && echo t > /data/tree/deep/t && ln -s /data/a.txt /data/link && ln -s a.txt /data/rellink'
        'RUN echo second > /data/second.txt && rm /data/tree/deep/t'
    )
    # What each container does. web: a bit of everything; replace: rm -rf of a whole lower
    # directory and its re-creation; app-1: nothing (created, never started).
    $script:Commands = [ordered]@{
        'web'     = 'echo changed-content > /data/a.txt; echo more >> /data/app.log; rm /data/del.txt; ' +
                    'rm -rf /data/dir; mkdir /data/dir; echo g > /data/dir/g; echo f2 > /data/dir/f; ' +
                    'touch "/data/sp ace" /data/co:lon /data/com,ma /data/ünï "/data/eq=ual" "/data/back\slash"; ' +
                    'ln /data/keep/old /data/keep/hard; ln /data/a.txt /data/a-hard; ' +
                    'ln -s /data/a.txt /data/newlink; rm /data/link; ln -s /nowhere /data/link; rm /data/rellink; ln -s second.txt /data/rellink; ' +
                    'chmod 600 /data/mode.txt; chmod 700 /data/modedir; : >> /data/copyonly; chown 1:1 /data/own.txt; ' +
                    'mkdir -p /opt/app; echo y > /opt/app/run.sh; echo t2 > /data/tree/deep/t'
        'replace' = 'rm -rf /data && mkdir -p /data/dir /data/keep && echo new > /data/a.txt && echo n > /data/dir/f && echo fresh > /data/fresh'
    }
    # The running container: changes, then a marker, then it sleeps.
    $script:LiveCommand = 'echo live > /data/live.txt; rm /data/del.txt; mkdir /data/dir/new; echo more >> /data/app.log; touch /ready; exec sleep 600'

    function script:Initialize-ChangeContainers($Engine, [string] $Context) {
        # The Docker and Podman set-up: in a private dockerd or podman store ($Engine, from
        # Start-TestDocker or New-TestPodman), the image of $ImageSteps, one container per
        # $Commands entry (run to its end), app-1 (created, never started) and live (running).
        # Returns their names and what the engine's own diff and inspect say of each, recorded
        # while the engine runs. Both CLIs take `container diff` (docker diff is docker container
        # diff; podman diff <name> would first try a hex-looking name as an image id) and
        # `container inspect`.
        $cli = switch ($Engine.Kind) { 'Docker' { 'Invoke-TestDocker' } 'Podman' { 'Invoke-TestPodman' } default { throw "No engine: $($Engine.Kind)" } }
        $ctx = New-BusyboxContext -Path $Context -Steps $ImageSteps
        $null = & $cli $Engine build -q -t app:1 $ctx
        # A second passes, so every write in a container has a later time than the image's
        # (docker diff sees no change in a same-size write within the second the layer was made).
        Start-Sleep -Milliseconds 1100
        foreach ($name in $Commands.Keys) {
            $null = & $cli $Engine run --name $name app:1 sh -c $Commands[$name]
        }
        $null = & $cli $Engine create --name app-1 app:1 true
        $null = & $cli $Engine run -d --name live app:1 sh -c $LiveCommand
        Wait-Until -What "the live $($Engine.Kind) container to make its changes" -TimeoutSeconds 30 -Condition {
            (& $cli $Engine container diff live) -contains 'A /ready'
        }
        $names = @($Commands.Keys) + 'app-1', 'live'
        $diff = @{}
        $inspect = @{}
        foreach ($n in $names) {
            $diff[$n] = ConvertTo-SortedSet (& $cli $Engine container diff $n)
            $inspect[$n] = (& $cli $Engine container inspect $n) -join "`n" | ConvertFrom-Json
        }
        [pscustomobject]@{ Names = $names; Diff = $diff; Inspect = $inspect }
    }

    function script:ConvertTo-DiffSet($Changes) {
        # "C /etc" lines, sorted ordinally: the (Kind, Path) set of our changes.
        [string[]] $lines = @(@($Changes) | Where-Object { $_ } | ForEach-Object { '{0} {1}' -f $_.Kind.Substring(0, 1), $_.Path })
        [Array]::Sort($lines, [StringComparer]::Ordinal)
        $lines
    }

    function script:ConvertTo-SortedSet([string[]] $Lines) {
        # An engine's diff output, sorted the same way.
        [string[]] $l = @($Lines | Where-Object { $_ })
        [Array]::Sort($l, [StringComparer]::Ordinal)
        $l
    }

    function script:Assert-LayersInside([string] $Store) {
        # Every layer and work dir of every container lies below the store, so a check of the
        # store's tree covers them all.
        $layers = @(Get-OverlayLayer -DataRoot $Store -Container *)
        $layers.Count | Should -BeGreaterThan 3
        foreach ($p in @($layers.Path) + @($layers | Where-Object Work | ForEach-Object Work)) {
            $p.StartsWith("$Store/", [StringComparison]::Ordinal) | Should -BeTrue -Because "'$p' must lie in the store '$Store'"
        }
        @($layers | Where-Object Work).Count | Should -BeGreaterThan 0
    }

    function script:Assert-LiveMountNamesContainer([string] $Merged, [string] $Name, [string] $Id, [string] $DataRoot, [string] $Style) {
        # A running container's changes through its live mount (-Target, a piped OverlayMount, and
        # Get-OverlayMount piped on) name the container as -Container does, item for item.
        # $Style, when given, is passed to the -Target runs. Returns the mount and -Container's list.
        $styleArgs = if ($Style) { @{ Style = $Style } } else { @{} }
        $byContainer = @(Get-OverlayChange -Container $Name -DataRoot $DataRoot)
        $byContainer.Count | Should -BeGreaterThan 3
        @($byContainer.Container | Sort-Object -Unique) | Should -Be @($Name)
        $mount = Get-OverlayMount -Target $Merged
        $mount.ContainerId | Should -Be $Id
        $mount.Container | Should -Be $Name
        foreach ($byMount in @(Get-OverlayChange -Target $Merged @styleArgs), @($mount | Get-OverlayChange @styleArgs), @(Get-OverlayMount -Target $Merged | Get-OverlayChange @styleArgs)) {
            ($byMount | ForEach-Object { "$($_.Container)|$($_.Kind)|$($_.Path)|$($_.Layer)" }) |
                Should -Be ($byContainer | ForEach-Object { "$($_.Container)|$($_.Kind)|$($_.Path)|$($_.Layer)" })
        }
        return [pscustomobject]@{ Mount = $mount; ByContainer = $byContainer }
    }

    function script:Assert-SameSet([string[]] $Ours, [string[]] $Theirs, [string] $Because) {
        $Ours = @($Ours | Where-Object { $null -ne $_ })
        $Theirs = @($Theirs | Where-Object { $null -ne $_ })
        $diff = Compare-Object $Ours $Theirs -CaseSensitive | ForEach-Object { "$($_.SideIndicator) $($_.InputObject)" }
        $diff | Should -BeNullOrEmpty -Because "$Because (<= only ours, => only the engine's)"
        $Ours.Count | Should -Be $Theirs.Count
    }
}

AfterAll {
    if ($script:Root) { Remove-TestRoot $script:Root }
}

Describe 'Get-OverlayChange -Container on a private dockerd' -Tag 'RequiresRoot', 'Engines' -Skip:$NoDocker {
    BeforeAll {
        $script:D = Start-TestDocker -Root "$Root/d"
        $script:DataRoot = $D.DataRoot
        $set = Initialize-ChangeContainers $D "$Root/ctx-docker"
        $script:Names = $set.Names
        $script:DockerDiff = $set.Diff
        $script:Inspect = $set.Inspect
    }

    AfterAll {
        if ($script:D) { Stop-TestDocker $script:D }
    }

    Context 'with the daemon running' {
        AfterAll {
            # The overlay the table-view test mounts on the image's layers.
            Clear-TestMounts "$Root/plain-view"
        }

        It 'lists, for every container, the (Kind, Path) set of docker diff' {
            foreach ($n in $Names) {
                $ours = Get-OverlayChange -Container $n -DataRoot $DataRoot -ErrorVariable err
                $err | Should -BeNullOrEmpty
                Assert-SameSet (ConvertTo-DiffSet $ours) $DockerDiff[$n] "Get-OverlayChange -Container $n must list what docker diff $n lists"
            }
            $DockerDiff['app-1'] | Should -BeNullOrEmpty -Because 'a container that never ran changed nothing'
            $DockerDiff['web'].Count | Should -BeGreaterThan 20
        }

        It 'names the container and its upper layer in every change, with paths rooted at /' {
            $web = @(Get-OverlayChange -Container web -DataRoot $DataRoot)
            $web.Container | Sort-Object -Unique | Should -Be 'web'
            $web.Layer | Sort-Object -Unique | Should -Be $Inspect['web'].GraphDriver.Data.UpperDir
            $web.Path | ForEach-Object { $_ | Should -Match '^/' }
            ($web | Where-Object Path -CEQ '/data/ünï').Kind | Should -Be 'Added'
            ($web | Where-Object Path -CEQ '/data/back\slash').Kind | Should -Be 'Added'
            ($web | Where-Object Path -CEQ '/data/link').ItemType | Should -Be 'SymbolicLink'
            ($web | Where-Object Path -CEQ '/data/del.txt').ItemType | Should -Be 'File'
            ($web | Where-Object Path -CEQ '/opt/app/run.sh').Size | Should -Be 2
        }

        It 'follows docker diff: a bare copy-up is no change, a directory is listed for its own metadata or a change inside' {
            $upper = $Inspect['web'].GraphDriver.Data.UpperDir
            # Both were copied up (one to be hard-linked), but look as they did.
            Test-Path -LiteralPath "$upper/data/copyonly" | Should -BeTrue
            Test-Path -LiteralPath "$upper/data/keep/old" | Should -BeTrue
            $lines = ConvertTo-DiffSet (Get-OverlayChange -Container web -DataRoot $DataRoot)
            $lines | Should -Not -Contain 'C /data/copyonly'
            $lines | Should -Not -Contain 'C /data/keep/old'
            $lines | Should -Contain 'C /data/mode.txt' -Because 'chmod alone is a change'
            $lines | Should -Contain 'C /data/modedir'
            $lines | Should -Contain 'C /data/own.txt' -Because 'chown alone is a change'
            $lines | Should -Contain 'C /data/keep' -Because 'a link was added inside it'
            $lines | Should -Contain 'C /data/dir' -Because 'the re-created directory is listed as changed'
            $lines | Should -Contain 'D /data/dir/sub' -Because 'what the re-created directory hides is deleted'
            $lines | Should -Contain 'A /data/tree/deep/t' -Because 'a lower layer deleted it, so for the image it is new'
        }

        It 'lists everything the upper holds with -Style Upper, copied-up entries as Changed' {
            $upper = $Inspect['web'].GraphDriver.Data.UpperDir
            $all = @(Get-OverlayChange -Container web -DataRoot $DataRoot -Style Upper)
            $lines = ConvertTo-DiffSet $all
            $lines | Should -Contain 'C /data/copyonly'
            $lines | Should -Contain 'C /data/keep/old'
            # Every entry of the upper is listed; docker diff's list is part of it.
            $entries = @(& find $upper -mindepth 1 -printf '/%P\n')
            $entries.Count | Should -BeGreaterThan 20
            foreach ($e in $entries) { $all.Path | Should -Contain $e }
            foreach ($l in $DockerDiff['web']) { $lines | Should -Contain $l }
        }

        It 'lists a running container''s changes, the same through its live mount (-Target MergedDir)' {
            $merged = $Inspect['live'].GraphDriver.Data.MergedDir
            Test-MountedAt $merged | Should -BeTrue
            $byContainer = @(Get-OverlayChange -Container live -DataRoot $DataRoot)
            $byTarget = @(Get-OverlayChange -Target $merged)
            $byTarget.Count | Should -BeGreaterThan 3
            ($byTarget | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.ItemType)|$($_.Size)|$($_.Layer)" }) |
                Should -Be ($byContainer | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.ItemType)|$($_.Size)|$($_.Layer)" })
            ConvertTo-DiffSet (Get-OverlayMount -Target $merged | Get-OverlayChange) | Should -Be (ConvertTo-DiffSet $byContainer)
        }

        It 'names the running container in the changes of its live mount, as -Container does (-Target, and piped from Get-OverlayMount)' {
            $merged = $Inspect['live'].GraphDriver.Data.MergedDir
            $name = $Inspect['live'].Name.TrimStart('/')
            $name | Should -Be 'live'
            $byContainer = (Assert-LiveMountNamesContainer $merged $name $Inspect['live'].Id $DataRoot).ByContainer
            # Filtering by container finds them, whichever way they were listed.
            @(Get-OverlayChange -Target $merged | Where-Object Container -EQ $name).Count | Should -Be $byContainer.Count
        }

        It 'lists a container''s changes once when its layers are piped from Get-OverlayLayer, and refuses an image''s layers' {
            foreach ($n in 'web', 'replace') {
                $layers = @(Get-OverlayLayer -DataRoot $DataRoot -Container $n)
                $layers.Count | Should -BeGreaterThan 2
                $piped = @($layers | Get-OverlayChange -ErrorVariable err)
                $err | Should -BeNullOrEmpty
                Assert-SameSet (ConvertTo-DiffSet $piped) $DockerDiff[$n] "Get-OverlayLayer -Container $n | Get-OverlayChange must list what docker diff $n lists"
                $piped.Container | Sort-Object -Unique | Should -Be $n
                # Deserialized layers (Import-Clixml, remoting) name the same container.
                $xml = Join-Path $Root "layers-$n.xml"
                $layers | Export-Clixml -LiteralPath $xml
                $fromXml = @(Import-Clixml -LiteralPath $xml | Get-OverlayChange -ErrorVariable err)
                $err | Should -BeNullOrEmpty
                Assert-SameSet (ConvertTo-DiffSet $fromXml) $DockerDiff[$n] "deserialized layers of $n piped into Get-OverlayChange must list what docker diff $n lists"
            }
            # Layers of several containers, and of a running one's live mount: each container once.
            $two = @(@(Get-OverlayLayer -DataRoot $DataRoot -Container web, replace) + @(Get-OverlayLayer -Target $Inspect['live'].GraphDriver.Data.MergedDir) | Get-OverlayChange)
            @($two.Container | Sort-Object -Unique) | Should -Be @('live', 'replace', 'web')
            Assert-SameSet (ConvertTo-DiffSet ($two | Where-Object Container -EQ 'live')) (ConvertTo-DiffSet (Get-OverlayChange -Container live -DataRoot $DataRoot)) 'the changes of live, piped as the layers of its mount'
            # An image's layers change nothing: one error for the image, not one per layer.
            $image = @(Get-OverlayLayer -DataRoot $DataRoot -Image app:1)
            $image.Count | Should -BeGreaterThan 1
            $image | Get-OverlayChange -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            @($err2) | Should -HaveCount 1
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerNotOfContainer,OverlayTools.GetOverlayChangeCommand'
            $err2[0].Exception.Message | Should -Match 'image app:1'
        }

        It 'takes wildcards and several names, each container once' {
            $all = @(Get-OverlayChange -Container *, web -DataRoot $DataRoot)
            @($all.Container | Sort-Object -Unique) | Should -Be @('live', 'replace', 'web')
            foreach ($n in 'live', 'replace', 'web') {
                Assert-SameSet (ConvertTo-DiffSet ($all | Where-Object Container -EQ $n)) $DockerDiff[$n] "the changes of $n in a wildcard run"
            }
            Get-OverlayChange -Container 'nosuch*' -DataRoot $DataRoot -ErrorVariable err | Should -BeNullOrEmpty
            $err | Should -BeNullOrEmpty
        }

        It 'names each container in the table view when one call lists several, its changes below its name' {
            # The default view prints docker diff's lines, which name no container; Format-Table
            # groups them under "Changes of: <container>".
            $lines = (Get-OverlayChange -Container web, replace -DataRoot $DataRoot | Format-Table | Out-String -Width 250) -split "`r?`n"
            $groups = [ordered]@{}
            $current = $null
            foreach ($line in $lines) {
                if ($line -match '^\s+Changes of: (.+)$') { $current = $Matches[1]; $groups[$current] = [Collections.Generic.List[string]]::new() }
                elseif ($line -match '^(Added|Changed|Deleted)\s+\S+\s+\d+\s+(/.*)$') {
                    $current | Should -Not -BeNullOrEmpty -Because "the row '$line' must stand under a container's name"
                    $groups[$current].Add($Matches[1].Substring(0, 1) + ' ' + $Matches[2].TrimEnd())
                }
            }
            @($groups.Keys) | Should -Be @('web', 'replace')
            foreach ($n in 'web', 'replace') {
                Assert-SameSet (ConvertTo-SortedSet $groups[$n]) $DockerDiff[$n] "the rows under 'Changes of: $n'"
            }
            # A container's own root mount (the live container's, piped from Get-OverlayMount or
            # given to -Target) is headed by the container's name too; another overlay by its upper layer.
            $live = $Inspect['live'].GraphDriver.Data
            foreach ($listed in { Get-OverlayMount -Target $live.MergedDir | Get-OverlayChange }, { Get-OverlayChange -Target $live.MergedDir }) {
                $headings = @((& $listed | Format-Table | Out-String -Width 400) -split "`r?`n" |
                    Where-Object { $_ -match '^\s+Changes of: ' } | ForEach-Object { $_.Trim() })
                $headings | Should -Be @('Changes of: live') -Because "$listed lists the live container's root"
            }
            # An overlay of the same image layers with an upper of its own is no container's root.
            $plain = "$Root/plain-view"
            $null = New-Item -ItemType Directory -Force -Path "$plain/upper", "$plain/merged"
            Mount-Overlay -Lower $live.LowerDir.Split(':') -Upper "$plain/upper" -Target "$plain/merged"
            Set-Content -LiteralPath "$plain/merged/new" -Value 'n'
            $headings = @((Get-OverlayMount -Target "$plain/merged" | Get-OverlayChange | Format-Table | Out-String -Width 400) -split "`r?`n" |
                Where-Object { $_ -match '^\s+Changes of: ' } | ForEach-Object { $_.Trim() })
            $headings | Should -Be @("Changes of: $plain/upper")
        }

        It 'finds a container by id prefix and reports names that match nothing' {
            $id = $Inspect['web'].Id
            ConvertTo-DiffSet (Get-OverlayChange -Container $id.Substring(0, 12) -DataRoot $DataRoot) | Should -Be $DockerDiff['web']
            $out = Get-OverlayChange -Container nosuch, replace -DataRoot $DataRoot -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayChangeCommand'
            $err[0].TargetObject | Should -Be 'nosuch'
            $out.Container | Sort-Object -Unique | Should -Be 'replace'
            Get-OverlayChange -Container web -DataRoot "$Root/nowhere" -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err2[0].FullyQualifiedErrorId | Should -Be 'LayerStoreNotFound,OverlayTools.GetOverlayChangeCommand'
        }

        It 'completes -Container from the store named by -DataRoot' {
            $line = "Get-OverlayChange -DataRoot '$DataRoot' -Container w"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('web')
            $line = "Get-OverlayChange -DataRoot '$DataRoot' -Container "
            $all = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            foreach ($n in $Names) { $all | Should -Contain $n }
        }
    }

    Context 'with the daemon stopped' {
        BeforeAll {
            Stop-TestDocker $script:D -KeepData
        }

        It 'still lists, for every container, what docker diff listed' {
            $D.Process.HasExited | Should -BeTrue
            foreach ($n in $Names) {
                Assert-SameSet (ConvertTo-DiffSet (Get-OverlayChange -Container $n -DataRoot $DataRoot)) $DockerDiff[$n] "docker diff $n, with dockerd stopped"
            }
        }

        It 'changes nothing in the store, not even access times, in any style' {
            # The whole store: every container's upper, init, lower and work dirs, the image
            # layers and the engine's own files; access times aged first (Assert-TestTreeUnchanged).
            Assert-LayersInside $DataRoot
            Assert-TestTreeUnchanged $DataRoot {
                @(Get-OverlayChange -Container * -DataRoot $DataRoot).Count | Should -BeGreaterThan 20
                @(Get-OverlayChange -Container * -DataRoot $DataRoot -Style Podman).Count | Should -BeGreaterThan 20
                @(Get-OverlayChange -Container * -DataRoot $DataRoot -Style Upper).Count | Should -BeGreaterThan 20
            }
        }
    }
}

Describe 'Get-OverlayChange -Container on a private podman store' -Tag 'RequiresRoot', 'Engines' -Skip:$NoPodman {
    BeforeAll {
        $script:P = New-TestPodman -Root "$Root/p"
        $script:GraphRoot = $P.StorageRoot
        $set = Initialize-ChangeContainers $P "$Root/ctx-podman"
        $script:PNames = $set.Names
        $script:PodmanDiff = $set.Diff
        $script:PInspect = $set.Inspect
    }

    AfterAll {
        if ($script:P) { Remove-TestPodman $script:P }
    }

    Context 'with containers running and stopped' {
        It 'lists, for every container, the (Kind, Path) set of podman container diff (Podman style by default)' {
            foreach ($n in $PNames) {
                $ours = Get-OverlayChange -Container $n -DataRoot $GraphRoot -ErrorVariable err
                $err | Should -BeNullOrEmpty
                Assert-SameSet (ConvertTo-DiffSet $ours) $PodmanDiff[$n] "Get-OverlayChange -Container $n must list what podman container diff $n lists"
            }
            $PodmanDiff['web'].Count | Should -BeGreaterThan 20
        }

        It 'follows podman diff: copied-up entries are Changed, a re-created directory is Deleted then filled, podman''s own files are hidden' {
            $lines = ConvertTo-DiffSet (Get-OverlayChange -Container web -DataRoot $GraphRoot)
            $lines | Should -Contain 'C /data/copyonly'
            $lines | Should -Contain 'C /data/keep/old'
            $lines | Should -Contain 'D /data/dir' -Because 'podman lists a deleted-and-recreated directory as deleted'
            $lines | Should -Contain 'A /data/link' -Because 'podman follows the old link, whose target does not exist, so it counts as new'
            $lines | Should -Contain 'C /data/rellink' -Because 'the old link pointed at a file of the layer'
            $lines | Should -Not -Contain 'A /etc/mtab'
            $lines | Should -Not -Contain 'A /run/.containerenv'
            ConvertTo-DiffSet (Get-OverlayChange -Container replace -DataRoot $GraphRoot) | Should -Contain 'D /data'
            # The same container through Docker's eyes: podman's files are not hidden, a copy-up is no change.
            $docker = ConvertTo-DiffSet (Get-OverlayChange -Container web -DataRoot $GraphRoot -Style Docker)
            $docker | Should -Contain 'A /etc/mtab'
            $docker | Should -Not -Contain 'C /data/copyonly'
        }

        It 'lists a running container''s changes, the same through its live mount (-Target MergedDir -Style Podman)' {
            $merged = $PInspect['live'].GraphDriver.Data.MergedDir
            Test-MountedAt $merged | Should -BeTrue
            $byContainer = @(Get-OverlayChange -Container live -DataRoot $GraphRoot)
            $byTarget = @(Get-OverlayChange -Target $merged -Style Podman)
            $byTarget.Count | Should -BeGreaterThan 3
            ($byTarget | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.ItemType)|$($_.Size)|$($_.Layer)" }) |
                Should -Be ($byContainer | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.ItemType)|$($_.Size)|$($_.Layer)" })
        }

        It 'names the running container in the changes of its live mount, as -Container does (-Target, and piped from Get-OverlayMount)' {
            $merged = $PInspect['live'].GraphDriver.Data.MergedDir
            $name = $PInspect['live'].Name
            $name | Should -Be 'live'
            $live = Assert-LiveMountNamesContainer $merged $name $PInspect['live'].Id $GraphRoot -Style Podman
            $mount = $live.Mount; $byContainer = $live.ByContainer

            # A piped mount that names its container is taken at its word: the store is not asked
            # again. With the store's container index out of the way for a moment, -Target cannot
            # name the container (an unreadable store leaves it unknown, no error), the piped mount still does.
            $index = "$GraphRoot/overlay-containers/containers.json"
            Test-Path -LiteralPath $index | Should -BeTrue
            Rename-Item -LiteralPath $index -NewName 'containers.json.moved'
            try {
                $piped = @($mount | Get-OverlayChange -Style Podman -ErrorVariable err1)
                $unnamed = @(Get-OverlayChange -Target $merged -Style Podman -ErrorVariable err2)
            }
            finally {
                Rename-Item -LiteralPath "$index.moved" -NewName 'containers.json'
            }
            $err1 | Should -BeNullOrEmpty
            $err2 | Should -BeNullOrEmpty
            @($piped.Container | Sort-Object -Unique) | Should -Be @($name)
            $piped.Count | Should -Be $byContainer.Count
            $unnamed.Count | Should -Be $byContainer.Count
            @($unnamed | Where-Object Container) | Should -BeNullOrEmpty
        }

        It 'completes -Container from the podman store' {
            $line = "Get-OverlayChange -DataRoot '$GraphRoot' -Container ap"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('app-1')
        }

        It 'lists the same after every container stopped (podman has no daemon to stop)' {
            $null = Invoke-TestPodman $P stop -t 0 live
            (Invoke-TestPodman $P container inspect live --format '{{.State.Running}}') | Should -Be 'false'
            # conmon and podman's cleanup process finish on their own after the stop.
            Wait-Until -What 'podman''s cleanup processes to exit' -TimeoutSeconds 60 -Condition {
                -not (Get-Process -Name podman, conmon -ErrorAction SilentlyContinue |
                    Where-Object { try { [IO.File]::ReadAllText("/proc/$($_.Id)/cmdline").Contains($GraphRoot) } catch { $false } })
            }
            foreach ($n in $PNames) {
                Assert-SameSet (ConvertTo-DiffSet (Get-OverlayChange -Container $n -DataRoot $GraphRoot)) $PodmanDiff[$n] "podman container diff $n, with the containers stopped"
            }
        }

        It 'changes nothing in the store, not even access times, in any style' {
            Assert-LayersInside $GraphRoot
            Assert-TestTreeUnchanged $GraphRoot {
                @(Get-OverlayChange -Container * -DataRoot $GraphRoot).Count | Should -BeGreaterThan 20
                @(Get-OverlayChange -Container * -DataRoot $GraphRoot -Style Docker).Count | Should -BeGreaterThan 20
                @(Get-OverlayChange -Container * -DataRoot $GraphRoot -Style Upper).Count | Should -BeGreaterThan 20
            }
        }
    }
}

Describe 'Get-OverlayChange -Container on a private containerd' -Tag 'RequiresRoot', 'Engines' -Skip:$NoContainerd {
    BeforeAll {
        $script:Docker = $null
        $script:Ctd = $null
        $script:LiveRunning = $false
        function script:Stop-LiveTask {
            # The running task's shim outlives containerd: kill and delete the task first.
            if ($script:LiveRunning -and $script:Ctd -and -not $script:Ctd.Process.HasExited) {
                & ctr --address $script:Ctd.Socket -n test tasks kill -s SIGKILL live *> $null
                for ($i = 0; $i -lt 50 -and (& ctr --address $script:Ctd.Socket -n test tasks delete live *>&1) -match 'running'; $i++) { Start-Sleep -Milliseconds 100 }
                & ctr --address $script:Ctd.Socket -n test tasks delete --force live *> $null
                $script:LiveRunning = $false
            }
        }

        # The reference: docker diff of Docker containers that ran the same commands on the same
        # image. The image starts from an imported tar holding the directories runc mounts over
        # (/proc, /sys, /dev, /run) and /etc, so neither runtime has to create them.
        $script:Docker = Start-TestDocker -Root "$Root/cd"
        $base = "$Root/base"
        $null = New-Item -ItemType Directory -Force -Path "$base/bin", "$base/proc", "$base/sys", "$base/dev", "$base/run", "$base/etc", "$base/tmp"
        Copy-Item -LiteralPath /bin/busybox -Destination "$base/bin/busybox"
        & tar -C $base -cf "$Root/base.tar" .
        $null = Invoke-TestDocker $Docker import "$Root/base.tar" base:1
        $ctx = New-BusyboxContext -Path "$Root/ctx-ctd" -From 'base:1' -Steps (@('RUN ["/bin/busybox", "--install", "-s", "/bin"]') + $ImageSteps)
        $null = Invoke-TestDocker $Docker build -q -t app:1 $ctx
        $null = Invoke-TestDocker $Docker save -o "$Root/app.tar" app:1
        Start-Sleep -Milliseconds 1100
        $script:CDiff = @{}
        foreach ($name in $Commands.Keys) {
            $null = Invoke-TestDocker $Docker run --name $name app:1 sh -c $Commands[$name]
            $CDiff[$name] = ConvertTo-SortedSet (Invoke-TestDocker $Docker diff $name)
        }
        $null = Invoke-TestDocker $Docker run --name live app:1 sh -c ($LiveCommand -replace 'exec sleep 600$', 'true')
        $CDiff['live'] = ConvertTo-SortedSet (Invoke-TestDocker $Docker diff live)
        Stop-TestDocker $Docker
        $script:Docker = $null

        $script:Ctd = Start-TestContainerd -Root "$Root/ctd"
        $script:CtdRoot = $Ctd.DataRoot
        $null = Invoke-TestCtr $Ctd -n test images import "$Root/app.tar"
        foreach ($name in $Commands.Keys) {
            $null = Invoke-TestCtr $Ctd -n test run docker.io/library/app:1 $name sh -c $Commands[$name]
        }
        $null = Invoke-TestCtr $Ctd -n test containers create docker.io/library/app:1 app-1
        $CDiff['app-1'] = [string[]] @()
        $script:LiveRunning = $true
        $null = Invoke-TestCtr $Ctd -n test run -d docker.io/library/app:1 live sh -c $LiveCommand
        $liveUpper = (Get-OverlayLayer -Container live -DataRoot $CtdRoot)[0].Path
        Wait-Until -What 'the live task to make its changes' -TimeoutSeconds 30 -Condition { Test-Path -LiteralPath "$liveUpper/ready" }
        $script:CNames = @($Commands.Keys) + 'app-1', 'live'

    }

    AfterAll {
        Stop-LiveTask
        if ($script:Docker) { Stop-TestDocker $script:Docker }
        if ($script:Ctd) { Stop-TestContainerd $script:Ctd }
    }

    It 'lists, for every container, what docker diff lists for the same command on the same image (Docker style by default)' {
        foreach ($n in $CNames) {
            $ours = Get-OverlayChange -Container $n -DataRoot $CtdRoot -ErrorVariable err
            $err | Should -BeNullOrEmpty
            Assert-SameSet (ConvertTo-DiffSet $ours) $CDiff[$n] "containerd container $n against docker diff of the same changes"
        }
        $CDiff['web'].Count | Should -BeGreaterThan 20
    }

    It 'finds containers by namespace, and lists a running task''s changes the same through its live mount' {
        ConvertTo-DiffSet (Get-OverlayChange -Container web -Namespace test -DataRoot $CtdRoot) | Should -Be $CDiff['web']
        Get-OverlayChange -Container web -Namespace 'other*' -DataRoot $CtdRoot -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'ContainerNotFound,OverlayTools.GetOverlayChangeCommand'
        Get-OverlayChange -Container web -Namespace nosuch -DataRoot $CtdRoot -ErrorVariable err2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err2[0].FullyQualifiedErrorId | Should -Be 'ContainerdNamespaceNotFound,OverlayTools.GetOverlayChangeCommand'
        $rootfs = "$($Ctd.State)/io.containerd.runtime.v2.task/test/live/rootfs"
        Test-MountedAt $rootfs | Should -BeTrue
        $byTarget = @(Get-OverlayChange -Target $rootfs)
        $byContainer = @(Get-OverlayChange -Container live -DataRoot $CtdRoot)
        $byTarget.Count | Should -BeGreaterThan 3
        ($byTarget | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.Size)|$($_.Layer)" }) |
            Should -Be ($byContainer | ForEach-Object { "$($_.Kind)|$($_.Path)|$($_.Size)|$($_.Layer)" })
        # The task's root names its container as -Container does, also piped from Get-OverlayMount.
        @($byContainer.Container | Sort-Object -Unique) | Should -Be @('live')
        (Get-OverlayMount -Target $rootfs).Container | Should -Be 'live'
        foreach ($byMount in $byTarget, @(Get-OverlayMount -Target $rootfs | Get-OverlayChange)) {
            ($byMount | ForEach-Object { "$($_.Container)|$($_.Kind)|$($_.Path)" }) |
                Should -Be ($byContainer | ForEach-Object { "$($_.Container)|$($_.Kind)|$($_.Path)" })
        }
    }

    It 'lists the same with containerd stopped' {
        Stop-LiveTask
        Stop-TestContainerd $Ctd -KeepData
        $Ctd.Process.HasExited | Should -BeTrue
        foreach ($n in $CNames) {
            Assert-SameSet (ConvertTo-DiffSet (Get-OverlayChange -Container $n -DataRoot $CtdRoot)) $CDiff[$n] "containerd container $n, with containerd stopped"
        }
    }

    It 'changes nothing in the store, not even access times, in any style' {
        Assert-LayersInside $CtdRoot
        Assert-TestTreeUnchanged $CtdRoot {
            @(Get-OverlayChange -Container * -DataRoot $CtdRoot).Count | Should -BeGreaterThan 20
            @(Get-OverlayChange -Container * -DataRoot $CtdRoot -Style Podman).Count | Should -BeGreaterThan 20
            @(Get-OverlayChange -Container * -DataRoot $CtdRoot -Style Upper).Count | Should -BeGreaterThan 20
        }
    }
}
