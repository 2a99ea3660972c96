using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Detectors;

/// <summary>
/// <c>utilization-detector</c> (SaturationDetector + Filter), spec §2.9. Saturation: no candidates → 1; per
/// endpoint, never scraped or older than <c>metricsStalenessThreshold</c> → 1, else max(queue/Q, kv/K); the
/// mean. Filter: keeps fresh endpoints with queue &lt; Q·(1+h) and kv &lt; K·(1+h); none → input unchanged.
/// Parameters: queueDepthThreshold 5 (&gt; 0), kvCacheUtilThreshold 0.8 (in (0,1]),
/// metricsStalenessThreshold 200ms (&gt; 0), headroom 0 (≥ 0).
/// </summary>
internal sealed class UtilizationDetector : ISaturationDetector, IFilter
{
    private readonly TimeProvider _time;

    public UtilizationDetector(string name, int queueDepthThreshold = 5, double kvCacheUtilThreshold = 0.8,
        TimeSpan? metricsStalenessThreshold = null, double headroom = 0, TimeProvider? time = null)
    {
        Name = name;
        QueueDepthThreshold = queueDepthThreshold;
        KvCacheUtilThreshold = kvCacheUtilThreshold;
        MetricsStalenessThreshold = metricsStalenessThreshold ?? TimeSpan.FromMilliseconds(200);
        Headroom = headroom;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("utilization-detector", Create);

    public string TypeName => Type.Name;

    private static UtilizationDetector Create(string name, PluginParameters p, PluginContext c)
    {
        int queue = p.GetInt("queueDepthThreshold", 5);
        double kv = p.GetDouble("kvCacheUtilThreshold", 0.8);
        TimeSpan staleness = p.GetDuration("metricsStalenessThreshold", TimeSpan.FromMilliseconds(200));
        double headroom = p.GetDouble("headroom", 0);
        if (queue <= 0)
            throw new ConfigException($"queueDepthThreshold must be > 0, got {queue}");
        if (kv is <= 0 or > 1)
            throw new ConfigException($"kvCacheUtilThreshold must be in (0, 1], got {kv}");
        if (staleness <= TimeSpan.Zero)
            throw new ConfigException($"metricsStalenessThreshold must be > 0, got {staleness}");
        if (headroom < 0)
            throw new ConfigException($"headroom must be >= 0, got {headroom}");
        return new UtilizationDetector(name, queue, kv, staleness, headroom, c.Time);
    }

    public string Name { get; }

    public int QueueDepthThreshold { get; }

    public double KvCacheUtilThreshold { get; }

    public TimeSpan MetricsStalenessThreshold { get; }

    public double Headroom { get; }

    public double Saturation(EndpointSnapshot snapshot, ReadOnlySpan<int> candidates)
    {
        if (candidates.IsEmpty)
            return 1.0;
        DateTimeOffset now = _time.GetUtcNow();
        double sum = 0;
        foreach (int c in candidates)
        {
            EndpointMetrics m = snapshot.Endpoints[c].State.Metrics;
            if (!IsFresh(m, now))
            {
                sum += 1.0;
                continue;
            }
            sum += Math.Max((double)m.WaitingQueueSize / QueueDepthThreshold, m.KvCacheUsagePercent / KvCacheUtilThreshold);
        }
        return sum / candidates.Length;
    }

    public int Filter(in SchedulingContext ctx, Span<int> candidates)
    {
        DateTimeOffset now = _time.GetUtcNow();
        double queueLimit = QueueDepthThreshold * (1 + Headroom);
        double kvLimit = KvCacheUtilThreshold * (1 + Headroom);
        Span<int> kept = ctx.Scratch.Temp(candidates.Length);
        int n = 0;
        foreach (int c in candidates)
        {
            EndpointMetrics m = ctx.Snapshot.Endpoints[c].State.Metrics;
            if (IsFresh(m, now) && m.WaitingQueueSize < queueLimit && m.KvCacheUsagePercent < kvLimit)
                kept[n++] = c;
        }
        if (n == 0)
            return candidates.Length; // the reference falls back to all candidates
        kept[..n].CopyTo(candidates);
        return n;
    }

    private bool IsFresh(in EndpointMetrics m, DateTimeOffset now) =>
        m.UpdatedAt != default && now - m.UpdatedAt <= MetricsStalenessThreshold;
}
