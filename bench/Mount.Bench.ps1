<#
.SYNOPSIS
    Mount-Overlay + Dismount-Overlay against the raw syscalls and util-linux, in one run.

.DESCRIPTION
    Prints milliseconds and ratios (ours / baseline), medians over several rounds:
      - a mount+dismount pair: Mount-Overlay/Dismount-Overlay in one session, a C loop of
        mount(2)/umount2 (bench/raw-mount.c, built here with cc), the same C loop through the
        new mount API that Mount-Overlay uses (fsopen, fsconfig, fsmount, move_mount), and
        util-linux mount/umount;
      - a 500-layer mount (the kernel's maximum) with 120-character paths: ours against a C loop
        of fsopen + 500 lowerdir+ + move_mount; util-linux cannot mount it at all;
      - the start-up cost: pwsh -c exit against pwsh importing the module and running a first
        Get-OverlayMount, and for scale against pwsh importing a module that is only a manifest;
        then the same steps timed inside a fresh pwsh (no process-start noise), with the binary
        module imported alone to show what its format and types files add.
    Needs root and a C compiler. Run it with: dotnet pwsh ./build.ps1 -Task Bench
#>
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1'),
    [int] $Pairs = 1000,
    [int] $Rounds = 5
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force

if ((& id -u) -ne '0') { throw 'The mount benchmark needs root.' }
$cc = Get-Command cc, gcc -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $cc) { throw 'The mount benchmark needs a C compiler (cc) for its raw-syscall baseline.' }

$work = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $work
$raw = Join-Path $work 'raw-mount'
& $cc.Source -O2 -o $raw (Join-Path $PSScriptRoot 'raw-mount.c')
if ($LASTEXITCODE -ne 0) { throw 'Compiling bench/raw-mount.c failed.' }

