@{
    RootModule           = 'OverlayTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b7f0d0e-2c1a-4f7e-9c55-0a7d4f3e9b21'
    Author               = 'OverlayTools contributors'
    CompanyName          = 'OverlayTools'
    Copyright            = '(c) OverlayTools contributors. MIT License.'
    Description          = 'Linux OverlayFS as a first-class, scriptable thing: mount and dismount overlays through the kernel''s new mount API, list mounted overlays with their layers decoded, read the layers of Docker and Podman images and containers from disk, and inspect copy-on-write (copy-up, changes, which layer supplies a file).'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'
    FormatsToProcess     = @('OverlayTools.Format.ps1xml')
    TypesToProcess       = @('OverlayTools.Types.ps1xml')
    CmdletsToExport      = @(
        'Mount-Overlay'
        'Dismount-Overlay'
        'Get-OverlayMount'
        'Get-OverlayLayer'
        'Invoke-OverlayCopyUp'
        'Get-OverlayChange'
        'Resolve-OverlayPath'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @('Invoke-CopyUp')
    PrivateData          = @{
        PSData = @{
            Tags         = @('Linux', 'overlayfs', 'OverlayFS', 'Docker', 'Podman', 'containers', 'mount', 'PSEdition_Core')
            ProjectUri   = 'https://github.com/OverlayTools/OverlayTools'
            LicenseUri   = 'https://github.com/OverlayTools/OverlayTools/blob/main/LICENSE'
            ReleaseNotes = 'See https://github.com/OverlayTools/OverlayTools/blob/main/CHANGELOG.md'
        }
    }
}
