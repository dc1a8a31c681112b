<#
.SYNOPSIS
    Mount-Overlay + Dismount-Overlay against the raw syscalls and util-linux, in one run.

.DESCRIPTION
    Prints milliseconds and ratios (ours / baseline), medians over several rounds:
      - a mount+dismount pair: Mount-Overlay/Dismount-Overlay in one session, a C loop of
        mount(2)/umount2 (bench/raw-mount.c, built here with cc), the same C loop through the
        new mount API that Mount-Overlay uses (fsopen, fsconfig, fsmount, move_mount), and
        util-linux mount/umount; then the pair's parts: the module's engine (OverlayMounter,
        OverlayUnmounter) called directly, and the same with two empty compiled cmdlets in each
        pair, whose difference is what PowerShell itself charges for two commands there;
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
    [int] $Rounds = 5,
    # Only the start-up rows (no pairs, no 500-layer mount).
    [switch] $StartUpOnly
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force

if ((& id -u) -ne '0') { throw 'The mount benchmark needs root.' }
$cc = Get-Command cc, gcc -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $cc) { throw 'The mount benchmark needs a C compiler (cc) for its raw-syscall baseline.' }

function Invoke-Pairs([int] $Count, [string] $Lower, [string] $Upper, [string] $Work, [string] $Target) {
    # The timed loop: Mount-Overlay + Dismount-Overlay, $Count times.
    foreach ($i in 1..$Count) { Mount-Overlay -Lower $Lower -Upper $Upper -Work $Work -Target $Target; Dismount-Overlay -Target $Target }
}

# The pair's parts: the module's engine called directly (no cmdlet), and the same with two
# empty compiled cmdlets run beside it in each pair (what PowerShell itself charges for two
# commands in this loop, where the kernel's mount and dismount work leave its caches cold).
Add-Type -TypeDefinition @'
using System.Management.Automation;
namespace OverlayToolsBench
{
    [Cmdlet(VerbsData.Mount, "BenchEmpty", SupportsShouldProcess = true)]
    public sealed class MountBenchEmpty : PSCmdlet
    {
        [Parameter(Position = 0)] public string[] Lower { get; set; }
        [Parameter] public string Upper { get; set; }
        [Parameter] public string Work { get; set; }
        [Parameter(Position = 1)] public string Target { get; set; }
        protected override void ProcessRecord() { ShouldProcess(Target, "Mount"); }
    }

    [Cmdlet(VerbsData.Dismount, "BenchEmpty", SupportsShouldProcess = true)]
    public sealed class DismountBenchEmpty : PSCmdlet
    {
        [Parameter(Position = 0)] public string[] Target { get; set; }
        protected override void ProcessRecord() { ShouldProcess(Target[0], "Dismount"); }
    }
}
'@ -PassThru | Select-Object -First 1 | ForEach-Object Assembly | Import-Module

function Invoke-EnginePairs([int] $Count, [string] $Lower, [string] $Upper, [string] $Work, [string] $Target, [switch] $WithEmptyCmdlets) {
    # The same pairs through OverlayMounter.Mount and OverlayUnmounter.Dismount called directly;
    # with -WithEmptyCmdlets, two empty compiled cmdlets with the same parameters run in each pair too.
    $spec = [OverlayTools.Mounts.OverlaySpec]@{ Lower = [string[]] $Lower; Upper = $Upper; Work = $Work; Target = $Target }
    $none = [Threading.CancellationToken]::None
    if ($WithEmptyCmdlets) {
        foreach ($i in 1..$Count) {
            Mount-BenchEmpty -Lower $Lower -Upper $Upper -Work $Work -Target $Target
            $null = [OverlayTools.Mounts.OverlayMounter]::Mount($spec, $null, $false, $none)
            Dismount-BenchEmpty -Target $Target
            $null = [OverlayTools.Mounts.OverlayUnmounter]::Dismount($Target, $false, $null, $none, $null)
        }
    }
    else {
        foreach ($i in 1..$Count) {
            $null = [OverlayTools.Mounts.OverlayMounter]::Mount($spec, $null, $false, $none)
            $null = [OverlayTools.Mounts.OverlayUnmounter]::Dismount($Target, $false, $null, $none, $null)
        }
    }
}

