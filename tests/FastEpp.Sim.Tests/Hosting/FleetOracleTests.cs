using System.Buffers;
using System.Text;
using System.Text.Json;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Http;
using FastEpp.Sim.Options;
using static FastEpp.Sim.Tests.Engine.EngineTestKit;

namespace FastEpp.Sim.Tests.Hosting;

/// <summary>The oracle router: engine state read at decision time, TTFT predicted by the engines' own step model.</summary>
public sealed class FleetOracleTests
{
    private static (Replica[] Replicas, FleetOracle Oracle) Fleet(int replicas, int blocks = 19_208, bool greedy = false)
    {
        SimOptions options = SimOptions.Parse(["--replicas", replicas.ToString(), "--profile", "h100-qwen3-32b-tp2"], out string? error)
            ?? throw new InvalidOperationException(error);
        options.Engine = options.Engine with { NumGpuBlocks = blocks };
        var r = new Replica[replicas];
        for (int i = 0; i < replicas; i++)
            r[i] = new Replica(i, options.Engine, new FaultOptions(), 1);
        return (r, new FleetOracle(r, new SimClock(1), options) { Greedy = greedy });
    }

    private static void Serve(Replica replica, SimRequest request, double at)
    {
        Assert.Equal(SubmitResult.Accepted, replica.Engine.Submit(request, at));
        replica.Engine.RunUntilIdle();
    }

    [Fact]
    public void EqualLoads_PicksTheReplicaHoldingThePrefix()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(3);
        string system = Text(6000, 1);
        Serve(r[0], Request(Text(6000, 2), Text(1200, 3), 5), 0);   // same amount of work, other prompts
        Serve(r[1], Request(system, Text(1200, 4), 5), 0);
        Serve(r[2], Request(Text(6000, 5), Text(1200, 6), 5), 0);

        SimRequest next = Request(system, Text(1200, 7), 10);
        OracleDecision d = oracle.Decide(next.BlockHashes, next.PromptTokens, -1, 100);

