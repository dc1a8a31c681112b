using System;
using System.Collections.Generic;
using System.Text;
using OverlayTools.Interop;

namespace OverlayTools.Mounts;

/// <summary>The layers and options of one overlay as the kernel reports them in mountinfo.</summary>
public sealed record OverlayLayers(
    IReadOnlyList<string> Lower,
    IReadOnlyList<string> DataLower,
    string? Upper,
    string? Work,
    IReadOnlyList<string> Options,
    bool LegacyLowerdir);

/// <summary>
/// Overlay option text: the escaping the kernel's legacy parser needs (mount(2) data and
/// lowerdir=), and the decoding of what /proc/*/mountinfo prints.
/// </summary>
public static class OverlayOptionCodec
{
    /// <summary>
    /// Escapes a path for mount(2) option data or a lowerdir= list: the kernel splits options on
    /// an unescaped ',' and lowerdir on an unescaped ':', and drops every escaping '\'.
    /// </summary>
    public static string EscapeLegacy(string path)
    {
        var sb = new StringBuilder(path.Length + 8);
        foreach (char c in path)
        {
            if (c is '\\' or ',' or ':')
            {
                sb.Append('\\');
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Joins lowers (and data-only lowers after "::") into one escaped lowerdir= value.</summary>
    public static string JoinLowerdir(IReadOnlyList<string> lower, IReadOnlyList<string> dataLower)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < lower.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(':');
            }
            sb.Append(EscapeLegacy(lower[i]));
        }
        foreach (var d in dataLower)
        {
            sb.Append("::").Append(EscapeLegacy(d));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Splits a lowerdir= value the way the kernel does: ':' separates layers, "::" starts the
    /// data-only layers, and '\' makes the next character literal. Empty layers are dropped.
    /// </summary>
    public static (List<string> Lower, List<string> DataLower) SplitLowerdir(string value)
    {
        var lower = new List<string>();
        var data = new List<string>();
        var current = new StringBuilder();
        bool inData = false;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '\\' && i + 1 < value.Length)
            {
                current.Append(value[++i]);
                continue;
            }
            if (c == ':')
            {
                Flush();
                if (i + 1 < value.Length && value[i + 1] == ':')
                {
                    inData = true;
                    i++;
                }
                continue;
            }
            current.Append(c);
        }
        Flush();
        return (lower, data);

        void Flush()
        {
            if (current.Length > 0)
            {
                (inData ? data : lower).Add(current.ToString());
                current.Clear();
            }
        }
    }

    /// <summary>True when a -Lower string holds an unescaped ':' (a colon-joined list of layers).</summary>
    public static bool HasUnescapedColon(string value)
    {
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == '\\')
            {
                i++;
            }
            else if (value[i] == ':')
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Removes overlay's escaping backslashes ("\," to ",", "\\" to "\").</summary>
    public static string UnescapeOverlay(string value)
    {
        if (!value.Contains('\\', StringComparison.Ordinal))
        {
            return value;
        }
        var sb = new StringBuilder(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == '\\' && i + 1 < value.Length)
            {
                i++;
            }
            sb.Append(value[i]);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash,
    /// \054 comma...) into raw bytes, then UTF-8 (bytes that are not UTF-8 kept, see
    /// <see cref="Native.DecodeName"/>). A backslash not followed by three octal digits is kept
    /// as it is.
    /// </summary>
    public static string UnescapeMountInfo(ReadOnlySpan<byte> field)
    {
        if (field.IndexOf((byte)'\\') < 0)
        {
            return Native.DecodeName(field);
        }
        Span<byte> buf = field.Length <= 1024 ? stackalloc byte[field.Length] : new byte[field.Length];
        int n = 0;
        for (int i = 0; i < field.Length; i++)
        {
            byte b = field[i];
            if (b == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                int v = ((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0');
                if (v <= 0xFF)
                {
                    buf[n++] = (byte)v;
                    i += 3;
                    continue;
                }
            }
            buf[n++] = b;
        }
        return Native.DecodeName(buf[..n]);
    }

    /// <summary>Same as the byte form, for text already decoded.</summary>
    public static string UnescapeMountInfo(string field) => UnescapeMountInfo(Native.Utf8Z(field).AsSpan()[..^1]);

    private static bool IsOctal(byte b) => b >= '0' && b <= '7';

    /// <summary>
    /// Decodes an overlay's super options from mountinfo (the last field, still escaped) into its
    /// layers and remaining options. Handles the legacy "lowerdir=a:b::data" form (overlay
    /// escapes, upper and work escaped too) and the new API's per-layer "lowerdir+=" /
    /// "datadir+=" form (literal paths).
    /// </summary>
    public static OverlayLayers DecodeSuperOptions(ReadOnlySpan<byte> superOptions)
    {
        var lower = new List<string>();
        var data = new List<string>();
        var others = new List<string>();
        string? upper = null, work = null;
        bool legacy = false;
        while (!superOptions.IsEmpty)
        {
            int comma = superOptions.IndexOf((byte)',');
            var item = comma < 0 ? superOptions : superOptions[..comma];
            superOptions = comma < 0 ? ReadOnlySpan<byte>.Empty : superOptions[(comma + 1)..];
            if (item.IsEmpty)
            {
                continue;
            }
            int eq = item.IndexOf((byte)'=');
            string key = Encoding.UTF8.GetString(eq < 0 ? item : item[..eq]);
            string? value = eq < 0 ? null : UnescapeMountInfo(item[(eq + 1)..]);
            switch (key)
            {
                case "lowerdir" when value is not null:
                    legacy = true;
                    var (l, d) = SplitLowerdir(value);
                    lower.AddRange(l);
                    data.AddRange(d);
                    break;
                case "lowerdir+" when value is not null:
                    lower.Add(value);
                    break;
                case "datadir+" when value is not null:
                    data.Add(value);
                    break;
                case "upperdir" when value is not null:
                    upper = value;
                    break;
                case "workdir" when value is not null:
                    work = value;
                    break;
                default:
                    others.Add(value is null ? key : key + "=" + value);
                    break;
            }
        }
        if (legacy)
        {
            // The legacy form echoes the option text, in which upper and work were escaped too.
            upper = upper is null ? null : UnescapeOverlay(upper);
            work = work is null ? null : UnescapeOverlay(work);
        }
        return new OverlayLayers(lower, data, upper, work, others, legacy);
    }

    /// <summary>Text form of <see cref="DecodeSuperOptions(ReadOnlySpan{byte})"/>.</summary>
    public static OverlayLayers DecodeSuperOptions(string superOptions) => DecodeSuperOptions(Native.Utf8Z(superOptions).AsSpan()[..^1]);
}
