# Private container engines for the tests: a dockerd, a podman store and a containerd, each with
# its own root, state and socket under a temp dir. Never a system daemon, never /var/lib/docker,
# /var/lib/containers or /var/lib/containerd, never the network: images are built FROM scratch
# with the static busybox.

Set-StrictMode -Version 3.0

# Wait-Until and Clear-TestMounts. Without -Force: a suite has imported it already, and this
# takes that copy instead of loading another.
Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1')

$script:DockerCli = if (Test-Path -LiteralPath /usr/bin/docker) { '/usr/bin/docker' } else { 'docker' }

function Test-EngineAvailable {
    <# .SYNOPSIS True when the programs an engine needs are installed. #>
    param([Parameter(Mandatory)] [ValidateSet('Docker', 'Podman', 'Containerd')] [string] $Engine)
    $need = switch ($Engine) {
        'Docker' { 'dockerd', $script:DockerCli }
        'Podman' { 'podman' }
        'Containerd' { 'containerd', 'ctr' }
    }
    foreach ($n in @($need) + '/bin/busybox') {
        if (-not (Get-Command $n -CommandType Application -ErrorAction SilentlyContinue)) { return $false }
    }
    return $true
}

function Start-DaemonProcess {
    param([string] $FileName, [string[]] $Arguments, [string] $LogPath)
    # A shell redirects the daemon's output to a log file; exec keeps the daemon's own pid.
    $quoted = ($Arguments | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' '
    $psi = [Diagnostics.ProcessStartInfo]::new('sh')
    $psi.ArgumentList.Add('-c')
    $psi.ArgumentList.Add("exec $FileName $quoted >'$LogPath' 2>&1 </dev/null")
    $psi.UseShellExecute = $false
    return [Diagnostics.Process]::Start($psi)
}

function Stop-DaemonProcess {
    param([Diagnostics.Process] $Process, [int] $TimeoutSeconds = 30)
    if (-not $Process -or $Process.HasExited) { return }
    & kill -TERM $Process.Id 2>$null
    if (-not $Process.WaitForExit($TimeoutSeconds * 1000)) {
        & kill -KILL $Process.Id 2>$null
        $null = $Process.WaitForExit(10000)
    }
}

function Remove-EngineRoot {
    # Unmount whatever the engine left below its root (overlays, shm, netns), deepest first, then delete.
    param([string] $Root)
    if (-not $Root -or -not (Test-Path -LiteralPath $Root)) { return }
    Clear-TestMounts $Root
    & chattr -R -i -- $Root 2>$null
    Remove-Item -LiteralPath $Root -Recurse -Force -ErrorAction SilentlyContinue
    if (Test-Path -LiteralPath $Root) { & rm -rf --one-file-system -- $Root }
}

# ---- dockerd --------------------------------------------------------------------------------

function Start-TestDocker {
    <#
    .SYNOPSIS
        Starts a private dockerd (overlay2) under $Root; returns an engine object for
        Invoke-TestDocker and Stop-TestDocker.
    #>
    param([Parameter(Mandatory)] [string] $Root)
    $null = New-Item -ItemType Directory -Force -Path $Root
    $engine = [pscustomobject]@{
        Kind = 'Docker'; Root = $Root; DataRoot = "$Root/data"; ExecRoot = "$Root/exec"
        Socket = "$Root/docker.sock"; Host = "unix://$Root/docker.sock"; PidFile = "$Root/docker.pid"
        Log = "$Root/dockerd.log"; Process = $null
    }
    $engine.Process = Start-DaemonProcess 'dockerd' @(
        '--data-root', $engine.DataRoot, '--exec-root', $engine.ExecRoot, '--pidfile', $engine.PidFile,
        '--host', $engine.Host, '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip6tables=false',
        '--storage-driver', 'overlay2', '--log-level', 'warn') $engine.Log
    try {
        Wait-Until -What "the private dockerd at $($engine.Socket)" -TimeoutSeconds 60 -Condition {
            if ($engine.Process.HasExited) { throw "dockerd exited: $(Get-Content -LiteralPath $engine.Log -Raw)" }
            & $script:DockerCli -H $engine.Host version --format '{{.Server.Version}}' *> $null
            $LASTEXITCODE -eq 0
        }
    }
    catch {
        Stop-TestDocker $engine
        throw
    }
    return $engine
}

# The Invoke-Test* wrappers are simple functions (no [Parameter]) on purpose: every argument after
# the engine, -o and --format included, goes to the CLI untouched.

function Invoke-TestDocker {
    <# .SYNOPSIS Runs the docker CLI against a private dockerd: Invoke-TestDocker $engine <docker args>. Throws on failure. #>
    $Engine = $args[0]
    [string[]] $Arguments = @($args | Select-Object -Skip 1)
    $env:DOCKER_BUILDKIT = '0'
    $out = & $script:DockerCli -H $Engine.Host @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "docker $($Arguments -join ' ') failed ($LASTEXITCODE): $out" }
    return $out | ForEach-Object { "$_" }
}

