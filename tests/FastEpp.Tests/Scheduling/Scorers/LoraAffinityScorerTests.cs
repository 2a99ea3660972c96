using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class LoraAffinityScorerTests
{
    [Fact]
    public void LoraAffinityScorer_Rules()
    {
        var s = Snapshot(
            new EndpointMetrics { ActiveModels = ["a1"], MaxActiveModels = 1 },           // active → 1
            new EndpointMetrics { ActiveModels = ["x"], WaitingModels = [], MaxActiveModels = 4 }, // room → 0.8
            new EndpointMetrics { ActiveModels = ["x"], WaitingModels = ["a1"], MaxActiveModels = 2 }, // waiting → 0.6
            new EndpointMetrics { ActiveModels = ["x", "y"], MaxActiveModels = 2 },     // nothing → 0
            new EndpointMetrics());                                                      // non-LoRA → 0
        var ctx = Context(s, EmptyRequest());
        ctx.Request.TargetModel = "a1";
        Assert.Equal([1.0, 0.8, 0.6, 0.0, 0.0], Score(new LoraAffinityScorer("l"), ctx));
    }
}
