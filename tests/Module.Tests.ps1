#Requires -Version 7.4
# The built module: manifest, layout, exports, views and completion.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Module = Get-Module OverlayTools
    $script:ModuleDir = $script:Module.ModuleBase
    $script:Manifest = Import-PowerShellDataFile -LiteralPath (Join-Path $script:ModuleDir 'OverlayTools.psd1')
}

Describe 'The OverlayTools module' {
    It 'has a valid manifest for PowerShell 7.4+ Core on Linux' {
        $info = Test-ModuleManifest -Path (Join-Path $ModuleDir 'OverlayTools.psd1')
        $info.Name | Should -Be 'OverlayTools'
        $Manifest.RootModule | Should -Be 'OverlayTools.dll'
        $Manifest.CompatiblePSEditions | Should -Be @('Core')
        $Manifest.PowerShellVersion | Should -Be '7.4'
        foreach ($tag in 'Linux', 'overlayfs', 'Docker', 'PSEdition_Core') { $Manifest.PrivateData.PSData.Tags | Should -Contain $tag }
        $Manifest.FormatsToProcess | Should -Be @('OverlayTools.Format.ps1xml')
        $Manifest.TypesToProcess | Should -Be @('OverlayTools.Types.ps1xml')
    }

    It 'exports exactly the cmdlets the manifest lists, and nothing else' {
        $Manifest.CmdletsToExport | Should -Not -Contain '*'
        (Get-Command -Module OverlayTools -CommandType Cmdlet).Name | Sort-Object | Should -Be ($Manifest.CmdletsToExport | Sort-Object)
        @($Manifest.FunctionsToExport).Count | Should -Be 0
        @($Manifest.VariablesToExport).Count | Should -Be 0
        (Get-Command -Module OverlayTools -CommandType Alias).Name | Sort-Object | Should -Be (@($Manifest.AliasesToExport) | Sort-Object)
    }

    It 'has a manifest version equal to the assembly version' {
        $asm = [Reflection.AssemblyName]::GetAssemblyName((Join-Path $ModuleDir 'OverlayTools.dll'))
        $asm.Version.ToString(3) | Should -Be $Manifest.ModuleVersion
    }

    It 'ships the real Tmds.LibC implementation beside OverlayTools.dll, not the reference assembly' {
        $path = Join-Path $ModuleDir 'Tmds.LibC.dll'
        Test-Path -LiteralPath $path | Should -BeTrue
        $bytes = [IO.File]::ReadAllBytes($path)
        $pe = [Reflection.PortableExecutable.PEReader]::new([IO.MemoryStream]::new($bytes))
        $md = [Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
        $attrs = foreach ($h in $md.GetAssemblyDefinition().GetCustomAttributes()) {
            $ctor = $md.GetCustomAttribute($h).Constructor
            if ($ctor.Kind -eq 'MemberReference') { $md.GetString($md.GetTypeReference($md.GetMemberReference($ctor).Parent).Name) }
        }
        $attrs | Should -Not -Contain 'ReferenceAssemblyAttribute'
    }

    It 'uses approved verbs and declares the output type of each cmdlet' {
        # Cmdlets only: an alias (Invoke-CopyUp) has no verb of its own to check.
        $outputType = @{
            'Dismount-Overlay'     = 'OverlayTools.OverlayMount'
            'Get-OverlayChange'    = 'OverlayTools.OverlayChange'
            'Get-OverlayLayer'     = 'OverlayTools.OverlayLayer'
            'Get-OverlayMount'     = 'OverlayTools.OverlayMount'
            'Invoke-OverlayCopyUp' = 'OverlayTools.CopyUpResult'
            'Mount-Overlay'        = 'OverlayTools.OverlayMount'
            'Resolve-OverlayPath'  = 'OverlayTools.OverlayPathInfo'
        }
        $cmdlets = @(Get-Command -Module OverlayTools -CommandType Cmdlet)
        @($cmdlets.Name | Sort-Object) | Should -Be @($outputType.Keys | Sort-Object)
        $approved = @((Get-Verb).Verb)
        foreach ($c in $cmdlets) {
            $c.Verb | Should -BeIn $approved -Because "$($c.Name) must use an approved verb"
            @($c.OutputType.Name) | Should -Be @($outputType[$c.Name]) -Because "$($c.Name) declares [OutputType]"
        }
    }

    It 'supports -WhatIf and -Confirm on what changes the system' {
        foreach ($name in 'Mount-Overlay', 'Dismount-Overlay', 'Invoke-OverlayCopyUp') {
            (Get-Command $name).Parameters.Keys | Should -Contain 'WhatIf'
            (Get-Command $name).Parameters.Keys | Should -Contain 'Confirm'
        }
    }

    It 'exports Invoke-CopyUp as an alias of Invoke-OverlayCopyUp' {
        $Manifest.AliasesToExport | Should -Be @('Invoke-CopyUp')
        (Get-Alias Invoke-CopyUp).Definition | Should -Be 'Invoke-OverlayCopyUp'
    }

    It 'has a view for every output type, and prints changes like docker diff' {
        foreach ($t in 'OverlayTools.OverlayMount', 'OverlayTools.OverlayChange', 'OverlayTools.CopyUpResult', 'OverlayTools.OverlayPathInfo') {
            Get-FormatData -TypeName $t | Should -Not -BeNullOrEmpty -Because "$t needs a view"
        }
        $c = [OverlayTools.OverlayChange]@{ Kind = 'Changed'; Path = '/etc' }
        ($c | Out-String).Trim() | Should -Be 'C /etc'
    }

    It 'keeps output objects usable after Export-Clixml' {
        $file = Join-Path ([IO.Path]::GetTempPath()) ('ot-clixml-' + [guid]::NewGuid().ToString('N') + '.xml')
        try {
            [OverlayTools.OverlayChange]@{ Kind = 'Added'; Path = '/new'; ItemType = 'File'; Size = 3; Layer = '/u' } | Export-Clixml -LiteralPath $file
            $back = Import-Clixml -LiteralPath $file
            $back.Kind | Should -Be 'Added'
            $back.Path | Should -Be '/new'
            $back.Size | Should -Be 3
            ($back | Out-String).Trim() | Should -Be 'A /new'
        }
        finally {
            Remove-Item -LiteralPath $file -ErrorAction SilentlyContinue
        }
    }

    It 'offers Docker''s GraphDriver names as parameter aliases' {
        $p = (Get-Command Mount-Overlay).Parameters
        $p.Lower.Aliases | Should -Contain 'LowerDir'
        $p.Upper.Aliases | Should -Contain 'UpperDir'
        $p.Work.Aliases | Should -Contain 'WorkDir'
        $p.Target.Aliases | Should -Contain 'MergedDir'
        $p.Target.Aliases | Should -Contain 'MountPoint'
    }

    It 'completes -Option names and values' {
        $line = 'Mount-Overlay -Option redir'
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Contain 'redirect_dir=on'
        $line = 'Mount-Overlay -Option nos'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('nosuid')
    }

    It 'imports in a fresh pwsh and lists mounts without error' {
        $pwsh = Get-PwshExe
        $manifest = Join-Path $ModuleDir 'OverlayTools.psd1'
        $out = & @pwsh -NoProfile -NonInteractive -Command "Import-Module '$manifest'; `$null = Get-OverlayMount; 'ok'"
        $LASTEXITCODE | Should -Be 0
        $out | Select-Object -Last 1 | Should -Be 'ok'
    }
}
