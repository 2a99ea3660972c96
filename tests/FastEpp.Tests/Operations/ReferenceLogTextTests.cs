using System.Text;
using System.Text.Json;
using FastEpp.Admission;
using FastEpp.Endpoints;
using FastEpp.Hosting;
using FastEpp.Scheduling;
using FastEpp.Tests.Kubernetes;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;

namespace FastEpp.Tests.Operations;

/// <summary>
/// The events operators alert on log the reference's constant message and keys (issue 12 §3; texts from the
/// reference's Go source: cmd/epp/runner/runner.go, pkg/epp/controller/inferencepool_reconciler.go,
/// pkg/epp/datastore/datastore.go, pkg/epp/datalayer/collector.go, pkg/epp/requestcontrol/admission.go). Each line
/// comes from the real call site: the EPP in pool mode against the fake API server, the poller against a closed port,
/// the legacy admission over a saturated pool. ("Flags processed": ZapLoggingTests.)
/// </summary>
public sealed class ReferenceLogTextTests
{
    private static string Str(JsonElement line, string key) => line.GetProperty(key).GetString()!;

    [Fact]
    public async Task PoolMode_LeaderElectionAndPoolSync_ReferenceTexts()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var options = EppOptions.Parse(["--pool-name", "pool1", "--pool-namespace", "ns1", "--secure-serving=false", "--tracing=false",
            "--ha-enable-leader-election", "--metrics-endpoint-auth=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0"]);
        Assert.Null(options.Validate());
        var capture = new LogCapture();
        using var loggers = EppProgram.CreateLoggerFactory(options.LogOptions, capture);
        await using var host = await EppHost.StartAsync(options, loggers, kubeConfig: h.Config);

        await Wait.UntilAsync(() => capture.With("This instance is now the leader!").Length == 1, "the leader line");
        var enabled = Assert.Single(capture.With("Leader election enabled"));
        Assert.Equal(("info", "setup"), (Str(enabled, "level"), Str(enabled, "logger")));
        var leader = Assert.Single(capture.With("This instance is now the leader!"));
        Assert.Equal(("info", "setup"), (Str(leader, "level"), Str(leader, "logger")));

        await Wait.UntilAsync(() => capture.With("InferencePool not found. Clearing the datastore").Length > 0, "the not-found line");
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool1", new() { ["app"] = "vllm" }, [8000]));
        await Wait.UntilAsync(() => capture.With("Updating endpoints").Length == 1, "the pool sync line");
        var updating = Assert.Single(capture.With("Updating endpoints"));
        Assert.Equal("info", Str(updating, "level"));
        Assert.Equal("app=vllm", Str(updating, "selector"));
        Assert.False(updating.GetProperty("targetPortsChanged").GetBoolean());
        var reconciling = capture.With("Reconciling InferencePool");
        Assert.NotEmpty(reconciling);
        foreach (var line in reconciling.Append(updating))
        {
            // controller-runtime's reconcile fields, which the reference's lines carry.
            Assert.Equal("inferencepool", Str(line, "controller"));
            Assert.Equal("InferencePool", Str(line, "controllerKind"));
            Assert.Equal(("pool1", "ns1"), (Str(line, "name"), Str(line, "namespace")));
            Assert.Equal("pool1", Str(line.GetProperty("InferencePool"), "name"));
            Assert.True(Guid.TryParse(Str(line, "reconcileID"), out _));
        }

        // A target-port change resyncs the endpoints again, with targetPortsChanged.
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool1", new() { ["app"] = "vllm" }, [8001]));
        await Wait.UntilAsync(() => capture.With("Updating endpoints").Length == 2, "the second pool sync line");
        Assert.True(capture.With("Updating endpoints")[1].GetProperty("targetPortsChanged").GetBoolean());
    }

    [Fact]
    public async Task ScrapeFailure_IsPollFailed_WithEndpointAndSource()
    {
        var options = EppOptions.Parse(["--endpoints", "127.0.0.1:1", "--secure-serving=false", "--tracing=false", "--bind-address", "127.0.0.1",
            "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0"]);
        var capture = new LogCapture();
        using var loggers = EppProgram.CreateLoggerFactory(options.LogOptions, capture);
        await using var host = await EppHost.StartAsync(options, loggers);
        await Wait.UntilAsync(() => capture.With("poll failed").Length > 0, "the scrape failure line");
        var line = Assert.Single(capture.With("poll failed")); // transitions only, as the reference's collector
        Assert.Equal("error", Str(line, "level"));
        Assert.Equal("127.0.0.1", Str(line, "endpoint"));
        Assert.Equal("metrics-data-source/metrics-data-source", Str(line, "source"));
        Assert.Contains("Connection refused", Str(line, "error"), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("http://127.0.0.1:1/metrics", Str(line, "url"));
    }

    private sealed class Saturated : ISaturationDetector
    {
        public string TypeName => "saturated";
        public string Name => "saturated";
        public double Saturation(EndpointSnapshot snapshot, ReadOnlySpan<int> candidates) => 1.0;
    }

    [Theory]
    [InlineData("-v=5", true)]
    [InlineData("-v=4", false)] // the reference logs it at TRACE (V(5))
    public void Shedding_LogsTheReferenceLine_AtTrace(string verbosity, bool expected)
    {
        var options = EppOptions.Parse(["--endpoints", "127.0.0.1:1", verbosity]);
        var capture = new LogCapture();
        using (var loggers = EppProgram.CreateLoggerFactory(options.LogOptions, capture))
        {
            var admission = new AdmissionControl(new Saturated(), null, loggers.CreateLogger("FastEpp.Admission"));
            var request = new SchedulingRequest { RequestId = "req-1", Priority = -1 };
            var decision = admission.Admit(request, "m", EndpointSnapshot.Empty, []);
            Assert.Equal(AdmissionVerdict.Reject, decision.Verdict);
            Assert.Equal(AdmissionVerdict.Admit, admission.Admit(new SchedulingRequest { RequestId = "req-2", Priority = 0 }, "m", EndpointSnapshot.Empty, []).Verdict);
        }
        var lines = capture.With("Request rejected: system saturated and request is sheddable");
        if (!expected)
        {
            Assert.Empty(lines);
            return;
        }
        var line = Assert.Single(lines);
        Assert.Equal("req-1", Str(line, "requestID"));
    }
}
