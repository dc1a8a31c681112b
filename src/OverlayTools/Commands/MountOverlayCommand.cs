using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Mounts;

namespace OverlayTools;

/// <summary>
/// <para type="synopsis">Mounts an overlay: lower layers, an optional upper and work dir, merged at a target.</para>
/// </summary>
[Cmdlet(VerbsData.Mount, "Overlay", SupportsShouldProcess = true, HelpUri = HelpBase + "Mount-Overlay.md")]
[OutputType(typeof(OverlayMount))]
public sealed class MountOverlayCommand : OverlayCmdlet
{
    /// <summary>Lower layers, highest priority first. Also a colon-joined list as docker inspect prints it.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("LowerDir")]
    [ValidateNotNullOrEmpty]
    public string[] Lower { get; set; } = [];

    /// <summary>The upper (writable) layer. Without it the overlay is read-only.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("UpperDir")]
    public string? Upper { get; set; }

    /// <summary>The work dir: empty, on the same mount as the upper. Defaults to "&lt;Upper&gt;.work".</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("WorkDir")]
    public string? Work { get; set; }

    /// <summary>The directory to mount on (the merged view).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("MergedDir", "MountPoint")]
    [ValidateNotNullOrEmpty]
    public string Target { get; set; } = "";

    /// <summary>Data-only lower layers (reachable only through metacopy redirects).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
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

        string action = spec.Upper is null
            ? $"Mount read-only overlay of {spec.Lower.Count} lower layer(s) ({string.Join(", ", spec.Lower)})"
            : $"Mount overlay of {spec.Lower.Count} lower layer(s) ({string.Join(", ", spec.Lower)}) with upper '{spec.Upper}'";
        if (!ShouldProcess(spec.Target, action))
        {
            return;
        }

        MountResult result;
        try
        {
            result = OverlayMounter.Mount(spec, this);
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
            var mount = ReadMounts(null).LastOrDefault(m => (ulong)m.MountId == result.MountId);
            if (mount is not null)
            {
                WriteObject(mount);
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
            Target = ResolvePath(Target, nameof(Target)),
            Options = OverlayOptions.Parse(Option),
            ReadOnly = ReadOnly,
            CreateTarget = Force,
            Api = MountApiFromEnvironment(),
        };
    }

    /// <summary>
    /// One -Lower value: a directory that exists under that exact name is taken literally (so
    /// names holding ':' work); otherwise a value with an unescaped ':' is a colon-joined list as
    /// docker inspect prints LowerDir ("\:" is a literal colon, "::" starts data-only layers).
    /// </summary>
    private void AddLower(string raw, List<string> lower, List<string> data)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return;
        }
        string literal = ResolvePath(raw, nameof(Lower));
        if (!OverlayOptionCodec.HasUnescapedColon(raw) || Directory.Exists(literal))
        {
            lower.Add(literal);
            return;
        }
        var (parts, dataParts) = OverlayOptionCodec.SplitLowerdir(raw);
        lower.AddRange(parts.Select(p => ResolvePath(p, nameof(Lower))));
        data.AddRange(dataParts.Select(p => ResolvePath(p, nameof(Lower))));
    }
}