function Wait-BackgroundJit([double] $MaxSeconds = 10) {
    # Waits until the runtime's tiered-compilation thread ('.NET Tiered Com...') has used less
    # than 2 ms of CPU in 200 ms, or $MaxSeconds have passed.
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $last = Get-BackgroundJitNs
    while ($sw.Elapsed.TotalSeconds -lt $MaxSeconds) {
        Start-Sleep -Milliseconds 200
        $now = Get-BackgroundJitNs
        if ($now - $last -lt 2e6) { return }
        $last = $now
    }
}

function Get-BackgroundJitNs {
    # CPU nanoseconds of this process's tiered-compilation threads so far (/proc/self/task/*/schedstat).
    $ns = 0.0
    foreach ($t in [IO.Directory]::GetDirectories('/proc/self/task')) {
        try {
            if ([IO.File]::ReadAllText("$t/comm").StartsWith('.NET Tiered')) { $ns += [double] ([IO.File]::ReadAllText("$t/schedstat").Split(' ')[0]) }
        }
        catch [IO.IOException] { } # the thread ended
    }
    return $ns
}

function Get-PwshCodeKind([string] $PwshHome) {
    # 'precompiled' when System.Management.Automation.dll carries ReadyToRun code, else 'IL only'.
    if (Test-ReadyToRun (Join-Path $PwshHome 'System.Management.Automation.dll')) { 'precompiled' } else { 'IL only' }
}

function Test-ReadyToRun([string] $Path) {
    # A ReadyToRun assembly names a native header in its CLI header.
    $stream = [IO.File]::OpenRead($Path)
    try {
        $pe = [Reflection.PortableExecutable.PEReader]::new($stream)
        try { return $pe.PEHeaders.CorHeader -and $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory.Size -ne 0 }
        finally { $pe.Dispose() }
    }
    finally { $stream.Dispose() }
}

