<#
.SYNOPSIS
    Get-OverlayLayer against docker image inspect through the CLI, same store, same run.

.DESCRIPTION
    Starts a private dockerd (overlay2) in a temp dir, builds a base image FROM scratch with the
    static busybox and -Images images on top of it (two COPY layers each, so 5 layers an image),
    then prints milliseconds and ratios (ours / baseline), medians over several rounds:
      - every image's layers: one Get-OverlayLayer -Image * in a session, against one
        docker image inspect of all the images (one CLI call, the daemon answering);
      - the same for a single image, and for a container;
      - the first call in a fresh session, and a whole pwsh process (start, import, list) against
        the CLI call.
    Needs root, dockerd, the docker CLI and busybox-static. Run it with: dotnet pwsh ./build.ps1 -Task Bench
#>
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1'),
    [ValidateRange(1, 10000)] [int] $Images = 60,
    [ValidateRange(1, 1000)] [int] $Rounds = 7
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot '../tests/TestEngines.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force

if ((& id -u) -ne '0') { throw 'The layer benchmark needs root (a private dockerd).' }
# Without docker there is nothing to compare with: say so and skip, as Change.Bench.ps1 does for docker diff.
if (-not (Test-EngineAvailable Docker)) { 'Layer benchmark: skipped (needs dockerd, the docker CLI and busybox-static)'; return }

$docker = if (Test-Path -LiteralPath /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }
$work = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-bench-layer-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$engine = $null

try {
    $null = New-Item -ItemType Directory -Path $work
    $engine = Start-TestDocker -Root (Join-Path $work 'docker')
    $dataRoot = $engine.DataRoot
    Write-Host "Building a base image and $Images images on it in $dataRoot..."
    $base = New-BusyboxContext -Path (Join-Path $work 'base') -Steps @('RUN mkdir -p /srv/app && echo base > /srv/app/base.txt')
    Invoke-TestDocker $engine build -q -t bench/base:1 $base | Out-Null
    foreach ($i in 1..$Images) {
        $ctx = New-BusyboxContext -Path (Join-Path $work "img$i") -From 'bench/base:1' -Files @{ 'a.txt' = "a $i"; 'b.txt' = "b $i" } -Steps @('COPY a.txt /srv/app/a.txt', 'COPY b.txt /srv/app/b.txt')
        Invoke-TestDocker $engine build -q -t "bench/app$($i):1" $ctx | Out-Null
    }
    Invoke-TestDocker $engine create --name bench-web bench/app1:1 true | Out-Null
    $names = @(Invoke-TestDocker $engine images --format '{{.Repository}}:{{.Tag}}')
    $one = "bench/app$([math]::Ceiling($Images / 2)):1"   # the image timed alone: one in the middle
    $layerCount = @(Get-OverlayLayer -DataRoot $dataRoot -Image *).Count
    "Store: $($names.Count) images, $layerCount image layers listed (the base's 3 layers are shared)."
    ''

    # Warm-up: JIT for both sides, page cache for the store.
    foreach ($i in 1..3) {
        $null = Get-OverlayLayer -DataRoot $dataRoot -Image *
        $null = & $docker -H $engine.Host image inspect @names
    }

    $ours = @(); $cli = @(); $oursOne = @(); $cliOne = @(); $oursCt = @(); $cliCt = @()
    foreach ($r in 1..$Rounds) {
        $ours += Time { Get-OverlayLayer -DataRoot $dataRoot -Image * }
        $cli += Time { & $docker -H $engine.Host image inspect @names }
        if ($LASTEXITCODE -ne 0) { throw 'docker image inspect failed.' }
        $oursOne += Time { Get-OverlayLayer -DataRoot $dataRoot -Image $one }
        $cliOne += Time { & $docker -H $engine.Host image inspect $one }
        $oursCt += Time { Get-OverlayLayer -DataRoot $dataRoot -Container bench-web }
        $cliCt += Time { & $docker -H $engine.Host inspect bench-web }
    }
    "Listing layers (median of $Rounds rounds, warm session)"
    Row "Get-OverlayLayer -Image * ($($names.Count) images)" (Median $ours) "docker image inspect ($($names.Count) images)" (Median $cli)
    Row 'Get-OverlayLayer -Image <one>' (Median $oursOne) 'docker image inspect <one>' (Median $cliOne)
    Row 'Get-OverlayLayer -Container <one>' (Median $oursCt) 'docker inspect <container>' (Median $cliCt)

    # A fresh session: the first call pays for loading and JIT; a whole process pays pwsh's start too.
    $pwsh = Join-Path $PSHOME 'pwsh'
    $first = @(); $process = @(); $bare = @()
    foreach ($r in 1..[math]::Min($Rounds, 5)) {
        $out = & $pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; `$sw = [Diagnostics.Stopwatch]::StartNew(); `$null = Get-OverlayLayer -DataRoot '$dataRoot' -Image *; `$sw.Elapsed.TotalMilliseconds"
        $first += [double] ($out | Select-Object -Last 1)
        $process += Time { & $pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; `$null = Get-OverlayLayer -DataRoot '$dataRoot' -Image *" }
        $bare += Time { & $pwsh -NoProfile -NonInteractive -Command 'exit' }
    }
    ''
    "A fresh session (median of $([math]::Min($Rounds, 5)))"
    Row 'first Get-OverlayLayer -Image * after import' (Median $first) "docker image inspect ($($names.Count) images)" (Median $cli)
    Row 'pwsh + import + Get-OverlayLayer -Image *' (Median $process) "docker image inspect ($($names.Count) images)" (Median $cli)
    '{0,-46} {1,10:N1} ms' -f 'of which a bare pwsh start', (Median $bare)
}
finally {
    if ($engine) { Stop-TestDocker $engine }
    if (Test-Path -LiteralPath $work) { & rm -rf --one-file-system -- $work }
}
