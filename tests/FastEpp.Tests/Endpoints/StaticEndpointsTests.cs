using FastEpp.Endpoints;

namespace FastEpp.Tests.Endpoints;

public sealed class StaticEndpointsTests
{
    [Fact]
    public void StaticEndpoints_ParseListsFilesIPv6AndRejectGarbage()
    {
        var list = StaticEndpoints.Parse("10.0.0.1:8000, [fd00::1]:9000,10.0.0.1:8000", "default");
        Assert.Equal(2, list.Count);
        Assert.Equal("[fd00::1]:9000", list[1].HostPort);
        Assert.Equal("fd00::1", list[1].Address);
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "# fleet\n10.0.0.5:80\n10.0.0.6:80 # second\n");
        Assert.Equal(["10.0.0.5:80", "10.0.0.6:80"], StaticEndpoints.Parse("@" + file, "default").Select(e => e.HostPort));
        File.Delete(file);
        Assert.Throws<FormatException>(() => StaticEndpoints.Parse("nohost", "d"));
        Assert.Throws<FormatException>(() => StaticEndpoints.Parse("h:99999", "d"));
        Assert.Throws<FormatException>(() => StaticEndpoints.Parse(" , ", "d"));
    }

    [Fact]
    public void Parse_NamesFollowTheReferenceShape_InOrderOfFirstSight()
    {
        var list = StaticEndpoints.Parse("10.0.0.2:8000,10.0.0.1:8000,10.0.0.2:8000,10.0.0.3:8000", "pool-ns");
        Assert.Equal(["pool-ns/static-0-rank-0", "pool-ns/static-1-rank-0", "pool-ns/static-2-rank-0"], list.Select(e => e.Name));
        Assert.Equal(["static-0", "static-1", "static-2"], list.Select(e => e.PodName));
        Assert.Equal(["10.0.0.2:8000", "10.0.0.1:8000", "10.0.0.3:8000"], list.Select(e => e.HostPort));
        Assert.All(list, e => Assert.Equal(e.Port, e.MetricsPort)); // metrics are scraped on the serving port
    }

    [Fact]
    public void Parse_OnlyCommentsOrBlankLines_Throws()
    {
        var e = Assert.Throws<FormatException>(() => StaticEndpoints.Parse("# nothing here\n\n", "d"));
        Assert.Equal("no endpoints given", e.Message);
    }
}