function New-PrecompiledPwsh([string] $Source, [string] $Destination, [string] $Module) {
    # A copy of the pwsh folder $Source in which the assemblies that a start-up with the module
    # loads are compiled to ReadyToRun code by crossgen2 (the NuGet package that build.ps1's
    # ReadyToRun step restores for this .NET). Returns the copy's pwsh, or nothing (with a note)
    # when crossgen2 is missing.
    $runtime = [Environment]::Version
    $arch = [Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $crossgen = Get-ChildItem -Path (Join-Path $packages "microsoft.netcore.app.crossgen2.linux-$arch") -Directory -ErrorAction SilentlyContinue |
        Where-Object { $_.Name -like "$($runtime.Major).$($runtime.Minor).*" } |
        Sort-Object { [version] ($_.Name -replace '-.*$', '') } -Descending |
        ForEach-Object { Join-Path $_.FullName 'tools/crossgen2' } | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
    if (-not $crossgen) {
        Write-Host "(no crossgen2 for .NET $($runtime.Major).$($runtime.Minor) under $packages, so no precompiled pwsh; dotnet pwsh ./build.ps1 restores it)"
        return
    }
    Copy-Item -LiteralPath $Source -Destination $Destination -Recurse
    # Which of pwsh's own assemblies a start-up with the module loads.
    $loaded = & (Join-Path $Source 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$Module'; `$null = Get-OverlayMount; [AppDomain]::CurrentDomain.GetAssemblies().Location"
    $framework = [Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()
    $sw = [Diagnostics.Stopwatch]::StartNew(); $compiled = 0
    foreach ($dll in $loaded | Where-Object { $_ -and (Split-Path $_) -eq $Source.TrimEnd('/') } | Sort-Object -Unique) {
        if (Test-ReadyToRun $dll) { continue }
        # The arguments go in a response file: pwsh would expand the *.dll patterns itself.
        $rsp = Join-Path $Destination 'crossgen2.rsp'
        Set-Content -LiteralPath $rsp -Value $dll, '-o', (Join-Path $Destination (Split-Path -Leaf $dll)),
            '-r', (Join-Path $Source '*.dll'), '-r', (Join-Path $framework '*.dll'), '--targetos', 'linux', '--targetarch', $arch, '-O'
        $out = & $crossgen "@$rsp" 2>&1
        if ($LASTEXITCODE -ne 0) { throw "crossgen2 failed on ${dll}: $($out | Select-Object -First 3)" }
        $compiled++
    }
    Write-Host "(precompiled $compiled of pwsh's assemblies into a copy of $Source with $crossgen in $([math]::Round($sw.Elapsed.TotalSeconds)) s)"
    return Join-Path $Destination 'pwsh'
}

function Measure-StartUp([string] $Pwsh, [string] $Label, [string] $Module, [string] $Empty, [int] $Rounds) {
    # Import plus a first Get-OverlayMount against a bare start of the same pwsh; for scale, the
    # same with a module that is only a manifest (what any first Import-Module costs). Then the
    # same steps timed inside a fresh pwsh, free of the process start's noise (which on this VM
    # moves a whole pwsh start by 50-100 ms); the binary module imported alone shows what its
    # format and types files add.
    $bare = @(); $withModule = @(); $withEmpty = @()
    foreach ($r in 1..$Rounds) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $Pwsh -NoProfile -NonInteractive -Command 'exit' ; $bare += $sw.Elapsed.TotalMilliseconds
        $sw.Restart(); & $Pwsh -NoProfile -NonInteractive -Command "Import-Module '$Module'; `$null = Get-OverlayMount; exit"; $withModule += $sw.Elapsed.TotalMilliseconds
        $sw.Restart(); & $Pwsh -NoProfile -NonInteractive -Command "Import-Module '$Empty'; exit"; $withEmpty += $sw.Elapsed.TotalMilliseconds
    }
    "Start-up, $Label (median of $Rounds)"
    '{0,-46} {1,10:N0} ms   {2,-34} {3,10:N0} ms   added {4,6:N0} ms' -f 'pwsh + Import-Module + Get-OverlayMount', (Median $withModule), 'pwsh -c exit', (Median $bare), ((Median $withModule) - (Median $bare))
    '{0,-46} {1,10:N0} ms   {2,-34} {3,10:N0} ms   added {4,6:N0} ms' -f 'pwsh + Import-Module of an empty manifest', (Median $withEmpty), 'pwsh -c exit', (Median $bare), ((Median $withEmpty) - (Median $bare))

    $dll = Join-Path (Split-Path $Module) 'OverlayTools.dll'
    $inv = [cultureinfo]::InvariantCulture
    $clock = '$sw = [Diagnostics.Stopwatch]::StartNew(); {0}; $a = $sw.Elapsed.TotalMilliseconds; {1}; $b = $sw.Elapsed.TotalMilliseconds; ''{{0}} {{1}}'' -f $a.ToString([cultureinfo]::InvariantCulture), $b.ToString([cultureinfo]::InvariantCulture)'
    $inEmpty = @(); $inDll = @(); $inModule = @(); $inFirst = @()
    foreach ($r in 1..$Rounds) {
        $t = (& $Pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$Empty'", '$null = 0')) -split ' '
        $inEmpty += [double]::Parse($t[0], $inv)
        $t = (& $Pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$dll'", '$null = 0')) -split ' '
        $inDll += [double]::Parse($t[0], $inv)
        $t = (& $Pwsh -NoProfile -NonInteractive -Command ($clock -f "Import-Module '$Module'", '$null = Get-OverlayMount')) -split ' '
        $inModule += [double]::Parse($t[0], $inv); $inFirst += [double]::Parse($t[1], $inv) - [double]::Parse($t[0], $inv)
    }
    "Start-up timed inside that pwsh (median of $Rounds fresh processes)"
    '{0,-62} {1,6:N0} ms' -f 'Import-Module of an empty manifest', (Median $inEmpty)
    '{0,-62} {1,6:N0} ms' -f 'Import-Module OverlayTools.dll alone (no format, types files)', (Median $inDll)
    '{0,-62} {1,6:N0} ms' -f 'Import-Module OverlayTools (the manifest: dll, format, types)', (Median $inModule)
    '{0,-62} {1,6:N0} ms' -f 'then a first Get-OverlayMount', (Median $inFirst)
    '{0,-62} {1,6:N0} ms' -f 'import plus first Get-OverlayMount', ((Median $inModule) + (Median $inFirst))
}

$work = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $work
$raw = Join-Path $work 'raw-mount'
& $cc.Source -O2 -o $raw (Join-Path $PSScriptRoot 'raw-mount.c')
if ($LASTEXITCODE -ne 0) { throw 'Compiling bench/raw-mount.c failed.' }

try {
    foreach ($d in 'lower', 'upper', 'work', 'merged', 'cwork') { $null = New-Item -ItemType Directory -Path "$work/$d" }
    Set-Content "$work/lower/file" 'x'
    $l = "$work/lower"; $u = "$work/upper"; $w = "$work/work"; $m = "$work/merged"

    if (-not $StartUpOnly) {
        # Warm up before any timing: for the first seconds of a session the runtime recompiles hot
        # PowerShell and module code on a background thread, which on two cores competes with the
        # loops (C's too). The pair cost wanted here is the steady one, so the loop that is timed
        # is the very function that warms up (a new loop would be compiled anew), and every timed
        # loop starts only once that thread is idle.
        $warm = [Diagnostics.Stopwatch]::StartNew(); $warmPairs = 0
        while ($warm.Elapsed.TotalSeconds -lt 4 -or $warmPairs -lt 1000) {
            Invoke-Pairs 200 $l $u $w $m; $warmPairs += 200
        }
        $null = & $raw pairs 10 $l $u "$work/cwork" $m
        $null = & $raw newpairs 10 $l $u "$work/cwork" $m
        Invoke-EnginePairs 1000 $l $u $w $m
        Invoke-EnginePairs 1000 $l $u $w $m -WithEmptyCmdlets
        Invoke-Pairs 200 $l $u $w $m; $warmPairs += 200

        # Besides the wall clock, the CPU time per pair (the rest is waiting: every dismount waits
        # for the upper's file system to be synced and for RCU grace periods, in C as in ours).
        $ours = @(); $rawMs = @(); $rawNew = @(); $util = @(); $oursCpu = @(); $rawCpu = @(); $rawNewCpu = @(); $engine = @(); $engineEmpty = @()
        $self = [Diagnostics.Process]::GetCurrentProcess()
        foreach ($r in 1..$Rounds) {
            Wait-BackgroundJit
            $t = (& $raw pairs $Pairs $l $u "$work/cwork" $m) -split ' '
            $rawMs += [double] $t[0]; $rawCpu += [double] $t[1]
            Wait-BackgroundJit
            $t = (& $raw newpairs $Pairs $l $u "$work/cwork" $m) -split ' '
            $rawNew += [double] $t[0]; $rawNewCpu += [double] $t[1]
            Wait-BackgroundJit
            $self.Refresh(); $cpu0 = $self.TotalProcessorTime
            $sw = [Diagnostics.Stopwatch]::StartNew()
            Invoke-Pairs $Pairs $l $u $w $m
            $ours += $sw.Elapsed.TotalMilliseconds / $Pairs
            $self.Refresh(); $oursCpu += ($self.TotalProcessorTime - $cpu0).TotalMilliseconds / $Pairs
            $n = [math]::Max(20, [int]($Pairs / 10))
            $sw.Restart()
            & bash -c "for i in `$(seq $n); do mount -t overlay overlay -o lowerdir=$l,upperdir=$u,workdir=$w $m && umount $m || exit 1; done"
            if ($LASTEXITCODE -ne 0) { throw 'util-linux mount failed.' }
            $util += $sw.Elapsed.TotalMilliseconds / $n
            Wait-BackgroundJit
            $sw.Restart()
            Invoke-EnginePairs $Pairs $l $u $w $m
            $engine += $sw.Elapsed.TotalMilliseconds / $Pairs
            Wait-BackgroundJit
            $sw.Restart()
            Invoke-EnginePairs $Pairs $l $u $w $m -WithEmptyCmdlets
            $engineEmpty += $sw.Elapsed.TotalMilliseconds / $Pairs
        }
        $o = Median $ours
        "Mount + dismount pair (median of $Rounds rounds of $Pairs pairs, after $warmPairs warm-up pairs)"
        Row 'Mount-Overlay + Dismount-Overlay' $o 'C mount(2) + umount2' (Median $rawMs) -Digits 3
        Row 'Mount-Overlay + Dismount-Overlay' $o 'C new mount API + umount2' (Median $rawNew) -Digits 3
        Row 'Mount-Overlay + Dismount-Overlay' $o 'util-linux mount + umount' (Median $util) -Digits 3
        Row 'the same, CPU time (whole pwsh process)' (Median $oursCpu) 'C mount(2) + umount2, CPU time' (Median $rawCpu) -Digits 3
        Row 'the same, CPU time (whole pwsh process)' (Median $oursCpu) 'C new mount API, CPU time' (Median $rawNewCpu) -Digits 3
        '{0,-46} {1,10:N3} ms   {2,-34} {3,10:N3} ms' -f 'the same, waiting (wall - CPU)', ($o - (Median $oursCpu)), 'C mount(2) + umount2, waiting', ((Median $rawMs) - (Median $rawCpu))
        # The machine's speed drifts between rounds (shared host); within a round the two loops run
        # back to back, so each round's own ratio is steadier than a ratio of medians.
        $perRound = foreach ($r in 0..($Rounds - 1)) { $ours[$r] / $rawMs[$r] }
        '{0,-46} {1}   median {2:N2}x' -f 'ratio to C in each round', (($perRound | ForEach-Object { $_.ToString('N2') + 'x' }) -join ' '), (Median $perRound)
        Row 'the module engine alone (called directly)' (Median $engine) 'C mount(2) + umount2' (Median $rawMs) -Digits 3
        Row 'engine + two empty compiled cmdlets' (Median $engineEmpty) 'C mount(2) + umount2' (Median $rawMs) -Digits 3
        '{0,-46} {1,10:N3} ms   (the pair less the engine: {2:N3} ms)' -f 'PowerShell, two empty commands in this loop', ((Median $engineEmpty) - (Median $engine)), ($o - (Median $engine))

        # 500 layers of 120-character paths.
        $lowers = foreach ($i in 1..500) {
            $p = Join-Path $work ('many/{0:D3}-{1}' -f $i, ('x' * (119 - $work.Length - 10)))
            $null = New-Item -ItemType Directory -Force -Path $p
            $p
        }
        foreach ($i in 1..40) { Mount-Overlay -Lower $lowers -Target $m; Dismount-Overlay -Target $m }
        $ours500 = @(); $raw500 = @()
        foreach ($r in 1..$Rounds) {
            $raw500 += [double] ((& $raw many 20 $m @lowers) -split ' ')[0]
            $sw = [Diagnostics.Stopwatch]::StartNew()
            foreach ($i in 1..20) { Mount-Overlay -Lower $lowers -Target $m; Dismount-Overlay -Target $m }
            $ours500 += $sw.Elapsed.TotalMilliseconds / 20
        }
        ''
        "500 lower layers of 120-character paths (median of $Rounds rounds of 20 mounts)"
        Row 'Mount-Overlay + Dismount-Overlay' (Median $ours500) 'C fsopen + 500 lowerdir+' (Median $raw500) -Digits 3
        $out = & mount -t overlay overlay -o "lowerdir=$($lowers -join ':')" $m 2>&1
        if ($LASTEXITCODE -eq 0) { & umount $m; 'util-linux mount: mounted' } else { "util-linux mount: fails ($out)" }
    }

    # Start-up: import plus a first Get-OverlayMount, against a bare pwsh start, first with the
    # pwsh running this script (the pinned dotnet tool), then with a copy of it whose assemblies
    # are precompiled (New-PrecompiledPwsh): the tool ships PowerShell as IL only, so every
    # first command JIT-compiles PowerShell's own code, where Microsoft's release packages ship
    # it precompiled. Both use the same module build.
    $empty = Join-Path $work 'Empty/Empty.psd1'
    $null = New-Item -ItemType Directory -Path (Split-Path $empty)
    Set-Content -LiteralPath $empty -Value "@{ ModuleVersion = '1.0'; GUID = '$([guid]::NewGuid())' }"
    $startRounds = [math]::Max($Rounds, 9)
    $thisPwsh = Join-Path $PSHOME 'pwsh'
    ''
    Measure-StartUp -Pwsh $thisPwsh -Label "this pwsh ($(Get-PwshCodeKind $PSHOME))" -Module $ModulePath -Empty $empty -Rounds $startRounds
    if ((Get-PwshCodeKind $PSHOME) -eq 'IL only') {
        $copy = New-PrecompiledPwsh -Source $PSHOME -Destination (Join-Path $work 'pwsh-precompiled') -Module $ModulePath
        if ($copy) {
            ''
            Measure-StartUp -Pwsh $copy -Label 'a copy of this pwsh, its assemblies precompiled' -Module $ModulePath -Empty $empty -Rounds $startRounds
        }
    }
}
finally {
    Get-OverlayMount -Target "$work/*" -ErrorAction SilentlyContinue | Dismount-Overlay -Force -ErrorAction SilentlyContinue
    if (-not (Get-OverlayMount -Target "$work/*")) { Remove-Item -LiteralPath $work -Recurse -Force }
}
