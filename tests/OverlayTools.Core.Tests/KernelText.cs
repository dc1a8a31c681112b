using System.Text;

namespace OverlayTools.Core.Tests;

/// <summary>What the kernel prints: seq_file escaping of mountinfo fields, as observed on this machine.</summary>
internal static class KernelText
{
    /// <summary>Escapes like seq_escape(m, s, esc): each byte in the set becomes \ooo.</summary>
    public static string Escape(string s, string set)
    {
        var bytes = new System.Collections.Generic.List<byte>();
        foreach (byte b in Encoding.UTF8.GetBytes(s))
        {
            if (set.IndexOf((char)b) >= 0)
            {
                bytes.AddRange(Encoding.ASCII.GetBytes("\\" + System.Convert.ToString(b, 8).PadLeft(3, '0')));
            }
            else
            {
                bytes.Add(b);
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Escaping of a mount point (show_mountinfo: " \t\n\\").</summary>
    public static string MountPoint(string s) => Escape(s, " \t\n\\");

    /// <summary>Escaping of an option value (seq_show_option: ", \t\n\\").</summary>
    public static string OptionValue(string s) => Escape(s, ", \t\n\\");

    public static string Line(int id, string mountPoint, string superOptions, string mountOptions = "rw,relatime")
        => $"{id} 27 0:{id} / {MountPoint(mountPoint)} {mountOptions} shared:1 - overlay overlay {superOptions}";
}
