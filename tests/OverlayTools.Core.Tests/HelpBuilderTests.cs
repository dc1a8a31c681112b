using System.Linq;
using OverlayTools.HelpBuilder;
using Xunit;

namespace OverlayTools.Core.Tests;

public class HelpBuilderTests
{
    private const string Doc = """
        ---
        document type: cmdlet
        HelpUri: https://example.invalid/docs/en-US/Get-Thing.md
        ---

        # Get-Thing

        ## SYNOPSIS

        Gets *things*.

        ## SYNTAX

        ### __AllParameterSets

        ```
        Get-Thing [-Name] <string>
        ```

        ## ALIASES

        This cmdlet has the following aliases:

        - gt

        ## DESCRIPTION

        First paragraph with `code` and a [link](https://example.invalid).

        - a list item

        ## EXAMPLES

        ### Example 1: One

        ```powershell
        Get-Thing a
        ```

        Remarks for one.

        ### Example 2: Two

        ```powershell
        Get-Thing b
        ```

        ```output
        b
        ```

        Remarks for two.

        ## PARAMETERS

        ### -Name

        The name, such as `<name>.work`.

        ```yaml
        Type: System.String
        DefaultValue: None
        SupportsWildcards: true
        Aliases:
        - N
        ParameterSets:
        - Name: (All)
          Position: 0
          IsRequired: true
          ValueFromPipeline: false
          ValueFromPipelineByPropertyName: true
          ValueFromRemainingArguments: false
        DontShow: false
        AcceptedValues: []
        HelpMessage: ''
        ```

        ### CommonParameters

        Common.

        ## INPUTS

        ### System.String

        Names.

        ## OUTPUTS

        ### Thing

        Things.

        ## NOTES

        A note.

        ## RELATED LINKS

        - [Online](https://example.invalid/docs/en-US/Get-Thing.md)
        - [Other](Other.md)
        """;

    private static CommandFacts Facts(params string[] aliases) => new()
    {
        Name = "Get-Thing", Verb = "Get", Noun = "Thing", HelpUri = "https://example.invalid/docs/en-US/Get-Thing.md",
        Aliases = ["gt"], OutputTypes = ["Thing"],
        Parameters = [new ParameterFacts { Name = "Name", Type = "System.String", SupportsWildcards = true, Aliases = aliases.ToList() }],
        ParameterSets = [new ParameterSetFacts { Name = "__AllParameterSets", IsDefault = true, Parameters = [new ParameterInSet { Name = "Name", IsMandatory = true, Position = 0, ValueFromPipelineByPropertyName = true }] }],
    };

    [Fact]
    public void Reads_every_section()
    {
        var d = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md");
        Assert.Equal("Get-Thing", d.Name);
        Assert.Equal("Gets things.", d.Synopsis);
        Assert.Equal(new[] { "gt" }, d.Aliases);
        Assert.Equal(new[] { "First paragraph with code and a link.", "- a list item" }, d.Description);
        Assert.Equal(2, d.Examples.Count);
        Assert.Equal("Get-Thing b", d.Examples[1].Code.Single());
        Assert.Equal(new[] { "b", "Remarks for two." }, d.Examples[1].Remarks);
        Assert.Equal("The name, such as <name>.work.", d.Parameters["Name"].Description.Single());
        Assert.Equal(new[] { "N" }, d.Parameters["Name"].YamlAliases);
        Assert.Equal("0", d.Parameters["Name"].Yaml["Position"]);
        Assert.Equal("System.String", d.Inputs.Single().TypeName);
        Assert.Equal("Thing", d.Outputs.Single().TypeName);
        Assert.Equal(new[] { "A note." }, d.Notes);
        Assert.Equal(2, d.Links.Count);
    }

    [Fact]
    public void Turns_a_table_into_list_items_naming_the_columns()
    {
        var md = Markdig.Markdown.Parse("""
            | Style  | What it lists | Default for |
            | ------ | ------------- | ----------- |
            | Docker | what changed  | `-Target`   |
            | Upper  | everything    | (never)     |
            """, MarkdownHelp.Pipeline);
        var text = md.SelectMany(MarkdownHelp.BlockText).ToList();
        Assert.Equal(new[] { "- Docker: What it lists: what changed; Default for: -Target", "- Upper: What it lists: everything; Default for: (never)" }, text);
    }

