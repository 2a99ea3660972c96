using FastEpp.Scheduling.Pickers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Pickers;

public sealed class MaxScorePickerTests
{
    [Fact]
    public void MaxScorePicker_PicksHighest()
    {
        Assert.Equal([2], Pick(new MaxScorePicker("p"), [0.1, 0.5, 0.9, 0.3]));
    }

    [Fact]
    public void MaxScorePicker_Fallbacks_BestFirst()
    {
        Assert.Equal([2, 1, 3], Pick(new MaxScorePicker("p", 3), [0.1, 0.5, 0.9, 0.3]));
        Assert.Equal([1, 0], Pick(new MaxScorePicker("p", 5), [0.1, 0.5]));
        Assert.Equal(1, new MaxScorePicker("p", 0).MaxEndpoints);
    }

    [Fact]
    public void MaxScorePicker_Ties_BrokenUniformly()
    {
        var picker = new MaxScorePicker("p", 1, new Random(42));
        var counts = new int[4];
        for (int i = 0; i < 4000; i++)
            counts[Pick(picker, [1, 1, 0.5, 1])[0]]++;
        Assert.Equal(0, counts[2]);
        foreach (int k in (int[])[0, 1, 3])
            Assert.InRange(counts[k], 1000, 1700);
    }

    [Fact]
    public void MaxScorePicker_TopK_TiesRandomButScoreOrdered()
    {
        var picker = new MaxScorePicker("p", 2, new Random(7));
        var seenFirst = new HashSet<int>();
        for (int i = 0; i < 200; i++)
        {
            int[] r = Pick(picker, [0.9, 0.9, 0.1]);
            Assert.Equal(2, r.Length);
            Assert.DoesNotContain(2, r);
            seenFirst.Add(r[0]);
        }
        Assert.Equal(2, seenFirst.Count);
    }
}
