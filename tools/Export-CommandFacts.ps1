<#
.SYNOPSIS
    Writes the facts PowerShell knows about each exported cmdlet (parameter sets, positions,
    types, aliases, pipeline input, wildcards, output types) as JSON for tools/HelpBuilder.
    Run by build.ps1 in a child pwsh; not meant to be run by hand.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutFile
)
$ErrorActionPreference = 'Stop'
$module = Import-Module $ModulePath -Force -PassThru
$common = [System.Management.Automation.Cmdlet]::CommonParameters

function Get-TypeName([type] $t) {
    # PlatyPS's spelling: generic arguments by full name, without assembly qualification.
    if ($t.IsGenericType) {
        $args = ($t.GetGenericArguments() | ForEach-Object { Get-TypeName $_ }) -join ','
        return '{0}[{1}]' -f $t.GetGenericTypeDefinition().FullName, $args
    }
    return $t.FullName
}

$commands = foreach ($cmd in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
    # A DontShow parameter (pipeline plumbing) is left out, as PowerShell leaves it out of tab
    # completion: help neither documents it nor shows it in SYNTAX.
    $hidden = @($cmd.Parameters.Values | Where-Object {
            $pa = @($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
            $pa.Count -gt 0 -and @($pa | Where-Object { -not $_.DontShow }).Count -eq 0
        } | ForEach-Object Name)
    $params = foreach ($p in $cmd.Parameters.Values | Where-Object { $_.Name -notin $common -and $_.Name -notin $hidden }) {
        $attrs = $p.Attributes
        [ordered]@{
            Name              = $p.Name
            Type              = Get-TypeName $p.ParameterType
            IsSwitch          = $p.SwitchParameter
            Aliases           = @($p.Aliases)
            SupportsWildcards = [bool] ($attrs | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            AcceptedValues    = @(
                $attrs | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object { $_.ValidValues }
                # An enum parameter (or a nullable one) accepts its names.
                $t = if ([Nullable]::GetUnderlyingType($p.ParameterType)) { [Nullable]::GetUnderlyingType($p.ParameterType) } else { $p.ParameterType }
                if ($t.IsEnum) { [Enum]::GetNames($t) }
            )
        }
    }
    # A set that a hidden parameter is mandatory in is plumbing too (a typed pipeline input):
    # help shows no SYNTAX for it.
    $plumbing = { param($s) @($s.Parameters | Where-Object { $_.IsMandatory -and $_.Name -in $hidden }).Count -gt 0 }
    $sets = foreach ($s in $cmd.ParameterSets | Where-Object { -not (& $plumbing $_) }) {
        [ordered]@{
            Name       = $s.Name
            IsDefault  = $s.IsDefault
            Parameters = @(foreach ($p in $s.Parameters | Where-Object { $_.Name -notin $common -and $_.Name -notin $hidden }) {
                    [ordered]@{
                        Name                            = $p.Name
                        IsMandatory                     = $p.IsMandatory
                        Position                        = $p.Position
                        ValueFromPipeline               = $p.ValueFromPipeline
                        ValueFromPipelineByPropertyName = $p.ValueFromPipelineByPropertyName
                        ValueFromRemainingArguments     = $p.ValueFromRemainingArguments
                    }
                })
        }
    }
    [ordered]@{
        Name          = $cmd.Name
        Verb          = $cmd.Verb
        Noun          = $cmd.Noun
        HelpUri       = $cmd.HelpUri
        Aliases       = @(Get-Alias -Definition $cmd.Name -ErrorAction SilentlyContinue | Where-Object { $_.Source -eq $module.Name -or $_.ModuleName -eq $module.Name } | ForEach-Object Name)
        OutputTypes   = @($cmd.OutputType | ForEach-Object { $_.Name })
        Parameters    = @($params)
        ParameterSets = @($sets)
    }
}
[ordered]@{ Module = $module.Name; Commands = @($commands) } | ConvertTo-Json -Depth 8 | Set-Content -LiteralPath $OutFile
