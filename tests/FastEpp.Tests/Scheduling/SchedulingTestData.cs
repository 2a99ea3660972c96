using System.Buffers;
using System.Text;
using FastEpp.Body;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Tests.Scheduling;

/// <summary>Snapshots with given metrics, parsed requests, contexts and plugin drivers for the scheduling and detector tests.</summary>
internal static class SchedulingTestData
{
    private static long s_version;

    public static EndpointSnapshot Snapshot(params EndpointMetrics[] metrics)
    {
        var endpoints = new Endpoint[metrics.Length];
        for (int i = 0; i < metrics.Length; i++)
        {
            var e = new Endpoint($"ns/pod{i}-rank-0", $"pod{i}", $"10.0.{i / 250}.{i % 250 + 1}", 8000, 8000);
            e.State.SetMetrics(metrics[i] with { UpdatedAt = metrics[i].UpdatedAt == default ? DateTimeOffset.UtcNow : metrics[i].UpdatedAt });
            endpoints[i] = e;
        }
        return new EndpointSnapshot(endpoints, Interlocked.Increment(ref s_version));
    }

    public static EndpointSnapshot Uniform(int count) =>
        Snapshot(Enumerable.Range(0, count).Select(i => new EndpointMetrics { WaitingQueueSize = i % 7, KvCacheUsagePercent = (i % 10) / 10.0 }).ToArray());

    public static int[] All(EndpointSnapshot s) => Enumerable.Range(0, s.Count).ToArray();

    /// <summary>Waits until every prefix record queued by PreRequest has reached the index (they run on the thread pool).</summary>
    public static void WaitForPrefixRecords(IRequestScheduler scheduler)
    {
        if (scheduler is not ConfiguredScheduler { Config: { } config })
            return;
        foreach (var producer in config.Plugins.OfType<FastEpp.Scheduling.Producers.ApproxPrefixCacheProducer>())
            Wait.Until(() => producer.PendingRecords == 0, "the prefix records drained into the index");
    }

    /// <summary>
    /// Bytes allocated by 20 warm rounds of <paramref name="cycle"/> over <paramref name="requests"/> (after 5 warm-up
    /// rounds), each followed by draining the prefix records so the index work is counted on this thread only.
    /// </summary>
    public static long AllocatedOverWarmCycles(IRequestScheduler scheduler, SchedulingRequest[] requests, Action<SchedulingRequest> cycle)
    {
        for (int i = 0; i < 5; i++)
            foreach (var r in requests)
            {
                cycle(r);
                WaitForPrefixRecords(scheduler);
            }
        long allocated = 0;
        for (int i = 0; i < 20; i++)
            foreach (var r in requests)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                cycle(r);
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                WaitForPrefixRecords(scheduler);
            }
        return allocated;
    }

    public static SchedulingRequest Request(string prompt, string model = "m", Dictionary<string, string>? headers = null)
    {
        string json = $"{{\"model\":\"{model}\",\"prompt\":\"{prompt}\"}}";
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        var seq = new ReadOnlySequence<byte>(bytes);
        var parsed = new ParsedRequest();
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(seq, ApiKind.Completions, parsed, out _));
        return new SchedulingRequest
        {
            RequestId = "req-1",
            TargetModel = model,
            Body = parsed,
            BodyBytes = seq,
            RequestSize = bytes.Length,
            Headers = headers ?? new Dictionary<string, string>(),
        };
    }

    public static SchedulingRequest EmptyRequest(Dictionary<string, string>? headers = null) =>
        new() { RequestId = "req-0", TargetModel = "m", Headers = headers ?? new Dictionary<string, string>() };

    public static SchedulingContext Context(EndpointSnapshot snapshot, SchedulingRequest? request = null)
    {
        var scratch = new RequestScratch();
        scratch.Begin(snapshot, snapshot.Count);
        return new SchedulingContext(snapshot, request ?? EmptyRequest(), scratch);
    }

    public static double[] Score(IScorer scorer, SchedulingContext ctx, int[]? candidates = null)
    {
        candidates ??= All(ctx.Snapshot);
        var scores = new double[candidates.Length];
        scorer.Score(ctx, candidates, scores);
        return scores;
    }

    /// <summary>Runs a picker over uniform endpoints with the given total scores; returns the picked indices.</summary>
    public static int[] Pick(IPicker picker, double[] totals, int resultLength = 8)
    {
        var s = Uniform(totals.Length);
        var ctx = Context(s);
        var cands = All(s);
        var t = (double[])totals.Clone();
        var result = new int[resultLength];
        int n = picker.Pick(ctx, cands, t, result);
        return result[..n];
    }

    /// <summary>Runs a filter over a copy of the candidates (all endpoints by default); returns the survivors.</summary>
    public static int[] Filter(IFilter filter, SchedulingContext ctx, int[]? candidates = null)
    {
        var c = (int[])(candidates ?? All(ctx.Snapshot)).Clone();
        int n = filter.Filter(ctx, c);
        return c[..n];
    }
}
