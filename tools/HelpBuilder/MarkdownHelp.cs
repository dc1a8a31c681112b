using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace OverlayTools.HelpBuilder;

/// <summary>Reads PlatyPS-schema markdown (v1 or v2) with Markdig: structure from headings, prose from blocks.</summary>
internal static class MarkdownHelp
{
    internal static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseYamlFrontMatter().UsePipeTables().Build();

    /// <summary>Parses one cmdlet help file.</summary>
    internal static CommandDoc ReadCommand(string path) => ReadCommandText(File.ReadAllText(path), path);

    internal static CommandDoc ReadCommandText(string text, string fileName)
    {
        var md = Markdown.Parse(text, Pipeline);
        var doc = new CommandDoc { File = fileName };
        ReadFrontMatter(md, doc.FrontMatter);

        string? section = null;
        ExampleDoc? example = null;
        ParameterDoc? parameter = null;
        TypeDoc? type = null;
        foreach (var block in md)
        {
            switch (block)
            {
                case YamlFrontMatterBlock:
                    continue;
                case HeadingBlock h when h.Level == 1:
                    doc.Name = InlineText(h.Inline).Trim();
                    continue;
                case HeadingBlock h when h.Level == 2:
                    section = InlineText(h.Inline).Trim().ToUpperInvariant();
                    example = null;
                    parameter = null;
                    type = null;
                    continue;
                case HeadingBlock h when h.Level == 3:
                    var title = InlineText(h.Inline).Trim();
                    example = null;
                    parameter = null;
                    type = null;
                    switch (section)
                    {
                        case "EXAMPLES":
                            example = new ExampleDoc { Title = title };
                            doc.Examples.Add(example);
                            break;
                        case "PARAMETERS" when title.StartsWith('-'):
                            parameter = new ParameterDoc { Name = title.TrimStart('-') };
                            doc.Parameters[parameter.Name] = parameter;
                            break;
                        case "INPUTS":
                            type = new TypeDoc(title, []);
                            doc.Inputs.Add(type);
                            break;
                        case "OUTPUTS":
                            type = new TypeDoc(title, []);
                            doc.Outputs.Add(type);
                            break;
                    }
                    continue;
            }

            switch (section)
            {
                case "SYNOPSIS":
                    doc.Synopsis = (doc.Synopsis + " " + string.Join(" ", BlockText(block))).Trim();
                    break;
                case "ALIASES" when block is ListBlock aliases:
                    foreach (var item in aliases.OfType<ListItemBlock>())
                    {
                        doc.Aliases.Add(string.Join(" ", item.SelectMany(BlockText)).Trim());
                    }
                    break;
                case "DESCRIPTION":
                    doc.Description.AddRange(BlockText(block));
                    break;
                case "EXAMPLES" when example is not null:
                    if (block is FencedCodeBlock code)
                    {
                        // Code first; output blocks belong with the remarks, as PlatyPS renders them.
                        if (example.Remarks.Count == 0 && !IsOutputFence(code))
                        {
                            example.Code.Add(CodeText(code));
                        }
                        else
                        {
                            example.Remarks.Add(CodeText(code));
                        }
                    }
                    else
                    {
                        example.Remarks.AddRange(BlockText(block));
                    }
                    break;
                case "PARAMETERS" when parameter is not null:
                    if (block is FencedCodeBlock yaml && IsYamlFence(yaml))
                    {
                        parameter.YamlSpan = (yaml.Span.Start, yaml.Span.Length);
                        parameter.YamlText = text.Substring(yaml.Span.Start, yaml.Span.Length);
                        ReadParameterYaml(CodeText(yaml), parameter);
                    }
                    else
                    {
                        parameter.Description.AddRange(BlockText(block));
                    }
                    break;
                case "INPUTS" or "OUTPUTS" when type is not null:
                    type.Description.AddRange(BlockText(block));
                    break;
                case "NOTES":
                    doc.Notes.AddRange(BlockText(block));
                    break;
                case "RELATED LINKS":
                    foreach (var link in block.Descendants<LinkInline>())
                    {
                        if (!link.IsImage)
                        {
                            doc.Links.Add(new LinkDoc(InlineText(link).Trim(), link.Url ?? ""));
                        }
                    }
                    break;
            }
        }
        return doc;
    }

