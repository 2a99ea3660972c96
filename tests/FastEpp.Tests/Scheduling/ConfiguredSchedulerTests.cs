using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling;

public sealed class ConfiguredSchedulerTests
{
    private static readonly string LongPrompt = string.Concat(Enumerable.Repeat("You are a helpful assistant. ", 40));

    [Fact]
    public void DefaultConfig_PicksLeastLoaded()
    {
        var scheduler = SchedulerFactory.Create(null);
        var s = Snapshot(
            new EndpointMetrics { WaitingQueueSize = 5, KvCacheUsagePercent = 0.9 },
            new EndpointMetrics { WaitingQueueSize = 0, KvCacheUsagePercent = 0.1 },
            new EndpointMetrics { WaitingQueueSize = 3, KvCacheUsagePercent = 0.5 });
        var result = new int[4];
        int n = scheduler.Schedule(Request("hello"), s, All(s), result, out string? error);
        Assert.Null(error);
        Assert.Equal(1, n);
        Assert.Equal(1, result[0]);
    }

    [Fact]
    public void DefaultConfig_PrefixAffinityAfterPreRequest()
    {
        var scheduler = SchedulerFactory.Create(null);
        var s = Uniform(4);
        foreach (var e in s.Endpoints)
            e.State.SetMetrics(new EndpointMetrics { UpdatedAt = DateTimeOffset.UtcNow }); // all equal load
        var first = Request(LongPrompt);
        var result = new int[1];
        Assert.Equal(1, scheduler.Schedule(first, s, All(s), result, out _));
        int chosen = result[0];
        scheduler.PreRequest(first, s, result);
        scheduler.ResponseComplete(first, s.Endpoints[chosen]);
        WaitForPrefixRecords(scheduler);

        // Same prompt again: the prefix score (weight 3) now decides, every time.
        for (int i = 0; i < 20; i++)
        {
            var again = Request(LongPrompt);
            Assert.Equal(1, scheduler.Schedule(again, s, All(s), result, out _));
            Assert.Equal(chosen, result[0]);
        }
        var producer = (ApproxPrefixCacheProducer)scheduler.Config!.PluginsByName["approx-prefix-cache-producer"];
        Assert.Equal(1, producer.Index.EndpointCount);
    }

    [Fact]
    public void MaxNumOfEndpoints_ReturnsFallbacksBestFirst()
    {
        var scheduler = SchedulerFactory.Create("""
            plugins:
            - type: queue-scorer
            - type: max-score-picker
              parameters: {maxNumOfEndpoints: 3}
            """);
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 9 }, new EndpointMetrics { WaitingQueueSize = 1 },
            new EndpointMetrics { WaitingQueueSize = 5 }, new EndpointMetrics { WaitingQueueSize = 3 });
        var result = new int[8];
        int n = scheduler.Schedule(Request("x"), s, All(s), result, out _);
        Assert.Equal([1, 3, 2], result[..n]);
        Assert.Equal(3, scheduler.MaxResults);
    }

    [Fact]
    public void ConformanceConfig_NoHeader_FailsWithProfileText()
    {
        var scheduler = SchedulerFactory.Create("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: header-based-testing-filter
            - type: destination-endpoint-served-verifier
            schedulingProfiles:
            - name: conformance-profile
              plugins:
              - pluginRef: header-based-testing-filter
            """);
        var s = Uniform(3);
        var result = new int[1];
        Assert.Equal(-1, scheduler.Schedule(EmptyRequest(), s, All(s), result, out string? error));
        Assert.Equal("failed to run scheduler profile 'conformance-profile'", error);

        var headers = new Dictionary<string, string> { ["test-epp-endpoint-selection"] = "10.0.0.2" };
        Assert.Equal(1, scheduler.Schedule(EmptyRequest(headers), s, All(s), result, out error));
        Assert.Equal(1, result[0]);
        Assert.True(scheduler.Config!.HasPluginOfType("destination-endpoint-served-verifier"));
    }

    [Fact]
    public void NoCandidates_Fails()
    {
        var scheduler = SchedulerFactory.Create(null);
        var s = Uniform(2);
        Assert.Equal(-1, scheduler.Schedule(Request("x"), s, [], new int[1], out string? error));
        Assert.Equal("failed to run scheduler profile 'default'", error);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(100)]
    [InlineData(1000)]
    public void Decision_Warm_AllocatesNothing(int endpoints)
    {
        var scheduler = SchedulerFactory.Create(null);
        var s = Uniform(endpoints);
        int[] candidates = All(s);
        var request = Request(LongPrompt);
        var result = new int[1];
        // Warm: grow scratch buffers, JIT, record a prefix so matching walks the index.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(1, scheduler.Schedule(request, s, candidates, result, out _));
            scheduler.PreRequest(request, s, result);
            WaitForPrefixRecords(scheduler);
        }
        Thread.Sleep(50); // let the snapshot-change cleanup work item finish
        scheduler.Schedule(request, s, candidates, result, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
            scheduler.Schedule(request, s, candidates, result, out _);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FullRequestCycle_Warm_AllocatesNothing(bool withMetrics)
    {
        var metrics = new FastEpp.Observability.EppMetrics();
        var scheduler = SchedulerFactory.Create(null, withMetrics ? new PluginContext { Metrics = metrics } : null);
        var s = Uniform(100);
        int[] candidates = All(s);
        var result = new int[1];
        SchedulingRequest[] requests = [Request(LongPrompt + "a"), Request(LongPrompt + "b"), Request("short one")];
        void Cycle(SchedulingRequest r)
        {
            scheduler.Schedule(r, s, candidates, result, out _);
            scheduler.PreRequest(r, s, result); // queues the prefix record (pooled work item)
            scheduler.ResponseComplete(r, s.Endpoints[result[0]]);
        }
        Assert.Equal(0, AllocatedOverWarmCycles(scheduler, requests, Cycle));
        if (withMetrics)
        {
            // 75 decisions; the short prompt has no whole block, so it has a hit length (0) but no ratio.
            Assert.Contains("inference_extension_prefix_indexer_hit_bytes_count 75\n", Render(metrics));
            Assert.Contains("inference_extension_prefix_indexer_hit_ratio_count 50\n", Render(metrics));
        }
    }

    private static string Render(FastEpp.Observability.EppMetrics metrics)
    {
        var sb = new System.Text.StringBuilder();
        metrics.Write(sb);
        return sb.ToString();
    }
}
