using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using OverlayTools.Mounts;

namespace OverlayTools.Completers;

/// <summary>Completes -Target with the mount points of mounted overlays. Silent on any error.</summary>
public sealed class OverlayTargetCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        List<OverlayMount> mounts;
        try
        {
            mounts = OverlayMount.ReadAll().ToList();
        }
        catch (Exception)
        {
            return [];
        }
        var word = CompletionText.Unquote(wordToComplete);
        // A relative word ("al", "./al", "~/x") is completed as typed, matched against the mount
        // points below the current location.
        string prefix = word;
        if (word.Length > 0 && !word.StartsWith('/'))
        {
            if (SessionPaths.Resolve(word) is not { } resolved)
            {
                return [];
            }
            prefix = word.EndsWith('/') && !resolved.EndsWith('/') ? resolved + "/" : resolved;
        }
        return mounts
            .Select(m => m.Target)
            .Distinct(StringComparer.Ordinal)
            .Where(t => t.StartsWith(prefix, StringComparison.Ordinal))
            .Select(t => word + t[prefix.Length..])
            .Select(t => new CompletionResult(CompletionText.Quote(t), t, CompletionResultType.ParameterValue, t))
            .ToList();
    }
}

/// <summary>Path resolution for completers, in the session that asks for the completion.</summary>
internal static class SessionPaths
{
    /// <summary>
    /// A path resolved as the cmdlets resolve it (current location, ~, PSDrives), or null when it
    /// is not a file system path or cannot be resolved. The session's path API is reached through
    /// a nested pipeline of the runspace running the completion: its SessionStateProxy.Path is
    /// null while that runspace runs a pipeline, as it does during completion.
    /// </summary>
    internal static string? Resolve(string text)
    {
        if (text.StartsWith('/'))
        {
            return text;
        }
        try
        {
            using var ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            var engine = ps.AddCommand("Microsoft.PowerShell.Utility\\Get-Variable").AddParameter("Name", "ExecutionContext").AddParameter("ValueOnly")
                .Invoke<EngineIntrinsics>().FirstOrDefault();
            if (engine is null)
            {
                return null;
            }
            string resolved = engine.SessionState.Path.GetUnresolvedProviderPathFromPSPath(text, out var provider, out _);
            return provider.Name == "FileSystem" ? resolved : null;
        }
        catch (Exception)
        {
            // Silent: completion never reports errors.
            return null;
        }
    }
}

/// <summary>Completes -Option with the overlay options and mount flags the module knows.</summary>
public sealed class OverlayOptionCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = CompletionText.Unquote(wordToComplete);
        var results = new List<CompletionResult>();
        foreach (var o in OverlayOptions.All)
        {
            if (o.Kind == OptionKind.Value)
            {
                foreach (var v in o.Values)
                {
                    var text = o.Name + "=" + v;
                    if (text.StartsWith(word, StringComparison.OrdinalIgnoreCase))
                    {
                        results.Add(new CompletionResult(text, text, CompletionResultType.ParameterValue, o.Description));
                    }
                }
            }
            else if (o.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            {
                results.Add(new CompletionResult(o.Name, o.Name, CompletionResultType.ParameterValue, o.Description));
            }
        }
        return results;
    }
}

/// <summary>Quoting for completion results.</summary>
internal static class CompletionText
{
    internal static string Unquote(string word)
        => word.Length >= 1 && (word[0] == '\'' || word[0] == '"') ? word[1..].TrimEnd(word[0]) : word;

    internal static string Quote(string text)
        => text.Any(c => char.IsWhiteSpace(c) || "'\"`$&(){}[];,|<>@#".Contains(c, StringComparison.Ordinal))
            ? "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'"
            : text;
}
