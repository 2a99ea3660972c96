using FastEpp.Sim.Engine;
using static FastEpp.Sim.Tests.Engine.EngineTestKit;

namespace FastEpp.Sim.Tests.Engine;

/// <summary>The engine's physics, in simulated time (no sleeping, no wall-clock assertions).</summary>
public sealed class EngineCoreTests
{
    [Fact]
    public void Ttft_GrowsWithUncachedPromptLength()
    {
        double previous = 0;
        foreach (int tokens in new[] { 256, 1024, 4096, 8000 })
        {
            var engine = new EngineCore(Profile());
            SimRequest r = Unique(tokens, 4);
            Assert.Equal(SubmitResult.Accepted, engine.Submit(r, 0));
            engine.RunUntilIdle();
            Assert.Equal(RequestState.Finished, r.State);
            Assert.True(Ttft(r) > previous, $"TTFT of {tokens} tokens {Ttft(r)} should exceed {previous}");
            previous = Ttft(r);
        }
    }

    [Fact]
    public void Ttft_GrowsWithQueue()
    {
        // 12 prompts of 4,000 tokens arrive together; the 8,192-token budget admits two per step.
        var engine = new EngineCore(Profile());
        var requests = new List<SimRequest>();
        for (int i = 0; i < 12; i++)
        {
            SimRequest r = Unique(4000, 8);
            engine.Submit(r, 0);
            requests.Add(r);
        }
        engine.RunUntilIdle();
        for (int i = 2; i < requests.Count; i += 2)
        {
            Assert.True(Ttft(requests[i]) > Ttft(requests[i - 2]), $"request {i} should wait longer than request {i - 2}");
        }
        Assert.True(Ttft(requests[^1]) > 5 * Ttft(requests[0]));
    }

    [Fact]
    public void CachedPrefix_CutsTtft()
    {
        var engine = new EngineCore(Profile());
        string system = Text(6000, seed: 42);
        SimRequest cold = Request(system, Text(100, 1), 4);
        engine.Submit(cold, 0);
        double t = engine.RunUntilIdle();
        SimRequest warm = Request(system, Text(100, 2), 4);
        engine.Submit(warm, t + 1);
        engine.RunUntilIdle();

        Assert.Equal(0, cold.CachedTokens);
        Assert.Equal(6000, warm.CachedTokens);   // 375 full blocks of the shared system prompt
        Assert.True(Ttft(warm) < Ttft(cold) / 5, $"warm {Ttft(warm)} vs cold {Ttft(cold)}");
        Assert.Equal(6000, engine.Stats.PrefixHits);
        Assert.Equal(cold.PromptTokens + warm.PromptTokens, engine.Stats.PrefixQueries);
    }

    [Fact]
    public void PrefixCaching_Disabled_NoHits()
    {
        var engine = new EngineCore(Profile() with { EnablePrefixCaching = false });
        string system = Text(2000, seed: 3);
        SimRequest a = Request(system, "x", 2);
        engine.Submit(a, 0);
        double t = engine.RunUntilIdle();
        SimRequest b = Request(system, "y", 2);
        engine.Submit(b, t);
        engine.RunUntilIdle();
        Assert.Equal(0, b.CachedTokens);
        Assert.Equal(0, engine.Stats.PrefixHits);
    }

    [Fact]
    public void PrefixCache_OnlyFullBlocksAndKeepsLastTokenToCompute()
    {
        var engine = new EngineCore(Profile());
        string prompt = Text(64, seed: 5);   // exactly 4 blocks
        SimRequest a = Request(prompt, "", 1);
        engine.Submit(a, 0);
        double t = engine.RunUntilIdle();
        SimRequest same = Request(prompt, "", 1);
        SimRequest partial = Request(Text(40, seed: 5), "", 1);   // first 2.5 blocks of the same text
        engine.Submit(same, t);
        engine.Submit(partial, t);
        engine.RunUntilIdle();
        Assert.Equal(48, same.CachedTokens);      // the last block is recomputed
        Assert.Equal(32, partial.CachedTokens);   // only full blocks are reused
    }

    [Fact]
    public void ChunkedPrefill_SplitsLongPromptAcrossBudgetedSteps()
    {
        var engine = new EngineCore(Profile(budget: 2048));
        SimRequest r = Unique(20_000, 1);
        engine.Submit(r, 0);
        engine.RunUntilIdle();
        Assert.Equal(10, engine.Stats.Steps);   // ceil(20,000 / 2,048) prefill chunks, the last one samples the token
        Assert.Equal(1, r.Generated);
    }

