using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using OverlayTools.Interop;
using OverlayTools.Mounts;
using OverlayTools.Stores;

namespace OverlayTools;

/// <summary>What every OverlayTools cmdlet shares: PowerShell path resolution, error records, the Core's log.</summary>
public abstract class OverlayCmdlet : PSCmdlet, IOperationLog, IDisposable
{
    /// <summary>Where the markdown help lives; each cmdlet's HelpUri is this plus its name.</summary>
    internal const string HelpBase = "https://github.com/OverlayTools/OverlayTools/blob/main/docs/en-US/";

    /// <summary>
    /// True when -Target was given on the command line (bound before the first object was piped
    /// in), rather than bound from a piped object's Target property.
    /// </summary>
    protected bool TargetOnCommandLine { get; private set; }

    /// <inheritdoc/>
    protected override void BeginProcessing() => TargetOnCommandLine = MyInvocation.BoundParameters.ContainsKey("Target");

    /// <summary>
    /// One -Lower value: a directory that exists under that exact name is taken literally (so
    /// names holding ':' work); otherwise a value with an unescaped ':' is a colon-joined list as
    /// docker inspect prints LowerDir ("\:" is a literal colon, "::" starts data-only layers).
    /// A relative list ("lower:base") looks to PowerShell like a path on a drive "lower:", so the
    /// literal reading is only tried, never required; a relative name holding a colon is also
    /// tried as a name in the current location ("a:b" as "./a:b"). A value that starts with the
    /// name of an existing PowerShell drive ("Data:/layer", "Env:/HOME") is a path on that drive,
    /// never a list.
    /// </summary>
    protected (List<string> Lower, List<string> Data) ExpandLowerValue(string raw, string parameterName)
    {
        if (!OverlayOptionCodec.HasUnescapedColon(raw))
        {
            return ([ResolvePath(raw, parameterName)], []);
        }
        int colon = raw.IndexOf(':', StringComparison.Ordinal);
        string drive = raw[..colon];
        if (drive.Length > 0 && !drive.Contains('/', StringComparison.Ordinal) && !raw.StartsWith('~') && SessionState.Drive.GetAll().Any(d => d.Name.Equals(drive, StringComparison.OrdinalIgnoreCase)))
        {
            return ([ResolvePath(raw, parameterName)], []);
        }
        string? literal = null;
        try
        {
            literal = ResolvePath(raw, parameterName);
        }
        catch (OverlayException e) when (e.ErrorId == ErrorIds.NotAFileSystemPath)
        {
        }
        if (literal is null && !raw.StartsWith('/') && !raw.StartsWith('~'))
        {
            try
            {
                literal = ResolvePath("./" + raw, parameterName);
            }
            catch (OverlayException e) when (e.ErrorId == ErrorIds.NotAFileSystemPath)
            {
            }
        }
        // Asked of the kernel, not of .NET, which cannot name a directory whose name is not UTF-8.
        if (literal is not null && FileSystem.TryStatFollow(literal, out _) is { IsDirectory: true })
        {
            return ([literal], []);
        }
        var (parts, dataParts) = OverlayOptionCodec.SplitLowerdir(raw);
        // A colon left in a part was escaped ("lo\:a"): a name, never a PowerShell drive.
        string Resolve(string p) => ResolvePath(p.Contains(':', StringComparison.Ordinal) && !p.StartsWith('/') && !p.StartsWith('~') ? "./" + p : p, parameterName);
        return (parts.Select(Resolve).ToList(), dataParts.Select(Resolve).ToList());
    }

