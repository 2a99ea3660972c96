using System.Diagnostics;
using System.Text;

namespace FastEpp.Observability;

/// <summary>
/// The Go client's process collector families (process_cpu_seconds_total, process_resident_memory_bytes, …), which the
/// reference exports from its registry and dashboards chart for the EPP pod. Read at scrape time from the runtime
/// and /proc; families whose source is unavailable are left out.
/// </summary>
internal static class ProcessMetrics
{
    public static void Write(StringBuilder sb) => Write(new ExpositionWriter(sb));

    public static void Write(ExpositionWriter writer)
    {
        using var process = Process.GetCurrentProcess();
        writer.Single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", process.TotalProcessorTime.TotalSeconds);
        if (OpenFileDescriptors() is { } open)
            writer.Single("process_open_fds", "Number of open file descriptors.", "gauge", open);
        if (MaxFileDescriptors() is { } max)
            writer.Single("process_max_fds", "Maximum number of open file descriptors.", "gauge", max);
        writer.Single("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", process.VirtualMemorySize64);
        writer.Single("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", process.WorkingSet64);
        writer.Single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge",
            new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
    }

    private static int? OpenFileDescriptors()
    {
        try
        {
            return Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static double? MaxFileDescriptors()
    {
        try
        {
            if (!File.Exists("/proc/self/limits"))
                return null;
            foreach (string line in File.ReadLines("/proc/self/limits"))
            {
                // "Max open files            1048576              1048576              files"
                if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                    continue;
                string[] fields = line[14..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && double.TryParse(fields[0], System.Globalization.CultureInfo.InvariantCulture, out double soft) ? soft : null;
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
