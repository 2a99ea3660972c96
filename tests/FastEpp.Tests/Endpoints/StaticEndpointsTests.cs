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
        Assert.Empty(StaticEndpoints.Parse(" , ", "d"));
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
    public void Parse_OnlyCommentsOrBlankLines_IsAnEmptyPool()
    {
        Assert.Empty(StaticEndpoints.Parse("# nothing here\n\n", "d"));
        Assert.Empty(StaticEndpoints.Parse("", "d"));
    }

    [Fact]
    public void ParseText_ReportsEveryMalformedLineWithItsNumber()
    {
        var list = StaticEndpoints.ParseText("10.0.0.1:80\nbad\n# c\n10.0.0.2:80, also-bad:x\n", out var errors);
        Assert.Equal([("10.0.0.1", 80), ("10.0.0.2", 80)], list);
        Assert.Equal(["line 2: invalid endpoint \"bad\": expected host:port or [ipv6]:port",
            "line 4: invalid endpoint \"also-bad:x\": expected host:port or [ipv6]:port"], errors);
    }

    [Fact]
    public void Names_StayWithTheirAddressAcrossReloads()
    {
        var names = new StaticEndpointNames("ns");
        var first = names.Build([("10.0.0.1", 80), ("10.0.0.2", 80)]);
        var second = names.Build([("10.0.0.3", 80), ("10.0.0.2", 80)]);
        Assert.Equal(["ns/static-0-rank-0", "ns/static-1-rank-0"], first.Select(e => e.Name));
        Assert.Equal(["ns/static-2-rank-0", "ns/static-1-rank-0"], second.Select(e => e.Name));
    }
}
