using System;

namespace OverlayTools.Stores.Containerd;

/// <summary>
/// Image names the way users type them: containerd stores full references
/// (docker.io/library/nginx:latest), while people write nginx, nginx:latest, library/nginx or
/// docker.io/nginx. This expands the short forms the way Docker does.
/// </summary>
public static class ImageReference
{
    /// <summary>The registry Docker assumes when a name has none.</summary>
    public const string DefaultDomain = "docker.io";

    /// <summary>
    /// The full reference for a name: adds docker.io (and library/ for single-component names on
    /// docker.io) and :latest when neither a tag nor a digest is given. Names that already are
    /// digests (sha256:...) come back unchanged.
    /// </summary>
    public static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.StartsWith("sha256:", StringComparison.Ordinal))
        {
            return name;
        }

        string digest = "";
        int at = name.IndexOf('@', StringComparison.Ordinal);
        string rest = name;
        if (at >= 0)
        {
            digest = name[at..];
            rest = name[..at];
        }

        string domain;
        string path;
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string first = slash < 0 ? "" : rest[..slash];
        if (slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost"))
        {
            domain = first;
            path = rest[(slash + 1)..];
        }
        else
        {
            domain = DefaultDomain;
            path = rest;
        }
        if (domain == "index.docker.io")
        {
            domain = DefaultDomain;
        }
        if (domain == DefaultDomain && !path.Contains('/', StringComparison.Ordinal))
        {
            path = "library/" + path;
        }

        // A tag is a ':' after the last '/'.
        int lastSlash = path.LastIndexOf('/');
        bool hasTag = path.IndexOf(':', lastSlash + 1) >= 0;
        if (!hasTag && digest.Length == 0)
        {
            path += ":latest";
        }
        return domain + "/" + path + digest;
    }

    /// <summary>
    /// True when a stored image name is what the user meant: the same text, or the same after
    /// expanding the user's short form.
    /// </summary>
    public static bool Matches(string storedName, string userName)
    {
        ArgumentNullException.ThrowIfNull(storedName);
        ArgumentNullException.ThrowIfNull(userName);
        if (string.Equals(storedName, userName, StringComparison.Ordinal))
        {
            return true;
        }
        return userName.Length > 0 && string.Equals(storedName, Normalize(userName), StringComparison.Ordinal);
    }
}
