using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Scheduling.Producers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Producers;

public sealed class ApproxPrefixCacheProducerTests
{
    private static readonly string LongPrompt = string.Concat(Enumerable.Repeat("You are a helpful assistant. ", 40));

    [Fact]
    public void DepartedEndpoints_RemovedFromPrefixIndex()
    {
        var scheduler = SchedulerFactory.Create(null);
        var producer = (ApproxPrefixCacheProducer)scheduler.Config!.PluginsByName["approx-prefix-cache-producer"];
        var s1 = Uniform(3);
        var req = Request(LongPrompt);
        var result = new int[1];
        scheduler.Schedule(req, s1, All(s1), result, out _);
        scheduler.PreRequest(req, s1, result);
        WaitForPrefixRecords(scheduler);
        Assert.Equal(1, producer.Index.EndpointCount);

        var survivors = s1.Endpoints.Where((_, i) => i != result[0]).ToArray();
        var s2 = new EndpointSnapshot(survivors, s1.Version + 1000);
        scheduler.Schedule(Request(LongPrompt), s2, All(s2), result, out _);
        Wait.Until(() => producer.Index.EndpointCount == 0, "the departed endpoint left the prefix index");
        Assert.Equal(0, producer.Index.EndpointCount);
    }
}
