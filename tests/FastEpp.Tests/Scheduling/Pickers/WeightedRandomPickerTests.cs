using FastEpp.Scheduling.Pickers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Pickers;

public sealed class WeightedRandomPickerTests
{
    [Fact]
    public void WeightedRandomPicker_ProportionalToScore()
    {
        var picker = new WeightedRandomPicker("w", 1, new Random(3));
        var counts = new int[3];
        for (int i = 0; i < 6000; i++)
            counts[Pick(picker, [1, 2, 0])[0]]++;
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[1] / (double)counts[0], 1.6, 2.5);
    }

    [Fact]
    public void WeightedRandomPicker_AllZero_BehavesAsRandom()
    {
        var picker = new WeightedRandomPicker("w", 2, new Random(5));
        var seen = new HashSet<int>();
        for (int i = 0; i < 100; i++)
            foreach (int c in Pick(picker, [0, 0, 0]))
                seen.Add(c);
        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public void WeightedRandomPicker_ZeroKeysFillRemainingSlots()
    {
        int[] r = Pick(new WeightedRandomPicker("w", 3, new Random(9)), [0.5, 0, 0]);
        Assert.Equal(0, r[0]);
        Assert.Equal(3, r.Length);
    }
}
