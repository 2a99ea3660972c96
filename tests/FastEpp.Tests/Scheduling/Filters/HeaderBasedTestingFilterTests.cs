using FastEpp.Scheduling.Filters;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Filters;

public sealed class HeaderBasedTestingFilterTests
{
    [Fact]
    public void HeaderBasedTestingFilter_HeaderOrder_DedupByIp_Ports()
    {
        var s = Uniform(3); // 10.0.0.1, 10.0.0.2, 10.0.0.3 on port 8000
        var headers = new Dictionary<string, string> { ["test-epp-endpoint-selection"] = "10.0.0.3, 10.0.0.1:8000,10.0.0.3:8000, 10.0.0.2:9999" };
        Assert.Equal([2, 0], Filter(new HeaderBasedTestingFilter("h"), Context(s, EmptyRequest(headers))));
        Assert.Empty(Filter(new HeaderBasedTestingFilter("h"), Context(s)));
        var blank = new Dictionary<string, string> { ["test-epp-endpoint-selection"] = "  " };
        Assert.Empty(Filter(new HeaderBasedTestingFilter("h"), Context(s, EmptyRequest(blank))));
    }
}