    [Fact]
    public void LongPrefill_DelaysRunningDecodes()
    {
        // Interference: a decode sharing steps with a big prefill sees its inter-token gap grow.
        var engine = new EngineCore(Profile());
        SimRequest decoder = Unique(100, 200);
        engine.Submit(decoder, 0);
        engine.AdvanceTo(0.2);
        double quietItl = engine.Stats.Itl.Sum / engine.Stats.Itl.Count;
        engine.Submit(Unique(8000, 1), 0.2);
        long before = engine.Stats.Itl.Count;
        double sumBefore = engine.Stats.Itl.Sum;
        engine.AdvanceTo(0.6);
        double[] gaps = [engine.Stats.Itl.Sum - sumBefore];
        Assert.True(engine.Stats.Itl.Count > before);
        Assert.True(quietItl < 0.0065, $"quiet ITL {quietItl}");
        Assert.True(gaps[0] / (engine.Stats.Itl.Count - before) > quietItl * 1.5);
    }

    [Theory]
    [InlineData(1, 8)]
    [InlineData(4, 8)]
    [InlineData(8, 8)]
    public void Throughput_RisesWithConcurrencyUpToMaxNumSeqs(int lower, int higher)
    {
        Assert.True(DecodeThroughput(higher, maxSeqs: 8) >= DecodeThroughput(lower, maxSeqs: 8) * (lower == higher ? 1 : 1.5));
    }

    [Fact]
    public void Throughput_SaturatesAtMaxNumSeqs()
    {
        double at8 = DecodeThroughput(8, maxSeqs: 8);
        double at16 = DecodeThroughput(16, maxSeqs: 8);
        double at32 = DecodeThroughput(32, maxSeqs: 8);
        Assert.InRange(at16 / at8, 0.95, 1.05);
        Assert.InRange(at32 / at8, 0.95, 1.05);
    }

    [Fact]
    public void Running_NeverExceedsMaxNumSeqs()
    {
        var engine = new EngineCore(Profile(maxSeqs: 5));
        for (int i = 0; i < 20; i++)
        {
            engine.Submit(Unique(50, 30), 0);
        }
        int maxRunning = 0;
        double next;
        while (!double.IsPositiveInfinity(next = engine.NextEventTime))
        {
            engine.AdvanceTo(next);
            maxRunning = Math.Max(maxRunning, engine.RunningCount);
        }
        Assert.Equal(5, maxRunning);
        Assert.Equal(20 * 30, engine.Stats.GenerationTokens);
    }

    [Fact]
    public void Preemption_AppearsUnderKvPressure_AndEveryRequestStillFinishes()
    {
        // 64 blocks = 1,024 tokens; 8 requests of 100 + 200 tokens need 2,400.
        var engine = new EngineCore(Profile(blocks: 64));
        var requests = Enumerable.Range(0, 8).Select(_ => Unique(100, 200)).ToList();
        foreach (SimRequest r in requests)
        {
            Assert.Equal(SubmitResult.Accepted, engine.Submit(r, 0));
        }
        double maxUsage = 0;
        double next;
        while (!double.IsPositiveInfinity(next = engine.NextEventTime))
        {
            engine.AdvanceTo(next);
            maxUsage = Math.Max(maxUsage, engine.Kv.Usage);
        }
        Assert.True(engine.Stats.Preemptions > 0);
        Assert.Contains(requests, r => r.Preemptions > 0);
        Assert.All(requests, r => Assert.Equal(200, r.Generated));
        Assert.All(requests, r => Assert.Equal(RequestState.Finished, r.State));
        Assert.True(maxUsage > 0.9, $"max usage {maxUsage}");
        Assert.Equal(0, engine.Kv.UsedCount);
    }

    [Fact]
    public void NoPreemption_WithAmpleKv()
    {
        var engine = new EngineCore(Profile());
        for (int i = 0; i < 8; i++)
        {
            engine.Submit(Unique(100, 200), 0);
        }
        engine.RunUntilIdle();
        Assert.Equal(0, engine.Stats.Preemptions);
    }

    [Fact]
    public void KvUsage_GrowsWithGeneratedTokens_AndDropsWhenDone()
    {
        var engine = new EngineCore(Profile(blocks: 1000));
        SimRequest r = Unique(160, 640);   // 10 prompt blocks, 40 more while decoding
        engine.Submit(r, 0);
        engine.AdvanceTo(0.05);
        int early = engine.Kv.UsedCount;
        engine.AdvanceTo(3);
        int late = engine.Kv.UsedCount;
        engine.RunUntilIdle();
        Assert.True(late > early, $"{late} blocks late vs {early} early");
        Assert.Equal(0, engine.Kv.UsedCount);
        Assert.Equal(10, engine.Kv.CachedBlockCount);   // the prompt's full blocks stay reusable
    }

