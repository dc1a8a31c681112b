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
    if ($Condition) { return }
    if ($env:CI -eq 'true') { throw "Prerequisite missing under CI=true: $Because" }
    # Set-ItResult ends the It (it throws), so nothing after a failed check runs.
    Set-ItResult -Skipped -Because $Because
}

function New-TestRoot {
    param([string] $Name = 'root')
    $null = New-Item -ItemType Directory -Force -Path $script:TestRootBase
    $dir = Join-Path $script:TestRootBase ('{0}-{1}' -f $Name, [guid]::NewGuid().ToString('N').Substring(0, 12))
    $null = New-Item -ItemType Directory -Path $dir
    return $dir
}

function Wait-Until {
    # Waits for a condition another thread or process brings about, checking every
    # -IntervalMilliseconds; throws after -TimeoutSeconds rather than hang.
    param(
        [Parameter(Mandatory, Position = 0)] [scriptblock] $Condition,
        [int] $TimeoutSeconds = 30,
        [string] $What = "$Condition",
        [int] $IntervalMilliseconds = 200
    )
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for $What." }
        Start-Sleep -Milliseconds $IntervalMilliseconds
    }
}

function ConvertFrom-MountInfoField {
    # A mountinfo field with its octal escapes (\040 space, \054 comma, \134 backslash...) decoded
    # to text, as bytes then UTF-8.
    param([Parameter(Mandatory)] [AllowEmptyString()] [string] $Field)
    if ($Field.IndexOf([char] '\') -lt 0) { return $Field }
    $bytes = [Collections.Generic.List[byte]]::new()
    $raw = [Text.Encoding]::UTF8.GetBytes($Field)
    for ($i = 0; $i -lt $raw.Length; $i++) {
        if ($raw[$i] -eq 92 -and $i + 3 -lt $raw.Length -and ([char]$raw[$i + 1]) -match '[0-7]' -and ([char]$raw[$i + 2]) -match '[0-7]' -and ([char]$raw[$i + 3]) -match '[0-7]') {
            $bytes.Add([Convert]::ToByte([Text.Encoding]::ASCII.GetString($raw, $i + 1, 3), 8)); $i += 3
        }
        else { $bytes.Add($raw[$i]) }
    }
    return [Text.Encoding]::UTF8.GetString($bytes.ToArray())
}

function Get-MountsUnder {
    # Mount points at or below $Path from /proc/self/mountinfo (any file system), deepest first.
    param([Parameter(Mandatory)] [string] $Path)
    $prefix = $Path.TrimEnd('/')
    Get-Content -LiteralPath /proc/self/mountinfo | ForEach-Object {
        $mp = ConvertFrom-MountInfoField ($_ -split ' ')[4]
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
    # rm, not Remove-Item: .NET cannot name files whose names are not UTF-8 (tests make some).
    & rm -rf --one-file-system -- $Path
    if (Test-Path -LiteralPath $Path) { throw "Could not delete '$Path'." }
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

# Extended attributes for the copy-on-write suites (no attr package needed): set, read and list
# xattrs of a path without following a final symbolic link.
function Initialize-XattrType {
    if ('OverlayToolsTests.Xattr' -as [type]) { return }
    Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
namespace OverlayToolsTests {
    public static class Xattr {
        [DllImport("libc", SetLastError = true)] static extern int lsetxattr(byte[] path, byte[] name, byte[] value, UIntPtr size, int flags);
        [DllImport("libc", SetLastError = true)] static extern IntPtr lgetxattr(byte[] path, byte[] name, byte[] value, UIntPtr size);
        [DllImport("libc", SetLastError = true)] static extern IntPtr llistxattr(byte[] path, byte[] list, UIntPtr size);
        static byte[] Z(string s) { return Encoding.UTF8.GetBytes(s + "\0"); }
        public static void Set(string path, string name, byte[] value) {
            if (lsetxattr(Z(path), Z(name), value, (UIntPtr)value.Length, 0) != 0)
                throw new InvalidOperationException("lsetxattr " + path + " " + name + ": errno " + Marshal.GetLastWin32Error());
        }
        public static byte[] Get(string path, string name) {
            var buf = new byte[65536];
            long n = (long)lgetxattr(Z(path), Z(name), buf, (UIntPtr)buf.Length);
            if (n < 0) return null;
            var r = new byte[n]; Array.Copy(buf, r, n); return r;
        }
        public static string[] List(string path) {
            var buf = new byte[65536];
            long n = (long)llistxattr(Z(path), buf, (UIntPtr)buf.Length);
            var names = new List<string>();
            int start = 0;
            for (int i = 0; i < n; i++) { if (buf[i] == 0) { names.Add(Encoding.UTF8.GetString(buf, start, i - start)); start = i + 1; } }
            names.Sort(StringComparer.Ordinal);
            return names.ToArray();
        }
    }
}
'@
}

function Set-TestXattr {
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [AllowEmptyString()] $Value)
    Initialize-XattrType
    # The comma keeps an empty value (a mark such as trusted.overlay.metacopy) an array, not $null.
    $bytes = if ($Value -is [byte[]]) { , $Value } else { , [Text.Encoding]::UTF8.GetBytes([string] $Value) }
    [OverlayToolsTests.Xattr]::Set($Path, $Name, $bytes)
}

function Get-TestXattr {
    # The value of one xattr as text (null when not set); with -List, the names of all.
    param([Parameter(Mandatory)] [string] $Path, [string] $Name, [switch] $List, [switch] $Raw)
    Initialize-XattrType
    if ($List) { return [OverlayToolsTests.Xattr]::List($Path) }
    $v = [OverlayToolsTests.Xattr]::Get($Path, $Name)
    if ($null -eq $v -or $Raw) { return $v }
    return [Text.Encoding]::UTF8.GetString($v)
}

function Get-TestTreeState {
    # lstat of every entry below a directory, keyed by its path relative to it ("/a/b"), from
    # find(1), which never opens files: type, mode, owner, size, mtime and link target.
    param([Parameter(Mandatory)] [string] $Path)
    $state = @{}
    $out = & find $Path -mindepth 1 -printf '%P\0%y\0%m\0%U\0%G\0%s\0%T@\0%l\0%D:%i\n'
    foreach ($line in $out) {
        $f = $line -split "`0"
        $state['/' + $f[0]] = [pscustomobject]@{ Type = $f[1]; Mode = $f[2]; Uid = $f[3]; Gid = $f[4]; Size = [long] $f[5]; Mtime = $f[6]; Target = $f[7]; Inode = $f[8] }
    }
    return $state
}

function Wait-LockOpen {
    # Waits until this process holds at least $Count descriptors of the directory $Path. Used
    # with Mount-Overlay in another runspace held up by a lock on its upper: its descriptor for
    # the upper's lock, opened right before it waits, is the last one (the test's lock and
    # Mount-Overlay's O_PATH descriptor of the upper come first), so by then the target and work
    # dir are made and opened.
    param([Parameter(Mandatory)] [string] $Path, [int] $Count = 3)
    Wait-Until -IntervalMilliseconds 10 -What "$Count descriptors of $Path in this process" {
        @(Get-ChildItem -LiteralPath /proc/self/fd -ErrorAction SilentlyContinue | Where-Object { $_.LinkTarget -eq $Path }).Count -ge $Count
    }
}

function Invoke-WithProgress {
    <#
    .SYNOPSIS
        Runs a script in a new PowerShell that imports the module under test, and returns what
        it wrote to the output and to the progress stream (the records as the host kept them).
    #>
    param([Parameter(Mandatory)] [string] $ModulePath, [Parameter(Mandatory)] [string] $Script, [object[]] $ArgumentList = @())
    $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $iss.ImportPSModule([string[]] @($ModulePath))
    $ps = [powershell]::Create($iss)
    try {
        $null = $ps.AddScript($Script)
        foreach ($a in $ArgumentList) { $null = $ps.AddArgument($a) }
        $out = $ps.Invoke()
        [pscustomobject]@{
            Output = @($out)
            Working = @($ps.Streams.Progress | Where-Object RecordType -EQ 'Processing')
            Last = @($ps.Streams.Progress)[-1]
        }
    }
    finally { $ps.Dispose() }
}

function Assert-ProgressReported {
    # What Invoke-WithProgress caught: records while working (the first with this activity,
    # status and current operation, as -like patterns), and a Completed record last.
    param([Parameter(Mandatory)] $Result, [string] $Activity, [string] $Status, [string] $Current)
    $Result.Working.Count | Should -BeGreaterThan 0
    $Result.Working[0].Activity | Should -Be $Activity
    $Result.Working[0].StatusDescription | Should -BeLike $Status
    $Result.Working[0].CurrentOperation | Should -BeLike $Current
    $Result.Last.RecordType | Should -Be 'Completed'
}

Export-ModuleMember -Function *
