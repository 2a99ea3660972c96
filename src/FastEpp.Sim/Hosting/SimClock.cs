using System.Diagnostics;

namespace FastEpp.Sim.Hosting;

/// <summary>
/// The fleet's virtual clock: simulated seconds since start = wall seconds since start / time scale. All engines
/// share it, so a time scale of 0.1 runs every replica ten times faster than real time.
/// </summary>
internal sealed class SimClock
{
    private readonly long _start = Stopwatch.GetTimestamp();

    /// <summary>Creates a clock starting now.</summary>
    public SimClock(double timeScale)
    {
        TimeScale = timeScale;
        UnixStartSeconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
    }

    /// <summary>Wall seconds per simulated second.</summary>
    public double TimeScale { get; }

    /// <summary>Unix time of the start, s.</summary>
    public double UnixStartSeconds { get; }

    /// <summary>Simulated seconds since start.</summary>
    public double Now => Stopwatch.GetElapsedTime(_start).TotalSeconds / TimeScale;

    /// <summary>Simulated Unix time (start + simulated seconds), for "created" fields.</summary>
    public long UnixNow => (long)(UnixStartSeconds + Now);
}
