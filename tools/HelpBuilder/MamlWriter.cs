using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Xml;

namespace OverlayTools.HelpBuilder;

/// <summary>
/// Writes MAML (the only help format Get-Help reads for binary cmdlets) in the element order of
/// PlatyPS's MAML writer: details, description, syntax, parameters, inputTypes, returnValues,
/// alertSet, examples, relatedLinks. Structure comes from the command facts, prose from markdown.
/// </summary>
internal static class MamlWriter
{
    private const string Msh = "http://msh";
    private const string Maml = "http://schemas.microsoft.com/maml/2004/10";
    private const string Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private const string Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    internal static void Write(string path, IEnumerable<(CommandFacts Facts, CommandDoc Doc)> commands)
    {
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) };
        using var w = XmlWriter.Create(path, settings);
        w.WriteStartDocument();
        w.WriteStartElement("helpItems", Msh);
        w.WriteAttributeString("schema", "maml");
        w.WriteAttributeString("xmlns", "maml", null, Maml);
        w.WriteAttributeString("xmlns", "command", null, Command);
        w.WriteAttributeString("xmlns", "dev", null, Dev);
        foreach (var (facts, doc) in commands)
        {
            WriteCommand(w, facts, doc);
        }
        w.WriteEndElement();
        w.WriteEndDocument();
    }

    private static void WriteCommand(XmlWriter w, CommandFacts facts, CommandDoc doc)
    {
        w.WriteStartElement("command", "command", Command);

        w.WriteStartElement("command", "details", Command);
        w.WriteElementString("command", "name", Command, facts.Name);
        w.WriteStartElement("maml", "description", Maml);
        Para(w, doc.Synopsis);
        w.WriteEndElement();
        w.WriteElementString("command", "verb", Command, facts.Verb);
        w.WriteElementString("command", "noun", Command, facts.Noun);
        w.WriteEndElement();

        w.WriteStartElement("maml", "description", Maml);
        foreach (var p in doc.Description)
        {
            Para(w, p);
        }
        w.WriteEndElement();

        var byName = facts.Parameters.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        w.WriteStartElement("command", "syntax", Command);
        foreach (var set in OrderedSets(facts))
        {
            w.WriteStartElement("command", "syntaxItem", Command);
            w.WriteElementString("maml", "name", Maml, facts.Name);
            foreach (var p in OrderedParameters(set))
            {
                WriteParameter(w, byName[p.Name], p, doc, inSyntax: true);
            }
            w.WriteEndElement();
        }
        w.WriteEndElement();

        w.WriteStartElement("command", "parameters", Command);
        foreach (var p in facts.Parameters.OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase))
        {
            var inSet = MergedSetFacts(facts, p.Name);
            WriteParameter(w, p, inSet, doc, inSyntax: false);
        }
        w.WriteEndElement();

        WriteTypes(w, "inputTypes", "inputType", doc.Inputs);
        WriteTypes(w, "returnValues", "returnValue", doc.Outputs);

        w.WriteStartElement("maml", "alertSet", Maml);
        w.WriteStartElement("maml", "alert", Maml);
        foreach (var n in doc.Notes)
        {
            Para(w, n);
        }
        w.WriteEndElement();
        w.WriteEndElement();

        w.WriteStartElement("command", "examples", Command);
        foreach (var e in doc.Examples)
        {
            w.WriteStartElement("command", "example", Command);
            w.WriteElementString("maml", "title", Maml, $"--------- {e.Title} ---------");
            w.WriteElementString("dev", "code", Dev, string.Join("\n\n", e.Code));
            w.WriteStartElement("dev", "remarks", Dev);
            foreach (var r in e.Remarks)
            {
                Para(w, r);
            }
            w.WriteEndElement();
            w.WriteEndElement();
        }
        w.WriteEndElement();

        w.WriteStartElement("command", "relatedLinks", Command);
        var links = doc.Links.ToList();
        if (!string.IsNullOrEmpty(facts.HelpUri) && !links.Any(l => l.Uri == facts.HelpUri))
        {
            links.Insert(0, new LinkDoc("Online version:", facts.HelpUri));
        }
        foreach (var l in links)
        {
            w.WriteStartElement("maml", "navigationLink", Maml);
            w.WriteElementString("maml", "linkText", Maml, l.Text);
            // Get-Help -Online takes the first absolute URI; relative markdown links stay text only.
            w.WriteElementString("maml", "uri", Maml, Uri.TryCreate(l.Uri, UriKind.Absolute, out _) ? l.Uri : "");
            w.WriteEndElement();
        }
        w.WriteEndElement();

        w.WriteEndElement();
    }

    private static void WriteParameter(XmlWriter w, ParameterFacts p, ParameterInSet set, CommandDoc doc, bool inSyntax)
    {
        w.WriteStartElement("command", "parameter", Command);
        w.WriteAttributeString("required", set.IsMandatory ? "true" : "false");
        w.WriteAttributeString("variableLength", p.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false");
        w.WriteAttributeString("globbing", p.SupportsWildcards ? "true" : "false");
        w.WriteAttributeString("pipelineInput", PipelineText(set));
        w.WriteAttributeString("position", set.IsNamed ? "named" : set.Position.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.WriteAttributeString("aliases", p.Aliases.Count == 0 ? "none" : string.Join(", ", p.Aliases));
        w.WriteElementString("maml", "name", Maml, p.Name);
        w.WriteStartElement("maml", "description", Maml);
        if (doc.Parameters.TryGetValue(p.Name, out var pd))
        {
            foreach (var para in pd.Description)
            {
                Para(w, para);
            }
        }
        w.WriteEndElement();
        if (!p.IsSwitch)
        {
            if (p.AcceptedValues.Count > 0 && inSyntax)
            {
                w.WriteStartElement("command", "parameterValueGroup", Command);
                foreach (var v in p.AcceptedValues)
                {
                    w.WriteStartElement("command", "parameterValue", Command);
                    w.WriteAttributeString("required", "false");
                    w.WriteAttributeString("command", "variableLength", Command, "false");
                    w.WriteString(v);
                    w.WriteEndElement();
                }
                w.WriteEndElement();
            }
            else
            {
                w.WriteStartElement("command", "parameterValue", Command);
                w.WriteAttributeString("required", "true");
                w.WriteAttributeString("variableLength", p.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false");
                w.WriteString(ShortType(p.Type));
                w.WriteEndElement();
            }
        }
        if (!inSyntax)
        {
            w.WriteStartElement("dev", "type", Dev);
            w.WriteElementString("maml", "name", Maml, p.Type);
            w.WriteElementString("maml", "uri", Maml, "");
            w.WriteEndElement();
            var defaultValue = pd is not null && pd.Yaml.TryGetValue("DefaultValue", out var dv) ? dv : (pd is not null && pd.Yaml.TryGetValue("Default value", out var dv1) ? dv1 : "None");
            w.WriteElementString("dev", "defaultValue", Dev, p.IsSwitch ? "False" : defaultValue);
        }
        w.WriteEndElement();
    }

    private static void WriteTypes(XmlWriter w, string outer, string inner, List<TypeDoc> types)
    {
        w.WriteStartElement("command", outer, Command);
        foreach (var t in types)
        {
            w.WriteStartElement("command", inner, Command);
            w.WriteStartElement("dev", "type", Dev);
            w.WriteElementString("maml", "name", Maml, t.TypeName);
            w.WriteEndElement();
            w.WriteStartElement("maml", "description", Maml);
            foreach (var d in t.Description)
            {
                Para(w, d);
            }
            w.WriteEndElement();
            w.WriteEndElement();
        }
        w.WriteEndElement();
    }

    private static void Para(XmlWriter w, string text) => w.WriteElementString("maml", "para", Maml, text);

    internal static string PipelineText(ParameterInSet p)
    {
        if (p.ValueFromPipeline && p.ValueFromPipelineByPropertyName)
        {
            return "True (ByValue, ByPropertyName)";
        }
        if (p.ValueFromPipeline)
        {
            return "True (ByValue)";
        }
        return p.ValueFromPipelineByPropertyName ? "True (ByPropertyName)" : "False";
    }

    internal static string ShortType(string fullName)
    {
        var t = fullName;
        foreach (var nullable in new[] { "System.Nullable`1[[", "System.Nullable`1[" })
        {
            if (t.StartsWith(nullable, StringComparison.Ordinal))
            {
                t = t[nullable.Length..];
                int end = t.IndexOfAny([',', ']']);
                t = end < 0 ? t : t[..end];
                break;
            }
        }
        int dot = t.LastIndexOf('.');
        return dot >= 0 ? t[(dot + 1)..] : t;
    }

    /// <summary>Parameter sets, the default first.</summary>
    internal static IEnumerable<ParameterSetFacts> OrderedSets(CommandFacts facts)
        => facts.ParameterSets.OrderByDescending(s => s.IsDefault).ThenBy(s => s.Name, StringComparer.Ordinal);

    /// <summary>Parameters of a set as Get-Help prints syntax: positional by position, then mandatory, then the rest.</summary>
    internal static IEnumerable<ParameterInSet> OrderedParameters(ParameterSetFacts set)
        => set.Parameters
            .OrderBy(p => p.IsNamed ? int.MaxValue : p.Position)
            .ThenByDescending(p => p.IsMandatory)
            .ThenBy(p => p.Name is "WhatIf" or "Confirm" ? 1 : 0)
            .ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// A parameter's facts across its sets: mandatory only where every set says so; the position
    /// of the first set (default first) where it is positional, so Get-Help -Parameter never says
    /// "named" for a parameter that can be given by position.
    /// </summary>
    internal static ParameterInSet MergedSetFacts(CommandFacts facts, string name)
    {
        var inSets = OrderedSets(facts).SelectMany(s => s.Parameters).Where(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
        var first = inSets.FirstOrDefault(p => !p.IsNamed) ?? inSets.FirstOrDefault() ?? new ParameterInSet { Name = name, Position = -1 };
        return new ParameterInSet
        {
            Name = name,
            IsMandatory = inSets.Count > 0 && inSets.All(p => p.IsMandatory),
            Position = first.Position,
            ValueFromPipeline = inSets.Any(p => p.ValueFromPipeline),
            ValueFromPipelineByPropertyName = inSets.Any(p => p.ValueFromPipelineByPropertyName),
        };
    }
}

/// <summary>Turns about_*.md into the plain-text about_*.help.txt Get-Help reads.</summary>
internal static class AboutWriter
{
    private const int Width = 80;

    internal static string Render(string markdown)
    {
        var md = Markdig.Markdown.Parse(markdown, MarkdownHelp.Pipeline);
        string name = "";
        var sb = new StringBuilder();
        foreach (var block in md)
        {
            switch (block)
            {
                case Markdig.Extensions.Yaml.YamlFrontMatterBlock:
                    break;
                case Markdig.Syntax.HeadingBlock h when h.Level == 1:
                    name = MarkdownHelp.InlineText(h.Inline).Trim();
                    sb.Append("TOPIC\n    ").Append(name).Append("\n\n");
                    break;
                case Markdig.Syntax.HeadingBlock h when h.Level == 2:
                    sb.Append(MarkdownHelp.InlineText(h.Inline).Trim().ToUpperInvariant()).Append('\n');
                    break;
                case Markdig.Syntax.HeadingBlock h:
                    sb.Append("    ").Append(MarkdownHelp.InlineText(h.Inline).Trim().ToUpperInvariant()).Append('\n');
                    break;
                case Markdig.Syntax.FencedCodeBlock or Markdig.Syntax.CodeBlock:
                    foreach (var line in MarkdownHelp.CodeText((Markdig.Syntax.LeafBlock)block).Split('\n'))
                    {
                        sb.Append("        ").Append(line).Append('\n');
                    }
                    sb.Append('\n');
                    break;
                default:
                    foreach (var para in MarkdownHelp.BlockText(block))
                    {
                        bool bullet = para.StartsWith("- ", StringComparison.Ordinal);
                        Wrap(sb, bullet ? para[2..] : para, bullet ? "    - " : "    ", bullet ? "      " : "    ");
                    }
                    sb.Append('\n');
                    break;
            }
        }
        if (name.Length == 0)
        {
            throw new InvalidDataException("An about topic needs a level-1 heading with its name.");
        }
        return sb.ToString().TrimEnd() + "\n";
    }

    private static void Wrap(StringBuilder sb, string text, string first, string rest)
    {
        var line = new StringBuilder(first);
        bool empty = true;
        foreach (var word in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > Width)
            {
                sb.Append(line.ToString().TrimEnd()).Append('\n');
                line.Clear().Append(rest);
                empty = true;
            }
            if (!empty)
            {
                line.Append(' ');
            }
            line.Append(word);
            empty = false;
        }
        sb.Append(line.ToString().TrimEnd()).Append('\n');
    }
}
