# Helpers shared by the bench/*.Bench.ps1 scripts: a median, one result line, and a timing.

Set-StrictMode -Version 3.0

function Median([double[]] $xs) {
    # The middle value (the upper one of the two middles for an even count).
    $s = @($xs | Sort-Object)
    return $s[[int][math]::Floor($s.Count / 2)]
}

function Row {
    # One result line: what we timed and its milliseconds, the baseline and its milliseconds, and
    # the ratio ours / baseline. -Digits and -RatioDigits set the decimals shown.
    param([string] $What, [double] $Ours, [string] $Baseline, [double] $Base, [int] $Digits = 1, [int] $RatioDigits = 2)
    "{0,-46} {1,10:N$Digits} ms   {2,-34} {3,10:N$Digits} ms   ratio {4,6:N$RatioDigits}x" -f $What, $Ours, $Baseline, $Base, ($Ours / $Base)
}

function Time([scriptblock] $Action) {
    # Milliseconds the script block takes; its output is discarded.
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $null = & $Action
    return $sw.Elapsed.TotalMilliseconds
}

Export-ModuleMember -Function Median, Row, Time
