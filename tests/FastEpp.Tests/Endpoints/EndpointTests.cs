using System.Text;
using FastEpp.Endpoints;

namespace FastEpp.Tests.Endpoints;

public sealed class EndpointTests
{
    [Theory]
    [InlineData("10.0.0.1:8000", "10.0.0.1", 8000)]
    [InlineData("  vllm.local:80 ", "vllm.local", 80)]
    [InlineData("[fd00::1]:9000", "fd00::1", 9000)]
    [InlineData("h:65535", "h", 65535)]
    public void TryParseHostPort_Accepts(string text, string host, int port)
    {
        Assert.True(Endpoint.TryParseHostPort(text, out var h, out var p));
        Assert.Equal(host, h);
        Assert.Equal(port, p);
    }

    [Theory]
    [InlineData("")]
    [InlineData("nohost")]
    [InlineData(":80")]
    [InlineData("h:0")]
    [InlineData("h:65536")]
    [InlineData("h:+80")]
    [InlineData("fd00::1:9000")]
    [InlineData("[fd00::1]")]
    [InlineData("[fd00::1]9000")]
    [InlineData("[not-an-ip]:80")]
    public void TryParseHostPort_Rejects(string text) =>
        Assert.False(Endpoint.TryParseHostPort(text, out _, out _));

    [Fact]
    public void Constructor_PrecomputesTheDestinationForms()
    {
        var v4 = new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 9090);
        Assert.False(v4.IsIPv6);
        Assert.Equal("10.0.0.1:8000", v4.HostPort);
        Assert.Equal("10.0.0.1:9090", v4.MetricsHost);
        Assert.Equal(Encoding.UTF8.GetBytes("10.0.0.1:8000"), v4.HostPortUtf8);
        Assert.Empty(v4.Labels);

        var v6 = new Endpoint("ns/b-rank-0", "b", "fd00::1", 8000, 8000);
        Assert.True(v6.IsIPv6);
        Assert.Equal("[fd00::1]:8000", v6.HostPort);
        Assert.Equal("[fd00::1]:8000", v6.MetricsHost);
        Assert.Equal("fd00::1", v6.Address);
    }

    [Fact]
    public void WithState_KeepsIdentity_AndTakesTheGivenState()
    {
        var labels = new Dictionary<string, string> { ["app"] = "vllm" };
        var a = new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 9090, labels);
        var state = new EndpointState();
        var b = a.WithState(state);
        Assert.Same(state, b.State);
        Assert.Equal((a.Name, a.PodName, a.HostPort, a.MetricsPort), (b.Name, b.PodName, b.HostPort, b.MetricsPort));
        Assert.Same(a.Labels, b.Labels);
    }
}