    internal static void ReadFrontMatter(MarkdownDocument md, Dictionary<string, string> into)
    {
        var fm = md.Descendants<YamlFrontMatterBlock>().FirstOrDefault();
        if (fm is null)
        {
            return;
        }
        foreach (var line in fm.Lines.Lines.Take(fm.Lines.Count))
        {
            var s = line.Slice.ToString();
            int colon = s.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                into[s[..colon].Trim()] = s[(colon + 1)..].Trim();
            }
        }
    }

    private static bool IsOutputFence(FencedCodeBlock code) => string.Equals(code.Info, "output", StringComparison.OrdinalIgnoreCase);

    private static bool IsYamlFence(FencedCodeBlock code) => string.Equals(code.Info, "yaml", StringComparison.OrdinalIgnoreCase);

    internal static string CodeText(LeafBlock code)
    {
        var lines = code.Lines.Lines.Take(code.Lines.Count).Select(l => l.Slice.ToString());
        return string.Join("\n", lines).TrimEnd();
    }

    /// <summary>The parameter yaml block: flat "key: value" pairs, the Aliases list, and v2's ParameterSets list.</summary>
    private static void ReadParameterYaml(string yaml, ParameterDoc parameter)
    {
        string? listKey = null;
        foreach (var raw in yaml.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.Length == 0)
            {
                continue;
            }
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("- ", StringComparison.Ordinal) && listKey == "Aliases")
            {
                parameter.YamlAliases.Add(trimmed[2..].Trim());
                continue;
            }
            if (trimmed.StartsWith("- Name:", StringComparison.Ordinal))
            {
                trimmed = trimmed[2..];
            }
            int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var key = trimmed[..colon].Trim();
            var value = trimmed[(colon + 1)..].Trim();
            if (line.Length == trimmed.Length)
            {
                listKey = value.Length == 0 ? key : null;
            }
            if (key == "Aliases" && value.Length > 0 && value != "[]")
            {
                // v1 writes "Aliases: a, b".
                parameter.YamlAliases.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            }
            parameter.Yaml.TryAdd(key, value);
        }
    }

    /// <summary>The text of a block as paragraphs: paragraphs, list items ("- ..."), quotes, code.</summary>
    internal static IEnumerable<string> BlockText(Block block)
    {
        switch (block)
        {
            case ParagraphBlock p:
                yield return InlineText(p.Inline).Trim();
                break;
            case ListBlock list:
                foreach (var item in list.OfType<ListItemBlock>())
                {
                    var text = string.Join(" ", item.SelectMany(BlockText));
                    yield return "- " + text;
                }
                break;
            case QuoteBlock q:
                foreach (var t in q.SelectMany(BlockText))
                {
                    yield return t;
                }
                break;
            case FencedCodeBlock or CodeBlock:
                yield return CodeText((LeafBlock)block);
                break;
            case HeadingBlock h:
                yield return InlineText(h.Inline).Trim();
                break;
            case Table table:
                // Help text has no tables: each body row becomes a list item that names its
                // columns ("- Docker: What it lists: ...; Default for: ...").
                var rows = table.OfType<TableRow>().ToList();
                var header = rows.FirstOrDefault(r => r.IsHeader);
                var names = header is null ? [] : header.OfType<TableCell>().Select(CellText).ToList();
                foreach (var row in rows.Where(r => !r.IsHeader))
                {
                    var cells = row.OfType<TableCell>().Select(CellText).ToList();
                    var rest = cells.Skip(1).Select((c, i) => i + 1 < names.Count && names[i + 1].Length > 0 ? $"{names[i + 1]}: {c}" : c);
                    yield return "- " + (cells.Count > 0 ? cells[0] : "") + (cells.Count > 1 ? ": " + string.Join("; ", rest) : "");
                }
                break;
        }
    }

    private static string CellText(TableCell cell) => string.Join(" ", cell.SelectMany(BlockText)).Trim();

    /// <summary>Plain text of inline markdown: emphasis dropped, code spans and link texts kept.</summary>
    internal static string InlineText(Inline? inline)
    {
        var sb = new StringBuilder();
        Append(inline, sb);
        return sb.ToString();

        static void Append(Inline? i, StringBuilder sb)
        {
            switch (i)
            {
                case null:
                    return;
                case LiteralInline l:
                    sb.Append(l.Content.ToString());
                    break;
                case CodeInline c:
                    sb.Append(c.Content);
                    break;
                case AutolinkInline a:
                    sb.Append(a.Url);
                    break;
                case LineBreakInline br:
                    sb.Append(br.IsHard ? "\n" : " ");
                    break;
                case HtmlEntityInline e:
                    sb.Append(e.Transcoded.ToString());
                    break;
                case HtmlInline h:
                    // Not real HTML in help text: "<upper>" is a placeholder, keep it.
                    sb.Append(h.Tag);
                    break;
                case ContainerInline container:
                    foreach (var child in container)
                    {
                        Append(child, sb);
                    }
                    break;
            }
        }
    }
}
