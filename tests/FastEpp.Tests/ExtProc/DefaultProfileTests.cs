using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Configuration;
using FastEpp.Requests;
using Google.Protobuf;

namespace FastEpp.Tests.ExtProc;

/// <summary>The built-in default profile: queue, KV and prefix signals change the choice as the spec says.</summary>
public sealed class DefaultProfileTests
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<StreamHandler, FastEpp.Scheduling.ConfiguredScheduler> s_runtimeScheduler = new();

    private static (StreamHandler Handler, Endpoint[] Endpoints) Create(int count)
    {
        var registry = new EndpointRegistry();
        registry.Publish(Enumerable.Range(0, count).Select(i => new Endpoint($"ns/p{i}-rank-0", $"p{i}", $"10.0.0.{i + 1}", 8000, 8000)).ToList());
        var scheduler = SchedulerFactory.Create(null);
        var handler = new StreamHandler(new RequestServices { Registry = registry, Scheduler = scheduler });
        s_runtimeScheduler.Add(handler, scheduler);
        return (handler, registry.Current.Endpoints);
    }

    private static string Route(StreamHandler h, string prompt)
    {
        var outbox = new List<ProcessingResponse>();
        h.Handle(new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":path", "/v1/completions")) } }, outbox, out _);
        h.Handle(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8($"{{\"model\":\"m\",\"prompt\":\"{prompt}\"}}"), EndOfStream = true } }, outbox, out _);
        string dest = EnvoyStream.SetHeaders(outbox[0].RequestHeaders.Response)["x-gateway-destination-endpoint"];
        h.Reset();
        FastEpp.Tests.Scheduling.SchedulingTestData.WaitForPrefixRecords(s_runtimeScheduler.TryGetValue(h, out var sch) ? sch : throw new InvalidOperationException());
        return dest;
    }

    private static void SetLoad(Endpoint e, int queue, double kv) =>
        e.State.SetMetrics(new EndpointMetrics { WaitingQueueSize = queue, KvCacheUsagePercent = kv, UpdatedAt = DateTimeOffset.UtcNow });

    [Fact]
    public void QueueSignal_ShorterQueueWins()
    {
        var (h, eps) = Create(3);
        SetLoad(eps[0], 9, 0.1);
        SetLoad(eps[1], 0, 0.1);
        SetLoad(eps[2], 5, 0.1);
        for (int i = 0; i < 10; i++)
            Assert.Equal("10.0.0.2:8000", Route(h, "short " + i));
    }

    [Fact]
    public void KvSignal_FreerCacheWins()
    {
        var (h, eps) = Create(2);
        SetLoad(eps[0], 1, 0.9);
        SetLoad(eps[1], 1, 0.2);
        Assert.Equal("10.0.0.2:8000", Route(h, "x"));
    }

    [Fact]
    public void PrefixSignal_RepeatedLongPromptSticksToItsEndpoint_OverSmallLoadDifferences()
    {
        var (h, eps) = Create(4);
        foreach (var e in eps)
            SetLoad(e, 0, 0.5);
        string prompt = string.Concat(Enumerable.Repeat("You are a helpful assistant. ", 100));
        string first = Route(h, prompt + "Q1");
        // The chosen endpoint is now slightly busier; prefix (weight 3) still outweighs the KV difference.
        SetLoad(eps.Single(e => e.HostPort == first), 0, 0.6);
        for (int i = 2; i < 8; i++)
            Assert.Equal(first, Route(h, prompt + "Q" + i));
    }

    [Fact]
    public void EqualScores_TiesBrokenAcrossEndpoints()
    {
        var (h, _) = Create(4);
        var seen = new HashSet<string>();
        for (int i = 0; i < 200; i++)
            seen.Add(Route(h, "t" + i)); // shorter than one block: no prefix signal, all scores equal
        Assert.Equal(4, seen.Count);
    }
}
