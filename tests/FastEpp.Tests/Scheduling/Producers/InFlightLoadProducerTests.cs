using FastEpp.Configuration;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Producers;

public sealed class InFlightLoadProducerTests
{
    [Fact]
    public void InFlightProducer_ChargesAndReleases()
    {
        var scheduler = SchedulerFactory.Create("""
            plugins:
            - type: token-load-scorer
            """);
        var producer = (InFlightLoadProducer)scheduler.Config!.PluginsByName["inflight-load-producer"];
        var s = Uniform(2);
        var req = Request("abcdefgh");
        var result = new int[1];
        Assert.Equal(1, scheduler.Schedule(req, s, All(s), result, out _));
        scheduler.PreRequest(req, s, result);
        long expected = InFlightLoadProducer.EstimateTokens(req);
        Assert.Equal((1, expected), producer.Get(s.Endpoints[result[0]].State));

        // The loaded endpoint now scores lower: the other one wins.
        var next = Request("abcdefgh");
        var result2 = new int[1];
        scheduler.Schedule(next, s, All(s), result2, out _);
        Assert.NotEqual(result[0], result2[0]);

        scheduler.ResponseComplete(req, s.Endpoints[result[0]]);
        scheduler.ResponseComplete(req, s.Endpoints[result[0]]); // idempotent
        Assert.Equal((0, 0L), producer.Get(s.Endpoints[result[0]].State));
    }

    [Fact]
    public void EstimateTokens_ReferenceFormula()
    {
        var req = new SchedulingRequest { RequestSize = 400 };
        Assert.Equal(100 + 150, InFlightLoadProducer.EstimateTokens(req));
        Assert.Equal(1 + 2, InFlightLoadProducer.EstimateTokens(new SchedulingRequest()));
    }
}
