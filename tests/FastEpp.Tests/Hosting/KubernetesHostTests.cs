using System.Text;
using FastEpp.Hosting;
using FastEpp.Tests.ExtProc;
using FastEpp.Tests.Kubernetes;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FastEpp.Tests.Hosting;

/// <summary>The whole EPP in pool mode against the fake API server: discovery → health → routing → rewrite.</summary>
public sealed class KubernetesHostTests
{
    [Fact]
    public async Task PoolMode_EndToEnd()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var options = EppOptions.Parse(["--pool-name", "pool1", "--pool-namespace", "ns1", "--secure-serving=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0"]);
        Assert.Null(options.Validate());
        await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance, kubeConfig: h.Config);
        using var healthChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.HealthPort}");
        var health = new Health.HealthClient(healthChannel);
        Assert.Equal(ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest())).Status); // no pool yet

        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("vllm-0", "10.9.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("other", "10.9.0.2", labels: new() { ["app"] = "other" }));
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool1", new() { ["app"] = "vllm" }, [8000]));
        h.Server.Upsert(FakeKubeApiServer.Rewrites("ns1"), Rewrite("rw", "pool1", "2026-01-01T00:00:00Z", (["alias"], [("real-model", 1)])));
        await Wait.UntilAsync(() => host.Registry.Current.Count == 1, "the pool's endpoint");
        await Wait.UntilAsync(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == ServingStatus.Serving, "health SERVING");

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}");
        using var s = new EnvoyStream(new Envoy.Service.ExtProc.V3.ExternalProcessor.ExternalProcessorClient(channel).Process());
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        // The rewrite store may lag the pool by a moment: retry on a fresh stream until the rule is in force.
        await s.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"alias\",\"prompt\":\"hi\"}"), 4);
        var headers = EnvoyStream.SetHeaders((await s.Next()).RequestHeaders.Response);
        Assert.Equal("10.9.0.1:8000", headers["x-gateway-destination-endpoint"]);
        var body = Encoding.UTF8.GetString((await s.ReadRequestBody()).Body);
        if (body.Contains("alias"))
        {
            await Wait.UntilAsync(() => !host.Runtime.ModelRewrites().IsEmpty, "the rewrite rule");
            using var again = new EnvoyStream(new Envoy.Service.ExtProc.V3.ExternalProcessor.ExternalProcessorClient(channel).Process());
            await again.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
            await again.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"alias\",\"prompt\":\"hi\"}"), 4);
            await again.Next();
            body = Encoding.UTF8.GetString((await again.ReadRequestBody()).Body);
        }
        Assert.Equal("{\"model\":\"real-model\",\"prompt\":\"hi\"}", body);
    }
}
