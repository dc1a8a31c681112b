#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and demonstrates the OverlayTools module.

.DESCRIPTION
    Run it through the pinned PowerShell tool from the repository root:

        dotnet tool restore
        dotnet pwsh ./build.ps1                 # build out/OverlayTools/OverlayTools.psd1
        dotnet pwsh ./build.ps1 -Task Test      # build, then xunit and Pester; last line "N passed, N failed[, N skipped]"
        dotnet pwsh ./build.ps1 -Task Demo      # build, then a real mount walkthrough in a temp dir
        dotnet pwsh ./build.ps1 -Task Bench     # build, then the benchmarks in bench/
        dotnet pwsh ./build.ps1 -Task Clean     # remove out/ and the build output
        dotnet pwsh ./build.ps1 -Task UpdateDocs  # rewrite the parameter blocks and SYNTAX of docs/en-US/*.md from the code

    The build turns docs/en-US/*.md into MAML help (out/OverlayTools/en-US/OverlayTools.dll-Help.xml)
    and about_*.help.txt, taking parameter facts from the built cmdlets; it fails when a cmdlet or
    parameter has no docs, the docs describe one that does not exist, or their OUTPUTS types or
    ALIASES differ from the cmdlet's [OutputType] and aliases.

    Test needs root (mounts are real) and, for the engine suites, docker.io, podman and
    busybox-static from Debian (.ci/run installs them). With CI=true a suite that would be
    skipped for a missing prerequisite fails instead.

.PARAMETER Task
    Build (default), Test, Demo, Bench, Clean or UpdateDocs.

.PARAMETER TestPath
    With -Task Test: run only these Pester files (the xunit suite still runs unless -SkipXunit).

.PARAMETER SkipXunit
    With -Task Test: skip the xunit suite.

.PARAMETER SkipPester
    With -Task Test: skip the Pester suites.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Clean', 'UpdateDocs')]
    [string] $Task = 'Build',

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    [string[]] $TestPath,

    [switch] $SkipXunit,

    [switch] $SkipPester
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$OutDir = Join-Path $Root 'out'
$ModuleOut = Join-Path $OutDir 'OverlayTools'
$ResultsDir = Join-Path $OutDir 'test-results'

function Invoke-Dotnet {
    & dotnet @args
    if ($LASTEXITCODE -ne 0) {
        throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE."
    }
}

function Get-PwshCommand {
    # The pinned tool runs as "dotnet pwsh"; its apphost sits in $PSHOME.
    $apphost = Join-Path $PSHOME 'pwsh'
    if (Test-Path -LiteralPath $apphost) { return , @($apphost) }
    return , @('dotnet', (Join-Path $PSHOME 'pwsh.dll'))
}

function Invoke-ChildPwsh {
    param([string[]] $Arguments)
    $cmd = Get-PwshCommand
    $exe = $cmd[0]
    $rest = @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive') + $Arguments
    & $exe @rest | Out-Host
    return $LASTEXITCODE
}

function Get-DownloadVersion([string] $Name) {
    [xml] $proj = Get-Content -LiteralPath (Join-Path $Root 'tools/restore/Restore.csproj') -Raw
    $node = $proj.Project.ItemGroup.ChildNodes | Where-Object { $_.LocalName -eq 'PackageDownload' -and $_.Include -eq $Name } | Select-Object -First 1
    if (-not $node) { throw "tools/restore/Restore.csproj downloads no $Name." }
    return $node.Version.Trim('[', ']')
}

function Get-NuGetPackagesFolder {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    $line = & dotnet nuget locals global-packages --list
    if ($LASTEXITCODE -ne 0) { throw 'dotnet nuget locals failed.' }
    return ($line -replace '^global-packages:\s*', '').Trim()
}

function Invoke-Build([switch] $SkipHelp) {
    $moduleVersion = ([xml] (Get-Content -LiteralPath (Join-Path $Root 'Directory.Build.props') -Raw)).Project.PropertyGroup.ModuleVersion | Where-Object { $_ } | Select-Object -First 1
    $manifest = Import-PowerShellDataFile -LiteralPath (Join-Path $Root 'OverlayTools.psd1')
    if ($manifest.ModuleVersion -ne $moduleVersion) {
        throw "OverlayTools.psd1 says ModuleVersion $($manifest.ModuleVersion) but Directory.Build.props says $moduleVersion; make them agree."
    }

    $publish = Join-Path $OutDir "publish/$Configuration"
    Write-Host "Building OverlayTools $moduleVersion ($Configuration)..."
    # A fresh folder: publish skips files that look up to date, and an earlier build's native code would stay.
    if (Test-Path -LiteralPath $publish) { Remove-Item -LiteralPath $publish -Recurse -Force }
    Invoke-Dotnet publish (Join-Path $Root 'src/OverlayTools/OverlayTools.csproj') -c $Configuration -o $publish -nologo --verbosity quiet

    # Precompile for the .NET this pwsh runs on (see tools/ReadyToRun): the IL targets net8.0, whose
    # ReadyToRun code .NET 10 would reject.
    $native = Join-Path $OutDir "readytorun/$Configuration"
    $tfm = 'net{0}.0' -f [Environment]::Version.Major
    # Fresh each time: the compiler's incremental check looks at its inputs only, not at the references.
    foreach ($d in $native, (Join-Path $Root 'tools/ReadyToRun/obj'), (Join-Path $Root 'tools/ReadyToRun/bin')) {
        if (Test-Path -LiteralPath $d) { Remove-Item -LiteralPath $d -Recurse -Force }
    }
    Invoke-Dotnet publish (Join-Path $Root 'tools/ReadyToRun/ReadyToRun.csproj') -c Release -o $native -nologo --verbosity quiet `
        "-p:TargetFramework=$tfm" "-p:ModuleIL=$publish" "-p:PSHome=$PSHOME"

    # Stage the importable module: manifest, our assemblies, the real (not reference) Tmds.LibC, formats and types.
    if (Test-Path -LiteralPath $ModuleOut) { Remove-Item -LiteralPath $ModuleOut -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $ModuleOut
    Copy-Item -LiteralPath (Join-Path $Root 'OverlayTools.psd1') -Destination $ModuleOut
    foreach ($f in 'OverlayTools.dll', 'OverlayTools.pdb', 'OverlayTools.Core.dll', 'OverlayTools.Core.pdb', 'Tmds.LibC.dll',
        'OverlayTools.deps.json', 'OverlayTools.Format.ps1xml', 'OverlayTools.Types.ps1xml') {
        $src = if ($f -like '*.dll') { Join-Path $native $f } else { Join-Path $publish $f }
        if (-not (Test-Path -LiteralPath $src)) { throw "The build output lacks $src." }
        Copy-Item -LiteralPath $src -Destination $ModuleOut
    }
    $libc = [Reflection.AssemblyName]::GetAssemblyName((Join-Path $ModuleOut 'Tmds.LibC.dll'))
    if (-not $libc) { throw 'Tmds.LibC.dll is unreadable.' }
    if (-not $SkipHelp) { Invoke-HelpBuilder 'build' }
    Write-Host "Module built: $(Join-Path $ModuleOut 'OverlayTools.psd1')"
}

function Invoke-HelpBuilder([ValidateSet('build', 'update')] [string[]] $Verb) {
    # Help: structure from the built cmdlets (Get-Command in a child pwsh), prose from docs/en-US/*.md.
    # The tool is built and the cmdlets are read once; the verbs then run in the order given.
    $tool = Join-Path $OutDir 'helpbuilder'
    $log = & dotnet build (Join-Path $Root 'tools/HelpBuilder/HelpBuilder.csproj') -c Release -o $tool -nologo --verbosity quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw 'Building tools/HelpBuilder failed.' }
    $facts = Join-Path $OutDir 'command-facts.json'
    $exit = Invoke-ChildPwsh -Arguments @('-File', (Join-Path $Root 'tools/Export-CommandFacts.ps1'), '-ModulePath', (Join-Path $ModuleOut 'OverlayTools.psd1'), '-OutFile', $facts)
    if ($exit -ne 0) { throw 'Reading the cmdlets for the help failed.' }
    foreach ($v in $Verb) {
        $helpArgs = @((Join-Path $tool 'HelpBuilder.dll'), $v, '--docs', (Join-Path $Root 'docs/en-US'), '--facts', $facts)
        if ($v -eq 'build') { $helpArgs += @('--out', (Join-Path $ModuleOut 'en-US')) }
        & dotnet @helpArgs
        if ($LASTEXITCODE -ne 0) { throw "The help does not match the cmdlets (see above); the build stops here." }
    }
}

function Restore-Pester {
    $version = Get-DownloadVersion 'Pester'
    Invoke-Dotnet restore (Join-Path $Root 'tools/restore/Restore.csproj') -nologo --verbosity quiet
    $psd1 = Join-Path (Get-NuGetPackagesFolder) "pester/$version/tools/Pester.psd1"
    if (-not (Test-Path -LiteralPath $psd1)) { throw "Pester $version was restored but $psd1 is missing." }
    return $psd1
}

function Invoke-XunitTests {
    $trxName = 'xunit.trx'
    $trx = Join-Path $ResultsDir $trxName
    if (Test-Path -LiteralPath $trx) { Remove-Item -LiteralPath $trx }
    Write-Host 'Running xunit (tests/OverlayTools.Core.Tests)...'
    & dotnet test (Join-Path $Root 'tests/OverlayTools.Core.Tests/OverlayTools.Core.Tests.csproj') -c $Configuration -nologo `
        --logger "trx;LogFileName=$trxName" --logger 'console;verbosity=minimal' --results-directory $ResultsDir
    $exit = $LASTEXITCODE
    if (-not (Test-Path -LiteralPath $trx)) {
        Write-Warning "xunit produced no results (exit code $exit)."
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    [xml] $doc = Get-Content -LiteralPath $trx -Raw
    $c = $doc.TestRun.ResultSummary.Counters
    return [pscustomobject]@{ Passed = [int] $c.passed; Failed = [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted; Skipped = [int] $c.notExecuted }
}

function Invoke-PesterTests([string] $PesterPsd1) {
    $summary = Join-Path $ResultsDir 'pester-summary.json'
    if (Test-Path -LiteralPath $summary) { Remove-Item -LiteralPath $summary }
    $paths = if ($TestPath) { $TestPath -split "," | ForEach-Object { (Resolve-Path -LiteralPath $_).ProviderPath } } else { @(Join-Path $Root 'tests') }
    Write-Host 'Running Pester (tests/*.Tests.ps1) in a child pwsh...'
    $exit = Invoke-ChildPwsh -Arguments @('-File', (Join-Path $Root 'tools/Invoke-PesterSuite.ps1'),
        '-PesterPath', $PesterPsd1, '-ModulePath', (Join-Path $ModuleOut 'OverlayTools.psd1'),
        '-ResultsDir', $ResultsDir, '-SummaryPath', $summary, '-TestPath', ($paths -join [IO.Path]::PathSeparator))
    if (-not (Test-Path -LiteralPath $summary)) {
        Write-Warning "Pester produced no summary (exit code $exit)."
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    $counts = Get-Content -LiteralPath $summary -Raw | ConvertFrom-Json
    if ($null -eq $counts.Passed -or $null -eq $counts.Failed) {
        Write-Warning "Pester's summary holds no counts (exit code $exit)."
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    if ($exit -ne 0 -and $counts.Failed -eq 0) {
        Write-Warning "Pester exited with code ${exit}: counting the run as failed."
        $counts.Failed = 1
    }
    return $counts
}

function Test-NoLeftoverMounts([string] $TestRoot) {
    # After the suites nothing of this run may stay mounted under its test root (mount points
    # decoded as the suites decode them).
    Import-Module (Join-Path $Root 'tests/TestHelpers.psm1')
    $left = @(Get-MountsUnder $TestRoot)
    if ($left) {
        Write-Warning "Overlay mounts left behind by the tests: $($left -join ', ')"
        return $false
    }
    return $true
}

function Invoke-Test {
    Invoke-Build
    $null = New-Item -ItemType Directory -Force -Path $ResultsDir
    # One temp root per run (tests make their dirs below it), so parallel runs do not see each other.
    $env:OVERLAYTOOLS_TEST_ROOT = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-tests/run-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    $results = @()
    if (-not $SkipXunit) { $results += Invoke-XunitTests }
    if (-not $SkipPester) { $results += Invoke-PesterTests (Restore-Pester) }
    $passed = ($results | Measure-Object -Property Passed -Sum).Sum
    $failed = ($results | Measure-Object -Property Failed -Sum).Sum
    $skipped = ($results | Measure-Object -Property Skipped -Sum).Sum
    if (-not (Test-NoLeftoverMounts $env:OVERLAYTOOLS_TEST_ROOT)) { $failed++ }
    else { Remove-TestRoot $env:OVERLAYTOOLS_TEST_ROOT }   # tests/TestHelpers.psm1, imported by Test-NoLeftoverMounts
    $line = "$passed passed, $failed failed"
    if ($skipped -gt 0) { $line += ", $skipped skipped" }
    Write-Host $line
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Build
    $exit = Invoke-ChildPwsh -Arguments @('-File', (Join-Path $Root 'tools/Demo.ps1'), '-ModulePath', (Join-Path $ModuleOut 'OverlayTools.psd1'))
    if ($exit -ne 0) { exit $exit }
}

function Invoke-Bench {
    Invoke-Build
    # Every script runs, whatever an earlier one did; the failures are listed at the end.
    $failed = @()
    foreach ($script in Get-ChildItem -LiteralPath (Join-Path $Root 'bench') -Filter '*.Bench.ps1' | Sort-Object Name) {
        Write-Host "== $($script.Name)"
        $exit = Invoke-ChildPwsh -Arguments @('-File', $script.FullName, '-ModulePath', (Join-Path $ModuleOut 'OverlayTools.psd1'))
        if ($exit -ne 0) { $failed += "$($script.Name) (exit code $exit)" }
    }
    if ($failed) {
        Write-Host "Benchmarks that failed: $($failed -join ', ')"
        exit 1
    }
}

function Invoke-Clean {
    foreach ($d in $OutDir, (Get-ChildItem -LiteralPath (Join-Path $Root 'src'), (Join-Path $Root 'tests'), (Join-Path $Root 'tools') -Recurse -Directory -Include bin, obj).FullName) {
        if ($d -and (Test-Path -LiteralPath $d)) { Remove-Item -LiteralPath $d -Recurse -Force }
    }
}

Push-Location -LiteralPath $Root
try {
    switch ($Task) {
        'Build' { Invoke-Build }
        'Test' { Invoke-Test }
        'Demo' { Invoke-Demo }
        'Bench' { Invoke-Bench }
        'Clean' { Invoke-Clean }
        # Update first, then build: a new, still undocumented parameter must not stop the update.
        'UpdateDocs' { Invoke-Build -SkipHelp; Invoke-HelpBuilder 'update', 'build' }
    }
}
finally {
    Pop-Location
}
