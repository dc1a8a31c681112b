using System.IO;

namespace OverlayTools.Interop;

/// <summary>A failed system call: the call, the path it worked on, errno and its text.</summary>
public sealed class ErrnoException : IOException
{
    /// <summary>Creates the exception for a failed call.</summary>
    public ErrnoException(string call, int errno, string? path = null, string? detail = null)
        : base(Format(call, errno, path, detail))
    {
        Call = call;
        Errno = errno;
        Path = path;
        HResult = errno;
    }

    /// <summary>The system call that failed, such as "fsconfig(lowerdir+)".</summary>
    public string Call { get; }

    /// <summary>The errno it returned.</summary>
    public int Errno { get; }

    /// <summary>The path it was working on, if any.</summary>
    public string? Path { get; }

    private static string Format(string call, int errno, string? path, string? detail)
    {
        var text = $"{call}{(path is null ? "" : $" '{path}'")}: {Interop.Errno.Describe(errno)} ({Interop.Errno.Name(errno)})";
        return detail is null ? text : text + ": " + detail;
    }
}
