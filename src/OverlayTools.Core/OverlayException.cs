using System;

namespace OverlayTools;

/// <summary>
/// Error categories, named exactly like System.Management.Automation.ErrorCategory members so the
/// cmdlet layer maps them by name without the Core referencing PowerShell.
/// </summary>
public enum OverlayErrorCategory
{
    /// <summary>No better category.</summary>
    NotSpecified,
    /// <summary>A parameter value is wrong.</summary>
    InvalidArgument,
    /// <summary>A path or object does not exist.</summary>
    ObjectNotFound,
    /// <summary>Not allowed (not root, EACCES, EPERM).</summary>
    PermissionDenied,
    /// <summary>In use (EBUSY, an upper already mounted).</summary>
    ResourceBusy,
    /// <summary>Something is already there.</summary>
    ResourceExists,
    /// <summary>The request does not fit the current state.</summary>
    InvalidOperation,
    /// <summary>Data on disk is malformed.</summary>
    InvalidData,
    /// <summary>A kernel limit would be exceeded.</summary>
    LimitsExceeded,
    /// <summary>Refused for safety.</summary>
    SecurityError,
    /// <summary>The running kernel lacks a feature.</summary>
    NotImplemented,
    /// <summary>The kernel returned a result the module did not ask for.</summary>
    InvalidResult,
    /// <summary>The operation was cancelled.</summary>
    OperationStopped,
    /// <summary>A read failed.</summary>
    ReadError,
    /// <summary>A write failed.</summary>
    WriteError,
    /// <summary>A device or resource is not available.</summary>
    ResourceUnavailable,
}

/// <summary>
/// A failure the user can act on: a stable error id, a category, the offending path or object and
/// what to do about it. The cmdlets turn it into an ErrorRecord unchanged.
/// </summary>
public sealed class OverlayException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OverlayException(string errorId, OverlayErrorCategory category, string message, object? target = null, string? recommendedAction = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
        Target = target;
        RecommendedAction = recommendedAction;
    }

    /// <summary>Stable, whitespace-free id, such as "UpperInUse".</summary>
    public string ErrorId { get; }

    /// <summary>What kind of failure this is.</summary>
    public OverlayErrorCategory Category { get; }

    /// <summary>The path or object at fault.</summary>
    public object? Target { get; }

    /// <summary>What the user can do about it.</summary>
    public string? RecommendedAction { get; }

    /// <summary>errno of the underlying call, if a call failed.</summary>
    public int? Errno => (InnerException as Interop.ErrnoException)?.Errno;

    /// <summary>Maps an errno to the category PowerShell users expect.</summary>
    public static OverlayErrorCategory CategoryFor(int errno) => errno switch
    {
        Interop.Errno.EPERM or Interop.Errno.EACCES => OverlayErrorCategory.PermissionDenied,
        Interop.Errno.ENOENT or Interop.Errno.ESRCH => OverlayErrorCategory.ObjectNotFound,
        Interop.Errno.EBUSY => OverlayErrorCategory.ResourceBusy,
        Interop.Errno.EEXIST => OverlayErrorCategory.ResourceExists,
        Interop.Errno.EINVAL or Interop.Errno.ENOTDIR or Interop.Errno.ELOOP or Interop.Errno.ENAMETOOLONG => OverlayErrorCategory.InvalidArgument,
        Interop.Errno.ENOSPC or Interop.Errno.EMFILE or Interop.Errno.ENOMEM => OverlayErrorCategory.LimitsExceeded,
        Interop.Errno.EROFS => OverlayErrorCategory.InvalidOperation,
        Interop.Errno.ENOSYS or Interop.Errno.ENODEV or Interop.Errno.EOPNOTSUPP => OverlayErrorCategory.NotImplemented,
        Interop.Errno.EINTR => OverlayErrorCategory.OperationStopped,
        Interop.Errno.EIO => OverlayErrorCategory.ReadError,
        _ => OverlayErrorCategory.NotSpecified,
    };
}