function Stop-TestDocker {
    <# .SYNOPSIS Stops a private dockerd (waiting for it to exit) and removes its data. #>
    param([Parameter(Mandatory)] $Engine, [switch] $KeepData)
    if ($Engine.Process -and -not $Engine.Process.HasExited) {
        & $script:DockerCli -H $Engine.Host ps -q 2>$null | ForEach-Object { & $script:DockerCli -H $Engine.Host kill $_ *> $null }
    }
    Stop-DaemonProcess $Engine.Process
    # dockerd's own containerd runs below exec-root; make sure it is gone too.
    Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -Match '^\d+$' | ForEach-Object {
        $cmd = try { [IO.File]::ReadAllText("/proc/$($_.Name)/cmdline") } catch { '' }
        if ($cmd -and $cmd.Contains($Engine.Root)) { & kill -KILL $_.Name 2>$null }
    }
    if (-not $KeepData) { Remove-EngineRoot $Engine.Root }
}

# ---- podman ---------------------------------------------------------------------------------

function New-TestPodman {
    <# .SYNOPSIS A private podman store (--root/--runroot) under $Root; podman has no daemon. #>
    param([Parameter(Mandatory)] [string] $Root)
    $null = New-Item -ItemType Directory -Force -Path "$Root/tmp"
    # podman refuses a runroot longer than 50 characters: deep test roots get a short one in /tmp.
    $runRoot = "$Root/run"
    $extraRoot = $null
    if ($runRoot.Length -gt 50) {
        $extraRoot = '/tmp/otpodman-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        $runRoot = "$extraRoot/run"
    }
    return [pscustomobject]@{
        Kind = 'Podman'; Root = $Root; StorageRoot = "$Root/storage"; RunRoot = $runRoot; TmpDir = "$Root/tmp"; ExtraRoot = $extraRoot
    }
}

function Invoke-TestPodman {
    <# .SYNOPSIS Runs podman against a private store: Invoke-TestPodman $engine <podman args>. `run`/`create` get --network none and the ulimits this machine needs. #>
    $Engine = $args[0]
    [string[]] $Arguments = @($args | Select-Object -Skip 1)
    $global = @('--root', $Engine.StorageRoot, '--runroot', $Engine.RunRoot, '--storage-driver', 'overlay',
        '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', $Engine.TmpDir)
    $a = @($Arguments)
    if ($a.Count -gt 0 -and $a[0] -in 'run', 'create') {
        $a = @($a[0], '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024') + @($a | Select-Object -Skip 1)
    }
    $out = & podman @global @a 2>&1
    if ($LASTEXITCODE -ne 0) { throw "podman $($Arguments -join ' ') failed ($LASTEXITCODE): $out" }
    return $out | ForEach-Object { "$_" }
}

function Remove-TestPodman {
    <# .SYNOPSIS Removes a private podman store (containers first, then its mounts and files). #>
    param([Parameter(Mandatory)] $Engine)
    try { Invoke-TestPodman $Engine rm -a -f *> $null } catch { }
    Remove-EngineRoot $Engine.Root
    if ($Engine.PSObject.Properties['ExtraRoot'] -and $Engine.ExtraRoot) { Remove-EngineRoot $Engine.ExtraRoot }
}

# ---- containerd -------------------------------------------------------------------------------

function Start-TestContainerd {
    <# .SYNOPSIS Starts a private containerd (own root, state, socket; CRI off) under $Root. #>
    param([Parameter(Mandatory)] [string] $Root)
    $null = New-Item -ItemType Directory -Force -Path $Root
    $engine = [pscustomobject]@{
        Kind = 'Containerd'; Root = $Root; DataRoot = "$Root/root"; State = "$Root/state"
        Socket = "$Root/containerd.sock"; Config = "$Root/config.toml"; Log = "$Root/containerd.log"; Process = $null
    }
    @"
version = 2
root = "$($engine.DataRoot)"
state = "$($engine.State)"
[grpc]
  address = "$($engine.Socket)"
[ttrpc]
  address = "$($engine.Socket).ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    disable = true
"@ | Set-Content -LiteralPath $engine.Config
    $engine.Process = Start-DaemonProcess 'containerd' @('--config', $engine.Config) $engine.Log
    try {
        Wait-Until -What "the private containerd at $($engine.Socket)" -TimeoutSeconds 60 -Condition {
            if ($engine.Process.HasExited) { throw "containerd exited: $(Get-Content -LiteralPath $engine.Log -Raw)" }
            & ctr --address $engine.Socket version *> $null
            $LASTEXITCODE -eq 0
        }
    }
    catch {
        Stop-TestContainerd $engine
        throw
    }
    return $engine
}

