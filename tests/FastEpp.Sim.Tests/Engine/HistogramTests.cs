using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Tests.Engine;

public sealed class HistogramTests
{
    [Fact]
    public void Observe_PutsValuesInTheFirstBucketWhoseBoundIsNotBelow()
    {
        var h = new Histogram([0.1, 1, 10]);
        foreach (double v in new[] { 0.05, 0.1, 0.5, 1, 20 })
        {
            h.Observe(v);
        }
        Assert.Equal([2L, 2, 0, 1], Enumerable.Range(0, 4).Select(h.BucketCount).ToArray());   // le is inclusive
        Assert.Equal(5, h.Count);
        Assert.Equal(21.65, h.Sum, 9);
    }
}
