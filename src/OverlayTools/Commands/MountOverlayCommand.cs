using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Interop;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Mounts an overlay: lower layers, an optional upper and work dir, merged at a target.</para>
/// </summary>
[Cmdlet(VerbsData.Mount, "Overlay", SupportsShouldProcess = true, DefaultParameterSetName = LayerSet, HelpUri = HelpBase + "Mount-Overlay.md")]
[OutputType(typeof(OverlayMount))]
public sealed class MountOverlayCommand : OverlayCmdlet
{
    private const string LowerSet = "Lower";
    private const string LayerSet = "Layer";

    private readonly System.Threading.CancellationTokenSource _cancel = new();

    /// <summary>Layers collected from a stream of OverlayLayer objects (the Layer parameter set), in the order received.</summary>
    private readonly List<(string Path, string? Role, int? Position)> _streamed = [];

    /// <summary>Lower layers, highest priority first. Also a colon-joined list as docker inspect prints it.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = LowerSet)]
    [Alias("LowerDir")]
    [ValidateNotNullOrEmpty]
    public string[] Lower { get; set; } = [];

    /// <summary>One layer of a stream of layers (Get-OverlayLayer's Path), top first; all records together form the stack.</summary>
    /// <remarks>
    /// Not mandatory, though the Layer set needs it: the Layer set is the default, so a forgotten
    /// -Lower would otherwise make PowerShell ask for "LayerPath", a name nobody types. Without
    /// pipeline input the command asks for -Lower instead (see ProcessRecord).
    /// </remarks>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LayerSet)]
    [Alias("Path")]
    [ValidateNotNullOrEmpty]
    public string LayerPath { get; set; } = "";

    /// <summary>The role of that layer (Get-OverlayLayer's Role): a container's Upper is stacked as the top lower, never written; a Data layer is stacked as a data-only layer, as -DataLower.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LayerSet)]
    [Alias("Role")]
    public string? LayerRole { get; set; }

    /// <summary>The layer's position in its stack (Get-OverlayLayer's Position, 0 = top), to notice layers missing from the stream.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LayerSet)]
    [Alias("Position")]
    [ValidatePosition]
    public int? LayerPosition { get; set; }

    /// <summary>A position is 0 or more; none (null) is allowed.</summary>
    private sealed class ValidatePositionAttribute : ValidateArgumentsAttribute
    {
        protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
        {
            if (arguments is int p && p < 0)
            {
                throw new ValidationMetadataException($"The position {p} is negative; positions count from 0, the top of the stack.");
            }
        }
    }

    /// <summary>The upper (writable) layer. Without it the overlay is read-only.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LowerSet)]
    [Parameter(ParameterSetName = LayerSet)]
    [Alias("UpperDir")]
    public string? Upper { get; set; }

    /// <summary>The work dir: empty, on the same mount as the upper. Defaults to "&lt;Upper&gt;.work".</summary>
    /// <remarks>
    /// In the Layer set it does not bind from the pipeline: an OverlayLayer's Work is the
    /// container's own work dir, which is never used. (The Layer set is the default set so that
    /// PowerShell's default-set-first pipeline binding cannot take that Work into the Lower set.)
    /// </remarks>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LowerSet)]
    [Parameter(ParameterSetName = LayerSet)]
    [Alias("WorkDir")]
    public string? Work { get; set; }

    /// <summary>The directory to mount on (the merged view).</summary>
    /// <remarks>
    /// Null and empty are let through binding and refused in ProcessRecord (TargetEmpty): a
    /// directory piped in (Get-Item ./merged) binds its own, null, Target property here, and is
    /// taken by its path instead (<see cref="InputItem"/>).
    /// </remarks>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = LowerSet)]
    [Parameter(Mandatory = true, ParameterSetName = LayerSet)]
    [Alias("MergedDir", "MountPoint")]
    [AllowNull]
    [AllowEmptyString]
    public string? Target { get; set; } = "";

    /// <summary>
    /// A directory object piped in with -Lower (Get-Item ./merged): the target, taken by its path.
    /// Hidden plumbing, typed, and in the Lower set only: nothing but a file or directory object
    /// binds it, so layer streams and docker inspect's objects still choose their own set.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true, ParameterSetName = LowerSet)]
    public System.IO.FileSystemInfo? InputItem { get; set; }

