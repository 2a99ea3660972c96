using FastEpp.Scheduling.Pickers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Pickers;

public sealed class RandomPickerTests
{
    [Fact]
    public void RandomPicker_DistinctSubset()
    {
        int[] r = Pick(new RandomPicker("r", 3, new Random(1)), [0, 0, 0, 0, 0]);
        Assert.Equal(3, r.Distinct().Count());
    }
}
