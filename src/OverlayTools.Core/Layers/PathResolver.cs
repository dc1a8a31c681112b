using System;
using System.Collections.Generic;
using System.Linq;
using OverlayTools.Interop;

namespace OverlayTools.Layers;

/// <summary>
/// Answers "which layer supplies this path?" by repeating the kernel's lookup, one component
/// at a time, from the layer directories (the merged view is never asked, so nothing is
/// copied up and deleted paths can be explained too).
/// </summary>
internal static class PathResolver
{
    /// <summary>
    /// The layers' parts in <paramref name="relative"/> (rooted at "/"), top first. Without
    /// <paramref name="all"/> only the supplying entry (empty when the merged view has no such
    /// path); with it also merged directories, metacopy data and every hidden entry.
    /// </summary>
    internal static List<OverlayPathInfo> Resolve(LayerSet layers, string mergedPath, string relative, string target, bool all)
    {
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var result = new List<OverlayPathInfo>();
        var hidden = new List<(Drop Drop, string Remaining)>();
        var frame = layers.RootFrame(includeUpper: true);
        try
        {
            if (parts.Length == 0)
            {
                // The root: every layer's root directory merges.
                for (int i = 0; i < frame.Dirs.Count; i++)
                {
                    var d = frame.Dirs[i];
                    if (i > 0 && !all)
                    {
                        break;
                    }
                    result.Add(Info(layers, d.Layer, "", Posix.StatFd(d.Fd, d.Layer.Path), i == 0 ? OverlayPathInfo.Supplies : OverlayPathInfo.Merged, mergedPath, relative, target, null, opaque: false, metacopy: false, redirect: null));
                }
                return result;
            }
            for (int k = 0; k < parts.Length; k++)
            {
                bool last = k == parts.Length - 1;
                string rest = string.Join('/', parts.Skip(k + 1));
                using var r = layers.Lookup(frame, parts[k], Native.Utf8Z(parts[k]), openDirs: true, trackDrops: all);
                foreach (var d in r.Drops ?? [])
                {
                    hidden.Add((d, rest));
                }
                if (!last)
                {
                    if (!r.Exists || !r.Stat.IsDirectory || r.Frame is null)
                    {
                        // A parent is deleted or not a directory: the drops recorded above say
                        // what hides the layers that still hold the path.
                        break;
                    }
                    var nextFrame = r.Frame;
                    r.Frame = null;
                    frame.Dispose();
                    frame = nextFrame;
                    continue;
                }

                if (r.Exists)
                {
                    var top = r.Frame?.Dirs.FirstOrDefault();
                    string parentPath = "/" + string.Join('/', parts.Take(k));
                    string? redirect = Changes.ChangeRules.RenamedFrom(parentPath.TrimEnd('/'), top?.Redirect ?? r.MetacopyRedirect);
                    result.Add(Info(layers, r.Layer!, r.PathInLayer, r.Stat, OverlayPathInfo.Supplies, mergedPath, relative, target, null,
                        opaque: top?.Opaque ?? false, metacopy: r.Metacopy, redirect: redirect));
                    if (all && r.Frame is not null)
                    {
                        foreach (var d in r.Frame.Dirs.Skip(1))
                        {
                            result.Add(Info(layers, d.Layer, d.PathInLayer, Posix.StatFd(d.Fd, d.Layer.Join(d.PathInLayer)), OverlayPathInfo.Merged, mergedPath, relative, target, null,
                                opaque: d.Opaque, metacopy: false, redirect: Changes.ChangeRules.RenamedFrom(parentPath.TrimEnd('/'), d.Redirect)));
                        }
                    }
                    if (all && r.Metacopy && layers.FindMetacopyData(r, parts[k]) is { } data)
                    {
                        if (LayerSet.Stat(data.Layer, data.PathInLayer) is { } dst)
                        {
                            result.Add(Info(layers, data.Layer, data.PathInLayer, dst, OverlayPathInfo.Data, mergedPath, relative, target, null, false, false, null));
                        }
                    }
                }
                else if (all && r.WhiteoutLayer is not null && LayerSet.Stat(r.WhiteoutLayer, r.WhiteoutPath!) is { } wst)
                {
                    result.Add(Info(layers, r.WhiteoutLayer, r.WhiteoutPath!, wst, OverlayPathInfo.Whiteout, mergedPath, relative, target, null, false, false, null));
                }
            }

            if (all)
            {
                // Each layer's entry once. A layer may hold the path at two places: where the merged
                // view takes it from, and at the path itself when a directory renamed into its
                // place (redirect_dir=on) sends the lookup elsewhere.
                var listed = new HashSet<string>(result.Select(i => i.LayerPath), StringComparer.Ordinal);
                foreach (var (drop, rest) in hidden)
                {
                    string path = rest.Length == 0 ? drop.PathInLayer : drop.PathInLayer + "/" + rest;
                    if (!listed.Add(drop.Layer.Join(path)) || LayerSet.Stat(drop.Layer, path) is not { } st)
                    {
                        continue;
                    }
                    string state = drop.Reason switch
                    {
                        HiddenReason.WhitedOut => OverlayPathInfo.WhitedOutState,
                        HiddenReason.Opaque => OverlayPathInfo.HiddenByOpaqueState,
                        _ => OverlayPathInfo.Shadowed,
                    };
                    result.Add(Info(layers, drop.Layer, path, st, state, mergedPath, relative, target, drop.By, false, false, null));
                }
            }
            // Top first; within a layer what the merged view shows comes before what is hidden (a stable sort).
            return result.OrderBy(i => i.Position).ToList();
        }
        finally
        {
            frame.Dispose();
        }
    }

    private static OverlayPathInfo Info(LayerSet layers, Layer layer, string pathInLayer, EntryStat st, string state, string mergedPath, string relative, string target,
        Layer? hiddenBy, bool opaque, bool metacopy, string? redirect)
    {
        bool whiteout = state == OverlayPathInfo.Whiteout || st.IsWhiteoutDevice;
        return new OverlayPathInfo
        {
            Path = mergedPath,
            OverlayPath = relative.Length == 0 ? "/" : relative,
            Layer = layer.Path,
            LayerPath = layer.Join(pathInLayer),
            // Top first from 0, as Get-OverlayLayer numbers the layers: the first lower is 0 when there is no upper.
            Position = layers.Upper is null ? layer.Position - 1 : layer.Position,
            Role = layer.Role.ToString(),
            State = state,
            ItemType = whiteout && st.IsCharDevice ? "Whiteout" : st.ItemType,
            Size = st.IsDirectory ? 0 : st.Size,
            Visible = state is OverlayPathInfo.Supplies or OverlayPathInfo.Merged or OverlayPathInfo.Data,
            WhitedOut = state == OverlayPathInfo.WhitedOutState,
            HiddenByOpaque = state == OverlayPathInfo.HiddenByOpaqueState,
            HiddenBy = hiddenBy?.Path,
            Opaque = opaque,
            MetadataOnly = metacopy,
            RenamedFrom = redirect,
            Target = target,
        };
    }
}
