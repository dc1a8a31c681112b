using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using OverlayTools.Stores.Containerd;

namespace OverlayTools.Completers;

/// <summary>Completes -Namespace with the namespaces of the containerd stores named by -DataRoot, or of the default ones. Silent on any error.</summary>
public sealed class NamespaceCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            string word = CompletionText.Unquote(wordToComplete);
            var names = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var stores = StoreCompletion.OpenStores(fakeBoundParameters);
            try
            {
                foreach (var store in stores.OfType<ContainerdLayerStore>())
                {
                    foreach (string ns in store.Namespaces.Where(n => n.StartsWith(word, StringComparison.OrdinalIgnoreCase)))
                    {
                        names.TryAdd(ns, $"containerd namespace ({store.Root})");
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
            return names.Select(kv => new CompletionResult(CompletionText.Quote(kv.Key), kv.Key, CompletionResultType.ParameterValue, kv.Value)).ToList();
        }
        catch (Exception)
        {
            return [];
        }
    }
}