    [Fact]
    public void Lora_RequestForNonResidentAdapterWaitsForSlot()
    {
        var engine = new EngineCore(Profile(maxLoras: 1));
        SimRequest a = Unique(100, 100, adapter: 0);
        SimRequest b = Unique(100, 10, adapter: 1);
        SimRequest baseModel = Unique(100, 10);
        engine.Submit(a, 0);
        engine.AdvanceTo(0.001);
        engine.Submit(b, 0.002);
        engine.Submit(baseModel, 0.002);
        engine.AdvanceTo(0.1);

        var running = new HashSet<int>();
        var waiting = new HashSet<int>();
        engine.CollectAdapters(running, waiting);
        Assert.Equal([0], running);
        Assert.Equal([1], waiting);
        Assert.NotEqual(RequestState.Waiting, baseModel.State);   // not blocked behind the LoRA request

        engine.RunUntilIdle();
        Assert.True(b.FirstScheduledTime >= a.FinishTime, "b must wait for a's adapter slot");
        Assert.Equal(2, engine.Lora.Loads);
        // The step that loads an adapter pays the load time.
        Assert.True(Ttft(a) >= Profile().LoraLoadMs / 1000);
    }

    [Fact]
    public void Lora_TwoSlotsRunTwoAdaptersTogether()
    {
        var engine = new EngineCore(Profile(maxLoras: 2));
        SimRequest a = Unique(100, 50, adapter: 0);
        SimRequest b = Unique(100, 50, adapter: 1);
        engine.Submit(a, 0);
        engine.Submit(b, 0);
        engine.RunUntilIdle();
        Assert.Equal(a.FirstScheduledTime, b.FirstScheduledTime);
    }

    [Fact]
    public void Abort_FreesBlocksAndLeavesOthersRunning()
    {
        var engine = new EngineCore(Profile());
        SimRequest a = Unique(1000, 100);
        SimRequest b = Unique(1000, 100);
        engine.Submit(a, 0);
        engine.Submit(b, 0);
        engine.AdvanceTo(0.1);
        engine.Abort(a);
        engine.RunUntilIdle();
        Assert.Equal(RequestState.Aborted, a.State);
        Assert.Equal(RequestState.Finished, b.State);
        Assert.Equal(0, engine.Kv.UsedCount);
    }

    [Fact]
    public void Submit_RejectsWhatCanNeverFit()
    {
        var engine = new EngineCore(Profile(blocks: 10) with { MaxWaiting = 2 });
        Assert.Equal(SubmitResult.TooLong, engine.Submit(Unique(150, 20), 0));   // 170 tokens > 160 KV tokens
        Assert.Equal(SubmitResult.Accepted, engine.Submit(Unique(10, 5), 0));
        Assert.Equal(SubmitResult.Accepted, engine.Submit(Unique(10, 5), 0));
        Assert.Equal(SubmitResult.QueueFull, engine.Submit(Unique(10, 5), 0));
        Assert.Equal(SubmitResult.NoLoraSlots, new EngineCore(Profile(maxLoras: 0)).Submit(Unique(10, 5, adapter: 0), 0));
    }

    [Fact]
    public void SameWorkload_SameTimeline()
    {
        Assert.Equal(Timeline(), Timeline());

        static double[] Timeline()
        {
            var engine = new EngineCore(Profile(blocks: 200, maxSeqs: 6, budget: 1024));
            var rs = new List<SimRequest>();
            for (int i = 0; i < 30; i++)
            {
                SimRequest r = Request(Text(200 + 37 * i, i), "", 20 + i);
                engine.Submit(r, i * 0.003);
                rs.Add(r);
            }
            engine.RunUntilIdle();
            return rs.Select(r => r.FinishTime).ToArray();
        }
    }

    [Fact]
    public void AdvanceTo_InSmallSlices_EqualsOneBigAdvance()
    {
        // The host advances in wall-clock-sized slices (or aggregates when late); simulated time must not care.
        (double, double) Run(double slice)
        {
            var engine = new EngineCore(Profile());
            SimRequest a = Unique(3000, 40);
            SimRequest b = Unique(500, 40);
            engine.Submit(a, 0);
            engine.Submit(b, 0.011);
            for (double t = 0; t < 2; t += slice)
            {
                engine.AdvanceTo(t);
            }
            engine.RunUntilIdle();
            return (a.FinishTime, b.FirstTokenTime);
        }
        Assert.Equal(Run(0.0005), Run(0.25));
    }

    private static double DecodeThroughput(int concurrency, int maxSeqs)
    {
        var engine = new EngineCore(Profile(maxSeqs: maxSeqs));
        for (int i = 0; i < concurrency; i++)
        {
            engine.Submit(Unique(64, 500), 0);
        }
        double end = engine.RunUntilIdle();
        return engine.Stats.GenerationTokens / end;
    }
}
