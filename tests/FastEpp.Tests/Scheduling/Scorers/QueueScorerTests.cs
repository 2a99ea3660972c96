using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class QueueScorerTests
{
    [Fact]
    public void QueueScorer_MinMax_HandComputed()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 0 }, new EndpointMetrics { WaitingQueueSize = 5 }, new EndpointMetrics { WaitingQueueSize = 10 });
        Assert.Equal([1.0, 0.5, 0.0], Score(new QueueScorer("q"), Context(s)));
    }

    [Fact]
    public void QueueScorer_AllEqual_AllOne()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 3 }, new EndpointMetrics { WaitingQueueSize = 3 });
        Assert.Equal([1.0, 1.0], Score(new QueueScorer("q"), Context(s)));
    }

    [Fact]
    public void QueueScorer_UsesCurrentCandidateSetOnly()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 0 }, new EndpointMetrics { WaitingQueueSize = 4 }, new EndpointMetrics { WaitingQueueSize = 8 });
        Assert.Equal([1.0, 0.0], Score(new QueueScorer("q"), Context(s), [1, 2]));
    }
}
