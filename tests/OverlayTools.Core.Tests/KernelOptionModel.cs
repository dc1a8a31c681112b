using System;
using System.Collections.Generic;
using System.Text;

namespace OverlayTools.Core.Tests;

/// <summary>
/// A model of how the kernel reads overlay mount(2) option data (fs/overlayfs/params.c, 6.x):
/// ovl_next_opt splits options on an unescaped ',' (a '\' makes the next byte literal),
/// vfs_parse_monolithic_sep splits each at its first '=', ovl_parse_param_split_lowerdirs splits
/// lowerdir on unescaped ':' ("::" starts data-only layers; more colons or a trailing colon are
/// errors) keeping the escapes, and ovl_unescape finally drops every escaping '\' of a layer,
/// the upper and the work dir. The fuzz tests check the module's escaper against this model.
/// </summary>
internal static class KernelOptionModel
{
    /// <summary>ovl_next_opt + the split at '=': (key, value or null) in order.</summary>
    public static List<(string Key, string? Value)> ParseMonolithic(string data)
    {
        var result = new List<(string, string?)>();
        int start = 0;
        for (int p = 0; ; p++)
        {
            if (p < data.Length && data[p] == '\\')
            {
                p++;
                if (p >= data.Length)
                {
                    Add(data[start..]);
                    break;
                }
                continue;
            }
            if (p >= data.Length)
            {
                Add(data[start..]);
                break;
            }
            if (data[p] == ',')
            {
                Add(data[start..p]);
                start = p + 1;
            }
        }
        return result;

        void Add(string opt)
        {
            if (opt.Length == 0)
            {
                return; // vfs_parse_monolithic_sep skips empty options
            }
            int eq = opt.IndexOf('=', StringComparison.Ordinal);
            result.Add(eq < 0 ? (opt, null) : (opt[..eq], opt[(eq + 1)..]));
        }
    }

    /// <summary>ovl_unescape: drops each '\' and keeps the byte after it.</summary>
    public static string Unescape(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\')
            {
                i++;
                if (i >= s.Length)
                {
                    break;
                }
            }
            sb.Append(s[i]);
        }
        return sb.ToString();
    }

    /// <summary>
    /// ovl_parse_param_split_lowerdirs then ovl_unescape per layer; null where the kernel says
    /// EINVAL (":::" or a trailing colon). Data-only layers follow "::".
    /// </summary>
    public static (List<string> Lower, List<string> Data)? SplitLowerdir(string value)
    {
        var layers = new List<(string Text, bool Data)>();
        var current = new StringBuilder();
        int colons = 0;
        bool data = false;
        for (int i = 0; ; i++)
        {
            if (i < value.Length && value[i] == '\\')
            {
                current.Append('\\');
                i++;
                if (i < value.Length)
                {
                    current.Append(value[i]);
                }
                else
                {
                    // "\" at the very end: the kernel copied it and then sees the terminator.
                    if (colons > 0)
                    {
                        return null;
                    }
                    layers.Add((current.ToString(), data));
                    break;
                }
                colons = 0;
                continue;
            }
            if (i < value.Length && value[i] == ':')
            {
                bool nextColon = i + 1 < value.Length && value[i + 1] == ':';
                colons++;
                if (colons == 2 && nextColon)
                {
                    return null; // only ':' or '::'
                }
                if (colons == 1)
                {
                    layers.Add((current.ToString(), data));
                    current.Clear();
                }
                if (colons == 2)
                {
                    data = true;
                }
                continue;
            }
            if (i >= value.Length)
            {
                if (colons > 0)
                {
                    return null; // trailing colons
                }
                layers.Add((current.ToString(), data));
                break;
            }
            current.Append(value[i]);
            colons = 0;
        }
        var lower = new List<string>();
        var dataLayers = new List<string>();
        foreach (var (text, isData) in layers)
        {
            (isData ? dataLayers : lower).Add(Unescape(text));
        }
        return (lower, dataLayers);
    }
}
