<#
.SYNOPSIS
    Runs the Pester suites in this (child) pwsh and writes a pass/fail/skip summary as JSON.
    Called by build.ps1 -Task Test; not meant to be run by hand.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $ResultsDir,
    [Parameter(Mandatory)] [string] $SummaryPath,
    [Parameter(Mandatory)] [string] $TestPath
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$env:OVERLAYTOOLS_MODULE = $ModulePath

$config = New-PesterConfiguration
$config.Run.Path = $TestPath -split [IO.Path]::PathSeparator
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path $ResultsDir 'pester.xml'

$result = Invoke-Pester -Configuration $config
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
$skipped = $result.SkippedCount
if ($env:CI -eq 'true' -and $skipped -gt 0) {
    # Under CI every suite must run: a skip means a missing prerequisite, which is a failure.
    Write-Host "CI=true: counting $skipped skipped test(s) as failed."
    $failed += $skipped
    $skipped = 0
}
[pscustomobject]@{ Passed = $result.PassedCount; Failed = $failed; Skipped = $skipped } |
    ConvertTo-Json | Set-Content -LiteralPath $SummaryPath
exit 0
