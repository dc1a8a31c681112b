using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using OverlayTools.Stores;
using Xunit;

namespace OverlayTools.Core.Tests;

/// <summary>
/// What every read of a store must give, however the store was tampered with: objects whose paths
/// all lie inside the store (symbolic links resolved), or OverlayExceptions with a stable ErrorId and
/// a specific category; never another exception, never a hang.
/// </summary>
internal static class StoreSafety
{
    /// <summary>Every ErrorId the module declares (ErrorIds constants).</summary>
    internal static readonly HashSet<string> KnownErrorIds = typeof(ErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToHashSet(StringComparer.Ordinal);

    /// <summary>Free text taken from image histories, which may look like a path but is never used as one.</summary>
    private static readonly HashSet<string> FreeText = new(StringComparer.Ordinal) { "CreatedBy", "Comment" };

    /// <summary>What a full read saw.</summary>
    internal sealed class Outcome
    {
        internal List<object> Objects { get; } = [];
        internal List<OverlayException> Errors { get; } = [];
        internal int Layers { get; set; }
    }

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr RealPathNative(byte[] path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void Free(IntPtr p);

    /// <summary>The path with every symbolic link resolved, as far as it exists (realpath -m).</summary>
    internal static string RealPathLenient(string path)
    {
        string rest = "";
        string head = path;
        while (true)
        {
            var z = System.Text.Encoding.UTF8.GetBytes(head + "\0");
            IntPtr r = RealPathNative(z, IntPtr.Zero);
            if (r != IntPtr.Zero)
            {
                string real = Marshal.PtrToStringUTF8(r)!;
                Free(r);
                return Path.GetFullPath((real == "/" ? "" : real) + rest);
            }
            int slash = head.LastIndexOf('/');
            if (slash <= 0)
            {
                return Path.GetFullPath(path);
            }
            rest = head[slash..] + rest;
            head = head[..slash];
        }
    }

    /// <summary>
    /// Where a store's paths may lead: its root, and its top-level dirs wherever they are (an admin
    /// may move overlay2/ or the snapshotter dir to another disk behind a symbolic link; nothing
    /// below them may be a link).
    /// </summary>
    internal static List<string> AllowedPlaces(string root)
    {
        var places = new List<string> { RealPathLenient(root) };
        foreach (var e in Directory.EnumerateFileSystemEntries(root))
        {
            if (new FileInfo(e).LinkTarget is not null && Directory.Exists(e))
            {
                places.Add(RealPathLenient(e));
            }
        }
        return places;
    }

    /// <summary>Fails unless a rooted value lies inside the store once symbolic links are resolved.</summary>
    internal static void AssertInside(string value, string root, string what)
    {
        Assert.False(value.Contains('\0', StringComparison.Ordinal), $"{what} holds a NUL: {value}");
        Assert.False(value.Split('/').Contains(".."), $"{what} '{value}' has a '..' component");
        string real = RealPathLenient(value);
        var places = AllowedPlaces(root);
        Assert.True(places.Any(p => real == p || real.StartsWith(p + "/", StringComparison.Ordinal)),
            $"{what} '{value}' leads to '{real}', outside the store ({string.Join(", ", places)})");
    }

    /// <summary>Every string (and string list) property of an emitted object: a rooted one must lie inside the store; Path, Work and Merged must be rooted.</summary>
    internal static void AssertObjectInside(object o, string root)
    {
        foreach (var p in o.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || FreeText.Contains(p.Name))
            {
                continue;
            }
            object? v = p.GetValue(o);
            IEnumerable<string> values = v switch
            {
                string s => [s],
                IEnumerable<string> list => list,
                _ => [],
            };
            foreach (var s in values)
            {
                if (s is null)
                {
                    continue;
                }
                if (p.Name is "Path" or "Work" or "Merged" or "UpperDir" or "WorkDir" or "MergedDir" or "LowerDirs")
                {
                    Assert.True(s.StartsWith('/'), $"{o.GetType().Name}.{p.Name} '{s}' is not an absolute path");
                }
                if (s.StartsWith('/'))
                {
                    AssertInside(s, root, $"{o.GetType().Name}.{p.Name}");
                }
            }
        }
    }

    internal static void AssertGoodError(OverlayException e)
    {
        Assert.Contains(e.ErrorId, KnownErrorIds);
        Assert.NotEqual(OverlayErrorCategory.NotSpecified, e.Category);
        Assert.False(string.IsNullOrEmpty(e.RecommendedAction), $"{e.ErrorId} has no recommended action");
        Assert.False(string.IsNullOrEmpty(e.Message));
    }

    /// <summary>
    /// Opens the store and reads everything in it (every image, every container, the layer behind
    /// every entry of its driver dirs and every extra path), checking each object and each error.
    /// Runs on a watchdog thread: a read that does not finish within a minute is a hang.
    /// </summary>
    internal static Outcome ReadEverything(string root, IEnumerable<string>? extraPaths = null)
    {
        var outcome = new Outcome();
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                ReadEverythingOnce(root, extraPaths ?? [], outcome);
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 16 * 1024 * 1024);
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromMinutes(1)), $"reading the store at '{root}' hangs");
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return outcome;
    }

    private static void ReadEverythingOnce(string root, IEnumerable<string> extraPaths, Outcome outcome)
    {
        ILayerStore store;
        try
        {
            store = LayerStores.Open(root);
        }
        catch (OverlayException e)
        {
            AssertGoodError(e);
            outcome.Errors.Add(e);
            return;
        }
        using (store)
        {
            void Check(object o)
            {
                AssertObjectInside(o, root);
                outcome.Objects.Add(o);
            }

            IReadOnlyList<StoreImageInfo> images = [];
            IReadOnlyList<StoreContainerInfo> containers = [];
            try
            {
                images = store.ListImages();
            }
            catch (OverlayException e)
            {
                AssertGoodError(e);
                outcome.Errors.Add(e);
            }
            try
            {
                containers = store.ListContainers();
            }
            catch (OverlayException e)
            {
                AssertGoodError(e);
                outcome.Errors.Add(e);
            }
            var seenPaths = new List<string>();
            foreach (var image in images)
            {
                try
                {
                    var i = store.GetImage(image);
                    foreach (var l in i.Layers)
                    {
                        Check(l);
                        seenPaths.Add(l.Path);
                    }
                    foreach (var o in LayerOutput.FromImage(i))
                    {
                        Check(o);
                        outcome.Layers++;
                    }
                }
                catch (OverlayException e)
                {
                    AssertGoodError(e);
                    outcome.Errors.Add(e);
                }
            }
            foreach (var container in containers)
            {
                try
                {
                    var c = store.GetContainer(container);
                    Check(c);
                    foreach (var l in c.Layers)
                    {
                        Check(l);
                        seenPaths.Add(l.Path);
                    }
                    foreach (var o in LayerOutput.FromContainer(c))
                    {
                        Check(o);
                        outcome.Layers++;
                    }
                }
                catch (OverlayException e)
                {
                    AssertGoodError(e);
                    outcome.Errors.Add(e);
                }
            }
            // The layer behind every path a user could hand to Get-OverlayLayer -Path.
            var paths = new List<string>(seenPaths);
            paths.AddRange(extraPaths);
            foreach (var dir in new[] { "overlay2", "overlay2/l", "overlay", "overlay/l", "io.containerd.snapshotter.v1.overlayfs/snapshots" })
            {
                string full = Path.Combine(root, dir);
                if (Directory.Exists(full))
                {
                    foreach (var e in Directory.EnumerateFileSystemEntries(full))
                    {
                        paths.Add(e);
                        paths.Add(e + "/diff");
                        paths.Add(e + "/fs");
                    }
                }
            }
            foreach (var path in paths.Distinct(StringComparer.Ordinal))
            {
                try
                {
                    if (store.FindLayer(path) is { } match)
                    {
                        Check(match.Layer);
                        if (match.Container is not null)
                        {
                            Check(match.Container);
                        }
                    }
                }
                catch (OverlayException e)
                {
                    AssertGoodError(e);
                    outcome.Errors.Add(e);
                }
            }
        }
    }
}
