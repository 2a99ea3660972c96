using FastEpp.Configuration;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class PredictedTtftScorerTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(double seconds) => Ticks += (long)(seconds * TimeSpan.TicksPerSecond);
    }

    // 4,000 prompt characters = 1,000 tokens; prefix blocks of 100 tokens.
    private static SchedulingContext Ctx(EndpointSnapshot s, params int[] matchBlocks)
    {
        SchedulingContext ctx = Context(s, Request(new string('a', 4000)));
        ctx.Scratch.HasPrefixData = true;
        ctx.Scratch.PrefixBlockSizeTokens = 100;
        ctx.Scratch.PrefixTotalBlocks = 10;
        for (int i = 0; i < matchBlocks.Length; i++)
            ctx.Scratch.PrefixMatch(i) = matchBlocks[i];
        return ctx;
    }

    [Fact]
    public void EqualLoad_TheCachedEndpointWins_ByItsPredictedCost()
    {
        var scorer = new PredictedTtftScorer("p", new ManualTime(), prefillTokensPerSecond: 1000, stepSeconds: 0);
        double[] scores = Score(scorer, Ctx(Uniform2(), 0, 8));
        // costs: 0 -> 1000 x 2 / 1000 = 2 s; 1 -> 200 x 2 / 1000 = 0.4 s
        Assert.Equal(0.2, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void BacklogRoutedBetweenScrapes_MakesTheCachedEndpointLoseUntilItDrains()
    {
        var time = new ManualTime();
        var scorer = new PredictedTtftScorer("p", time, prefillTokensPerSecond: 1000, stepSeconds: 0);
        EndpointSnapshot s = Uniform2();
        // Five uncached 1,000-token requests sent to endpoint 1 in the same instant (no scrape in between).
        for (int i = 0; i < 5; i++)
            scorer.PreRequest(Request(new string('a', 4000)), Ctx(s, 0, 0).Scratch, s, [1]);
        Assert.Equal(5000, scorer.Backlog(s.Endpoints[1].State), 6);

        double[] scores = Score(scorer, Ctx(s, 0, 8));   // cached on 1, but 5 s of prefill queued there
        Assert.True(scores[0] > scores[1]);

        time.Advance(4);                                  // 4,000 tokens worked off
        Assert.Equal(1000, scorer.Backlog(s.Endpoints[1].State), 6);
        scores = Score(scorer, Ctx(s, 0, 8));             // 1 + 0.4 = 1.4 s vs 2 s: the cache wins again
        Assert.Equal(1.0, scores[1], 9);
        time.Advance(10);
        Assert.Equal(0, scorer.Backlog(s.Endpoints[1].State));
    }

    [Fact]
    public void PreRequest_ChargesOnlyTheUncachedPart()
    {
        var scorer = new PredictedTtftScorer("p", new ManualTime(), prefillTokensPerSecond: 1000);
        EndpointSnapshot s = Uniform2();
        scorer.PreRequest(Request(new string('a', 4000)), Ctx(s, 0, 7).Scratch, s, [1]);
        Assert.Equal(300, scorer.Backlog(s.Endpoints[1].State), 6);
        Assert.Equal(0, scorer.Backlog(s.Endpoints[0].State));
    }

    [Fact]
    public void KvAboveThreshold_IsPenalised()
    {
        var scorer = new PredictedTtftScorer("p", new ManualTime(), prefillTokensPerSecond: 1000, kvCacheThreshold: 0.8, kvPenaltySeconds: 2, stepSeconds: 0);
        EndpointSnapshot s = Snapshot(new EndpointMetrics { KvCacheUsagePercent = 0.9 }, new EndpointMetrics { KvCacheUsagePercent = 0.5 });
        double[] scores = Score(scorer, Ctx(s, 0, 0));
        // 2 s each, + 2 x (0.1 / 0.2) = 1 s on endpoint 0
        Assert.Equal(2.0 / 3.0, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void ScrapedWaitingQueue_CountsAsBacklog_WhenLargerThanTheBucket()
    {
        var scorer = new PredictedTtftScorer("p", new ManualTime(), prefillTokensPerSecond: 1000, stepSeconds: 0);
        EndpointSnapshot s = Snapshot(new EndpointMetrics { WaitingQueueSize = 3 }, new EndpointMetrics());
        double[] scores = Score(scorer, Ctx(s, 8, 0));
        // 0: cached (0.4 s) but 3 waiting x 1,000 tokens = 3 s queued; 1: 2 s
        Assert.Equal(2.0 / 3.4, scores[0], 9);
        Assert.Equal(1.0, scores[1], 9);
    }

    [Fact]
    public void WithoutPrefixData_EveryPromptIsUncached()
    {
        var scorer = new PredictedTtftScorer("p", new ManualTime());
        EndpointSnapshot s = Uniform2();
        Assert.Equal([1.0, 1.0], Score(scorer, Context(s, Request(new string('a', 400)))));
    }

    [Fact]
    public void Configured_ByItsTypeName_WithItsParameters_AndBadValuesRefused()
    {
        var scheduler = SchedulerFactory.Create("""
            plugins:
            - type: approx-prefix-cache-producer
            - type: fastepp-predicted-ttft-scorer
              parameters: {prefillTokensPerSecond: 5000, kvCacheThreshold: 0.5, kvPenaltySeconds: 3, workWeight: 0.5, stepSeconds: 0.01}
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: fastepp-predicted-ttft-scorer
            """);
        var p = (PredictedTtftScorer)scheduler.Config!.PluginsByName["fastepp-predicted-ttft-scorer"];
        Assert.Equal((5000.0, 0.5, 3.0, 0.5, 0.01), (p.PrefillTokensPerSecond, p.KvCacheThreshold, p.KvPenaltySeconds, p.WorkWeight, p.StepSeconds));

        Assert.Throws<ConfigException>(() => SchedulerFactory.Create("""
            plugins:
            - type: fastepp-predicted-ttft-scorer
              parameters: {prefillTokensPerSecond: 0}
            """));
        Assert.Throws<ConfigException>(() => SchedulerFactory.Create("""
            plugins:
            - type: fastepp-predicted-ttft-scorer
              parameters: {kvCacheThreshold: 1}
            """));
    }

    [Fact]
    public void PredictedTtftProfile_Loads_RoutesTheRepeatedPromptHome_AndAFullCycleAllocatesNothing()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "FastEpp.sln")))
            dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        var scheduler = SchedulerFactory.CreateFromFlags(null, Path.Combine(dir, "perf", "configs", "predicted-ttft.yaml"));
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

    private static EndpointSnapshot Uniform2() => Snapshot(new EndpointMetrics(), new EndpointMetrics());
}
