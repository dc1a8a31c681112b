# A private sshd on 127.0.0.1 with pwsh as its "powershell" subsystem, for PowerShell remoting over
# SSH in the tests: own host key, client key, config and pid file in a temp dir; nothing system-wide
# except /run/sshd (the privilege separation dir sshd insists on), which is removed again when this
# module created it.

Set-StrictMode -Version 3.0

function Test-SshdAvailable {
    return [bool] ((Test-Path -LiteralPath /usr/sbin/sshd) -and
        (Get-Command ssh -CommandType Application -ErrorAction SilentlyContinue) -and
        (Get-Command ssh-keygen -CommandType Application -ErrorAction SilentlyContinue))
}

function Start-TestSshd {
    param([Parameter(Mandatory)] [string] $Root)
    $null = New-Item -ItemType Directory -Force -Path $Root
    foreach ($k in 'host', 'client') {
        & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $Root $k)
        if ($LASTEXITCODE -ne 0) { throw 'ssh-keygen failed.' }
    }
    Copy-Item -LiteralPath (Join-Path $Root 'client.pub') -Destination (Join-Path $Root 'authorized_keys')
    $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
    $pwsh = Join-Path $PSHOME 'pwsh'
    @"
Port $port
ListenAddress 127.0.0.1
HostKey $Root/host
AuthorizedKeysFile $Root/authorized_keys
PidFile $Root/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem powershell $pwsh -sshs -NoLogo -NoProfile
"@ | Set-Content -LiteralPath (Join-Path $Root 'sshd_config')
    $createdRunDir = $false
    if (-not (Test-Path -LiteralPath /run/sshd)) { $null = New-Item -ItemType Directory -Path /run/sshd; $createdRunDir = $true }
    & /usr/sbin/sshd -f (Join-Path $Root 'sshd_config') -E (Join-Path $Root 'sshd.log')
    if ($LASTEXITCODE -ne 0) { throw "sshd did not start: $(Get-Content -Raw -LiteralPath (Join-Path $Root 'sshd.log') -ErrorAction SilentlyContinue)" }
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while (-not (Test-Path -LiteralPath (Join-Path $Root 'sshd.pid')) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
    return [pscustomobject]@{ Root = $Root; Port = $port; KeyFilePath = (Join-Path $Root 'client'); CreatedRunDir = $createdRunDir }
}

function New-TestSshSession {
    param([Parameter(Mandatory)] $Sshd)
    New-PSSession -HostName 127.0.0.1 -Port $Sshd.Port -UserName root -KeyFilePath $Sshd.KeyFilePath `
        -Options @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' }
}

function Stop-TestSshd {
    param([Parameter(Mandatory)] $Sshd)
    $pidFile = Join-Path $Sshd.Root 'sshd.pid'
    if (Test-Path -LiteralPath $pidFile) {
        $id = [int] (Get-Content -LiteralPath $pidFile)
        & kill -TERM $id 2>$null
        for ($i = 0; $i -lt 50 -and (Test-Path "/proc/$id"); $i++) { Start-Sleep -Milliseconds 100 }
    }
    if ($Sshd.CreatedRunDir) { Remove-Item -LiteralPath /run/sshd -ErrorAction SilentlyContinue }
    Remove-Item -LiteralPath $Sshd.Root -Recurse -Force -ErrorAction SilentlyContinue
}

Export-ModuleMember -Function Test-SshdAvailable, Start-TestSshd, New-TestSshSession, Stop-TestSshd
