using System.Globalization;

namespace FastEpp.Perf.Fleet;

/// <summary>CPU time and memory of a process from /proc/&lt;pid&gt; (Linux).</summary>
internal static class ProcStats
{
    /// <summary>USER_HZ: /proc reports CPU in clock ticks of 1/100 s on Linux.</summary>
    private const double TicksPerSecond = 100.0;

    /// <summary>User + system CPU seconds so far; NaN if the process is gone or /proc is unreadable.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            string stat = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
            // Fields after the parenthesised command (which may contain spaces): state is field 3, utime 14, stime 15.
            int close = stat.LastIndexOf(')');
            string[] f = stat[(close + 2)..].Split(' ');
            long utime = long.Parse(f[11], CultureInfo.InvariantCulture);
            long stime = long.Parse(f[12], CultureInfo.InvariantCulture);
            return (utime + stime) / TicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>(VmRSS, VmHWM) in MiB; NaN when unavailable.</summary>
    public static (double RssMiB, double PeakRssMiB) Memory(int pid)
    {
        double rss = double.NaN, hwm = double.NaN;
        try
        {
            foreach (string line in File.ReadLines("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    rss = KiB(line) / 1024.0;
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    hwm = KiB(line) / 1024.0;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return (rss, hwm);
    }

    private static double KiB(string line)
    {
        ReadOnlySpan<char> s = line.AsSpan(line.IndexOf(':') + 1).Trim();
        int sp = s.IndexOf(' ');
        return double.Parse(sp > 0 ? s[..sp] : s, CultureInfo.InvariantCulture);
    }
}