    /// <summary>
    /// Resolves a path the PowerShell way (current location, ~, PSDrives) to an absolute file
    /// system path, without wildcard expansion. An absolute path (starting with '/') is taken
    /// exactly as written, whether it exists yet or not: every character, a backslash included,
    /// is part of a name (PowerShell on Linux would read '\' in a path as a separator). Only
    /// relative, ~ and PSDrive paths go through PowerShell's resolution.
    /// </summary>
    protected string ResolvePath(string raw, string parameterName)
    {
        if (raw.Contains('\0', StringComparison.Ordinal))
        {
            throw new OverlayException(ErrorIds.PathContainsNul, OverlayErrorCategory.InvalidArgument,
                $"The -{parameterName} path holds a NUL character, which the kernel would read as the end of the path.",
                raw.Replace("\0", "\\0", StringComparison.Ordinal), "Remove the NUL character.");
        }
        if (raw.StartsWith('/'))
        {
            return raw;
        }
        string resolved;
        ProviderInfo provider;
        try
        {
            resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(raw, out provider, out _);
        }
        catch (Exception e) when (e is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
        {
            throw new OverlayException(ErrorIds.NotAFileSystemPath, OverlayErrorCategory.InvalidArgument,
                $"The -{parameterName} path '{raw}' cannot be resolved: {e.Message}", raw, "Give a file system path.", e);
        }
        if (!string.Equals(provider.Name, "FileSystem", StringComparison.OrdinalIgnoreCase))
        {
            throw new OverlayException(ErrorIds.NotAFileSystemPath, OverlayErrorCategory.InvalidArgument,
                $"The -{parameterName} path '{raw}' is on the {provider.Name} provider, not the file system.", raw, "Give a file system path.");
        }
        return resolved;
    }

    /// <summary>The ErrorRecord for an OverlayException: its id, category, target and recommended action.</summary>
    protected static ErrorRecord ToErrorRecord(OverlayException e)
    {
        var category = Enum.TryParse<ErrorCategory>(e.Category.ToString(), out var c) ? c : ErrorCategory.NotSpecified;
        return new ErrorRecord(e, e.ErrorId, category, e.Target)
        {
            ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = e.RecommendedAction ?? "" },
        };
    }

