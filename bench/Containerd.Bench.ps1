<#
.SYNOPSIS
    Reading a 50-image containerd store from disk against ctr, in one run.

.DESCRIPTION
    Builds 50 images offline (FROM scratch with the static busybox, each with two layers of its
    own on a shared base) with a private dockerd, saves them in one archive, imports them into a
    private containerd (namespace k8s.io) and creates 10 containers. Then prints milliseconds and
    ratios (ours / baseline), medians over several rounds:
      - the whole store read in this session (every image with its layers, diff ids, chain ids,
        snapshot dirs, sizes and history; every container with upper, work and lowers), by
        Get-OverlayLayer -Image * plus -Container *, against `ctr images ls` plus
        `ctr snapshots ls`, which list names only;
      - the same read with the daemon stopped (ctr cannot answer then);
      - a fresh pwsh that imports the module and reads the store, against a bare pwsh start.
    Needs root, docker.io and busybox-static. Run it with: dotnet pwsh ./build.ps1 -Task Bench
#>
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1'),
    [ValidateRange(1, 10000)] [int] $Images = 50,
    [ValidateRange(1, 10000)] [int] $Containers = 10,
    [ValidateRange(1, 1000)] [int] $Rounds = 15
)
$ErrorActionPreference = 'Stop'
# Each container is created from an image of its own.
if ($Containers -gt $Images) { throw "-Containers ($Containers) cannot exceed -Images ($Images): each container is created from an image of its own." }
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot '../tests/TestEngines.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force

if ((& id -u) -ne '0') { throw 'The containerd benchmark needs root.' }
# Without the engines there is nothing to compare with: say so and skip, as Change.Bench.ps1 does for docker diff.
foreach ($e in 'Docker', 'Containerd') {
    if (-not (Test-EngineAvailable $e)) { "Containerd benchmark: skipped (needs $e; apt-get install docker.io busybox-static)"; return }
}

# Short paths: dockerd's own containerd socket must stay under 104 bytes.
$work = Join-Path ([IO.Path]::GetTempPath()) ('otb-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $work

$docker = $null; $ctd = $null
try {
    # ---- the store: 50 images (2 own layers each on a shared 2-layer base), 10 containers ----------
    $docker = Start-TestDocker -Root "$work/d"
    $tags = @(foreach ($i in 1..$Images) {
        $ctx = New-BusyboxContext -Path "$work/ctx$i" -Steps @("RUN echo $i > /id", "RUN mkdir -p /app/$i && echo image-$i > /app/$i/file")
        $tag = 'bench.example/app{0:D2}:1.0' -f $i
        $null = Invoke-TestDocker $docker build -q -t $tag $ctx
        $tag
    })
    $null = Invoke-TestDocker $docker save -o "$work/images.tar" @tags
    Stop-TestDocker $docker; $docker = $null

    $ctd = Start-TestContainerd -Root "$work/c"
    $null = Invoke-TestCtr $ctd -n k8s.io images import "$work/images.tar"
    foreach ($i in 1..$Containers) { $null = Invoke-TestCtr $ctd -n k8s.io containers create $tags[$i - 1] ("bench-{0:D2}" -f $i) }
    $root = $ctd.DataRoot
    $ctrArgs = @('--address', $ctd.Socket, '-n', 'k8s.io')

    function Read-Cmdlet { $null = Get-OverlayLayer -DataRoot $root -Image *; $null = Get-OverlayLayer -DataRoot $root -Container * }

    # Warm up (JIT, page cache), then check that both sides see the same store: no error, every
    # image ctr lists found by its name, every container read.
    foreach ($i in 1..5) { Read-Cmdlet; $null = & ctr @ctrArgs images ls; $null = & ctr @ctrArgs snapshots ls }
    $imageLayers = @(Get-OverlayLayer -DataRoot $root -Image * -ErrorAction Stop)
    $containerLayers = @(Get-OverlayLayer -DataRoot $root -Container * -ErrorAction Stop)
    $ctrImages = @(& ctr @ctrArgs images ls -q)
    foreach ($name in $ctrImages) { $null = Get-OverlayLayer -DataRoot $root -Namespace k8s.io -Image $name -ErrorAction Stop }
    $containerCount = @($containerLayers.ContainerId | Sort-Object -Unique).Count
    if ($containerCount -ne $Containers) { throw "We read $containerCount containers, $Containers were created." }
    "Store: $($ctrImages.Count) image names, $(@($imageLayers.ImageId | Sort-Object -Unique).Count) images, $($imageLayers.Count) image layers, $containerCount containers; ctr lists $(@(& ctr @ctrArgs snapshots ls).Count - 1) snapshots"

    $cmdlet = @(); $base = @()
    foreach ($r in 1..$Rounds) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $null = & ctr @ctrArgs images ls
        $null = & ctr @ctrArgs snapshots ls
        $base += $sw.Elapsed.TotalMilliseconds
        $sw.Restart()
        Read-Cmdlet
        $cmdlet += $sw.Elapsed.TotalMilliseconds
    }
    ''
    "Daemon running (median of $Rounds)"
    Row 'Get-OverlayLayer -Image * ; -Container *' (Median $cmdlet) 'ctr images ls + ctr snapshots ls' (Median $base) -Digits 2 -RatioDigits 3

    # Fresh process: pwsh start, module import and one read, against a bare pwsh start.
    $pwsh = Join-Path $PSHOME 'pwsh'
    $bare = @(); $fresh = @()
    $script = "Import-Module '$ModulePath'; `$null = Get-OverlayLayer -DataRoot '$root' -Image *; `$null = Get-OverlayLayer -DataRoot '$root' -Container *; exit"
    foreach ($r in 1..5) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $pwsh -NoProfile -NonInteractive -Command 'exit'; $bare += $sw.Elapsed.TotalMilliseconds
        $sw.Restart(); & $pwsh -NoProfile -NonInteractive -Command $script; $fresh += $sw.Elapsed.TotalMilliseconds
    }
    Row 'pwsh + Import-Module + one read' (Median $fresh) 'pwsh -c exit' (Median $bare) -Digits 2 -RatioDigits 3

    # Daemon stopped: only the disk is left.
    Stop-TestContainerd $ctd -KeepData
    $stopped = foreach ($r in 1..$Rounds) { $sw = [Diagnostics.Stopwatch]::StartNew(); Read-Cmdlet; $sw.Elapsed.TotalMilliseconds }
    $null = & ctr @ctrArgs images ls 2>&1
    ''
    "Daemon stopped (median of $Rounds)"
    '{0,-46} {1,10:N2} ms   {2,-34} {3}' -f 'Get-OverlayLayer -Image * ; -Container *', (Median $stopped), 'ctr images ls', "fails (exit code $LASTEXITCODE)"
}
finally {
    if ($docker) { Stop-TestDocker $docker }
    if ($ctd) { Stop-TestContainerd $ctd }
    Remove-EngineRoot $work
}