    /// <summary>
    /// A deserialized directory object piped in (Import-Clixml, or Get-Item run over remoting):
    /// the target, taken by its FullName, as <see cref="InputItem"/>. Its own Target property (a
    /// symbolic link's target) would otherwise bind -Target empty. Hidden plumbing; only objects
    /// of that type name bind it.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true, ParameterSetName = LowerSet)]
    [PSTypeName("Deserialized.System.IO.FileSystemInfo")]
    public PSObject? DeserializedItem { get; set; }

    /// <summary>This record's target as given: -Target, or the path of a directory piped in.</summary>
    private string _target = "";

    /// <summary>Data-only lower layers (reachable only through metacopy redirects).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = LowerSet)]
    public string[]? DataLower { get; set; }

    /// <summary>Overlay options (redirect_dir=on, index=off, metacopy=on, xino=auto, volatile...) and mount flags (ro, nosuid, nodev, noexec, noatime).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(OverlayTools.Completers.OverlayOptionCompleter))]
    public string[]? Option { get; set; }

    /// <summary>Mount read-only even with an upper.</summary>
    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    /// <summary>Create a missing target directory (removed again if the mount fails).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Emit the new OverlayMount.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName == LayerSet)
        {
            if (string.IsNullOrEmpty(LayerPath))
            {
                string message = MyInvocation.ExpectingInput
                    ? "An object piped to Mount-Overlay has no Path (a layer from Get-OverlayLayer) and no LowerDir (as docker inspect's GraphDriver.Data has)."
                    : "Mount-Overlay needs the lower layers: give -Lower, for example Mount-Overlay -Lower ./lower -Upper ./upper -Target ./merged, or pipe Get-OverlayLayer output in.";
                ThrowTerminatingError(new ErrorRecord(new ParameterBindingException(message), "MissingMandatoryParameter", ErrorCategory.InvalidArgument, null)
                {
                    ErrorDetails = new ErrorDetails(message) { RecommendedAction = "Give -Lower <dir[]> (highest priority first), or pipe layers from Get-OverlayLayer." },
                });
            }
            // A stream of layers forms one stack: collect it, mount it at the end.
            _streamed.Add((LayerPath, LayerRole, LayerPosition));
            return;
        }
        if (!TakeTarget())
        {
            return;
        }
        OverlaySpec spec;
        try
        {
            spec = BuildSpec();
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        MountSpec(spec);
    }

