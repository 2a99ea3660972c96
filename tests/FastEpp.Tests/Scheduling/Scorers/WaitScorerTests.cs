using FastEpp.Configuration;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class WaitScorerTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(double seconds) => Ticks += (long)(seconds * TimeSpan.TicksPerSecond);
    }

    // 4,000 prompt characters = 1,000 input tokens (output 1,500 = 1.5 x input: KV footprint uncached + 750, 1,750 when
    // nothing is cached); prefix blocks of 100 tokens.
    private static SchedulingRequest Req() => Request(new string('a', 4000));

    private static SchedulingContext Ctx(EndpointSnapshot s, SchedulingRequest r, params int[] matchBlocks)
    {
        SchedulingContext ctx = Context(s, r);
        ctx.Scratch.HasPrefixData = true;
        ctx.Scratch.PrefixBlockSizeTokens = 100;
        ctx.Scratch.PrefixTotalBlocks = 10;
        for (int i = 0; i < matchBlocks.Length; i++)
            ctx.Scratch.PrefixMatch(i) = matchBlocks[i];
        return ctx;
    }

    private static SchedulingContext Ctx(EndpointSnapshot s, params int[] matchBlocks) => Ctx(s, Req(), matchBlocks);

    // KV capacity 10,000 tokens per endpoint (1,000 blocks x 10).
    private static EndpointMetrics Kv(double usage = 0, int waiting = 0) =>
        new() { KvCacheUsagePercent = usage, WaitingQueueSize = waiting, CacheNumBlocks = 1000, CacheBlockSize = 10 };

    [Fact]
    public void IdleEndpoints_TheCachedOneWins_ByItsPrefillAndItsCostToOthers()
    {
        var scorer = new WaitScorer("w", new ManualTime(), prefillTokensPerSecond: 1000, stepSeconds: 0);
        double[] scores = Score(scorer, Ctx(Snapshot(Kv(), Kv()), 0, 8));
        // costs: 0 -> 1000 x 2 / 1000 = 2 s; 1 -> 200 x 2 / 1000 = 0.4 s
        Assert.Equal(0.2, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void PrefillRoutedBetweenScrapes_CountsAtOnce_AndDrains()
    {
        var time = new ManualTime();
        var scorer = new WaitScorer("w", time, prefillTokensPerSecond: 1000, stepSeconds: 0);
        EndpointSnapshot s = Snapshot(new EndpointMetrics(), new EndpointMetrics()); // no KV metric: no KV term
        for (int i = 0; i < 5; i++)
        {
            SchedulingRequest r = Req();
            scorer.PreRequest(r, Ctx(s, r, 0, 0).Scratch, s, [1]);
        }
        Assert.Equal(5000, scorer.Get(s.Endpoints[1].State).Bucket, 6);
        double[] scores = Score(scorer, Ctx(s, 0, 8));   // cached on 1, but 5 s of prefill queued there
        Assert.True(scores[0] > scores[1]);
        time.Advance(4);                                  // 4,000 tokens worked off: 1 + 0.4 = 1.4 s vs 2 s
        Assert.Equal(1.0, Score(scorer, Ctx(s, 0, 8))[1], 9);
    }

    [Fact]
    public void ScrapedWaitingQueue_CountsAtTheMeanUncachedPrefillRoutedThere()
    {
        var scorer = new WaitScorer("w", new ManualTime(), prefillTokensPerSecond: 1000, stepSeconds: 0);
        EndpointSnapshot s = Snapshot(new EndpointMetrics { WaitingQueueSize = 3 }, new EndpointMetrics());
        // Nothing routed yet: each waiting request counts as this request's uncached part (200 tokens on endpoint 0).
        double[] scores = Score(scorer, Ctx(s, 8, 0));
        // 0: 3 x 200 + 400 = 1 s; 1: 2 s
        Assert.Equal(1.0, scores[0], 9);
        Assert.Equal(0.5, scores[1], 9);
    }

    [Fact]
    public void KvBoundEndpoint_WaitsForItsMemoryToTurnOver_AndLosesItsCacheAdvantage()
    {
        var time = new ManualTime();
        var scorer = new WaitScorer("w", time, prefillTokensPerSecond: 1000, stepSeconds: 0, lifetimeSeconds: 10);
        EndpointSnapshot s = Snapshot(Kv(usage: 0.9, waiting: 2), Kv(usage: 0.2));
        // 0: 800 tokens cached (footprint 200 + 750 = 950). prefill: 2 x 200 waiting + 400 = 0.8 s; held 9,000 + 2 x 950
        //    = 10,900, + 950 - 10,000 = 1,850 over = 0.185 of the memory x 10 s lifetime = 1.85 s -> 2.65 s.
        // 1: 2 s, 2,000 + 1,750 held: no wait.
        double[] scores = Score(scorer, Ctx(s, 8, 0));
        Assert.Equal(2.0 / 2.65, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);

        // The requests it routed itself count before any scrape shows them, each by the KV it adds (a cached prompt only its
        // output's 750): 13 x 750 held on endpoint 1 + this 750 = 10,500 > 10,000: 500 over = 0.05 of the memory x 10 s = 0.5 s.
        EndpointSnapshot idle = Snapshot(Kv(), Kv());
        var charged = new List<(SchedulingRequest, RequestScratch)>();
        for (int i = 0; i < 13; i++)
        {
            SchedulingRequest r = Req();
            RequestScratch scratch = Ctx(idle, r, 10, 10).Scratch;
            scorer.PreRequest(r, scratch, idle, [1]);
            charged.Add((r, scratch));
        }
        Assert.Equal(13 * 750, scorer.Get(idle.Endpoints[1].State).Held);
        scores = Score(scorer, Ctx(idle, 10, 10));        // both fully cached: 0 s of prefill each, 0.5 s of memory wait on 1
        Assert.Equal(1.0, scores[0], 9);
        Assert.True(scores[1] < 1e-6);

        // Completion releases the charge and teaches the endpoint's request lifetime (2 s here).
        time.Advance(2);
        foreach ((SchedulingRequest r, RequestScratch scratch) in charged)
            scorer.ResponseComplete(r, scratch);
        Assert.Equal(0, scorer.Get(idle.Endpoints[1].State).Held);
        // 500 over x 2 s (the lifetime it learnt) = 0.1 s when 13 are charged again
        for (int i = 0; i < 13; i++)
        {
            SchedulingRequest r = Req();
            scorer.PreRequest(r, Ctx(idle, r, 10, 10).Scratch, idle, [1]);
        }
        // endpoint 0 uncached: 2 s; endpoint 1 cached: 500 over x 2 s = 0.1 s (it was 0.5 s with the 10 s default)
        scores = Score(scorer, Ctx(idle, 0, 10));
        Assert.Equal(0.05, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void KvFootprint_IsWhatTheRequestAddsThere_ACachedPrefixIsShared()
    {
        // Both endpoints 90 % full (9,000 of 10,000 tokens). Uncached on 0: 1,000 + 750 = 1,750 more, 750 over = 0.75 s of
        // memory wait (lifetime 10 s) + 2 s of prefill. Cached on 1: 750 more, nothing over, 0 s of prefill.
        var scorer = new WaitScorer("w", new ManualTime(), prefillTokensPerSecond: 1000, stepSeconds: 0.1, lifetimeSeconds: 10);
        double[] scores = Score(scorer, Ctx(Snapshot(Kv(usage: 0.9), Kv(usage: 0.9)), 0, 10));
        Assert.Equal(0.1 / 2.85, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void ACompletedRequest_IsReleasedOnce()
    {
        var scorer = new WaitScorer("w", new ManualTime());
        EndpointSnapshot s = Snapshot(Kv(), Kv());
        SchedulingRequest r = Req();
        RequestScratch scratch = Ctx(s, r, 0, 0).Scratch;
        scorer.PreRequest(r, scratch, s, [0]);
        scorer.ResponseComplete(r, scratch);
        scorer.ResponseComplete(r, scratch);
        Assert.Equal(0, scorer.Get(s.Endpoints[0].State).Held);
    }

    [Fact]
    public void WithoutMaxTokens_TheOutputEstimateIsOneAndAHalfTimesTheInput()
    {
        SchedulingRequest r = Request(new string('a', 4000));
        Assert.Equal(1000, WaitScorer.InputTokens(r));
        Assert.Equal(1500, WaitScorer.OutputTokens(r, WaitScorer.InputTokens(r)));
    }

    [Fact]
    public void Configured_ByItsTypeName_WithItsParameters_AndBadValuesRefused()
    {
        var scheduler = SchedulerFactory.Create("""
            plugins:
            - type: approx-prefix-cache-producer
            - type: fastepp-wait-scorer
              parameters: {prefillTokensPerSecond: 5000, workWeight: 0.5, stepSeconds: 0.01, kvCapacityTokens: 300000, lifetimeSeconds: 7}
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: fastepp-wait-scorer
            """);
        var w = (WaitScorer)scheduler.Config!.PluginsByName["fastepp-wait-scorer"];
        Assert.Equal((5000.0, 0.5, 0.01, 300000L, 7.0), (w.PrefillTokensPerSecond, w.WorkWeight, w.StepSeconds, w.KvCapacityTokens, w.LifetimeSeconds));
        foreach (string bad in new[] { "prefillTokensPerSecond: 0", "lifetimeSeconds: 0", "workWeight: -1", "kvCapacityTokens: -5" })
        {
            Assert.Throws<ConfigException>(() => SchedulerFactory.Create($$"""
                plugins:
                - type: fastepp-wait-scorer
                  parameters: { {{bad}} }
                """));
        }
    }

    [Fact]
    public void BestProfile_Loads_RoutesTheRepeatedPromptHome_AndAFullCycleAllocatesNothing()
    {
        string dir = FastEpp.Tests.Operations.DeployTests.RepoRoot;
        var scheduler = SchedulerFactory.CreateFromFlags(null, Path.Combine(dir, "perf", "configs", "best.yaml"));
        Assert.Contains(scheduler.Config!.Plugins, p => p is WaitScorer);
        EndpointSnapshot s = Uniform(100);
        int[] candidates = All(s);
        var result = new int[1];
        string system = string.Concat(Enumerable.Repeat("You are a helpful assistant. ", 400));
        SchedulingRequest[] requests = [Request(system + "a"), Request(system + "b"), Request("short one")];
        void Cycle(SchedulingRequest r)
        {
            scheduler.Schedule(r, s, candidates, result, out _);
            scheduler.PreRequest(r, s, result);
            scheduler.ResponseComplete(r, s.Endpoints[result[0]]);
        }
        Cycle(requests[0]);
        int home = result[0];
        WaitForPrefixRecords(scheduler);
        Cycle(requests[1]);
        Assert.Equal(home, result[0]);   // same system prompt, 3k tokens cached there: worth more than an idle endpoint
        WaitForPrefixRecords(scheduler);

        Assert.Equal(0, AllocatedOverWarmCycles(scheduler, requests, Cycle));
    }
}
