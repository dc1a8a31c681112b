<#
.SYNOPSIS
    Regenerates the containerd fixture: bbolt databases that a real containerd wrote, the
    manifests and configs they refer to, what ctr said about them, and damaged copies.

.DESCRIPTION
    Needs root, docker.io (dockerd, containerd, ctr) and busybox-static; no network. Run it from
    the repository root with:

        dotnet pwsh tests/OverlayTools.Core.Tests/Fixtures/containerd/New-ContainerdFixture.ps1

    It builds two images FROM scratch with a private dockerd, saves them, imports them into a
    private containerd (namespaces k8s.io, moby, native, empty), tags one image 120 times (so
    meta.db needs branch pages), creates containers (one with a spec larger than a page, so meta.db
    needs overflow pages; one on the native snapshotter), a read-only view, then stops containerd
    and writes, next to this script:

        meta.db.gz, metadata.db.gz    the two databases, gzipped (bbolt files are mostly zeros)
        blobs/sha256/<hex>            every manifest, index and config (no layer tars)
        expected.json                 ctr's view: each container's upperdir/workdir/lowerdir from
                                      `ctr snapshots mounts`, each image's config digest and diff ids
                                      ({root} stands for the containerd root)
        corrupt/*.db.gz               hand-damaged copies of meta.db (see the list below)
#>
[CmdletBinding()]
param([string] $OutDir = $PSScriptRoot)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot '../../../TestEngines.psm1') -Force

if ((& id -u) -ne '0') { throw 'Run as root: dockerd and containerd need it.' }
foreach ($e in 'Docker', 'Containerd') { if (-not (Test-EngineAvailable $e)) { throw "$e is not installed (apt-get install docker.io busybox-static)." } }

$work = Join-Path ([IO.Path]::GetTempPath()) ('ctd-fixture-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $work

function Write-Gzip([byte[]] $Bytes, [string] $Path) {
    $null = New-Item -ItemType Directory -Force -Path (Split-Path $Path)
    $out = [IO.File]::Create($Path)
    try {
        $gz = [IO.Compression.GZipStream]::new($out, [IO.Compression.CompressionLevel]::SmallestSize)
        $gz.Write($Bytes, 0, $Bytes.Length)
        $gz.Dispose()
    }
    finally { $out.Dispose() }
}

function Get-MountSpec([string] $Line) {
    # "mount -t overlay overlay /mnt -o index=off,workdir=W,upperdir=U,lowerdir=A:B" (or a bind mount).
    $opts = @{}
    if ($Line -match ' -o (\S+)$') {
        foreach ($kv in $Matches[1] -split ',') { $k, $v = $kv -split '=', 2; $opts[$k] = $v }
    }
    $type = if ($Line -match '^mount -t (\S+)') { $Matches[1] } else { '' }
    $source = ($Line -split ' ')[4]
    return [ordered]@{
        type = $type
        upper = $opts['upperdir']; work = $opts['workdir']
        lowers = if ($opts['lowerdir']) { @($opts['lowerdir'] -split ':') } elseif ($type -eq 'bind') { @($source) } else { @() }
    }
}

$docker = $null; $ctd = $null
try {
    # ---- images, built offline and saved ------------------------------------------------------
    $docker = Start-TestDocker -Root "$work/docker"
    $app = New-BusyboxContext -Path "$work/ctx-app" -Steps @('RUN echo one > /one', 'RUN mkdir /data && echo two > /data/two', 'ENV X=1', 'RUN echo three > /three')
    $null = Invoke-TestDocker $docker build -q -t example.com/demo/app:1.0 $app
    $null = Invoke-TestDocker $docker tag example.com/demo/app:1.0 app2:latest
    $base = New-BusyboxContext -Path "$work/ctx-base"
    $null = Invoke-TestDocker $docker build -q -t busybox:latest $base
    $null = Invoke-TestDocker $docker save -o "$work/app.tar" example.com/demo/app:1.0 app2:latest
    $null = Invoke-TestDocker $docker save -o "$work/base.tar" busybox:latest
    Stop-TestDocker $docker; $docker = $null

    # ---- a private containerd ---------------------------------------------------------------------
    $ctd = Start-TestContainerd -Root "$work/ctd"
    $null = Invoke-TestCtr $ctd -n k8s.io images import "$work/app.tar"
    $null = Invoke-TestCtr $ctd -n moby images import "$work/base.tar"
    $null = Invoke-TestCtr $ctd -n native images import --snapshotter native "$work/base.tar"
    $null = Invoke-TestCtr $ctd namespaces create empty
    $tags = 1..120 | ForEach-Object { 'example.com/demo/app:t{0:D3}' -f $_ }
    $null = Invoke-TestCtr $ctd -n k8s.io images tag example.com/demo/app:1.0 @tags
    $null = Invoke-TestCtr $ctd -n k8s.io containers create example.com/demo/app:1.0 c1
    $null = Invoke-TestCtr $ctd -n k8s.io containers create docker.io/library/app2:latest c2
    $big = 1..3 | ForEach-Object { '--env'; "BIG$_=" + ([string][char](119 + $_) * 3000) }
    $null = Invoke-TestCtr $ctd -n k8s.io containers create @big example.com/demo/app:1.0 big
    $null = Invoke-TestCtr $ctd -n moby containers create docker.io/library/busybox:latest m1
    $null = Invoke-TestCtr $ctd -n native containers create --snapshotter native docker.io/library/busybox:latest n1
    $chainTop = (Invoke-TestCtr $ctd -n k8s.io snapshots ls | Select-String -Pattern '^c1\s+(\S+)').Matches[0].Groups[1].Value
    $null = Invoke-TestCtr $ctd -n k8s.io snapshots view v1 $chainTop

    # ---- what ctr says ------------------------------------------------------------------------------
    $root = $ctd.DataRoot
    $expected = [ordered]@{ containers = @(); views = @(); images = @(); errors = @() }
    foreach ($c in @(@('k8s.io', 'c1'), @('k8s.io', 'c2'), @('k8s.io', 'big'), @('moby', 'm1'))) {
        $line = Invoke-TestCtr $ctd -n $c[0] snapshots mounts /mnt $c[1] | Select-Object -First 1
        $expected.containers += [ordered]@{ namespace = $c[0]; id = $c[1] } + (Get-MountSpec ($line -replace [regex]::Escape($root), '{root}'))
    }
    $line = Invoke-TestCtr $ctd -n k8s.io snapshots mounts /mnt v1 | Select-Object -First 1
    $expected.views += [ordered]@{ namespace = 'k8s.io'; key = 'v1' } + (Get-MountSpec ($line -replace [regex]::Escape($root), '{root}'))
    foreach ($ns in 'k8s.io', 'moby', 'native') {
        foreach ($row in Invoke-TestCtr $ctd -n $ns images ls | Select-Object -Skip 1) {
            $f = $row -split '\s+'
            $manifest = (Invoke-TestCtr $ctd -n $ns content get $f[2]) -join "`n" | ConvertFrom-Json
            $config = (Invoke-TestCtr $ctd -n $ns content get $manifest.config.digest) -join "`n" | ConvertFrom-Json
            $expected.images += [ordered]@{ namespace = $ns; name = $f[0]; digest = $f[2]; configDigest = $manifest.config.digest; diffIds = @($config.rootfs.diff_ids) }
        }
    }
    $expected.errors += [ordered]@{ namespace = 'native'; item = 'docker.io/library/busybox:latest'; errorId = 'ContainerdImageNotUnpacked' }
    $expected.errors += [ordered]@{ namespace = 'native'; item = 'n1'; errorId = 'ContainerdUnsupportedSnapshotter' }

    Stop-TestContainerd $ctd -KeepData

    # ---- write the fixture -----------------------------------------------------------------------------
    foreach ($d in 'blobs', 'corrupt') { if (Test-Path "$OutDir/$d") { Remove-Item -LiteralPath "$OutDir/$d" -Recurse -Force } }
    $meta = [IO.File]::ReadAllBytes("$root/io.containerd.metadata.v1.bolt/meta.db")
    $snap = [IO.File]::ReadAllBytes("$root/io.containerd.snapshotter.v1.overlayfs/metadata.db")
    Write-Gzip $meta "$OutDir/meta.db.gz"
    Write-Gzip $snap "$OutDir/metadata.db.gz"
    $null = New-Item -ItemType Directory -Force -Path "$OutDir/blobs/sha256"
    foreach ($blob in Get-ChildItem "$root/io.containerd.content.v1.content/blobs/sha256") {
        # Manifests, indexes and configs are small JSON; layer tars are neither.
        if ($blob.Length -lt 65536 -and [IO.File]::ReadAllBytes($blob.FullName)[0] -eq [byte][char]'{') {
            Copy-Item -LiteralPath $blob.FullName -Destination "$OutDir/blobs/sha256/$($blob.Name)"
        }
    }
    $expected | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath "$OutDir/expected.json"

    # ---- damaged copies of meta.db ------------------------------------------------------------------
    $ps = [BitConverter]::ToUInt32($meta, 16 + 8)
    $hwm = [BitConverter]::ToUInt64($meta, 16 + 40)
    function Copy-Bytes { return , ([byte[]] $meta.Clone()) }   # a fresh copy
    function Get-Page([byte[]] $b, [uint64] $id) { $o = [int]($id * $ps); return [pscustomobject]@{ Offset = $o; Flags = [BitConverter]::ToUInt16($b, $o + 8); Count = [BitConverter]::ToUInt16($b, $o + 10) } }
    function Set-U64([byte[]] $b, [int] $at, [uint64] $v) { [BitConverter]::GetBytes($v).CopyTo($b, $at) }
    function Set-U32([byte[]] $b, [int] $at, [uint32] $v) { [BitConverter]::GetBytes($v).CopyTo($b, $at) }
    $pages = foreach ($id in 2..($hwm - 1)) { $p = Get-Page $meta $id; if ([BitConverter]::ToUInt64($meta, $p.Offset) -eq $id) { $p | Add-Member -PassThru Id $id } }
    $branch = $pages | Where-Object Flags -EQ 1 | Select-Object -First 1
    $leaf = $pages | Where-Object { $_.Flags -eq 2 -and $_.Count -gt 0 } | Select-Object -First 1
    if (-not $branch) { throw 'meta.db has no branch page; tag more images.' }
    if (-not ($pages | Where-Object { [BitConverter]::ToUInt32($meta, $_.Offset + 12) -gt 0 })) { throw 'meta.db has no overflow page; make the big container bigger.' }
    # A leaf element that holds a bucket with its own root page.
    $bucketElem = $null
    foreach ($p in $pages | Where-Object Flags -EQ 2) {
        for ($i = 0; $i -lt $p.Count -and -not $bucketElem; $i++) {
            $at = $p.Offset + 16 + 16 * $i
            if (([BitConverter]::ToUInt32($meta, $at) -band 1) -and [BitConverter]::ToUInt64($meta, $at + [BitConverter]::ToUInt32($meta, $at + 4) + [BitConverter]::ToUInt32($meta, $at + 8)) -ne 0) {
                $bucketElem = $at + [BitConverter]::ToUInt32($meta, $at + 4) + [BitConverter]::ToUInt32($meta, $at + 8)
            }
        }
        if ($bucketElem) { break }
    }
    $tx0 = [BitConverter]::ToUInt64($meta, 16 + 48); $tx1 = [BitConverter]::ToUInt64($meta, $ps + 16 + 48)
    $newest = if ($tx0 -gt $tx1) { 0 } else { $ps }

    $cases = [ordered]@{}
    $cases['truncated'] = [byte[]] $meta[0..([int]([math]::Floor($hwm / 2) * $ps) - 1)]              # cut at a page boundary
    $b = Copy-Bytes; $b[16 + 20] = $b[16 + 20] -bxor 0xFF; $b[$ps + 16 + 20] = $b[$ps + 16 + 20] -bxor 0xFF; $cases['both-meta-bad'] = $b
    $b = Copy-Bytes; $b[$newest + 16 + 50] = $b[$newest + 16 + 50] -bxor 0x01; $cases['newest-meta-bad'] = $b   # the older meta must be used
    $b = Copy-Bytes; Set-U64 $b ($branch.Offset + 16 + 8) $branch.Id; $cases['branch-self-reference'] = $b
    $b = Copy-Bytes; Set-U64 $b $bucketElem ($hwm + 1000); $cases['bucket-root-out-of-range'] = $b
    $b = Copy-Bytes; Set-U32 $b ($leaf.Offset + 16 + 8) 0x7FFFFFFF; $cases['element-past-page'] = $b
    $b = Copy-Bytes; Set-U32 $b ($leaf.Offset + 12) 1000000000; $cases['overflow-past-end'] = $b
    $b = [byte[]]::new(8192); [Random]::new(42).NextBytes($b); $cases['not-bolt'] = $b
    $cases['empty'] = [byte[]]::new(0)
    foreach ($k in $cases.Keys) { Write-Gzip ([byte[]] $cases[$k]) "$OutDir/corrupt/$k.db.gz" }
    Write-Host "Fixture written to $OutDir (meta.db: $($meta.Length) bytes, $hwm pages of $ps; metadata.db: $($snap.Length) bytes)."
}
finally {
    if ($docker) { Stop-TestDocker $docker }
    if ($ctd) { Stop-TestContainerd $ctd }
    Remove-EngineRoot $work
}
