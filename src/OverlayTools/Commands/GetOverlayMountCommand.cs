using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Interop;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Lists mounted overlays with their layers decoded from /proc/self/mountinfo.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "OverlayMount", HelpUri = HelpBase + "Get-OverlayMount.md")]
[OutputType(typeof(OverlayMount))]
public sealed class GetOverlayMountCommand : OverlayCmdlet
{
    /// <summary>Mount points to list (wildcards). A literal path that is no overlay mount is an error.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("MergedDir", "MountPoint")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayTargetCompleter))]
    public string[]? Target { get; set; }

    /// <summary>Only overlays that use this directory as a lower or data layer (wildcards).</summary>
    [Parameter]
    [Alias("LowerDir")]
    [SupportsWildcards]
    public string? Lower { get; set; }

    /// <summary>Only overlays that use this directory as their upper (wildcards).</summary>
    [Parameter]
    [Alias("UpperDir")]
    [SupportsWildcards]
    public string? Upper { get; set; }

    /// <summary>Read the mount namespace of this process instead of the current one.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    [ValidateRange(1, int.MaxValue)]
    public int? ProcessId { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        List<OverlayMount> mounts;
        Func<OverlayMount, bool> byLower, byUpper;
        try
        {
            mounts = ReadMounts(ProcessId);
            byLower = PathFilter(Lower, nameof(Lower), m => m.Lower.Concat(m.DataLower));
            byUpper = PathFilter(Upper, nameof(Upper), m => m.Upper is null ? [] : [m.Upper]);
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        mounts = mounts.Where(m => byLower(m) && byUpper(m)).ToList();
        if (ProcessId is null)
        {
            // Which container is this? Only paths of a known layer store open that store.
            using var owners = new Stores.MountOwners();
            owners.Annotate(mounts);
        }

        if (Target is null || Target.Length == 0)
        {
            foreach (var m in mounts)
            {
                WriteObject(m);
            }
            return;
        }
        var written = new HashSet<int>();
        foreach (var raw in Target)
        {
            try
            {
                WriteMatches(raw, mounts, written);
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
        }
    }

    private void WriteMatches(string raw, List<OverlayMount> mounts, HashSet<int> written)
    {
        bool literal = !HasWildcards(raw) || mounts.Any(m => m.Target == raw);
        string path = raw.StartsWith('/') ? raw : ResolvePath(raw, nameof(Target));
        if (literal)
        {
            var normalized = path.Length > 1 ? path.TrimEnd('/') : path;
            var found = mounts.Where(m => m.Target == normalized).ToList();
            if (found.Count == 0)
            {
                throw new OverlayException(ErrorIds.MountNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"No overlay is mounted at '{normalized}'{(ProcessId is null ? "" : $" in the mount namespace of process {ProcessId}")}.", normalized,
                    "Run Get-OverlayMount without -Target to see the mounted overlays.");
            }
            foreach (var m in found.Where(m => written.Add(m.MountId)))
            {
                WriteObject(m);
            }
            return;
        }
        var pattern = Pattern(path);
        foreach (var m in mounts.Where(m => pattern.IsMatch(m.Target) && written.Add(m.MountId)))
        {
            WriteObject(m);
        }
    }

    /// <summary>A filter on layer paths: a wildcard pattern, or a directory compared by its real path.</summary>
    private Func<OverlayMount, bool> PathFilter(string? raw, string parameterName, Func<OverlayMount, IEnumerable<string>> paths)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return _ => true;
        }
        if (HasWildcards(raw))
        {
            var pattern = Pattern(raw.StartsWith('/') ? raw : ResolvePath(raw, parameterName));
            return m => paths(m).Any(pattern.IsMatch);
        }
        string resolved = ResolvePath(raw, parameterName);
        using var fd = FileSystem.TryOpen(resolved, Native.O_PATH, out _);
        string real = fd is null ? resolved : FileSystem.RealPath(fd);
        var candidates = new HashSet<string>(StringComparer.Ordinal) { Trim(resolved), Trim(real) };
        return m => paths(m).Any(p => candidates.Contains(Trim(p)));
    }

    private static string Trim(string p) => p.Length > 1 ? p.TrimEnd('/') : p;
}
