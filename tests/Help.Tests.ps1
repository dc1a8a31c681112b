#Requires -Version 7.4
# Every cmdlet explains itself: MAML help built from docs/en-US by build.ps1.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Commands = @(Get-Command -Module OverlayTools -CommandType Cmdlet | ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-OverlayToolsUnderTest
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
}

Describe 'Help for <Name>' -Tag 'Help' -ForEach $Commands {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Cmd = Get-Command $Name
        # DontShow parameters (pipeline plumbing) are hidden from tab completion, and help leaves them out too.
        $script:Hidden = @($Cmd.Parameters.Values | Where-Object {
                $pa = @($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
                $pa.Count -gt 0 -and @($pa | Where-Object { -not $_.DontShow }).Count -eq 0
            } | ForEach-Object Name)
    }

    It 'has a real synopsis, not the syntax PowerShell makes up without help' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match '\[<CommonParameters>\]'
        $Help.Synopsis | Should -Not -Match "^\s*$Name\b"
    }

    It 'has a description' {
        ($Help.Description | Out-String).Trim().Length | Should -BeGreaterThan 40
    }

    It 'has at least two examples, each with code and remarks' {
        @($Help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        foreach ($e in $Help.Examples.Example) {
            $e.Code | Should -Not -BeNullOrEmpty
            ($e.Remarks | Out-String).Trim() | Should -Not -BeNullOrEmpty
        }
    }

    It 'describes every parameter' {
        foreach ($p in $Cmd.Parameters.Keys | Where-Object { ($_ -notin $Common -or $_ -in 'WhatIf', 'Confirm') -and $_ -notin $Hidden }) {
            $ph = $Help.Parameters.Parameter | Where-Object Name -EQ $p
            $ph | Should -Not -BeNullOrEmpty -Because "-$p needs help"
            ($ph.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$p needs a description"
        }
    }

    It 'matches the code in aliases, pipeline input and wildcards' {
        foreach ($p in $Cmd.Parameters.Values | Where-Object { $_.Name -notin $Common -and $_.Name -notin $Hidden }) {
            $ph = $Help.Parameters.Parameter | Where-Object Name -EQ $p.Name
            $aliases = if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }
            $ph.Aliases | Should -Be $aliases -Because "-$($p.Name) aliases"
            $byValue = @($p.ParameterSets.Values | Where-Object ValueFromPipeline).Count -gt 0
            $byName = @($p.ParameterSets.Values | Where-Object ValueFromPipelineByPropertyName).Count -gt 0
            $ph.PipelineInput | Should -Match $(if ($byValue -or $byName) { '^True' } else { '^False' }) -Because "-$($p.Name) pipeline input"
            $wild = [bool] ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $ph.Globbing | Should -Be $wild.ToString().ToLowerInvariant() -Because "-$($p.Name) wildcards"
        }
    }

    It 'points HelpUri at its markdown in the repository' {
        $Cmd.HelpUri | Should -Match "/docs/en-US/$Name\.md$"
        Test-Path -LiteralPath (Join-Path $PSScriptRoot "../docs/en-US/$Name.md") | Should -BeTrue
    }
}

Describe 'about_OverlayTools' -Tag 'Help' {
    It 'is found by Get-Help and explains the concepts' {
        $text = Get-Help about_OverlayTools | Out-String
        $text | Should -Match 'about_OverlayTools'
        foreach ($word in 'lower', 'upper', 'work', 'merged', 'whiteout', 'opaque', 'copy') {
            $text | Should -Match $word
        }
    }
}
