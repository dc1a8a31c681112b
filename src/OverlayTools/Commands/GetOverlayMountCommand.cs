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

    /// <summary>
    /// Whatever is piped in; a string (<c>'/merged' | Get-OverlayMount</c>) is taken as a -Target
    /// value. Hidden plumbing: -Target itself cannot take pipeline input, as PowerShell would bind
    /// any object to a string parameter by converting it (a process piped in, for -ProcessId,
    /// would become a target named "System.Diagnostics.Process (pwsh)"). An object parameter
    /// takes every object as it is, so nothing is converted; objects still bind -Target and
    /// -ProcessId by property name.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public object? InputObject { get; set; }

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
    /// <remarks>
    /// No ValidateRange: an OverlayMount of the current namespace carries a null ProcessId, and
    /// piping Get-OverlayMount output back in must bind it as "this namespace", not fail.
    /// </remarks>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    public int? ProcessId { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var piped = InputObject is PSObject wrapped ? wrapped.BaseObject : InputObject;
        // A file or directory piped in means its path (Get-Item /merged | Get-OverlayMount); the
        // Target it carries is a symbolic link's target, null for anything else.
        var itemPath = PipedItemPath(InputObject);
        bool targetBound = MyInvocation.BoundParameters.ContainsKey(nameof(Target));
        if (itemPath is null && piped is not (null or string) && !targetBound && !MyInvocation.BoundParameters.ContainsKey(nameof(ProcessId)))
        {
            // What PowerShell itself says for an object no parameter takes (before InputObject took them all).
            WriteError(new ErrorRecord(new ParameterBindingException(
                "The input object cannot be bound to any parameters for the command: pipe mount points as strings, processes (by Id) or objects with a Target or ProcessId property."),
                "InputObjectNotBound", ErrorCategory.InvalidArgument, InputObject));
            return;
        }
        if (ProcessId is <= 0)
        {
            WriteError(new ErrorRecord(new ArgumentOutOfRangeException(nameof(ProcessId), ProcessId, "A process id is 1 or more."),
                "ProcessIdOutOfRange", ErrorCategory.InvalidArgument, ProcessId));
            return;
        }
        // Piped processes mostly share a mount namespace: each namespace is listed once.
        if (ProcessId is { } pid && FileSystem.TryReadLink($"/proc/{pid}/ns/mnt", out _) is { } ns && !_namespaces.Add(ns))
        {
            WriteVerboseOrDebug($"Process {pid} is in a mount namespace already listed ({ns}); its overlays are not written again.");
            return;
        }
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
        var selected = new List<OverlayMount>();
        var targets = itemPath is not null ? [itemPath] : piped is string path ? [.. Target ?? [], path] : Target ?? [];
        if (targets.Any(string.IsNullOrEmpty) || (targets.Length == 0 && targetBound))
        {
            // An empty -Target, or an object piped in with an empty Target property, would
            // otherwise select the current directory, or every overlay.
            WriteTargetEmpty("give the mount point of an overlay, or leave -Target out to list them all", InputObject ?? Target);
            targets = targets.Where(t => !string.IsNullOrEmpty(t)).ToArray();
            if (targets.Length == 0)
            {
                return;
            }
        }
        if (targets.Length == 0)
        {
            selected = mounts;
        }
        else
        {
            var written = new HashSet<int>();
            foreach (var raw in targets)
            {
                try
                {
                    var (found, _) = SelectMounts(raw, mounts, ProcessId is null ? "" : $" in the mount namespace of process {ProcessId}", thisNamespace: ProcessId is null,
                        literal: piped is not (null or string) && !TargetOnCommandLine);
                    selected.AddRange(found.Where(m => written.Add(m.MountId)));
                }
                catch (OverlayException e)
                {
                    WriteOverlayError(e);
                }
            }
        }
        // Which container is this? Only the mounts written, and only paths of a known layer
        // store, open that store (once per command). Paths of another namespace are not ours to read.
        if (ProcessId is null)
        {
            _owners ??= new Stores.MountOwners();
            _owners.Annotate(selected);
        }
        foreach (var m in selected)
        {
            WriteObject(m);
        }
    }

    private Stores.MountOwners? _owners;
    private readonly HashSet<string> _namespaces = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    protected override void EndProcessing() => _owners?.Dispose();

    /// <summary>A filter on layer paths: a wildcard pattern, or a directory compared by its real path.</summary>
    private Func<OverlayMount, bool> PathFilter(string? raw, string parameterName, Func<OverlayMount, IEnumerable<string>> paths)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return _ => true;
        }
        if (HasWildcards(raw))
        {
            var pattern = Pattern(ResolvePath(raw, parameterName));
            return m => paths(m).Any(pattern.IsMatch);
        }
        string resolved = ResolvePath(raw, parameterName);
        using var fd = FileSystem.TryOpen(resolved, Native.O_PATH, out _);
        string real = fd is null ? resolved : FileSystem.RealPath(fd);
        var candidates = new HashSet<string>(StringComparer.Ordinal) { FileSystem.TrimTrailingSlashes(resolved), FileSystem.TrimTrailingSlashes(real) };
        return m => paths(m).Any(p => candidates.Contains(FileSystem.TrimTrailingSlashes(p)));
    }
}
