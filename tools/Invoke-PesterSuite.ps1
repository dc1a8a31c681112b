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
# The NUnit report is written below, not by Invoke-Pester: when writing it fails (XML cannot hold
# every string a failure message may carry, such as a lone surrogate that stands for a byte of a
# file name that is not UTF-8), Invoke-Pester returned nothing, and the counts were lost.
$config.TestResult.Enabled = $false

$result = Invoke-Pester -Configuration $config
if ($null -eq $result -or $null -eq $result.PassedCount) {
    Write-Host 'Pester returned no result: counting the run as failed.'
    [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 } | ConvertTo-Json | Set-Content -LiteralPath $SummaryPath
    exit 1
}
try {
    $result | Export-NUnitReport -Path (Join-Path $ResultsDir 'pester.xml')
}
catch {
    Write-Host "The NUnit report (pester.xml) could not be written: $($_.Exception.Message)"
    Remove-Item -LiteralPath (Join-Path $ResultsDir 'pester.xml') -ErrorAction Ignore
}
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
