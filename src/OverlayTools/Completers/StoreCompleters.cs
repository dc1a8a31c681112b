using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using OverlayTools.Stores;

namespace OverlayTools.Completers;

/// <summary>Completes -Image with the image names (and short ids) of the store named by -DataRoot, or of the default stores. Silent on any error.</summary>
public sealed class ImageNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => StoreCompletion.Complete(fakeBoundParameters, wordToComplete, (store, inNamespace) => store.ListImages().Where(i => inNamespace(i.Namespace)).Select(i =>
            (Names: i.Names.Concat(i.Aliases.Where(a => !a.Contains('@', StringComparison.Ordinal))), Id: i.Id, Tip: $"image {StoreFormat.ShortId(i.Id)} ({store.Backend}{(i.Namespace is null ? "" : " " + i.Namespace)}, {store.Root})")));
}

/// <summary>Completes -Container with the container names (and short ids) of the store named by -DataRoot, or of the default stores. Silent on any error.</summary>
public sealed class ContainerNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => StoreCompletion.Complete(fakeBoundParameters, wordToComplete, (store, inNamespace) => store.ListContainers().Where(c => inNamespace(c.Namespace)).Select(c =>
            (Names: (IEnumerable<string>)c.Names, Id: c.Id, Tip: $"container {StoreFormat.ShortId(c.Id)} of {c.ImageName ?? "?"} ({store.Backend}{(c.Namespace is null ? "" : " " + c.Namespace)}, {store.Root})")));
}

internal static class StoreCompletion
{
    internal static IEnumerable<CompletionResult> Complete(IDictionary fakeBoundParameters, string wordToComplete,
        Func<ILayerStore, Func<string?, bool>, IEnumerable<(IEnumerable<string> Names, string Id, string Tip)>> items)
    {
        try
        {
            // A -Namespace already typed selects what the command would: containerd items of a matching namespace.
            var namespaces = OverlayCmdlet.ToNamespaceFilter(Values(fakeBoundParameters, "Namespace").ToList());
            bool InNamespace(string? ns) => namespaces is null || namespaces.Accepts(ns);
            string word = CompletionText.Unquote(wordToComplete);
            var byText = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var ids = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var stores = OpenStores(fakeBoundParameters);
            try
            {
                foreach (var store in stores)
                {
                    IEnumerable<(IEnumerable<string> Names, string Id, string Tip)> list;
                    try
                    {
                        list = items(store, InNamespace).ToList();
                    }
                    catch (OverlayException)
                    {
                        continue;
                    }
                    foreach (var (names, id, tip) in list)
                    {
                        foreach (var n in names.Where(n => n.StartsWith(word, StringComparison.OrdinalIgnoreCase)))
                        {
                            byText.TryAdd(n, tip);
                        }
                        if (word.Length > 0 && id.StartsWith(word, StringComparison.Ordinal))
                        {
                            ids.TryAdd(id[..Math.Min(id.Length, Math.Max(12, word.Length))], tip);
                        }
                    }
                }
            }
            finally
            {
                foreach (var s in stores)
                {
                    s.Dispose();
                }
            }
            return byText.Concat(ids)
                .Select(kv => new CompletionResult(CompletionText.Quote(kv.Key), kv.Key, CompletionResultType.ParameterValue, kv.Value))
                .ToList();
        }
        catch (Exception)
        {
            return [];
        }
    }

    /// <summary>The text values of an already typed parameter.</summary>
    private static IEnumerable<string> Values(IDictionary fakeBoundParameters, string name)
    {
        if (!fakeBoundParameters.Contains(name))
        {
            yield break;
        }
        object? value = fakeBoundParameters[name];
        if (value is PSObject pso)
        {
            value = pso.BaseObject;
        }
        IEnumerable<object?> values = value is string s ? [s] : value is IEnumerable e ? e.Cast<object?>() : [value];
        foreach (var v in values)
        {
            string? text = v is PSObject p ? p.BaseObject?.ToString() : v?.ToString();
            if (!string.IsNullOrEmpty(text))
            {
                yield return text;
            }
        }
    }

    /// <summary>The stores named by an already typed -DataRoot (resolved as the cmdlet resolves it: location, ~), else the default ones; opened as the cmdlets open them, errors left out.</summary>
    internal static List<ILayerStore> OpenStores(IDictionary fakeBoundParameters)
    {
        List<string>? roots = null;
        foreach (var text in Values(fakeBoundParameters, "DataRoot"))
        {
            roots ??= [];
            if (SessionPaths.Resolve(text) is { } resolved)
            {
                roots.Add(resolved);
            }
        }
        // Silent: completion never reports errors.
        return LayerStores.OpenStores(roots, _ => { });
    }
}
