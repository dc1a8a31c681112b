# Helpers shared by the Pester suites. Tests work in their own temp roots (never Pester's
# TestDrive: its cleanup deletes recursively, and must never run through a live mount).

Set-StrictMode -Version 3.0

# build.ps1 gives each run its own base; a bare Invoke-Pester uses a shared one.
$script:TestRootBase = if ($env:OVERLAYTOOLS_TEST_ROOT) { $env:OVERLAYTOOLS_TEST_ROOT } else { '/tmp/overlaytools-tests/manual' }

function Import-OverlayToolsUnderTest {
    # build.ps1 passes the built module's manifest; fall back to the repo's out/ folder.
    $path = if ($env:OVERLAYTOOLS_MODULE) { $env:OVERLAYTOOLS_MODULE } else { Join-Path $PSScriptRoot '../out/OverlayTools/OverlayTools.psd1' }
    Import-Module $path -Force -Global
}

function Test-IsRoot { return (& id -u) -eq '0' }

function Assert-Prerequisite {
    <#
    .SYNOPSIS
        Inside an It block: skips the test when a prerequisite found at run time is missing, or
        fails it under CI=true, where every suite must really run. (Pester allows
        Set-ItResult only inside It.) Prerequisites known before the run belong in
        BeforeDiscovery and -Skip on Describe/Context/It; tools/Invoke-PesterSuite.ps1 counts
        every skip as a failure under CI=true.
    #>
    param([Parameter(Mandatory)] [bool] $Condition, [Parameter(Mandatory)] [string] $Because)
    if ($Condition) { return $true }
    if ($env:CI -eq 'true') { throw "Prerequisite missing under CI=true: $Because" }
    Set-ItResult -Skipped -Because $Because
    return $false
}

function New-TestRoot {
    param([string] $Name = 'root')
    $null = New-Item -ItemType Directory -Force -Path $script:TestRootBase
    $dir = Join-Path $script:TestRootBase ('{0}-{1}' -f $Name, [guid]::NewGuid().ToString('N').Substring(0, 12))
    $null = New-Item -ItemType Directory -Path $dir
    return $dir
}

function Get-MountsUnder {
    # Mount points at or below $Path from /proc/self/mountinfo (any file system), deepest first.
    param([Parameter(Mandatory)] [string] $Path)
    $prefix = $Path.TrimEnd('/')
    Get-Content -LiteralPath /proc/self/mountinfo | ForEach-Object {
        $mp = ($_ -split ' ')[4] -replace '\\040', ' ' -replace '\\011', "`t" -replace '\\012', "`n" -replace '\\134', '\'
        if ($mp -eq $prefix -or $mp.StartsWith("$prefix/")) { $mp }
    } | Sort-Object -Property Length -Descending
}

function Clear-TestMounts {
    # Unmounts everything below $Path (lazily, so a failing test cannot block cleanup).
    param([Parameter(Mandatory)] [string] $Path)
    for ($i = 0; $i -lt 20; $i++) {
        $mounts = @(Get-MountsUnder $Path)
        if ($mounts.Count -eq 0) { return }
        foreach ($m in $mounts) { & umount -l -- $m 2>$null }
    }
}

function Remove-TestRoot {
    param([Parameter(Mandatory)] [string] $Path)
    if (-not (Test-Path -LiteralPath $Path)) { return }
    Clear-TestMounts $Path
    if (@(Get-MountsUnder $Path).Count -gt 0) { throw "Refusing to delete '$Path': something is still mounted below it." }
    & chattr -R -i -- $Path 2>$null
    Remove-Item -LiteralPath $Path -Recurse -Force
}

function New-Layer {
    # Creates a directory with files: New-Layer $dir @{ 'a.txt' = 'content'; 'sub/b' = 'x' }
    param([Parameter(Mandatory)] [string] $Path, [hashtable] $Files = @{})
    # .NET calls, not New-Item: PowerShell on Linux reads '\' in a path as a separator.
    $null = [IO.Directory]::CreateDirectory($Path)
    foreach ($name in $Files.Keys) {
        $file = $Path.TrimEnd('/') + '/' + $name
        $null = [IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($file))
        [IO.File]::WriteAllText($file, [string] $Files[$name])
    }
    return $Path
}

function Get-MountInfoLine {
    # The raw mountinfo line of the overlay mounted at $Target (still escaped).
    param([Parameter(Mandatory)] [string] $Target)
    $escaped = $Target -replace '\\', '\134' -replace ' ', '\040' -replace "`t", '\011' -replace "`n", '\012'
    Get-Content -LiteralPath /proc/self/mountinfo | Where-Object { ($_ -split ' ')[4] -ceq $escaped -and $_ -match ' - overlay ' } | Select-Object -Last 1
}

function Test-MountedAt {
    param([Parameter(Mandatory)] [string] $Target)
    return [bool] (Get-MountInfoLine $Target)
}

function Get-PwshExe {
    # The pwsh that runs the tests, as an argument list (apphost, or dotnet + pwsh.dll).
    $apphost = Join-Path $PSHOME 'pwsh'
    if (Test-Path -LiteralPath $apphost) { return , @($apphost) }
    return , @('dotnet', (Join-Path $PSHOME 'pwsh.dll'))
}

Export-ModuleMember -Function *
