using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace OverlayTools.HelpBuilder;

/// <summary>What PowerShell knows about the cmdlets (tools/Export-CommandFacts.ps1).</summary>
internal sealed class CommandFactsFile
{
    public string Module { get; set; } = "";
    public List<CommandFacts> Commands { get; set; } = [];

    public static CommandFactsFile Load(string path)
        => JsonSerializer.Deserialize<CommandFactsFile>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
            ?? throw new InvalidDataException($"{path} holds no command facts.");
}

internal sealed class CommandFacts
{
    public string Name { get; set; } = "";
    public string Verb { get; set; } = "";
    public string Noun { get; set; } = "";
    public string? HelpUri { get; set; }
    public List<string> Aliases { get; set; } = [];
    public List<string> OutputTypes { get; set; } = [];
    public List<ParameterFacts> Parameters { get; set; } = [];
    public List<ParameterSetFacts> ParameterSets { get; set; } = [];
}

internal sealed class ParameterFacts
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "";
    public bool IsSwitch { get; set; }
    public List<string> Aliases { get; set; } = [];
    public bool SupportsWildcards { get; set; }
    public List<string> AcceptedValues { get; set; } = [];
}

internal sealed class ParameterSetFacts
{
    public string Name { get; set; } = "";
    public bool IsDefault { get; set; }
    public List<ParameterInSet> Parameters { get; set; } = [];
}

internal sealed class ParameterInSet
{
    public string Name { get; set; } = "";
    public bool IsMandatory { get; set; }
    public int Position { get; set; }
    public bool ValueFromPipeline { get; set; }
    public bool ValueFromPipelineByPropertyName { get; set; }
    public bool ValueFromRemainingArguments { get; set; }

    public bool IsNamed => Position < 0;
}

/// <summary>The prose of one cmdlet's markdown help.</summary>
internal sealed class CommandDoc
{
    public string File { get; set; } = "";
    public string Name { get; set; } = "";
    public Dictionary<string, string> FrontMatter { get; } = new(System.StringComparer.OrdinalIgnoreCase);
    public string Synopsis { get; set; } = "";
    /// <summary>The list items of the ALIASES section (none when it says "This cmdlet has no aliases.").</summary>
    public List<string> Aliases { get; } = [];
    public List<string> Description { get; } = [];
    public List<ExampleDoc> Examples { get; } = [];
    public Dictionary<string, ParameterDoc> Parameters { get; } = new(System.StringComparer.OrdinalIgnoreCase);
    public List<TypeDoc> Inputs { get; } = [];
    public List<TypeDoc> Outputs { get; } = [];
    public List<string> Notes { get; } = [];
    public List<LinkDoc> Links { get; } = [];
}

internal sealed class ExampleDoc
{
    public string Title { get; set; } = "";
    public List<string> Code { get; } = [];
    public List<string> Remarks { get; } = [];
}

internal sealed class ParameterDoc
{
    public string Name { get; set; } = "";
    public List<string> Description { get; } = [];
    /// <summary>The yaml block as written (for drift checks).</summary>
    public Dictionary<string, string> Yaml { get; } = new(System.StringComparer.OrdinalIgnoreCase);
    public List<string> YamlAliases { get; } = [];
    /// <summary>The yaml block as written, fences included.</summary>
    public string? YamlText { get; set; }

    /// <summary>Where the yaml block sits in the file (for -Task UpdateDocs).</summary>
    public (int Start, int Length)? YamlSpan { get; set; }
}

internal sealed record TypeDoc(string TypeName, List<string> Description);

internal sealed record LinkDoc(string Text, string Uri);