        Assert.Equal(1, d.Replica);
        Assert.Equal(6000, d.Predictions[1].HitTokens);
        Assert.Equal(0, d.Predictions[0].HitTokens);
        Assert.True(d.Predictions[1].Seconds < d.Predictions[0].Seconds / 3);
    }

    [Fact]
    public void CachedReplicaSwamped_PicksTheIdleOne()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(2);
        string system = Text(6000, 1);
        Serve(r[0], Request(system, Text(1200, 2), 5), 0);
        for (int i = 0; i < 20; i++)   // 20 uncached 7,200-token prompts queued on the cached replica
            Assert.Equal(SubmitResult.Accepted, r[0].Engine.Submit(Unique(7200, 100), 100));

        SimRequest next = Request(system, Text(1200, 3), 10);
        OracleDecision d = oracle.Decide(next.BlockHashes, next.PromptTokens, -1, 100);

        Assert.Equal(1, d.Replica);
        Assert.Equal(6000, d.Predictions[0].HitTokens);
        Assert.Equal(20 * 7200, d.Predictions[0].PrefillAhead);
    }

    [Fact]
    public void Prediction_IsTheEngineStepModel_ExactOnAnIdleEngine()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(1);
        string system = Text(3000, 1);
        Serve(r[0], Request(system, Text(500, 2), 5), 0);
        SimRequest next = Request(system, Text(9000, 3), 1);   // 3,000 cached, 9,000 to compute in two chunks
        OracleDecision d = oracle.Decide(next.BlockHashes, next.PromptTokens, -1, 50);

        Assert.Equal(SubmitResult.Accepted, r[0].Engine.Submit(next, 50));
        r[0].Engine.RunUntilIdle();
        Assert.Equal(Ttft(next), d.Predictions[0].Seconds, 9);
    }

    [Fact]
    public void RequestsInTransit_CountAsWorkUntilTheEngineSeesThem()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(2);
        var picks = new int[2];
        var sent = new List<(int Replica, SimRequest Request)>();
        for (int i = 0; i < 6; i++)
        {
            SimRequest q = Unique(6000, 10);
            int pick = oracle.Decide(q.BlockHashes, q.PromptTokens, -1, 0).Replica;
            picks[pick]++;
            sent.Add((pick, q));
        }
        Assert.Equal([3, 3], picks);   // no engine has seen anything yet: the oracle balances on its own decisions

        foreach ((int replica, SimRequest q) in sent)
            r[replica].Engine.Submit(q, 0);
        SimRequest probe = Unique(6000, 10);
        OracleDecision d = oracle.Decide(probe.BlockHashes, probe.PromptTokens, -1, 0);
        Assert.Equal(3 * 6000, d.Predictions[0].PrefillAhead);   // submitted work replaces the in-transit entries, not added twice
    }

    [Fact]
    public void KvFull_WaitsForRunningRequestsToFinish()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(2, blocks: 1000);   // 16,000 tokens of KV
        SimRequest big = Unique(12_000, 2000);
        Assert.Equal(SubmitResult.Accepted, r[0].Engine.Submit(big, 0));
        r[0].Engine.AdvanceTo(1.0);   // prefilled and decoding, ~750 blocks held
        SimRequest next = Unique(6000, 10);
        OracleDecision d = oracle.Decide(next.BlockHashes, next.PromptTokens, -1, 1.0);
        Assert.True(d.Predictions[0].KvWaitSeconds > 1, "should wait for the big request's remaining output");
        Assert.Equal(1, d.Replica);
    }

    [Fact]
    public void HttpBody_IsTokenizedAsTheReplicasDo()
    {
        (Replica[] r, FleetOracle oracle) = Fleet(2);
        byte[] body = ChatBody(Text(4000, 1), Text(800, 2));
        OpenAiRequest parsed = OpenAiRequest.Parse(new ReadOnlySequence<byte>(body), chat: true, 16, out _)!;
        Serve(r[1], new SimRequest(1, parsed.PromptTokens, parsed.Tokens.ToHashArray(), 5), 0);

        Assert.Equal(1, oracle.Pick(new ReadOnlySequence<byte>(ChatBody(Text(4000, 1), Text(800, 3))), chat: true));
        Assert.Equal(-1, oracle.Pick(new ReadOnlySequence<byte>("{\"model\":\"nope\",\"messages\":[]}"u8.ToArray()), chat: true));
        Assert.Equal(-1, oracle.Pick(new ReadOnlySequence<byte>("not json"u8.ToArray()), chat: true));
    }

    [Fact]
    public void Oracle_FarBeatsRoundRobin_AndStaysNearAStaticPartitionByGroupId()
    {
        double rr = MeanTtft(Policy.RoundRobin), affinity = MeanTtft(Policy.Affinity), oracle = MeanTtft(Policy.Oracle);
        // The static partition (group % engines) knows which prompts exist and spreads them exactly evenly; no router
        // can know that. The greedy oracle learns placements online; it must stay close and far ahead of round robin.
        Assert.True(oracle < rr / 4, $"oracle {oracle:F3}s vs round robin {rr:F3}s");
        Assert.True(oracle < affinity * 1.3, $"oracle {oracle:F3}s vs static partition {affinity:F3}s");
    }

    private enum Policy { RoundRobin, Affinity, Oracle, GreedyOracle }

    [Fact]
    public void BalancingNewPrefixesByBurden_BeatsTheGreedyRule()
    {
        // Same seeded arrivals and prompts for both rules; deterministic simulated time.
        double greedy = MeanTtft(Policy.GreedyOracle), oracle = MeanTtft(Policy.Oracle);
        Assert.True(oracle < greedy, $"oracle {oracle:F3}s vs greedy rule {greedy:F3}s");
        // KV for half the prefixes per replica: the placement of new prefixes matters more.
        greedy = MeanTtft(Policy.GreedyOracle, blocks: 1000);
        oracle = MeanTtft(Policy.Oracle, blocks: 1000);
        Assert.True(oracle < greedy, $"oracle {oracle:F3}s vs greedy rule {greedy:F3}s with 1,000 blocks");
        // Few long prompts with long answers: counting homes spreads the 16 prefixes where traffic share alone cannot.
        greedy = MeanTtft(Policy.GreedyOracle, rate: 40, prompts: 16, systemTokens: 3000, output: 200);
        oracle = MeanTtft(Policy.Oracle, rate: 40, prompts: 16, systemTokens: 3000, output: 200);
        Assert.True(oracle < greedy * 0.5, $"oracle {oracle:F3}s vs greedy rule {greedy:F3}s with 16 prompts");
    }

    // FleetPhysicsTests' shared-prompt workload on 4 engines: 32 system prompts x 1,500 tokens, 100 req/s.
    private static double MeanTtft(Policy policy, int blocks = 2000, double rate = 100, int prompts = 32, int systemTokens = 1500, int output = 50)
    {
        const int engines = 4, requests = 600;
        (Replica[] r, FleetOracle oracle) = Fleet(engines, blocks, greedy: policy == Policy.GreedyOracle);
        string[] systems = Enumerable.Range(0, prompts).Select(i => Text(systemTokens, 1000 + i)).ToArray();
        var rng = new Random(7);
        var all = new List<SimRequest>();
        double t = 0;
        for (int i = 0; i < requests; i++)
        {
            t += -Math.Log(1 - rng.NextDouble()) / rate;
            int group = rng.Next(prompts);
            SimRequest q = Request(systems[group], Text(300, 5000 + i), output);
            foreach (Replica e in r)
                e.Engine.AdvanceTo(t);
            int target = policy switch
            {
                Policy.RoundRobin => i % engines,
                Policy.Affinity => group % engines,
                _ => oracle.Decide(q.BlockHashes, q.PromptTokens, -1, t).Replica,
            };
            Assert.Equal(SubmitResult.Accepted, r[target].Engine.Submit(q, t));
            all.Add(q);
        }
        foreach (Replica e in r)
            e.Engine.RunUntilIdle();
        return all.Average(Ttft);
    }

    private static byte[] ChatBody(string system, string question) =>
        JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["model"] = "Qwen/Qwen3-32B",
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "system", ["content"] = system }, new Dictionary<string, string> { ["role"] = "user", ["content"] = question } },
        });
}
