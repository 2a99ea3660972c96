using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class TokenLoadScorerTests
{
    [Fact]
    public void TokenLoadScorer_Threshold()
    {
        var s = Snapshot(new EndpointMetrics(), new EndpointMetrics(), new EndpointMetrics(), new EndpointMetrics());
        var ctx = Context(s);
        ctx.Scratch.HasInFlightData = true;
        ctx.Scratch.InFlightTokens(0) = 0;
        ctx.Scratch.InFlightTokens(1) = 250;
        ctx.Scratch.InFlightTokens(2) = 1000;
        ctx.Scratch.InFlightTokens(3) = 5000;
        Assert.Equal([1.0, 0.75, 0.0, 0.0], Score(new TokenLoadScorer("t", 1000), ctx));
        Assert.Equal(TokenLoadScorer.DefaultQueueThresholdTokens, new TokenLoadScorer("t", 0).QueueThresholdTokens);
    }

    [Fact]
    public void TokenLoadScorer_NoProducerData_AllOne()
    {
        var s = Snapshot(new EndpointMetrics(), new EndpointMetrics());
        Assert.Equal([1.0, 1.0], Score(new TokenLoadScorer("t"), Context(s)));
    }
}