    [Fact]
    public void Accepts_docs_that_match_the_code()
    {
        var file = new CommandFactsFile { Module = "M", Commands = [Facts("N")] };
        var docs = new System.Collections.Generic.Dictionary<string, CommandDoc> { ["Get-Thing"] = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md") };
        Assert.Empty(Validator.Check(file, docs));
    }

    [Fact]
    public void Reports_drift_missing_parameters_and_unknown_commands()
    {
        var facts = Facts("Other");
        facts.Parameters.Add(new ParameterFacts { Name = "Extra", Type = "System.Int32" });
        facts.ParameterSets[0].Parameters.Add(new ParameterInSet { Name = "Extra", Position = -1 });
        var file = new CommandFactsFile { Module = "M", Commands = [facts, new CommandFacts { Name = "Get-Missing" }] };
        var docs = new System.Collections.Generic.Dictionary<string, CommandDoc>
        {
            ["Get-Thing"] = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md"),
            ["Get-Gone"] = new CommandDoc { Name = "Get-Gone", File = "Get-Gone.md" },
        };
        var problems = Validator.Check(file, docs);
        Assert.Contains(problems, p => p.Contains("aliases", System.StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("-Extra is not documented", System.StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("no docs/en-US/Get-Missing.md", System.StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("documents Get-Gone", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Reports_outputs_and_aliases_that_differ_from_the_code()
    {
        var facts = Facts("N");
        facts.OutputTypes = ["Other.Thing"];
        facts.Aliases = [];
        var docs = new System.Collections.Generic.Dictionary<string, CommandDoc> { ["Get-Thing"] = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md") };
        var problems = Validator.Check(new CommandFactsFile { Module = "M", Commands = [facts] }, docs);
        Assert.Contains("Get-Thing.md: OUTPUTS does not name Other.Thing, which Get-Thing declares with [OutputType]", problems);
        Assert.Contains("Get-Thing.md: OUTPUTS names Thing, which Get-Thing does not declare with [OutputType]", problems);
        Assert.Contains("Get-Thing.md: ALIASES lists [gt] but Get-Thing has []", problems);
        Assert.Equal(3, problems.Count);
    }

    [Fact]
    public void Accepts_None_in_outputs_beside_the_declared_types()
    {
        var withNone = Doc.Replace("### Thing\n\nThings.\n", "### Thing\n\nThings.\n\n### None\n\nWithout -PassThru.\n", System.StringComparison.Ordinal);
        Assert.NotEqual(Doc, withNone);
        var docs = new System.Collections.Generic.Dictionary<string, CommandDoc> { ["Get-Thing"] = MarkdownHelp.ReadCommandText(withNone, "Get-Thing.md") };
        Assert.Equal(2, docs["Get-Thing"].Outputs.Count);
        Assert.Empty(Validator.Check(new CommandFactsFile { Module = "M", Commands = [Facts("N")] }, docs));
    }

    [Fact]
    public void Update_regenerates_yaml_and_syntax_and_keeps_prose()
    {
        var facts = Facts("N", "Nm");
        var doc = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md");
        var updated = DocUpdater.Update(Doc, doc, facts);
        Assert.Contains("- Nm", updated, System.StringComparison.Ordinal);
        Assert.Contains("Get-Thing [-Name] <String> [<CommonParameters>]", updated, System.StringComparison.Ordinal);
        Assert.Contains("The name, such as `<name>.work`.", updated, System.StringComparison.Ordinal);
        var again = MarkdownHelp.ReadCommandText(updated, "Get-Thing.md");
        Assert.Equal(new[] { "N", "Nm" }, again.Parameters["Name"].YamlAliases);
        Assert.Equal(DocUpdater.Update(updated, again, facts), updated);
    }

    [Fact]
    public void Update_adds_a_section_for_an_undocumented_parameter_that_the_build_then_refuses()
    {
        var facts = Facts("N");
        facts.Parameters.Add(new ParameterFacts { Name = "Extra", Type = "System.Int32" });
        facts.ParameterSets[0].Parameters.Add(new ParameterInSet { Name = "Extra", Position = -1 });
        var doc = MarkdownHelp.ReadCommandText(Doc, "Get-Thing.md");
        var updated = DocUpdater.Update(Doc, doc, facts);
        var again = MarkdownHelp.ReadCommandText(updated, "Get-Thing.md");
        Assert.True(again.Parameters.ContainsKey("Extra"));
        Assert.Equal("System.Int32", again.Parameters["Extra"].Yaml["Type"]);
        var problems = Validator.Check(new CommandFactsFile { Module = "M", Commands = [facts] },
            new System.Collections.Generic.Dictionary<string, CommandDoc> { ["Get-Thing"] = again });
        Assert.Contains(problems, p => p.Contains("-Extra still has the placeholder", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Renders_an_about_topic_in_the_layout_get_help_expects()
    {
        var text = AboutWriter.Render("# about_Thing\n\n## SHORT DESCRIPTION\n\nShort.\n\n## LONG DESCRIPTION\n\nLong text.\n");
        var lines = text.Split('\n');
        Assert.Equal("TOPIC", lines[0]);
        Assert.Equal("    about_Thing", lines[1]);
        Assert.Equal("", lines[2]);
        Assert.Equal("SHORT DESCRIPTION", lines[3]);
        Assert.Equal("    Short.", lines[4]);
    }
}
