using System.Runtime.CompilerServices;
using System.Text;

namespace FastEpp.Tests.Metrics;

/// <summary>Loads the exposition payloads in Metrics/Fixtures from the source tree.</summary>
internal static class MetricsFixtures
{
    public static byte[] Load(string name) => File.ReadAllBytes(Path.Combine(Directory(), name));

    public static string LoadText(string name) => Encoding.UTF8.GetString(Load(name));

    private static string Directory([CallerFilePath] string sourceFile = "")
    {
        string here = Path.Combine(Path.GetDirectoryName(sourceFile) ?? "", "Fixtures");
        if (System.IO.Directory.Exists(here))
            return here;
        // Built elsewhere: walk up from the output folder to the repository.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "FastEpp.Tests", "Metrics", "Fixtures");
            if (System.IO.Directory.Exists(candidate))
                return candidate;
        }
        throw new DirectoryNotFoundException("Metrics/Fixtures not found");
    }
}
