<#
.SYNOPSIS
    Get-OverlayChange and Invoke-OverlayCopyUp against their floors, in one run.

.DESCRIPTION
    Prints milliseconds and ratios (ours / baseline), medians over several rounds:
      - Get-OverlayChange of an overlay whose upper layer holds 100,000 new files (100
        directories of 1,000), by mount point and from the bare layer directories, against
        `du -sb` of the upper (the lstat floor: it stats every entry, as a change list must) and
        `find` of it (readdir only). Goal: within 3x of du.
      - Get-OverlayChange -Container of a stopped Docker container whose upper layer holds
        100,000 new files, on a private dockerd started here (tests/TestEngines.psm1), against
        `docker diff` of the same container and `du -sb` of its upper. Goal: at least 5x faster
        than docker diff, within 3x of du.
      - Resolve-OverlayPath and Invoke-OverlayCopyUp of 2,000 paths piped in (an overlay of 100
        lower layers): Resolve-OverlayPath against Get-Item of the same paths (a pipeline that
        lstats each) and a plain stat loop over them, Invoke-OverlayCopyUp against one shell
        copying the same files up in a loop (`: 1<> file` each), on a fresh upper. Shows what a
        path costs once the layers are open.
      - Invoke-OverlayCopyUp of a 1 GiB file against the kernel's own copy-up triggered from
        the shell (`: 1<> file`, an open for writing without truncation), each on a fresh upper.
    Needs root. Run it with: dotnet pwsh ./build.ps1 -Task Bench
#>
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1'),
    [int] $Files = 100000,
    [int] $Rounds = 5,
    [int] $CopyRounds = 5,
    [int] $CopyMiB = 1024,
    [int] $DockerRounds = 5,
    [int] $PipedFiles = 2000,
    [int] $PipedLayers = 100
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot '../tests/TestEngines.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force

if ((& id -u) -ne '0') { throw 'The change benchmark needs root.' }

$work = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $work

function Add-Files([string] $root, [int] $count) {
    # $count one-byte files in 100 directories below $root/data; returns how many were made.
    $perDir = [math]::Ceiling($count / 100)
    $made = 0
    for ($i = 0; $i -lt 100 -and $made -lt $count; $i++) {
        $dir = "$root/data/d{0:D3}" -f $i
        $null = [IO.Directory]::CreateDirectory($dir)
        for ($j = 0; $j -lt $perDir -and $made -lt $count; $j++) {
            [IO.File]::WriteAllText("$dir/f$j", 'x')
            $made++
        }
    }
    return $made
}