function Invoke-TestCtr {
    <# .SYNOPSIS Runs ctr against a private containerd: Invoke-TestCtr $engine <ctr args>. Throws on failure. #>
    $Engine = $args[0]
    [string[]] $Arguments = @($args | Select-Object -Skip 1)
    $out = & ctr --address $Engine.Socket @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "ctr $($Arguments -join ' ') failed ($LASTEXITCODE): $out" }
    return $out | ForEach-Object { "$_" }
}

function Stop-TestContainerd {
    <# .SYNOPSIS Stops a private containerd and, unless -KeepData, removes its data. #>
    param([Parameter(Mandatory)] $Engine, [switch] $KeepData)
    Stop-DaemonProcess $Engine.Process
    if (-not $KeepData) { Remove-EngineRoot $Engine.Root }
}

# ---- images -------------------------------------------------------------------------------------

function New-BusyboxContext {
    <#
    .SYNOPSIS
        A build context with the static busybox and a Dockerfile FROM scratch. $Steps are
        Dockerfile lines after the busybox install (RUN lines use busybox's sh).
    #>
    param([Parameter(Mandatory)] [string] $Path, [string[]] $Steps = @(), [hashtable] $Files = @{}, [string] $From)
    # -From builds on an existing image instead (no busybox copied); -From scratch with -Files
    # and COPY steps makes an image without busybox.
    $null = New-Item -ItemType Directory -Force -Path $Path
    foreach ($name in $Files.Keys) { [IO.File]::WriteAllText((Join-Path $Path $name), [string] $Files[$name]) }
    if ($From) {
        $lines = @("FROM $From") + $Steps
    }
    else {
        Copy-Item -LiteralPath /bin/busybox -Destination (Join-Path $Path 'busybox')
        $lines = @('FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "--install", "-s", "/bin"]') + $Steps
    }
    [IO.File]::WriteAllLines((Join-Path $Path 'Dockerfile'), [string[]] $lines)
    return $Path
}

# ---- comparing ------------------------------------------------------------------------------------

function Get-TarEntryName {
    <# .SYNOPSIS The entry names of a tar file (docker/podman export), exactly, without a leading ./ or trailing /. #>
    param([Parameter(Mandatory)] [string] $Path)
    $stream = [IO.File]::OpenRead($Path)
    try {
        $reader = [System.Formats.Tar.TarReader]::new($stream)
        while ($null -ne ($entry = $reader.GetNextEntry())) {
            $name = $entry.Name -replace '^\./', ''
            if ($name.Length -gt 1) { $name = $name.TrimEnd('/') }
            if ($name -and $name -ne '.') { $name }
        }
    }
    finally { $stream.Dispose() }
}

function Get-TreeFingerprint {
    <#
    .SYNOPSIS
        One line per entry below $Path: name, type, mode, size, mtime, ctime and link target,
        sorted; two fingerprints are equal when nothing in the tree changed but access times (find
        reads the directories; for "not even access times", TestTree.psm1's Assert-TestTreeUnchanged).
    #>
    param([Parameter(Mandatory)] [string] $Path)
    $out = & find $Path -xdev -printf '%P\t%y\t%m\t%s\t%T@\t%C@\t%l\0'
    if ($LASTEXITCODE -ne 0) { throw "find $Path failed ($LASTEXITCODE)." }
    return @(($out -join "`n") -split "\0" | Where-Object { $_ } | Sort-Object)
}

Export-ModuleMember -Function Test-EngineAvailable, Start-TestDocker, Invoke-TestDocker, Stop-TestDocker,
    New-TestPodman, Invoke-TestPodman, Remove-TestPodman, Start-TestContainerd, Invoke-TestCtr, Stop-TestContainerd,
    New-BusyboxContext, Remove-EngineRoot, Get-TarEntryName, Get-TreeFingerprint
