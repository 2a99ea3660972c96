using System.Globalization;
using FastEpp.Configuration;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Scheduling.Scorers;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;
using FastEpp.Tests.Prefix.Precise;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class PrefixHomeScorerTests
{
    private static string Prompt(string system, string question) => system + " " + question;

    private static string SystemPrompt(int group) =>
        string.Concat(Enumerable.Range(0, 40).Select(i => $"group {group} rule {i}: be precise and brief. ")); // ~420 tokens

    /// <summary>The prefix producer's chain for a prompt, then the home scorer's scores, on a fresh context.</summary>
    private static double[] HomeScores(PrefixHomeScorer scorer, EndpointSnapshot s, string prompt, int[]? candidates = null)
    {
        candidates ??= All(s);
        SchedulingContext ctx = Context(s, Request(prompt));
        new ApproxPrefixCacheProducer("p", autoTune: false, blockSizeTokens: 16).Prepare(ctx, candidates);
        return Score(scorer, ctx, candidates);
    }

    private static int HomeOf(double[] scores) => Array.IndexOf(scores, 1.0);

    [Fact]
    public void TwoEppsWithTheirOwnSnapshots_AgreeOnTheHome_WhateverTheQuestion()
    {
        // Two EPP replicas: their own snapshot objects and scorers, the same pod addresses.
        var a = new PrefixHomeScorer("a");
        var b = new PrefixHomeScorer("b");
        for (int g = 0; g < 20; g++)
        {
            double[] sa = HomeScores(a, Uniform(4), Prompt(SystemPrompt(g), "what is the first rule?"));
            double[] sb = HomeScores(b, Uniform(4), Prompt(SystemPrompt(g), "and the last one, please?"));
            Assert.Equal(1, sa.Count(x => x == 1.0));
            Assert.Equal(3, sa.Count(x => x == 0.0));
            Assert.Equal(HomeOf(sa), HomeOf(sb));
        }
    }

    [Fact]
    public void Homes_SpreadEvenlyOverTheEndpoints()
    {
        EndpointSnapshot s = Uniform(4);
        var counts = new int[4];
        for (int g = 0; g < 400; g++)
            counts[HomeOf(HomeScores(new PrefixHomeScorer("h"), s, Prompt(SystemPrompt(g), "q")))]++; // fresh: sharing 1
        Assert.All(counts, c => Assert.InRange(c, 60, 140)); // 100 each expected; a binomial 6-sigma band
    }

    [Fact]
    public void OnlyTheFirstHomePrefixTokens_NameTheHome()
    {
        var scorer = new PrefixHomeScorer("h", homePrefixTokens: 32); // 2 blocks of 16 tokens = the first 128 characters
        EndpointSnapshot s = Uniform(8);
        string head = new string('x', 128);
        int home = HomeOf(HomeScores(scorer, s, head + " tail one"));
        for (int i = 0; i < 10; i++)
            Assert.Equal(home, HomeOf(HomeScores(scorer, s, head + " another tail " + i)));
        // A different start names (almost surely, over 10 tries) other homes as well.
        var homes = new HashSet<int>();
        for (int i = 0; i < 10; i++)
            homes.Add(HomeOf(HomeScores(scorer, s, i.ToString("D3", CultureInfo.InvariantCulture) + head)));
        Assert.True(homes.Count > 1);
    }

    [Fact]
    public void ACandidateLeaving_MovesOnlyItsOwnHomes()
    {
        EndpointSnapshot s = Uniform(4);
        int moved = 0;
        for (int g = 0; g < 100; g++)
        {
            string p = Prompt(SystemPrompt(g), "q");
            int home = HomeOf(HomeScores(new PrefixHomeScorer("h"), s, p));
            int[] without2 = [0, 1, 3];
            int homeWithout2 = without2[HomeOf(HomeScores(new PrefixHomeScorer("h"), s, p, without2))];
            if (home != 2)
                Assert.Equal(home, homeWithout2);
            else
                moved++;
        }
        Assert.InRange(moved, 1, 99);
    }

    [Fact]
    public void UnrelatedPrompts_FadeTheHomeOut_SharedPrefixesKeepIt()
    {
        EndpointSnapshot s = Uniform(4);
        int[] all = All(s);
        var producer = new ApproxPrefixCacheProducer("p", autoTune: false, blockSizeTokens: 16);
        var unrelated = new PrefixHomeScorer("u");
        double[] last = [];
        for (int i = 0; i < 100; i++)
        {
            SchedulingContext ctx = Context(s, Request(Prompt(SystemPrompt(1000 + i), "q")));
            producer.Prepare(ctx, all);
            last = Score(unrelated, ctx);
        }
        Assert.Equal(0, unrelated.Sharing, 6);
        Assert.All(last, x => Assert.Equal(0.0, x));

        // Five system prompts, each routed to its home and recorded there: every later request finds most of its prompt.
        var shared = new PrefixHomeScorer("s");
        for (int i = 0; i < 100; i++)
        {
            SchedulingRequest r = Request(Prompt(SystemPrompt(i % 5), "question " + i));
            SchedulingContext ctx = Context(s, r);
            producer.Prepare(ctx, all);
            last = Score(shared, ctx);
            int home = Array.IndexOf(last, last.Max());
            producer.PreRequest(r, ctx.Scratch, s, [home]);
            Wait.Until(() => producer.PendingRecords == 0, "the prefix record reached the index");
        }
        Assert.Equal(1, shared.Sharing, 6);
        Assert.Equal(1, last.Count(x => x == 1.0));
    }

    [Fact]
    public void NoWholeBlockOrNoBody_NoOpinion()
    {
        var scorer = new PrefixHomeScorer("h");
        Assert.All(HomeScores(scorer, Uniform(3), "short"), x => Assert.Equal(0.0, x));
        Assert.All(Score(scorer, Context(Uniform(3))), x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void BestReplicasProfile_Loads_AndAFullCycleAllocatesNothing()
    {
        string dir = FastEpp.Tests.Operations.DeployTests.RepoRoot;
        var scheduler = SchedulerFactory.CreateFromFlags(null, Path.Combine(dir, "perf", "configs", "best-replicas.yaml"));
        Assert.Contains(scheduler.Config!.Plugins, p => p is PrefixHomeScorer);
        Assert.Contains(scheduler.Config!.Plugins, p => p is WaitScorer);
        EndpointSnapshot s = Uniform(100);
        int[] candidates = All(s);
        var result = new int[1];
        SchedulingRequest[] requests = [Request(Prompt(SystemPrompt(1), "a")), Request(Prompt(SystemPrompt(2), "b")), Request("short one")];
        void Cycle(SchedulingRequest r)
        {
            scheduler.Schedule(r, s, candidates, result, out _);
            scheduler.PreRequest(r, s, result);
            scheduler.ResponseComplete(r, s.Endpoints[result[0]]);
        }
        Assert.Equal(0, AllocatedOverWarmCycles(scheduler, requests, Cycle));
    }

    [Fact]
    public void Config_AutoCreatesThePrefixProducer_AndRefusesABadLength()
    {
        LoadedConfig loaded = ConfigLoader.Load("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: fastepp-prefix-home-scorer
              parameters: {homePrefixTokens: 512}
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: fastepp-prefix-home-scorer, weight: 2}
            """);
        Assert.Single(loaded.Plugins.OfType<ApproxPrefixCacheProducer>());
        Assert.Equal(512, loaded.Plugins.OfType<PrefixHomeScorer>().Single().HomePrefixTokens);
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: fastepp-prefix-home-scorer
              parameters: {homePrefixTokens: 0}
            """));
        Assert.Contains("homePrefixTokens", ex.Message);
    }

    [Fact]
    public async Task TwoEppReplicas_OverOneFleet_SendEachSystemPromptToTheSameReplica()
    {
        // Active-active EPPs: each approximate index knows only its own decisions, yet both place every new system prompt
        // on its home, so the second EPP's request lands where the first one's prefix is cached.
        SimOptions options = SimOptions.Parse(["--replicas", "4", "--port", "0", "--time-scale", "0.02", "--model", PreciseWithSimulatorTests.Model],
            out string? error) ?? throw new InvalidOperationException(error);
        await using SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();
        const string config = """
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: prefix-cache-scorer
            - type: queue-scorer
            - type: fastepp-prefix-home-scorer
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: prefix-cache-scorer, weight: 3}
              - {pluginRef: queue-scorer, weight: 1}
              - {pluginRef: fastepp-prefix-home-scorer, weight: 2}
            """;
        string endpoints = string.Join(',', fleet.Replicas.Select(r => "127.0.0.1:" + r.Port.ToString(CultureInfo.InvariantCulture)));
        await using var a = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        await using var b = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        var homes = new HashSet<string>();
        for (int g = 0; g < 8; g++)
        {
            string system = PreciseWithSimulatorTests.System("home " + g);
            string first = await PreciseWithSimulatorTests.Route(a, system, "first question");
            Assert.Equal(first, await PreciseWithSimulatorTests.Route(b, system, "second question"));
            Assert.Equal(first, await PreciseWithSimulatorTests.Route(a, system, "third question"));
            homes.Add(first);
        }
        Assert.True(homes.Count >= 2, "8 system prompts all homed on one replica: " + string.Join(", ", homes));
    }
}
