namespace OverlayTools.Mounts;

/// <summary>
/// How the Core reports what it does without knowing PowerShell: the cmdlets forward these to
/// WriteVerbose, WriteDebug and WriteWarning.
/// </summary>
public interface IOperationLog
{
    /// <summary>What is being done, in terms users know (the equivalent mount command).</summary>
    void Verbose(string message);

    /// <summary>Syscalls and their results.</summary>
    void Debug(string message);

    /// <summary>Something the user should know although the operation succeeded.</summary>
    void Warning(string message);

    /// <summary>True when Debug messages are wanted (so they are only built when shown).</summary>
    bool DebugEnabled { get; }

    /// <summary>True when Verbose messages may be shown (so they are only built when they might be).</summary>
    bool VerboseEnabled => true;
}

/// <summary>A log that drops everything.</summary>
public sealed class NullOperationLog : IOperationLog
{
    /// <summary>The one instance.</summary>
    public static readonly NullOperationLog Instance = new();

    private NullOperationLog()
    {
    }

    /// <inheritdoc/>
    public bool DebugEnabled => false;

    /// <inheritdoc/>
    public bool VerboseEnabled => false;

    /// <inheritdoc/>
    public void Verbose(string message)
    {
    }

    /// <inheritdoc/>
    public void Debug(string message)
    {
    }

    /// <inheritdoc/>
    public void Warning(string message)
    {
    }
}
