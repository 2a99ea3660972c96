using BenchmarkDotNet.Attributes;
using FastEpp.Endpoints;
using FastEpp.Metrics;

namespace FastEpp.Benchmarks.Metrics;

/// <summary>
/// One scrape's parsing cost on a realistic 55 KB vLLM /metrics payload (594 lines: python/process
/// metrics, HTTP histograms and summaries, 13 vLLM histograms, 3 LoRA info series, cache config
/// info). Target: ≤ 50 µs and 0 B per scrape once warm. Baseline: split lines + dictionary.
/// </summary>
[MemoryDiagnoser]
public class PrometheusScannerBenchmarks
{
    private byte[] _vllm = [];
    private byte[] _small = [];
    private ScrapePlan _plan = null!;
    private EndpointMetrics _previous;
    private EndpointMetrics _previousSmall;
    private readonly DateTimeOffset _now = DateTimeOffset.UnixEpoch;

    [GlobalSetup]
    public void Setup()
    {
        _vllm = MetricsPayloads.Load("vllm.txt");
        _small = System.Text.Encoding.UTF8.GetBytes(MetricsPayloads.SmallVllm);
        _plan = ScrapePlan.Create(EngineConfig.Vllm());
        PrometheusScanner.Scan(_vllm, _plan, default, _now, out _previous);
        PrometheusScanner.Scan(_small, _plan, default, _now, out _previousSmall);
        if (_previous.WaitingQueueSize != 3 || _previous.CacheNumBlocks != 27000)
            throw new InvalidOperationException("fixture not parsed as expected");
    }

    [Benchmark(Baseline = true, Description = "naive split+dictionary, 55 KB vLLM")]
    public double NaiveVllm() => NaivePrometheusParser.ExtractVllm(_vllm);

    [Benchmark(Description = "PrometheusScanner, 55 KB vLLM")]
    public int ScannerVllm()
    {
        PrometheusScanner.Scan(_vllm, _plan, _previous, _now, out var next);
        return next.WaitingQueueSize;
    }

    [Benchmark(Description = "PrometheusScanner, 1 KB MSP-only")]
    public int ScannerSmall()
    {
        PrometheusScanner.Scan(_small, _plan, _previousSmall, _now, out var next);
        return next.WaitingQueueSize;
    }
}