$docker = $null
try {
    # A base image and a container upper that added $Files files.
    $lower = "$work/lower"; $upper = "$work/upper"; $merged = "$work/merged"
    foreach ($d in $lower, $upper, $merged) { $null = New-Item -ItemType Directory -Path $d }
    foreach ($i in 0..99) {
        $null = [IO.Directory]::CreateDirectory("$lower/usr/lib/pkg$i")
        foreach ($j in 0..19) { [IO.File]::WriteAllText("$lower/usr/lib/pkg$i/f$j", 'base') }
    }
    $made = Add-Files $upper $Files
    Mount-Overlay -Lower $lower -Upper $upper -Target $merged

    # Warm up (JIT, dentry and inode caches) before any timing: a few passes, so the walk runs
    # optimised code (tiered JIT) in every measurement, not only in the later ones.
    $n = @(Get-OverlayChange -Target $merged).Count
    foreach ($i in 1..3) {
        $null = Get-OverlayChange -Target $merged
        $null = Get-OverlayChange -Upper $upper -Lower $lower
    }
    $null = & du -sb $upper
    $null = & find $upper

    $byTarget = @(); $byLayers = @(); $du = @(); $find = @()
    foreach ($r in 1..$Rounds) {
        $byTarget += Time { $null = Get-OverlayChange -Target $merged }
        $byLayers += Time { $null = Get-OverlayChange -Upper $upper -Lower $lower }
        $du += Time { $null = & du -sb $upper }
        $find += Time { $null = & find $upper }
    }
    "Get-OverlayChange of an upper with $made new files ($n changes; median of $Rounds)"
    Row 'Get-OverlayChange -Target' (Median $byTarget) 'du -sb <upper>' (Median $du)
    Row 'Get-OverlayChange -Upper -Lower' (Median $byLayers) 'du -sb <upper>' (Median $du)
    Row 'Get-OverlayChange -Target' (Median $byTarget) 'find <upper>' (Median $find)
    Dismount-Overlay -Target $merged

    # A Docker container whose upper holds $Files new files: ours against docker diff.
    ''
    if (-not (Test-EngineAvailable Docker)) {
        'Get-OverlayChange -Container against docker diff: skipped (needs dockerd, the docker CLI and busybox-static)'
    }
    else {
        $docker = Start-TestDocker -Root "$work/d"
        $ctx = New-BusyboxContext -Path "$work/ctx" -Steps @('RUN mkdir -p /data /usr/lib/pkg && echo base > /usr/lib/pkg/f')
        $null = Invoke-TestDocker $docker build -q -t bench:1 $ctx
        $null = Invoke-TestDocker $docker create --name many bench:1 true
        $gd = ((Invoke-TestDocker $docker inspect many) -join "`n" | ConvertFrom-Json).GraphDriver.Data
        # The container is not running: its upper is written directly, as a process in it would.
        $dmade = Add-Files $gd.UpperDir $Files
        $dataRoot = $docker.DataRoot
        $cli = if (Test-Path -LiteralPath /usr/bin/docker) { '/usr/bin/docker' } else { (Get-Command docker -CommandType Application).Source }
        $dn = @(Get-OverlayChange -Container many -DataRoot $dataRoot).Count
        $theirs = @(Invoke-TestDocker $docker diff many).Count
        if ($theirs -ne $dn) { throw "docker diff lists $theirs changes, Get-OverlayChange $dn." }
        $null = & du -sb $gd.UpperDir
        $byContainer = @(); $dockerDiff = @(); $duUpper = @()
        foreach ($r in 1..$DockerRounds) {
            $byContainer += Time { $null = Get-OverlayChange -Container many -DataRoot $dataRoot }
            # The CLI writes to /dev/null itself, so pwsh's reading of 100,000 lines is not counted against docker.
            $dockerDiff += Time { & sh -c '"$0" -H "$1" diff many >/dev/null' $cli $docker.Host; if ($LASTEXITCODE -ne 0) { throw 'docker diff failed.' } }
            $duUpper += Time { $null = & du -sb $gd.UpperDir }
        }
        "Get-OverlayChange -Container of a Docker container whose upper holds $dmade new files ($dn changes, as docker diff lists them; median of $DockerRounds)"
        Row 'Get-OverlayChange -Container' (Median $byContainer) 'docker diff' (Median $dockerDiff)
        Row 'Get-OverlayChange -Container' (Median $byContainer) 'du -sb <upper>' (Median $duUpper)
        Stop-TestDocker $docker
        $docker = $null
    }

    # Paths piped one by one: the layers are opened once per command, then each path is a lookup.
    $pipedLowers = foreach ($l in 1..$PipedLayers) {
        $d = "$work/pl$l"
        $null = New-Item -ItemType Directory -Path "$d/etc"
        [IO.File]::WriteAllText("$d/etc/layer$l", "$l")
        $d
    }
    $filesPerDir = [math]::Ceiling($PipedFiles / 20)
    foreach ($i in 0..19) {
        $null = [IO.Directory]::CreateDirectory("$($pipedLowers[-1])/srv/d$i")
        foreach ($j in 1..$filesPerDir) { [IO.File]::WriteAllText("$($pipedLowers[-1])/srv/d$i/f$j", 'x') }
    }
    $pathsOf = { param($m) @(foreach ($i in 0..19) { foreach ($j in 1..$filesPerDir) { "$m/srv/d$i/f$j" } }) | Select-Object -First $PipedFiles }
    $pu = "$work/pu"; $pm = "$work/pm"
    $null = New-Item -ItemType Directory -Path $pu, $pm
    Mount-Overlay -Lower $pipedLowers -Upper $pu -Target $pm
    $paths = & $pathsOf $pm
    $statLoop = { foreach ($p in $paths) { $null = [IO.File]::GetAttributes($p) } }
    foreach ($i in 1..2) { $null = $paths | Resolve-OverlayPath; $null = $paths | Get-Item; & $statLoop }
    $resolve = @(); $getItem = @(); $stat = @()
    foreach ($r in 1..$Rounds) {
        $resolve += Time { $null = $paths | Resolve-OverlayPath }
        $getItem += Time { $null = $paths | Get-Item }
        $stat += Time $statLoop
    }
    Dismount-Overlay -Target $pm
    $ourCopy = @(); $shellCopy = @()
    foreach ($r in 1..$Rounds) {
        foreach ($who in 'ours', 'shell') {
            $u = "$work/pcu-$who-$r"; $m = "$work/pcm-$who-$r"
            $null = New-Item -ItemType Directory -Path $u, $m
            Mount-Overlay -Lower $pipedLowers -Upper $u -Target $m
            try {
                $ps = & $pathsOf $m
                if ($who -eq 'ours') { $ourCopy += Time { $ps | Invoke-OverlayCopyUp } }
                else {
                    $ps | Set-Content -LiteralPath "$work/paths-$r"
                    $shellCopy += Time { & sh -c 'while IFS= read -r f; do : 1<> "$f" || exit 1; done < "$1"' sh "$work/paths-$r"; if ($LASTEXITCODE -ne 0) { throw 'the shell copy-up failed.' } }
                }
                if (@(Get-ChildItem -LiteralPath "$u/srv" -Recurse -File).Count -ne $ps.Count) { throw "The $who copy-up did not copy every file." }
            }
            finally {
                Dismount-Overlay -Target $m
                Remove-Item -LiteralPath $u, "$u.work", $m -Recurse -Force
            }
        }
    }
    ''
    "$($paths.Count) paths piped in, on an overlay of $PipedLayers lower layers (median of $Rounds)"
    Row 'paths | Resolve-OverlayPath' (Median $resolve) 'paths | Get-Item' (Median $getItem)
    Row 'paths | Resolve-OverlayPath' (Median $resolve) 'stat loop ([IO.File]::GetAttributes)' (Median $stat)
    Row 'paths | Invoke-OverlayCopyUp' (Median $ourCopy) 'sh: : 1<> file, in a loop' (Median $shellCopy)

    # Copy-up of one large file: ours against the kernel's copy-up triggered by the shell.
    $big = "$work/biglower"
    $null = New-Item -ItemType Directory -Path $big
    & dd if=/dev/zero of="$big/big.bin" bs=1M count=$CopyMiB status=none
    if ($LASTEXITCODE -ne 0) { throw 'dd failed.' }
    $ours = @(); $shell = @()
    foreach ($r in 1..$CopyRounds) {
        # Alternate who goes first; flush dirty pages (dd, the last round's copies) before each timing.
        foreach ($who in ($(if ($r % 2) { 'ours', 'shell' } else { 'shell', 'ours' }))) {
            $u = "$work/cu-$who-$r"; $m = "$work/cm-$who-$r"
            $null = New-Item -ItemType Directory -Path $u, $m
            Mount-Overlay -Lower $big -Upper $u -Target $m
            & sync
            try {
                if ($who -eq 'ours') {
                    $ours += Time { Invoke-OverlayCopyUp -LiteralPath "$m/big.bin" }
                }
                else {
                    $shell += Time { & sh -c ': 1<> "$1"' sh "$m/big.bin" }
                    if ($LASTEXITCODE -ne 0) { throw 'the shell copy-up failed.' }
                }
                if ((Get-Item -LiteralPath "$u/big.bin").Length -ne $CopyMiB * 1MB) { throw "The $who copy-up did not copy the whole file." }
            }
            finally {
                Dismount-Overlay -Target $m
                Remove-Item -LiteralPath $u, "$u.work", $m -Recurse -Force
            }
        }
    }
    ''
    "Copy-up of a $CopyMiB MiB file (median of $CopyRounds, each on a fresh upper)"
    Row 'Invoke-OverlayCopyUp' (Median $ours) 'sh: : 1<> file' (Median $shell)
}
finally {
    if ($docker) { Stop-TestDocker $docker }
    Get-OverlayMount -Target "$work/*" -ErrorAction SilentlyContinue | Dismount-Overlay -Force -ErrorAction SilentlyContinue
    if (-not (Get-OverlayMount -Target "$work/*")) { Remove-Item -LiteralPath $work -Recurse -Force }
}
