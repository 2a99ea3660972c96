namespace FastEpp.Sim.Options;

/// <summary>
/// Fault injection of one replica. Read by request handlers without a lock (plain doubles, a torn update between
/// two fields is harmless); written at startup and by POST /admin/faults.
/// </summary>
internal sealed class FaultOptions
{
    /// <summary>Probability that an inference request is answered HTTP 500.</summary>
    public double FailRate { get; set; }

    /// <summary>Probability that an inference request hangs <see cref="HangMs"/> before being served.</summary>
    public double HangRate { get; set; }

    /// <summary>Hang duration, wall milliseconds.</summary>
    public double HangMs { get; set; } = 30_000;

    /// <summary>Delay before every /metrics answer, wall milliseconds.</summary>
    public double MetricsDelayMs { get; set; }

    /// <summary>Copy for one replica.</summary>
    public FaultOptions Clone() => new() { FailRate = FailRate, HangRate = HangRate, HangMs = HangMs, MetricsDelayMs = MetricsDelayMs };
}
