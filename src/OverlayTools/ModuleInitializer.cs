using System;
using System.Management.Automation;

namespace OverlayTools;

/// <summary>Refuses to import anywhere but Linux, with one clear message.</summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    /// <summary>Runs when Import-Module loads the assembly.</summary>
    public void OnImport()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException(
                "OverlayTools works only on Linux: it manages the Linux kernel's overlay file system (overlayfs). This system is " +
                System.Runtime.InteropServices.RuntimeInformation.OSDescription + ".");
        }
    }
}
