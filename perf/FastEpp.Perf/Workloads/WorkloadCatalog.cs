namespace FastEpp.Perf.Workloads;

/// <summary>
/// The built-in workloads: the inference-perf files under perf/workloads/ (anchors.md §1.4 reference parameters),
/// copied next to the tool at build time. <c>--workload NAME</c> is <c>--workload-file perf/workloads/NAME.yaml</c>.
/// </summary>
internal static class WorkloadCatalog
{
    /// <summary>The catalogue directory: perf/workloads under the working directory (a checkout), else the copy next to the tool.</summary>
    public static string Directory
    {
        get
        {
            string local = Path.GetFullPath(Path.Combine("perf", "workloads"));
            return System.IO.Directory.Exists(local) ? local : Path.Combine(AppContext.BaseDirectory, "workloads");
        }
    }

    /// <summary>Names of the built-in workloads, sorted.</summary>
    public static string[] Names()
    {
        string dir = Directory;
        if (!System.IO.Directory.Exists(dir))
            return [];
        string[] files = System.IO.Directory.GetFiles(dir, "*.yaml");
        var names = new string[files.Length];
        for (int i = 0; i < files.Length; i++)
            names[i] = Path.GetFileNameWithoutExtension(files[i]);
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    /// <summary>Loads a built-in workload; null when there is no such file.</summary>
    public static WorkloadFile? Find(string name)
    {
        string path = Path.Combine(Directory, name + ".yaml");
        return name.IndexOfAny(['/', '\\']) < 0 && File.Exists(path) ? WorkloadFile.Load(path) : null;
    }
}