    /// <summary>The ErrorRecord for an unexpected I/O failure.</summary>
    protected static ErrorRecord ToErrorRecord(Exception e, string errorId, object? target)
    {
        if (e is OverlayException oe)
        {
            return ToErrorRecord(oe);
        }
        var category = e switch
        {
            ErrnoException ee => Enum.TryParse<ErrorCategory>(OverlayException.CategoryFor(ee.Errno).ToString(), out var c) ? c : ErrorCategory.NotSpecified,
            UnauthorizedAccessException => ErrorCategory.PermissionDenied,
            FileNotFoundException or DirectoryNotFoundException => ErrorCategory.ObjectNotFound,
            _ => ErrorCategory.NotSpecified,
        };
        return new ErrorRecord(e, errorId, category, target)
        {
            ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = "Check the path and its permissions; run with -Debug to see the system calls and their errors." },
        };
    }

    /// <summary>Writes a non-terminating error for one item.</summary>
    protected void WriteOverlayError(OverlayException e) => WriteError(ToErrorRecord(e));

    /// <summary>
    /// Runs <paramref name="check"/> (the checks that change nothing) when ShouldProcess will
    /// print (-WhatIf) or ask (-Confirm), so that what would fail is reported instead of
    /// announced, as Remove-Item -WhatIf reports a missing path; false, with its error written,
    /// when it refuses.
    /// </summary>
    protected bool PassesPreview(Action check)
    {
        if (!ShouldProcessWillTalk())
        {
            return true;
        }
        try
        {
            check();
            return true;
        }
        catch (OverlayException e)
        {
            WriteOverlayError(e);
            return false;
        }
    }

    /// <summary>
    /// True when ShouldProcess will not just say yes: -WhatIf (or $WhatIfPreference) prints what
    /// would happen, -Confirm (or $ConfirmPreference at or below <paramref name="impact"/>) asks.
    /// </summary>
    private bool ShouldProcessWillTalk(ConfirmImpact impact = ConfirmImpact.Medium)
    {
        var bound = MyInvocation.BoundParameters;
        bool whatIf = bound.TryGetValue("WhatIf", out var w)
            ? w is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
        if (whatIf)
        {
            return true;
        }
        if (bound.TryGetValue("Confirm", out var c))
        {
            return c is SwitchParameter { IsPresent: true };
        }
        // Set in a function or script block, the variable holds the string 'Low', not the enum.
        return LanguagePrimitives.TryConvertTo(GetVariableValue("ConfirmPreference"), out ConfirmImpact p) && p != ConfirmImpact.None && p <= impact;
    }

    /// <summary>
    /// Writes TargetEmpty for an empty -Target, given or piped (an object whose Target property
    /// is empty), which resolved would be the current directory; <paramref name="what"/> says
    /// what to give instead.
    /// </summary>
    protected void WriteTargetEmpty(string what, object? target)
        => WriteError(new ErrorRecord(new ArgumentException($"The -Target value is empty: {what}."), "TargetEmpty", ErrorCategory.InvalidArgument, target));

    private bool? _debugEnabled;
    private bool? _verboseEnabled;

    /// <summary>True when the user asked for -Debug output (read once per command: preferences do not change while it runs).</summary>
    public bool DebugEnabled => _debugEnabled ??= SwitchOrPreference("Debug", "DebugPreference");

    /// <summary>True when verbose messages may be shown (-Verbose, $VerbosePreference, or -Debug, which receives them instead).</summary>
    public bool VerboseEnabled => _verboseEnabled ??= SwitchOrPreference("Verbose", "VerbosePreference") || DebugEnabled;

    private bool SwitchOrPreference(string parameter, string preference)
    {
        if (MyInvocation.BoundParameters.TryGetValue(parameter, out var d) && d is SwitchParameter s)
        {
            return s.IsPresent;
        }
        return SessionState.PSVariable.GetValue(preference) is ActionPreference p && p is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    /// <summary>
    /// Writes a verbose message. Under -Debug (without -Verbose) PowerShell turns every
    /// WriteVerbose of a compiled cmdlet into a confirmation prompt, so the message goes to the
    /// debug stream instead.
    /// </summary>
    protected void WriteVerboseOrDebug(string message)
    {
        var bound = MyInvocation.BoundParameters;
        if (bound.TryGetValue("Debug", out var d) && d is SwitchParameter { IsPresent: true } && !bound.ContainsKey("Verbose"))
        {
            WriteDebug(message);
        }
        else
        {
            WriteVerbose(message);
        }
    }

    void IOperationLog.Verbose(string message) => WriteVerboseOrDebug(message);

    void IOperationLog.Debug(string message) => WriteDebug(message);

    void IOperationLog.Warning(string message) => WriteWarningOrDebug(message);

    /// <summary>
    /// Writes a warning. Under -Debug (without -WarningAction) PowerShell turns every
    /// WriteWarning of a compiled cmdlet into a confirmation prompt (which fails in a
    /// non-interactive host), so the warning goes to the debug stream instead.
    /// </summary>
    protected void WriteWarningOrDebug(string message)
    {
        var bound = MyInvocation.BoundParameters;
        if (bound.TryGetValue("Debug", out var d) && d is SwitchParameter { IsPresent: true } && !bound.ContainsKey("WarningAction"))
        {
            WriteDebug("WARNING: " + message);
        }
        else
        {
            WriteWarning(message);
        }
    }

    /// <summary>Reads the mount API override for tests and troubleshooting (OVERLAYTOOLS_MOUNT_API=legacy|newapi|strings).</summary>
    protected static MountApi MountApiFromEnvironment()
    {
        var v = Environment.GetEnvironmentVariable("OVERLAYTOOLS_MOUNT_API");
        return v?.ToLowerInvariant() switch
        {
            "legacy" or "mount2" => MountApi.Legacy,
            "newapi" or "new" => MountApi.NewApi,
            "strings" or "newapi-strings" => MountApi.NewApiStrings,
            _ => MountApi.Auto,
        };
    }

    /// <summary>True when the string holds PowerShell wildcard characters.</summary>
    protected static bool HasWildcards(string s) => WildcardPattern.ContainsWildcardCharacters(s);

    /// <summary>A case-sensitive wildcard pattern (Linux paths are case-sensitive).</summary>
    protected static WildcardPattern Pattern(string s) => new(s, WildcardOptions.None);

    /// <summary>
    /// What -Namespace values select (case-sensitive wildcards; items without a namespace never),
    /// null when none is given. The one rule of the cmdlets and their completers.
    /// </summary>
    internal static NamespaceFilter? ToNamespaceFilter(IReadOnlyCollection<string>? namespaces)
        => namespaces is { Count: > 0 } ? new NamespaceFilter(namespaces, n => Pattern(n).IsMatch) : null;

    /// <summary>
    /// The stores a -DataRoot parameter names (each value resolved the PowerShell way; one that
    /// cannot be resolved or opened is an error of its own), or without it those at the default
    /// roots (a default root whose store cannot be read: a verbose line; no store at all:
    /// <paramref name="noDefaultStore"/>). Each store is opened once; the caller disposes them.
    /// </summary>
    protected List<ILayerStore> OpenStores(string[]? dataRoot, Action<OverlayException> noDefaultStore)
    {
        List<string>? roots = null;
        if (dataRoot is { Length: > 0 })
        {
            roots = [];
            foreach (var raw in dataRoot)
            {
                try
                {
                    roots.Add(ResolvePath(raw, "DataRoot"));
                }
                catch (OverlayException e)
                {
                    WriteOverlayError(e);
                }
            }
        }
        var stores = LayerStores.OpenStores(roots, roots is null ? noDefaultStore : WriteOverlayError, (root, e) => WriteVerboseOrDebug($"Skipping {root}: {e.Message}"));
        foreach (var s in stores)
        {
            WriteVerboseOrDebug($"Reading the {s.Backend} store at {s.Root} (read-only, without the engine).");
        }
        return stores;
    }

    private bool _namespacesChecked;

    /// <summary>Reports, once per command, each literal -Namespace value that no containerd store among <paramref name="stores"/> has.</summary>
    protected void CheckNamespaces(IReadOnlyList<ILayerStore> stores, IReadOnlyCollection<string>? namespaces)
    {
        if (_namespacesChecked || namespaces is not { Count: > 0 })
        {
            return;
        }
        _namespacesChecked = true;
        foreach (var e in StoreSelection.UnknownNamespaces(stores, namespaces.Where(n => !HasWildcards(n))))
        {
            WriteOverlayError(e);
        }
    }

    /// <summary>
    /// Expands -Path / -LiteralPath values to file system paths, writing a non-terminating error
    /// for each value that names nothing: literal values (and values without wildcards) are
    /// resolved like any path, a -Path value with its backtick escapes removed ('br`[1`]' is
    /// br[1]); wildcards are expanded by the provider, file system only.
    /// </summary>
    protected IEnumerable<string> ExpandPaths(IEnumerable<string> raws, bool literal, string parameterName)
    {
        foreach (var raw in raws)
        {
            var expanded = new List<string>();
            try
            {
                if (literal)
                {
                    expanded.Add(ResolvePath(raw, parameterName));
                }
                else if (!HasWildcards(raw))
                {
                    expanded.Add(ResolveEscapedPath(raw, parameterName));
                }
                else
                {
                    var paths = SessionState.Path.GetResolvedProviderPathFromPSPath(raw, out var provider);
                    if (provider.Name != "FileSystem")
                    {
                        throw new OverlayException(ErrorIds.NotAFileSystemPath, OverlayErrorCategory.InvalidArgument,
                            $"The -{parameterName} '{raw}' is on the {provider.Name} provider, not the file system.", raw, "Give a file system path.");
                    }
                    expanded.AddRange(paths);
                }
            }
            catch (OverlayException e)
            {
                WriteOverlayError(e);
            }
            catch (ItemNotFoundException e)
            {
                WriteOverlayError(new OverlayException(ErrorIds.OverlayPathNotFound, OverlayErrorCategory.ObjectNotFound,
                    $"Cannot find the path '{raw}': {e.Message}", raw, "Check the path; use -LiteralPath for names that hold wildcard characters.", e));
            }
            foreach (var p in expanded)
            {
                yield return p;
            }
        }
    }

    /// <summary>
    /// This process's whole mount table, read once per command and again only when a mount or an
    /// unmount changed this mount namespace since (one poll(2) tells), so a mount id that statx
    /// reads on a descriptor held open names the same mount in it; <paramref name="reread"/> reads
    /// it again anyway (OverlayLocator.Locate asks for that when a path is on an overlay the table
    /// does not list).
    /// </summary>
    protected IReadOnlyList<MountInfoEntry> MountTable(bool reread)
    {
        if (reread || _mountTable?.Changed() == true)
        {
            _mountTable?.Dispose();
            _mountTable = null;
        }
        try
        {
            return (_mountTable ??= MountTableSnapshot.Read()).Entries;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw MountInfoUnreadable(e, null);
        }
    }

    private MountTableSnapshot? _mountTable;

    /// <summary>Closes what the command kept open across records; PowerShell calls it when the pipeline ends.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Closes the mount table's descriptor; commands that keep more open override it and call this too.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _mountTable?.Dispose();
            _mountTable = null;
        }
    }

    /// <summary>
    /// The mounted overlays a -Target value selects. A literal path (or a mount point whose name
    /// really holds wildcard characters) selects what is mounted exactly there, stacked mounts in
    /// mount order, and is a MountNotFound error when nothing is; a wildcard pattern selects every
    /// matching mount point, and matching none is no error. A literal path is matched as written,
    /// then without PowerShell's wildcard escapes, then with '.', '..' and '//' taken out, then
    /// (in this mount namespace) by the real path of its parent directory. A path taken from an
    /// object (<paramref name="literal"/>: an OverlayMount or a directory piped in) is data, never
    /// a pattern: once that mount is gone, 'm[1]' must not select m1.
    /// </summary>
    protected (List<OverlayMount> Mounts, bool Literal) SelectMounts(string raw, IReadOnlyList<OverlayMount> mounts, string? where = null, string? action = null, bool thisNamespace = true, bool literal = false)
    {
        var readings = literal ? [FileSystem.TrimTrailingSlashes(ResolvePath(raw, "Target"))] : LiteralTargets(raw);
        string path = readings[0];
        if (!literal && HasWildcards(raw) && !mounts.Any(m => m.Target == path))
        {
            var pattern = Pattern(path);
            return (mounts.Where(m => pattern.IsMatch(m.Target)).ToList(), false);
        }
        foreach (var candidate in readings.Concat(readings.Select(FileSystem.NormalizeLexically)))
        {
            var found = mounts.Where(m => m.Target == candidate).ToList();
            if (found.Count > 0)
            {
                return (found, true);
            }
        }
        if (thisNamespace && FileSystem.RealParentPath(FileSystem.NormalizeLexically(path)) is { } real && real != path)
        {
            var found = mounts.Where(m => m.Target == real).ToList();
            if (found.Count > 0)
            {
                return (found, true);
            }
        }
        throw new OverlayException(ErrorIds.MountNotFound, OverlayErrorCategory.ObjectNotFound,
            $"No overlay is mounted at '{path}'{where}.", path, action ?? "Run Get-OverlayMount to see the mounted overlays.");
    }

    /// <summary>
    /// A path without wildcards as -Path parameters take it: resolved as written, or with
    /// PowerShell's backtick escapes removed ('br`[1`]' names br[1]) when nothing exists under
    /// the written name.
    /// </summary>
    protected string ResolveEscapedPath(string raw, string parameterName)
    {
        string path = ResolvePath(raw, parameterName);
        return raw.Contains('`', StringComparison.Ordinal) && !Path.Exists(path)
            ? ResolvePath(WildcardPattern.Unescape(raw), parameterName) : path;
    }

    /// <summary>
    /// The literal readings of a -Target value, the first being the path resolved as written (the
    /// current location, ~ and PSDrives applied; '[' and '*' kept as they are; no trailing '/'),
    /// then, when it holds a backtick, the path with PowerShell's wildcard escapes removed, as
    /// -Path takes them ('m`[1`]' names 'm[1]').
    /// </summary>
    protected List<string> LiteralTargets(string raw)
    {
        var readings = new List<string> { FileSystem.TrimTrailingSlashes(ResolvePath(raw, "Target")) };
        if (raw.Contains('`', StringComparison.Ordinal))
        {
            var unescaped = FileSystem.TrimTrailingSlashes(ResolvePath(WildcardPattern.Unescape(raw), "Target"));
            if (unescaped != readings[0])
            {
                readings.Add(unescaped);
            }
        }
        return readings;
    }

    /// <summary>
    /// The path of a file or directory object piped in (FileInfo, DirectoryInfo, or their
    /// deserialized forms), else null. Such objects must bind by their path: their own Target
    /// property is a symbolic link's target, null for anything else.
    /// </summary>
    protected static string? PipedItemPath(object? input)
    {
        if (input is null)
        {
            return null;
        }
        var item = PSObject.AsPSObject(input);
        if (item.BaseObject is FileSystemInfo info)
        {
            return info.FullName;
        }
        return item.TypeNames.Contains("Deserialized.System.IO.FileSystemInfo") && item.Properties["FullName"]?.Value is string path ? path : null;
    }

    /// <summary>Fills in the container behind a mount (Backend, Container...), where a layer store knows it.</summary>
    protected static OverlayMount WithOwner(OverlayMount mount)
    {
        using var owners = new Stores.MountOwners();
        owners.Annotate(mount);
        return mount;
    }

    /// <summary>Reads mounted overlays, turning failures into an OverlayException.</summary>
    protected static List<OverlayMount> ReadMounts(int? processId)
    {
        try
        {
            return new List<OverlayMount>(OverlayMount.ReadAll(processId));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw MountInfoUnreadable(e, processId);
        }
    }

    /// <summary>
    /// The error for a mount table that cannot be read (ProcFs reads it, so the cause is an
    /// errno): ObjectNotFound when the file or the process is gone, else PermissionDenied.
    /// </summary>
    private static OverlayException MountInfoUnreadable(Exception e, int? processId)
    {
        var path = MountInfo.PathFor(processId);
        bool missing = e is Interop.ErrnoException { Errno: Interop.Errno.ENOENT or Interop.Errno.ESRCH };
        string why = e is Interop.ErrnoException errno ? Interop.Errno.Describe(errno.Errno) : e.Message;
        return new OverlayException(ErrorIds.MountInfoUnreadable, missing ? OverlayErrorCategory.ObjectNotFound : OverlayErrorCategory.PermissionDenied,
            $"Cannot read '{path}': {why}", processId is null ? path : processId,
            processId is null ? "Check that /proc is mounted." : "Check that the process exists and that you may read its mount namespace (run as root).", e);
    }

    /// <summary>
    /// One Write-Progress activity of a long operation: <see cref="Report"/> shows or updates it,
    /// and disposing completes it if it was ever shown (a quick operation shows no bar at all).
    /// </summary>
    private protected sealed class ProgressActivity : IDisposable
    {
        private readonly Cmdlet _cmdlet;
        private readonly int _id;
        private readonly string _activity;
        private string _status;
        private bool _shown;

        internal ProgressActivity(Cmdlet cmdlet, int activityId, string activity, string status)
        {
            _cmdlet = cmdlet;
            _id = activityId;
            _activity = activity;
            _status = status;
        }

        // A new record each time: a host may keep the records it was given (a PowerShell
        // instance's Streams.Progress does), and one record changed afterwards would change them all.
        internal void Report(string status, string? currentOperation)
        {
            _shown = true;
            _status = status;
            _cmdlet.WriteProgress(new ProgressRecord(_id, _activity, status) { CurrentOperation = currentOperation });
        }

        public void Dispose()
        {
            if (_shown)
            {
                _cmdlet.WriteProgress(new ProgressRecord(_id, _activity, _status) { RecordType = ProgressRecordType.Completed });
            }
        }
    }
}
