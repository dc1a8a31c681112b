using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace OverlayTools.HelpBuilder;

/// <summary>
/// helpbuilder build  --docs docs/en-US --facts facts.json --out out/OverlayTools/en-US
/// helpbuilder update --docs docs/en-US --facts facts.json
/// build: validates docs against the cmdlets and writes &lt;Module&gt;.dll-Help.xml plus about_*.help.txt.
/// update: rewrites every parameter yaml block and the SYNTAX section from the cmdlets, keeping prose.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        try
        {
            var opts = ParseArgs(args);
            string verb = args.Length > 0 ? args[0] : "";
            var facts = CommandFactsFile.Load(opts["--facts"]);
            var docsDir = opts["--docs"];
            switch (verb)
            {
                case "build":
                    return Build(facts, docsDir, opts["--out"]);
                case "update":
                    return Update(facts, docsDir);
                default:
                    Console.Error.WriteLine("usage: helpbuilder build|update --docs <dir> --facts <json> [--out <dir>]");
                    return 2;
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or KeyNotFoundException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine("helpbuilder: " + e.Message);
            return 1;
        }
    }

    private static Dictionary<string, string> ParseArgs(string[] args)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            d[args[i]] = args[i + 1];
        }
        return d;
    }

    private static int Build(CommandFactsFile facts, string docsDir, string outDir)
    {
        var docs = ReadDocs(docsDir);
        var problems = Validator.Check(facts, docs);
        if (problems.Count > 0)
        {
            Console.Error.WriteLine($"helpbuilder: the help in {docsDir} does not match the cmdlets:");
            foreach (var p in problems)
            {
                Console.Error.WriteLine("  - " + p);
            }
            Console.Error.WriteLine("  (run 'dotnet pwsh ./build.ps1 -Task UpdateDocs' to regenerate parameter blocks and syntax from the code; prose is yours to write)");
            return 1;
        }
        Directory.CreateDirectory(outDir);
        var pairs = facts.Commands.Select(c => (c, docs[c.Name])).ToList();
        MamlWriter.Write(Path.Combine(outDir, facts.Module + ".dll-Help.xml"), pairs);
        foreach (var about in Directory.EnumerateFiles(docsDir, "about_*.md"))
        {
            var name = Path.GetFileNameWithoutExtension(about);
            File.WriteAllText(Path.Combine(outDir, name + ".help.txt"), AboutWriter.Render(File.ReadAllText(about)), new UTF8Encoding(false));
        }
        Console.WriteLine($"Help built: {pairs.Count} cmdlet(s) and the about topics in {outDir}");
        return 0;
    }

    internal static Dictionary<string, CommandDoc> ReadDocs(string docsDir)
    {
        var docs = new Dictionary<string, CommandDoc>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in Directory.EnumerateFiles(docsDir, "*.md").Where(f => !Path.GetFileName(f).StartsWith("about_", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
        {
            var doc = MarkdownHelp.ReadCommand(file);
            docs[string.IsNullOrEmpty(doc.Name) ? Path.GetFileNameWithoutExtension(file) : doc.Name] = doc;
        }
        return docs;
    }

    private static int Update(CommandFactsFile facts, string docsDir)
    {
        var byName = facts.Commands.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        int changed = 0;
        foreach (var file in Directory.EnumerateFiles(docsDir, "*.md").Where(f => !Path.GetFileName(f).StartsWith("about_", StringComparison.OrdinalIgnoreCase)))
        {
            var text = File.ReadAllText(file);
            var doc = MarkdownHelp.ReadCommandText(text, file);
            if (!byName.TryGetValue(doc.Name, out var cmd))
            {
                continue;
            }
            var updated = DocUpdater.Update(text, doc, cmd);
            if (updated != text)
            {
                File.WriteAllText(file, updated, new UTF8Encoding(false));
                changed++;
                Console.WriteLine("updated " + file);
            }
        }
        Console.WriteLine($"{changed} file(s) updated.");
        return 0;
    }
}

/// <summary>Checks that docs and code agree: the build fails on any mismatch.</summary>
internal static class Validator
{
    internal static List<string> Check(CommandFactsFile facts, Dictionary<string, CommandDoc> docs)
    {
        var problems = new List<string>();
        foreach (var cmd in facts.Commands)
        {
            if (!docs.TryGetValue(cmd.Name, out var doc))
            {
                problems.Add($"{cmd.Name}: no docs/en-US/{cmd.Name}.md");
                continue;
            }
            string where = Path.GetFileName(doc.File);
            if (string.IsNullOrWhiteSpace(doc.Synopsis))
            {
                problems.Add($"{where}: empty SYNOPSIS");
            }
            if (doc.Description.Count == 0)
            {
                problems.Add($"{where}: empty DESCRIPTION");
            }
            if (doc.Examples.Count < 2)
            {
                problems.Add($"{where}: {doc.Examples.Count} example(s); at least 2 are needed");
            }
            foreach (var e in doc.Examples)
            {
                if (e.Code.Count == 0)
                {
                    problems.Add($"{where}: example '{e.Title}' has no code");
                }
                if (e.Remarks.Count == 0)
                {
                    problems.Add($"{where}: example '{e.Title}' has no remarks");
                }
            }
            if (doc.Outputs.Count == 0)
            {
                problems.Add($"{where}: no OUTPUTS");
            }
            // OUTPUTS names exactly the types of the cmdlet's [OutputType] ("None" names no type).
            var documentedOutputs = doc.Outputs.Select(o => o.TypeName).Where(t => !t.Equals("None", StringComparison.OrdinalIgnoreCase)).ToList();
            foreach (var t in cmd.OutputTypes.Except(documentedOutputs, StringComparer.Ordinal))
            {
                problems.Add($"{where}: OUTPUTS does not name {t}, which {cmd.Name} declares with [OutputType]");
            }
            foreach (var t in documentedOutputs.Except(cmd.OutputTypes, StringComparer.Ordinal))
            {
                problems.Add($"{where}: OUTPUTS names {t}, which {cmd.Name} does not declare with [OutputType]");
            }
            if (!doc.Aliases.Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(cmd.Aliases.Order(StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{where}: ALIASES lists [{string.Join(", ", doc.Aliases)}] but {cmd.Name} has [{string.Join(", ", cmd.Aliases)}]");
            }
            var uri = doc.FrontMatter.TryGetValue("HelpUri", out var u) ? u : doc.FrontMatter.GetValueOrDefault("online version");
            if (!string.IsNullOrEmpty(cmd.HelpUri) && uri != cmd.HelpUri)
            {
                problems.Add($"{where}: HelpUri '{uri}' differs from the cmdlet's '{cmd.HelpUri}'");
            }
            foreach (var p in cmd.Parameters)
            {
                if (!doc.Parameters.TryGetValue(p.Name, out var pd))
                {
                    problems.Add($"{where}: parameter -{p.Name} is not documented");
                    continue;
                }
                if (pd.Description.Count == 0 || pd.Description.All(string.IsNullOrWhiteSpace))
                {
                    problems.Add($"{where}: parameter -{p.Name} has no description");
                }
                else if (pd.Description.Any(d => d.Contains("{{", StringComparison.Ordinal)))
                {
                    problems.Add($"{where}: parameter -{p.Name} still has the placeholder description that UpdateDocs wrote");
                }
                problems.AddRange(CheckYaml(where, cmd, p, pd));
            }
            foreach (var name in doc.Parameters.Keys)
            {
                if (!cmd.Parameters.Any(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
                {
                    problems.Add($"{where}: documents -{name}, which {cmd.Name} does not have");
                }
            }
        }
        foreach (var name in docs.Keys)
        {
            if (!facts.Commands.Any(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
            {
                problems.Add($"{Path.GetFileName(docs[name].File)}: documents {name}, which the module does not export");
            }
        }
        return problems;
    }

    private static string Normalize(string yaml)
        => string.Join("\n", yaml.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0));

    private static IEnumerable<string> CheckYaml(string where, CommandFacts cmd, ParameterFacts p, ParameterDoc pd)
    {
        if (pd.YamlSpan is null)
        {
            yield return $"{where}: parameter -{p.Name} has no yaml block";
            yield break;
        }
        var expected = DocUpdater.ParameterYaml(cmd, p);
        var actual = pd.Yaml;
        foreach (var key in new[] { "Type", "SupportsWildcards" })
        {
            if (actual.TryGetValue(key, out var v) && expected.TryGetValue(key, out var e) && !string.Equals(v, e, StringComparison.OrdinalIgnoreCase))
            {
                yield return $"{where}: -{p.Name} {key} is '{v}' in the docs but '{e}' in the code";
            }
        }
        if (!pd.YamlAliases.Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(p.Aliases.Order(StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase))
        {
            yield return $"{where}: -{p.Name} aliases are [{string.Join(", ", pd.YamlAliases)}] in the docs but [{string.Join(", ", p.Aliases)}] in the code";
        }
        // Everything else in the block (parameter sets, positions, mandatory, pipeline input,
        // accepted values) is the code's: the block must read as UpdateDocs writes it.
        if (pd.YamlText is { } written && Normalize(written) != Normalize(DocUpdater.YamlBlock(cmd, p, pd)))
        {
            yield return $"{where}: the yaml block of -{p.Name} (parameter sets, position, required, pipeline input or accepted values) does not match the code";
        }
    }
}

/// <summary>Regenerates the parts of a help file that the code owns: parameter yaml blocks and SYNTAX.</summary>
internal static class DocUpdater
{
    internal static Dictionary<string, string> ParameterYaml(CommandFacts cmd, ParameterFacts p)
        => new(StringComparer.OrdinalIgnoreCase)
        {
            ["Type"] = p.Type,
            ["SupportsWildcards"] = p.SupportsWildcards ? "true" : "false",
        };

    internal static string YamlBlock(CommandFacts cmd, ParameterFacts p, ParameterDoc? existing)
    {
        var sb = new StringBuilder("```yaml\n");
        sb.Append("Type: ").Append(p.Type).Append('\n');
        string defaultValue = p.IsSwitch ? "False" : existing is not null && existing.Yaml.TryGetValue("DefaultValue", out var dv) && dv.Length > 0 ? dv : "None";
        sb.Append("DefaultValue: ").Append(defaultValue).Append('\n');
        sb.Append("SupportsWildcards: ").Append(p.SupportsWildcards ? "true" : "false").Append('\n');
        if (p.Aliases.Count == 0)
        {
            sb.Append("Aliases: []\n");
        }
        else
        {
            sb.Append("Aliases:\n");
            foreach (var a in p.Aliases)
            {
                sb.Append("- ").Append(a).Append('\n');
            }
        }
        sb.Append("ParameterSets:\n");
        var sets = MamlWriter.OrderedSets(cmd).Where(s => s.Parameters.Any(x => x.Name == p.Name)).ToList();
        var inSets = sets.Select(s => s.Parameters.First(x => x.Name == p.Name)).ToList();
        // "(All)" only when the parameter is in every set and behaves the same in each.
        bool all = sets.Count == cmd.ParameterSets.Count && inSets.All(x =>
            x.Position == inSets[0].Position && x.IsMandatory == inSets[0].IsMandatory &&
            x.ValueFromPipeline == inSets[0].ValueFromPipeline && x.ValueFromPipelineByPropertyName == inSets[0].ValueFromPipelineByPropertyName &&
            x.ValueFromRemainingArguments == inSets[0].ValueFromRemainingArguments);
        if (all)
        {
            var merged = MamlWriter.MergedSetFacts(cmd, p.Name);
            AppendSet(sb, "(All)", merged);
        }
        else
        {
            foreach (var s in sets)
            {
                AppendSet(sb, s.Name, s.Parameters.First(x => x.Name == p.Name));
            }
        }
        sb.Append("DontShow: false\n");
        if (p.AcceptedValues.Count == 0)
        {
            sb.Append("AcceptedValues: []\n");
        }
        else
        {
            sb.Append("AcceptedValues:\n");
            foreach (var v in p.AcceptedValues)
            {
                sb.Append("- ").Append(v).Append('\n');
            }
        }
        sb.Append("HelpMessage: ''\n```");
        return sb.ToString();
    }

    private static void AppendSet(StringBuilder sb, string name, ParameterInSet p)
    {
        sb.Append("- Name: ").Append(name).Append('\n');
        sb.Append("  Position: ").Append(p.IsNamed ? "Named" : p.Position.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("  IsRequired: ").Append(p.IsMandatory ? "true" : "false").Append('\n');
        sb.Append("  ValueFromPipeline: ").Append(p.ValueFromPipeline ? "true" : "false").Append('\n');
        sb.Append("  ValueFromPipelineByPropertyName: ").Append(p.ValueFromPipelineByPropertyName ? "true" : "false").Append('\n');
        sb.Append("  ValueFromRemainingArguments: ").Append(p.ValueFromRemainingArguments ? "true" : "false").Append('\n');
    }

    /// <summary>The SYNTAX section body: one "### Set" heading and code block per parameter set.</summary>
    internal static string Syntax(CommandFacts cmd)
    {
        var byName = cmd.Parameters.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        var sb = new StringBuilder();
        var sets = MamlWriter.OrderedSets(cmd).ToList();
        foreach (var s in sets)
        {
            string title = sets.Count == 1 ? "__AllParameterSets" : s.Name + (s.IsDefault ? " (Default)" : "");
            sb.Append("### ").Append(title).Append("\n\n```\n");
            var parts = new List<string>();
            foreach (var p in MamlWriter.OrderedParameters(s))
            {
                var f = byName[p.Name];
                string name = p.IsNamed ? $"-{p.Name}" : $"[-{p.Name}]";
                string part = f.IsSwitch ? $"[-{p.Name}]" : $"{name} <{MamlWriter.ShortType(f.Type)}>";
                if (!f.IsSwitch && !p.IsMandatory)
                {
                    part = $"[{part}]";
                }
                parts.Add(part);
            }
            parts.Add("[<CommonParameters>]");
            sb.Append(WrapSyntax(cmd.Name, parts)).Append("\n```\n\n");
        }
        return sb.ToString();
    }

    private static string WrapSyntax(string name, List<string> parts)
    {
        var lines = new List<string>();
        var line = new StringBuilder(name);
        foreach (var p in parts)
        {
            if (line.Length + 1 + p.Length > 95)
            {
                lines.Add(line.ToString());
                line.Clear().Append(' ');
            }
            line.Append(' ').Append(p);
        }
        lines.Add(line.ToString());
        return string.Join("\n", lines).Replace("\n  ", "\n ", StringComparison.Ordinal);
    }

    internal static string Update(string text, CommandDoc doc, CommandFacts cmd)
    {
        // Replace yaml blocks from the end so earlier spans stay valid.
        var edits = new List<(int Start, int Length, string Text)>();
        foreach (var p in cmd.Parameters)
        {
            if (doc.Parameters.TryGetValue(p.Name, out var pd) && pd.YamlSpan is { } span)
            {
                edits.Add((span.Start, span.Length, YamlBlock(cmd, p, pd)));
            }
        }
        // SYNTAX: everything between "## SYNTAX" and the next "## " heading.
        int syntax = text.IndexOf("\n## SYNTAX", StringComparison.Ordinal);
        if (syntax >= 0)
        {
            int start = text.IndexOf('\n', syntax + 1) + 1;
            int next = text.IndexOf("\n## ", start, StringComparison.Ordinal);
            if (next > start)
            {
                edits.Add((start, next + 1 - start, "\n" + Syntax(cmd)));
            }
        }
        // Parameters the docs do not mention yet: a section with a placeholder, before CommonParameters.
        var missing = cmd.Parameters.Where(p => !doc.Parameters.ContainsKey(p.Name)).OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ToList();
        if (missing.Count > 0)
        {
            int at = text.IndexOf("\n### CommonParameters", StringComparison.Ordinal);
            if (at < 0)
            {
                at = text.IndexOf("\n## INPUTS", StringComparison.Ordinal);
            }
            if (at >= 0)
            {
                var add = new StringBuilder();
                foreach (var p in missing)
                {
                    add.Append("\n### -").Append(p.Name).Append("\n\n{{ Describe -").Append(p.Name).Append(" }}\n\n").Append(YamlBlock(cmd, p, null)).Append('\n');
                }
                edits.Add((at, 0, add.ToString()));
            }
        }
        var sb = new StringBuilder(text);
        foreach (var (start, length, replacement) in edits.OrderByDescending(e => e.Start))
        {
            sb.Remove(start, length).Insert(start, replacement);
        }
        return sb.ToString();
    }
}
