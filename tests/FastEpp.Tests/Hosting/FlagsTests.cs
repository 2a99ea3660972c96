using FastEpp.Hosting;

namespace FastEpp.Tests.Hosting;

public sealed class FlagsTests
{
    [Fact]
    public void Defaults_MatchTheReference()
    {
        var o = EppOptions.Parse(["--pool-name", "p"]);
        Assert.Equal(9002, o.GrpcPort);
        Assert.Equal(9003, o.GrpcHealthPort);
        Assert.Equal(9090, o.MetricsPort);
        Assert.True(o.SecureServing);
        Assert.Equal(TimeSpan.FromMilliseconds(50), o.RefreshMetricsInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), o.RefreshPrometheusMetricsInterval);
        Assert.Equal(TimeSpan.FromSeconds(2), o.MetricsStalenessThreshold);
        Assert.Equal("inference.networking.k8s.io", o.PoolGroup);
        Assert.Equal(64L * 1024 * 1024, o.MaxRequestBodyBytes);
        Assert.Null(o.Validate());
    }

    [Theory]
    [InlineData("--grpc-port=1234")]
    [InlineData("-grpc-port=1234")]
    [InlineData("--grpc-port", "1234")]
    [InlineData("-grpc-port", "1234")]
    public void IntFlag_AllGoForms(params string[] args)
    {
        var o = EppOptions.Parse([.. args, "--pool-name=p"]);
        Assert.Equal(1234, o.GrpcPort);
    }

    [Theory]
    [InlineData(new[] { "--secure-serving=false" }, false)]
    [InlineData(new[] { "--secure-serving" }, true)]
    [InlineData(new[] { "--secure-serving=0" }, false)]
    [InlineData(new[] { "--secure-serving=T" }, true)]
    public void BoolFlag_BareAndExplicit(string[] args, bool expected) =>
        Assert.Equal(expected, EppOptions.Parse([.. args, "--pool-name=p"]).SecureServing);

    [Fact]
    public void IntSlice_RepeatsAndCommas_DeduplicatedInOrder()
    {
        var o = EppOptions.Parse(["--endpoint-selector=app=vllm", "--endpoint-target-ports=8000,8001", "--endpoint-target-ports", "8001", "--endpoint-target-ports=8002"]);
        Assert.Equal([8000, 8001, 8002], o.EndpointTargetPorts);
        Assert.Null(o.Validate());
    }

    [Fact]
    public void Durations_GoSyntax()
    {
        var o = EppOptions.Parse(["--pool-name=p", "--refresh-metrics-interval=1m2.5s", "--metrics-staleness-threshold", "250ms"]);
        Assert.Equal(TimeSpan.FromSeconds(62.5), o.RefreshMetricsInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.MetricsStalenessThreshold);
    }

    [Theory]
    [InlineData("--no-such-flag")]
    [InlineData("--grpc-port=abc")]
    [InlineData("--refresh-metrics-interval=5")]
    [InlineData("--grpc-port")]
    [InlineData("--secure-serving=maybe")]
    public void BadFlags_AreUsageErrors(string arg) =>
        Assert.Throws<FlagException>(() => EppOptions.Parse([arg]));

    [Fact]
    public void EmptyEndpoints_IsAValidSource() => Assert.Null(EppOptions.Parse(["--endpoints="]).Validate());

    [Fact]
    public void Help_IsRequested() => Assert.Throws<HelpRequestedException>(() => EppOptions.Parse(["--help"]));

    [Theory]
    [InlineData(new string[0], "either pool-name or endpoint-selector must be set")]
    [InlineData(new[] { "--pool-name=p", "--endpoints=a:1" }, "either pool-name or endpoint-selector must be set")]
    [InlineData(new[] { "--pool-name=p", "--endpoints=" }, "either pool-name or endpoint-selector must be set")]
    [InlineData(new[] { "--endpoint-selector=app=x" }, "endpoint-target-ports must have between 1 and 8 entries")]
    [InlineData(new[] { "--pool-name=p", "--config-text=a", "--config-file=b" }, "both the config-text and config-file flags cannot be set")]
    [InlineData(new[] { "--pool-name=p", "--model-server-metrics-scheme=ftp" }, "must be http or https")]
    [InlineData(new[] { "--pool-name=p", "--lora-info-metric=x" }, "no longer supported")]
    public void Validation_InReferenceOrder(string[] args, string message) =>
        Assert.Contains(message, EppOptions.Parse(args).Validate());

    [Fact]
    public void DeprecatedFlag_Warns()
    {
        var warnings = new List<string>();
        EppOptions.Parse(["--pool-name=p", "--model-server-metrics-path=/m"], warnings.Add);
        Assert.Equal("Flag --model-server-metrics-path has been deprecated, use metrics-data-source plugin parameters instead", Assert.Single(warnings));
    }

    [Fact]
    public void PoolNamespace_FallsBackToDefault()
    {
        if (Environment.GetEnvironmentVariable("NAMESPACE") is { Length: > 0 })
            return; // the environment decides; covered where NAMESPACE is unset (CI)
        Assert.Equal("default", EppOptions.Parse(["--pool-name=p"]).PoolNamespace);
    }

    [Fact]
    public async Task Program_UnknownFlag_ExitsTwo() => Assert.Equal(2, await EppProgram.RunAsync(["--bogus"]));

    [Fact]
    public async Task Program_InvalidFlags_ExitsOne() => Assert.Equal(1, await EppProgram.RunAsync(["--grpc-port=0"]));
}
