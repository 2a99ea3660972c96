using FastEpp.Sim.Engine;
using static FastEpp.Sim.Tests.Engine.EngineTestKit;

namespace FastEpp.Sim.Tests.Engine;

/// <summary>
/// Several engines driven in simulated time by a test router: the effects a router exploits must show up
/// (the headline "many system prompts" workload of anchors.md §1.4, scaled down).
/// </summary>
public sealed class FleetPhysicsTests
{
    [Fact]
    public void PrefixAffinity_BeatsRoundRobin_OnSharedSystemPrompts()
    {
        (double rrTtft, double rrHit) = Run(affinity: false);
        (double affTtft, double affHit) = Run(affinity: true);
        Assert.True(affHit > rrHit + 0.3, $"hit rate affinity {affHit:P0} vs round robin {rrHit:P0}");
        Assert.True(affTtft < rrTtft / 2, $"mean TTFT affinity {affTtft:F3}s vs round robin {rrTtft:F3}s");
    }

    // 4 engines × 2,000 blocks (32k tokens each); 32 system prompts × 1,500 tokens = 48k tokens. With affinity an
    // engine keeps its 8 prompts (12k tokens) cached; with round robin every engine would need all 48k and thrashes.
    private static (double MeanTtft, double HitRate) Run(bool affinity)
    {
        const int engines = 4, prompts = 32, requests = 600;
        var fleet = Enumerable.Range(0, engines).Select(_ => new EngineCore(Profile(blocks: 2000))).ToArray();
        string[] systems = Enumerable.Range(0, prompts).Select(i => Text(1500, 1000 + i)).ToArray();
        var rng = new Random(7);
        var all = new List<SimRequest>();
        double t = 0;
        for (int i = 0; i < requests; i++)
        {
            t += -Math.Log(1 - rng.NextDouble()) / 100.0;   // Poisson, 100 req/s
            int group = rng.Next(prompts);
            SimRequest r = Request(systems[group], Text(300, 5000 + i), 50);
            int target = affinity ? group % engines : i % engines;
            foreach (EngineCore e in fleet)
            {
                e.AdvanceTo(t);
            }
            Assert.Equal(SubmitResult.Accepted, fleet[target].Submit(r, t));
            all.Add(r);
        }
        foreach (EngineCore e in fleet)
        {
            e.RunUntilIdle();
        }
        double hits = fleet.Sum(e => (double)e.Stats.PrefixHits);
        double queries = fleet.Sum(e => (double)e.Stats.PrefixQueries);
        return (all.Average(Ttft), hits / queries);
    }
}
