namespace FastEpp.Sim.Engine;

/// <summary>A Prometheus-style histogram with fixed upper bounds (non-cumulative counts kept, cumulated on output).</summary>
internal sealed class Histogram
{
    private readonly long[] _counts;

    /// <summary>Creates a histogram with the given ascending finite upper bounds (+Inf is implicit).</summary>
    public Histogram(double[] bounds)
    {
        Bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    /// <summary>Finite upper bounds.</summary>
    public double[] Bounds { get; }

    /// <summary>Observations.</summary>
    public long Count { get; private set; }

    /// <summary>Sum of observations.</summary>
    public double Sum { get; private set; }

    /// <summary>Adds one observation.</summary>
    public void Observe(double value)
    {
        int i = Array.BinarySearch(Bounds, value);
        if (i < 0)
        {
            i = ~i;
        }
        _counts[i]++;
        Count++;
        Sum += value;
    }

    /// <summary>Observations in bucket i alone: (Bounds[i-1], Bounds[i]]; i = Bounds.Length is (last bound, +Inf).</summary>
    public long BucketCount(int i) => _counts[i];

    /// <summary>vLLM's TTFT buckets, s.</summary>
    public static readonly double[] TtftBounds =
        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];

    /// <summary>vLLM's per-output-token buckets, s.</summary>
    public static readonly double[] TpotBounds =
        [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];

    /// <summary>vLLM's request-latency buckets (e2e, queue), s.</summary>
    public static readonly double[] RequestBounds =
        [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];
}
