<#
.SYNOPSIS
    The walkthrough behind `build.ps1 -Task Demo`: the classic overlayfs example, done for real
    with the OverlayTools cmdlets in a temp dir that is removed again at the end.
#>
param([Parameter(Mandatory)] [string] $ModulePath)

$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

function Step([string] $text) { Write-Host "`n== $text" -ForegroundColor Cyan }
function Show([string] $command, [scriptblock] $action) {
    Write-Host "PS> $command" -ForegroundColor DarkGray
    & $action | Out-Host
}

if ((& id -u) -ne '0') {
    Write-Error 'The demo mounts for real, so it needs root. Run: sudo dotnet pwsh ./build.ps1 -Task Demo' -ErrorAction Continue
    exit 1
}

$demo = Join-Path ([IO.Path]::GetTempPath()) ('overlaytools-demo-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $demo
Push-Location -LiteralPath $demo
try {
    Step "Two layers in $demo"
    $null = New-Item -ItemType Directory lower, upper, merged
    Set-Content lower/code.py "print('version 1 from lower')"
    Set-Content lower/config.yaml 'debug: false'
    Set-Content upper/code.py "print('version 2 from upper')"
    Set-Content upper/script.py "print('only in upper')"
    Show 'Get-ChildItem lower, upper | Select-Object Layer, Name' { Get-ChildItem lower, upper | Select-Object @{ n = 'Layer'; e = { Split-Path -Leaf $_.DirectoryName } }, Name }

    Step 'Mount them: lower below, upper on top, merged is the union'
    Show 'Mount-Overlay -Lower lower -Upper upper -Target merged -PassThru' { Mount-Overlay -Lower lower -Upper upper -Target merged -PassThru -Verbose 4>&1 }

    Step 'The merged view holds every file once'
    Show 'Get-ChildItem merged | Select-Object Name, Length' { Get-ChildItem merged | Select-Object Name, Length }

    Step 'Where both layers have code.py, the upper one wins'
    Show 'Get-Content merged/code.py' { Get-Content merged/code.py }

    Step 'Writing a lower file copies it up: the change lands in upper, lower stays as it was'
    Show "Add-Content merged/config.yaml 'debug: true'" { Add-Content merged/config.yaml 'debug: true' }
    Show 'Get-Content merged/config.yaml' { Get-Content merged/config.yaml }
    Show 'Get-Content upper/config.yaml   # the copied-up file' { Get-Content upper/config.yaml }
    Show 'Get-Content lower/config.yaml   # unchanged' { Get-Content lower/config.yaml }

    Step 'Deleting a lower file leaves a whiteout in upper'
    Show 'Remove-Item merged/config.yaml; Get-Item upper/config.yaml | Select-Object Name, UnixMode' {
        Remove-Item merged/config.yaml
        Get-Item -Force upper/config.yaml | Select-Object Name, UnixMode
    }

    Step 'What the upper layer changes, as docker diff prints it'
    Show 'Get-OverlayChange -Target merged' { Get-OverlayChange -Target merged }

    Step 'Which layer supplies a file, and every layer that holds it'
    Show 'Resolve-OverlayPath merged/code.py -All' { Resolve-OverlayPath merged/code.py -All }

    Step 'Copy a lower file up on purpose: nothing about it changes but its layer'
    Set-Content lower/readme.txt 'from lower'
    Show 'Invoke-OverlayCopyUp merged/readme.txt -PassThru | Format-List Status, UpperPath, SourceLayer, Bytes' {
        Invoke-OverlayCopyUp merged/readme.txt -PassThru | Format-List Status, UpperPath, SourceLayer, Bytes
    }

    Step 'The kernel''s view of the mount, decoded'
    Show 'Get-OverlayMount -Target merged | Format-List Target, Lower, Upper, Work, Options, ReadOnly' {
        Get-OverlayMount -Target merged | Format-List Target, Lower, Upper, Work, Options, ReadOnly
    }

    Step 'Dismount'
    Show 'Get-OverlayMount -Target merged | Dismount-Overlay -PassThru' { Get-OverlayMount -Target merged | Dismount-Overlay -PassThru }
    Show 'Get-ChildItem merged   # empty again' { Get-ChildItem merged }
}
finally {
    Pop-Location
    # Never delete through a mount: dismount first, then remove the demo dir.
    Get-OverlayMount -Target "$demo/*" -ErrorAction SilentlyContinue | Dismount-Overlay -Force -ErrorAction SilentlyContinue
    if (-not (Get-OverlayMount -Target "$demo/*")) {
        Remove-Item -LiteralPath $demo -Recurse -Force
        Write-Host "`nCleaned up $demo." -ForegroundColor Cyan
    }
    else {
        Write-Warning "Something is still mounted under $demo; left it in place."
    }
}
