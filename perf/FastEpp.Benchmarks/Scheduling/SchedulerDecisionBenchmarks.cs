using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastEpp.Body;
using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Scheduling;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Benchmarks.Scheduling;

/// <summary>
/// One scheduling decision with the built-in default config (queue ×2 + kv ×2 + prefix ×3, max-score
/// picker, approx prefix producer hashing a ~1 KB chat-sized prompt and matching it against an index
/// where one endpoint holds it) at 8/100/1000 endpoints. <c>Naive</c>: the reference-shaped scorer
/// pipeline (dictionaries + LINQ) given the same prefix matches for free (no hashing, no index walk).
/// </summary>
[MemoryDiagnoser]
public class SchedulerDecisionBenchmarks
{
    private ConfiguredScheduler _scheduler = null!;
    private ConfiguredScheduler _timed = null!;
    private ConfiguredScheduler _best = null!;
    private EndpointSnapshot _snapshot = null!;
    private int[] _candidates = [];
    private readonly int[] _result = new int[1];
    private SchedulingRequest _request = null!;
    private NaiveScheduler _naive = null!;
    private Dictionary<Endpoint, int> _naiveMatches = null!;

    [Params(8, 100, 1000)]
    public int Endpoints { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var endpoints = new Endpoint[Endpoints];
        for (int i = 0; i < endpoints.Length; i++)
        {
            var e = new Endpoint($"ns/pod{i}-rank-0", $"pod{i}", $"10.{i / 65536}.{i / 256 % 256}.{i % 256}", 8000, 8000);
            e.State.SetMetrics(new EndpointMetrics
            {
                WaitingQueueSize = i % 7,
                RunningRequestsSize = i % 5,
                KvCacheUsagePercent = (i % 10) / 10.0,
                CacheNumBlocks = 19_208,
                CacheBlockSize = 16,
                UpdatedAt = DateTimeOffset.UtcNow,
            });
            endpoints[i] = e;
        }
        _snapshot = new EndpointSnapshot(endpoints, 1);
        _candidates = Enumerable.Range(0, Endpoints).ToArray();
        _scheduler = SchedulerFactory.Create(null);

        string prompt = string.Concat(Enumerable.Repeat("You are a helpful assistant that answers briefly. ", 20));
        byte[] body = Encoding.UTF8.GetBytes($"{{\"model\":\"llama\",\"prompt\":\"{prompt}\"}}");
        var seq = new ReadOnlySequence<byte>(body);
        var parsed = new ParsedRequest();
        OpenAiRequestParser.Parse(seq, ApiKind.Completions, parsed, out _);
        _request = new SchedulingRequest { RequestId = "r", TargetModel = "llama", Body = parsed, BodyBytes = seq, RequestSize = body.Length };

        // Record the prompt on one endpoint and warm the scratch.
        _scheduler.Schedule(_request, _snapshot, _candidates, _result, out _);
        _scheduler.PreRequest(_request, _snapshot, _result);
        var producer = _scheduler.Config!.Plugins.OfType<FastEpp.Scheduling.Producers.ApproxPrefixCacheProducer>().Single();
        SpinWait.SpinUntil(() => producer.PendingRecords == 0); // the record runs on the thread pool
        // The same config with every plugin timed into inference_extension_plugin_duration_seconds (as the EPP runs it).
        _timed = SchedulerFactory.Create(null, new PluginContext { Metrics = new FastEpp.Observability.EppMetrics() });
        _timed.Schedule(_request, _snapshot, _candidates, _result, out _);
        _timed.PreRequest(_request, _snapshot, _result);
        var timedProducer = _timed.Config!.Plugins.OfType<FastEpp.Scheduling.Producers.ApproxPrefixCacheProducer>().Single();
        SpinWait.SpinUntil(() => timedProducer.PendingRecords == 0);
        _timed.Schedule(_request, _snapshot, _candidates, _result, out _);
        _scheduler.Schedule(_request, _snapshot, _candidates, _result, out _);

        // perf/configs/best.yaml: the default scorers + fastepp-wait-scorer (KV capacity from the endpoints' metrics).
        _best = SchedulerFactory.Create("""
            plugins:
            - type: queue-scorer
            - type: kv-cache-utilization-scorer
            - type: prefix-cache-scorer
            - type: fastepp-wait-scorer
              parameters: {prefillTokensPerSecond: 15928}
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: queue-scorer, weight: 2}
              - {pluginRef: kv-cache-utilization-scorer, weight: 2}
              - {pluginRef: prefix-cache-scorer, weight: 3}
              - {pluginRef: fastepp-wait-scorer, weight: 3}
            """);
        _best.Schedule(_request, _snapshot, _candidates, _result, out _);
        _best.PreRequest(_request, _snapshot, _result);
        var bestProducer = _best.Config!.Plugins.OfType<FastEpp.Scheduling.Producers.ApproxPrefixCacheProducer>().Single();
        SpinWait.SpinUntil(() => bestProducer.PendingRecords == 0);
        _best.Schedule(_request, _snapshot, _candidates, _result, out _);

        _naive = new NaiveScheduler();
        _naiveMatches = new Dictionary<Endpoint, int> { [endpoints[_result[0]]] = 16 };
    }

    [Benchmark(Baseline = true)]
    public int Naive() => _naive.Schedule(_snapshot, _naiveMatches, 16).Port;

    [Benchmark]
    public int FastEpp() => _scheduler.Schedule(_request, _snapshot, _candidates, _result, out _) + _result[0];

    [Benchmark]
    public int FastEppBest() => _best.Schedule(_request, _snapshot, _candidates, _result, out _) + _result[0];

    [Benchmark]
    public int FastEppTimed() => _timed.Schedule(_request, _snapshot, _candidates, _result, out _) + _result[0];
}
