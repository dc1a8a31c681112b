using System;
using System.Text;

namespace OverlayTools;

/// <summary>Text helpers for the default table views (called from OverlayTools.Format.ps1xml).</summary>
public static class Display
{
    /// <summary>
    /// A path as a table shows it: every component that is a 64-digit hex id (Docker's and
    /// Podman's layer dirs, container ids) cut to its first 12 digits and "…", as docker ps and
    /// docker images show ids. Other paths come back unchanged; Format-List shows them whole.
    /// </summary>
    public static string ShortPath(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "";
        }
        var sb = new StringBuilder(path.Length);
        int start = 0;
        while (start <= path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            var part = path.AsSpan(start, end - start);
            int hex = LeadingHex(part);
            if (hex >= 64)
            {
                sb.Append(part[..12]).Append('…').Append(part[64..]);
            }
            else
            {
                sb.Append(part);
            }
            if (slash < 0)
            {
                break;
            }
            sb.Append('/');
            start = slash + 1;
        }
        return sb.ToString();
    }

    private static int LeadingHex(ReadOnlySpan<char> s)
    {
        int n = 0;
        while (n < s.Length && Uri.IsHexDigit(s[n]) && !char.IsUpper(s[n]))
        {
            n++;
        }
        return n;
    }

    /// <summary>Lower layers for a table cell: up to two, then how many more.</summary>
    public static string ShortLowers(string[]? lowers)
    {
        if (lowers is null || lowers.Length == 0)
        {
            return "";
        }
        return lowers.Length <= 2
            ? string.Join(", ", Array.ConvertAll(lowers, ShortPath))
            : $"{ShortPath(lowers[0])}, {ShortPath(lowers[1])} (+{lowers.Length - 2} more)";
    }
}