try {
    foreach ($d in 'lower', 'upper', 'work', 'merged', 'cwork') { $null = New-Item -ItemType Directory -Path "$work/$d" }
    Set-Content "$work/lower/file" 'x'
    $l = "$work/lower"; $u = "$work/upper"; $w = "$work/work"; $m = "$work/merged"

    # Warm up before any timing: the runtime keeps recompiling hot PowerShell and module code on a
    # background thread for the first seconds of a busy session, which on two cores competes with
    # the loop; the pair cost wanted here is the steady one.
    $warm = [Diagnostics.Stopwatch]::StartNew(); $warmPairs = 0
    while ($warm.Elapsed.TotalSeconds -lt 4 -or $warmPairs -lt 1000) {
        Mount-Overlay -Lower $l -Upper $u -Work $w -Target $m; Dismount-Overlay -Target $m; $warmPairs++
    }

    $ours = @(); $rawMs = @(); $rawNew = @(); $util = @()
    foreach ($r in 1..$Rounds) {
        $rawMs += [double] (& $raw pairs $Pairs $l $u "$work/cwork" $m)
        $rawNew += [double] (& $raw newpairs $Pairs $l $u "$work/cwork" $m)
        $sw = [Diagnostics.Stopwatch]::StartNew()
        foreach ($i in 1..$Pairs) { Mount-Overlay -Lower $l -Upper $u -Work $w -Target $m; Dismount-Overlay -Target $m }
        $ours += $sw.Elapsed.TotalMilliseconds / $Pairs
        $n = [math]::Max(20, [int]($Pairs / 10))
        $sw.Restart()
        & bash -c "for i in `$(seq $n); do mount -t overlay overlay -o lowerdir=$l,upperdir=$u,workdir=$w $m && umount $m || exit 1; done"
        if ($LASTEXITCODE -ne 0) { throw 'util-linux mount failed.' }
        $util += $sw.Elapsed.TotalMilliseconds / $n
    }
    $o = Median $ours
    "Mount + dismount pair (median of $Rounds rounds of $Pairs pairs, after $warmPairs warm-up pairs)"
    Row 'Mount-Overlay + Dismount-Overlay' $o 'C mount(2) + umount2' (Median $rawMs) -Digits 3
    Row 'Mount-Overlay + Dismount-Overlay' $o 'C new mount API + umount2' (Median $rawNew) -Digits 3
    Row 'Mount-Overlay + Dismount-Overlay' $o 'util-linux mount + umount' (Median $util) -Digits 3
    # The machine's speed drifts between rounds (shared host); within a round the two loops run
    # back to back, so each round's own ratio is steadier than a ratio of medians.
    $perRound = foreach ($r in 0..($Rounds - 1)) { $ours[$r] / $rawMs[$r] }
    '{0,-46} {1}   median {2:N2}x' -f 'ratio to C in each round', (($perRound | ForEach-Object { $_.ToString('N2') + 'x' }) -join ' '), (Median $perRound)

    # 500 layers of 120-character paths.
    $lowers = foreach ($i in 1..500) {
        $p = Join-Path $work ('many/{0:D3}-{1}' -f $i, ('x' * (119 - $work.Length - 10)))
        $null = New-Item -ItemType Directory -Force -Path $p
        $p
    }
    foreach ($i in 1..40) { Mount-Overlay -Lower $lowers -Target $m; Dismount-Overlay -Target $m }
    $ours500 = @(); $raw500 = @()
    foreach ($r in 1..$Rounds) {
        $raw500 += [double] (& $raw many 20 $m @lowers)
        $sw = [Diagnostics.Stopwatch]::StartNew()
        foreach ($i in 1..20) { Mount-Overlay -Lower $lowers -Target $m; Dismount-Overlay -Target $m }
        $ours500 += $sw.Elapsed.TotalMilliseconds / 20
    }
    ''
    "500 lower layers of 120-character paths (median of $Rounds rounds of 20 mounts)"
    Row 'Mount-Overlay + Dismount-Overlay' (Median $ours500) 'C fsopen + 500 lowerdir+' (Median $raw500) -Digits 3
    $out = & mount -t overlay overlay -o "lowerdir=$($lowers -join ':')" $m 2>&1
    if ($LASTEXITCODE -eq 0) { & umount $m; 'util-linux mount: mounted' } else { "util-linux mount: fails ($out)" }

    # Start-up: import plus a first Get-OverlayMount, against a bare pwsh start. For scale, the
    # same with a module that holds nothing (a manifest alone): what any Import-Module costs.
    $pwsh = Join-Path $PSHOME 'pwsh'
    $empty = Join-Path $work 'Empty/Empty.psd1'
    $null = New-Item -ItemType Directory -Path (Split-Path $empty)
    Set-Content -LiteralPath $empty -Value "@{ ModuleVersion = '1.0'; GUID = '$([guid]::NewGuid())' }"
    $bare = @(); $withModule = @(); $withEmpty = @()
    $startRounds = [math]::Max($Rounds, 9)
    foreach ($r in 1..$startRounds) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $pwsh -NoProfile -NonInteractive -Command 'exit' ; $bare += $sw.Elapsed.TotalMilliseconds
        $sw.Restart(); & $pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; `$null = Get-OverlayMount; exit"; $withModule += $sw.Elapsed.TotalMilliseconds
        $sw.Restart(); & $pwsh -NoProfile -NonInteractive -Command "Import-Module '$empty'; exit"; $withEmpty += $sw.Elapsed.TotalMilliseconds
    }
    ''
    "Start-up (median of $startRounds)"
    '{0,-46} {1,10:N0} ms   {2,-34} {3,10:N0} ms   added {4,6:N0} ms' -f 'pwsh + Import-Module + Get-OverlayMount', (Median $withModule), 'pwsh -c exit', (Median $bare), ((Median $withModule) - (Median $bare))
    '{0,-46} {1,10:N0} ms   {2,-34} {3,10:N0} ms   added {4,6:N0} ms' -f 'pwsh + Import-Module of an empty manifest', (Median $withEmpty), 'pwsh -c exit', (Median $bare), ((Median $withEmpty) - (Median $bare))

    # The same costs timed inside pwsh: a Stopwatch around each step in a fresh process, free of
    # the process start's noise (which on this VM moves a whole pwsh start by 50-100 ms). The
    # binary module imported alone (no format and types files) shows what those two files add.
    $dll = Join-Path (Split-Path $ModulePath) 'OverlayTools.dll'
    $inv = [cultureinfo]::InvariantCulture
    $clock = '$sw = [Diagnostics.Stopwatch]::StartNew(); {0}; $a = $sw.Elapsed.TotalMilliseconds; {1}; $b = $sw.Elapsed.TotalMilliseconds; ''{{0}} {{1}}'' -f $a.ToString([cultureinfo]::InvariantCulture), $b.ToString([cultureinfo]::InvariantCulture)'
    $inEmpty = @(); $inDll = @(); $inModule = @(); $inFirst = @()
    foreach ($r in 1..$startRounds) {
        $t = (& $pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$empty'", '$null = 0')) -split ' '
        $inEmpty += [double]::Parse($t[0], $inv)
        $t = (& $pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$dll'", '$null = 0')) -split ' '
        $inDll += [double]::Parse($t[0], $inv)
        $t = (& $pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$ModulePath'", '$null = Get-OverlayMount')) -split ' '
        $inModule += [double]::Parse($t[0], $inv); $inFirst += [double]::Parse($t[1], $inv) - [double]::Parse($t[0], $inv)
    }
    ''
    "Start-up timed inside pwsh (median of $startRounds fresh processes)"
    '{0,-62} {1,6:N0} ms' -f 'Import-Module of an empty manifest', (Median $inEmpty)
    '{0,-62} {1,6:N0} ms' -f 'Import-Module OverlayTools.dll alone (no format, types files)', (Median $inDll)
    '{0,-62} {1,6:N0} ms' -f 'Import-Module OverlayTools (the manifest: dll, format, types)', (Median $inModule)
    '{0,-62} {1,6:N0} ms' -f 'then a first Get-OverlayMount', (Median $inFirst)
}
finally {
    Get-OverlayMount -Target "$work/*" -ErrorAction SilentlyContinue | Dismount-Overlay -Force -ErrorAction SilentlyContinue
    if (-not (Get-OverlayMount -Target "$work/*")) { Remove-Item -LiteralPath $work -Recurse -Force }
}