    /// <summary>
    /// A directory piped in (Get-Item ./merged) is the target, by its path; with -Target on the
    /// command line as well it is refused as ambiguous. An empty target, given or piped (an
    /// object whose Target property is empty), is TargetEmpty: resolved, it would be the current
    /// directory. False when an error was written.
    /// </summary>
    private bool TakeTarget()
    {
        _target = Target ?? "";
        object? item = (object?)InputItem ?? DeserializedItem;
        if (PipedItemPath(item) is { } itemPath)
        {
            if (TargetOnCommandLine)
            {
                WriteError(new ErrorRecord(new ArgumentException(
                    $"Mount-Overlay got both -Target '{Target}' and the directory '{itemPath}' from the pipeline: a directory piped in is the target, so give one or the other."),
                    "TargetGivenTwice", ErrorCategory.InvalidArgument, item));
                return false;
            }
            _target = itemPath;
        }
        if (_target.Length == 0)
        {
            WriteTargetEmpty("give the directory to mount on", item ?? Target);
            return false;
        }
        return true;
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancel.Cancel();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cancel.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        if (ParameterSetName != LayerSet || _streamed.Count == 0 || !TakeTarget())
        {
            return;
        }
        OverlaySpec spec;
        try
        {
            spec = BuildStreamSpec();
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        MountSpec(spec);
    }

    private void MountSpec(OverlaySpec spec)
    {
        string action = spec.Upper is null
            ? $"Mount read-only overlay of {spec.Lower.Count} lower layer(s) ({string.Join(", ", spec.Lower)})"
            : $"Mount overlay of {spec.Lower.Count} lower layer(s) ({string.Join(", ", spec.Lower)}) with upper '{spec.Upper}'";
        if (!PassesPreview(() => OverlayMounter.Preview(spec)) || !ShouldProcess(spec.Target, action))
        {
            return;
        }

        MountResult result;
        try
        {
            result = OverlayMounter.Mount(spec, this, readEntry: PassThru, cancel: _cancel.Token);
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting for another mount's lock: nothing was mounted.
            return;
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(ToErrorRecord(e, ErrorIds.MountFailed, spec.Target));
            return;
        }

        if (PassThru)
        {
            // Only the new mount's line, found by its mount id while the mounter held it, is decoded
            // (the whole table only if that read failed; ReadMounts then reports why).
            var mount = result.Entry is { } entry
                ? OverlayMount.FromEntry(entry)
                : ReadMounts(null).LastOrDefault(m => (ulong)m.MountId == result.MountId);
            if (mount is not null)
            {
                WriteObject(WithOwner(mount));
            }
        }
    }

    private OverlaySpec BuildSpec()
    {
        var lower = new List<string>();
        var data = new List<string>();
        foreach (var raw in Lower)
        {
            AddLower(raw, lower, data);
        }
        foreach (var raw in DataLower ?? [])
        {
            data.Add(ResolvePath(raw, nameof(DataLower)));
        }
        string? upper = string.IsNullOrEmpty(Upper) ? null : ResolvePath(Upper, nameof(Upper));
        string? work = string.IsNullOrEmpty(Work) ? null : ResolvePath(Work, nameof(Work));
        return new OverlaySpec
        {
            Lower = lower,
            DataLower = data,
            Upper = upper,
            Work = work,
            Target = ResolvePath(_target, nameof(Target)),
            Options = OverlayOptions.Parse(Option),
            ReadOnly = ReadOnly,
            CreateTarget = Force,
            Api = MountApiFromEnvironment(),
        };
    }

    /// <summary>
    /// The stack of a layer stream: every layer a lower, top first, and Data layers data-only
    /// layers; a container's own upper is stacked as the top lower, so its upper and work dir are
    /// never written. Read-write needs a fresh -Upper that is none of the stream's dirs.
    /// </summary>
    private OverlaySpec BuildStreamSpec()
    {
        CheckStreamPositions();
        static bool IsData((string Path, string? Role, int? Position) l) => string.Equals(l.Role, "Data", StringComparison.OrdinalIgnoreCase);
        var lower = _streamed.Where(l => !IsData(l)).Select(l => ResolvePath(l.Path, nameof(LayerPath))).ToList();
        var data = _streamed.Where(IsData).Select(l => ResolvePath(l.Path, nameof(LayerPath))).ToList();
        var containerUppers = _streamed.Where(l => string.Equals(l.Role, "Upper", StringComparison.OrdinalIgnoreCase)).Select(l => ResolvePath(l.Path, nameof(LayerPath))).ToList();
        string? upper = string.IsNullOrEmpty(Upper) ? null : ResolvePath(Upper, nameof(Upper));
        string? work = string.IsNullOrEmpty(Work) ? null : ResolvePath(Work, nameof(Work));
        string target = ResolvePath(_target, nameof(Target));
        if (upper is null && !ReadOnly && containerUppers.Count > 0)
        {
            throw new OverlayException(ErrorIds.LayerStreamNeedsUpper, OverlayErrorCategory.InvalidOperation,
                $"The piped layers include a container's upper layer ('{containerUppers[0]}'). Mount-Overlay never writes into a container's own upper or work dir: add -ReadOnly for a read-only view, or give a fresh -Upper (and -Work) to write into.",
                target, "Add -ReadOnly, or -Upper <new empty dir>.");
        }
        if (upper is not null)
        {
            // The stream's own dirs (each layer, and beside a container's upper its work and merged dirs) are never the new upper or work dir.
            var taken = new HashSet<string>(StringComparer.Ordinal);
            foreach (var l in lower.Concat(data))
            {
                taken.Add(FileSystem.TrimTrailingSlashes(l));
            }
            // A container's upper sits in its own layer dir beside its work (and merged) dir, in
            // every store (overlay2/podman: <id>/diff, containerd: snapshots/<n>/fs): none of it.
            // The upper of a plain overlay has no such dir: its parent is the user's own.
            var layerDirs = containerUppers.Select(FileSystem.TrimTrailingSlashes)
                .Where(u => System.IO.Path.GetFileName(u) is "diff" or "fs")
                .Select(System.IO.Path.GetDirectoryName).OfType<string>().ToList();
            string effectiveWork = work ?? OverlaySpec.DefaultWorkFor(upper);
            foreach (var (dir, name) in new[] { (upper, "-Upper"), (effectiveWork, "-Work") })
            {
                string d = FileSystem.TrimTrailingSlashes(dir);
                if (taken.Contains(d) || layerDirs.Any(l => d == l || d.StartsWith(l + "/", StringComparison.Ordinal)))
                {
                    throw new OverlayException(ErrorIds.LayerStreamUpperNotFresh, OverlayErrorCategory.InvalidArgument,
                        $"The {name} dir '{dir}' belongs to the piped layers; the new upper and work dir must be fresh directories of your own.", dir,
                        "Give a new, empty directory (it is created if missing for -Work).");
                }
            }
        }
        return new OverlaySpec
        {
            Lower = lower,
            DataLower = data,
            Upper = upper,
            Work = work,
            Target = target,
            Options = OverlayOptions.Parse(Option),
            ReadOnly = ReadOnly,
            CreateTarget = Force,
            Api = MountApiFromEnvironment(),
        };
    }

    /// <summary>
    /// Refuses layers of several stacks (a position seen twice: two images or containers piped
    /// in); stacks layers that came out of order (say through Sort-Object) by their positions,
    /// with a warning; and warns when the positions of the piped layers are not 0, 1, 2...:
    /// layers were filtered out, or failed to bind.
    /// </summary>
    private void CheckStreamPositions()
    {
        var known = _streamed.Where(l => l.Position is not null).Select(l => l.Position!.Value).ToList();
        if (known.Count == 0)
        {
            return;
        }
        var groups = known.GroupBy(p => p).ToList();
        var twice = groups.FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            int stacks = groups.Max(g => g.Count());
            throw new OverlayException(ErrorIds.LayerStreamMixed, OverlayErrorCategory.InvalidArgument,
                $"The piped layers form {stacks} stacks (position {twice.Key} came more than once): one mount takes the layers of one image or container.",
                _target, "Pipe the layers of one image or container, e.g. Get-OverlayLayer -Container web | Mount-Overlay ...");
        }
        if (known.Count < _streamed.Count)
        {
            WriteWarning($"{_streamed.Count - known.Count} of the {_streamed.Count} piped layers carry no Position; stacking them all in the order received, first on top.");
            return;
        }
        if (!known.SequenceEqual(known.Order()))
        {
            WriteWarning($"The piped layers came out of stack order (positions {string.Join(", ", known.Take(10))}{(known.Count > 10 ? ", ..." : "")}); stacking them by position, 0 on top, as Get-OverlayLayer numbers them. To stack layers in another order, pipe objects without a Position.");
            var ordered = _streamed.OrderBy(l => l.Position).ToList();
            _streamed.Clear();
            _streamed.AddRange(ordered);
        }
        var present = groups.Select(g => g.Key).ToHashSet();
        int max = known.Max();
        long missing = (long)max + 1 - present.Count;
        if (missing > 0)
        {
            // The first few missing positions (found early: the loop stops after ten).
            var shown = new List<int>();
            for (int i = 0; shown.Count < 10 && i <= max; i++)
            {
                if (!present.Contains(i))
                {
                    shown.Add(i);
                }
            }
            WriteWarningOrDebug($"The piped layers skip {(missing == 1 ? "position" : $"{missing:N0} positions")} {string.Join(", ", shown)}{(missing > shown.Count ? ", ..." : "")}; mounting the {_streamed.Count} layer(s) received. Layers were filtered out or could not be read.");
        }
    }

    private void AddLower(string raw, List<string> lower, List<string> data)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return;
        }
        var (parts, dataParts) = ExpandLowerValue(raw, nameof(Lower));
        lower.AddRange(parts);
        data.AddRange(dataParts);
    }
}
