using System.Net.Security;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.Hosting;
using FastEpp.Tests.ExtProc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FastEpp.Tests.Hosting;

public sealed class HealthAndTlsTests
{
    private static GrpcChannel Plain(int port) => GrpcChannel.ForAddress($"http://127.0.0.1:{port}");

    [Fact]
    public async Task HealthPort_ServingOnceEndpointsKnown_AnyServiceName_WatchUnimplemented()
    {
        await using var epp = await EppServer.StartAsync();
        using var channel = Plain(epp.Host.HealthPort);
        var client = new Health.HealthClient(channel);
        foreach (var name in new[] { "", "liveness", "readiness", "inference-extension", HealthService.ExtProcService })
            Assert.Equal(ServingStatus.Serving, (await client.CheckAsync(new HealthCheckRequest { Service = name })).Status);
        var list = await client.ListAsync(new HealthListRequest());
        Assert.Equal(ServingStatus.Serving, Assert.Single(list.Statuses, kv => kv.Key == HealthService.ExtProcService).Value.Status);
        var watch = client.Watch(new HealthCheckRequest());
        var e = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Equal("Watch is not implemented", e.Status.Detail);
    }

    [Fact]
    public void HealthState_NotSynced_IsNotServing_AndLeaderElectionSemantics()
    {
        var registry = new EndpointRegistry();
        var state = new HealthState(registry);
        Assert.Equal(ServingStatus.NotServing, state.StatusFor("anything"));
        registry.Publish([new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000)]);
        Assert.Equal(ServingStatus.Serving, state.StatusFor("anything"));

        bool leader = false;
        var le = new HealthState(registry) { LeaderElection = true, IsLeader = () => leader };
        Assert.Equal(ServingStatus.Serving, le.StatusFor("liveness"));
        Assert.Equal(ServingStatus.NotServing, le.StatusFor("readiness"));
        Assert.Equal(ServingStatus.NotServing, le.StatusFor(""));
        Assert.Equal(ServingStatus.ServiceUnknown, le.StatusFor("inference-extension"));
        leader = true;
        Assert.Equal(ServingStatus.Serving, le.StatusFor(HealthService.ExtProcService));

        var h2cPool = new HealthState(registry) { AppProtocol = () => "kubernetes.io/h2c" };
        Assert.Equal(ServingStatus.Serving, h2cPool.StatusFor(""));
        var badPool = new HealthState(registry) { AppProtocol = () => "grpc" };
        Assert.Equal(ServingStatus.NotServing, badPool.StatusFor(""));
    }

    [Fact]
    public async Task HealthChecking_AddsStockHealthOnExtProcPort()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--health-checking");
        var client = new Health.HealthClient(epp.Channel);
        Assert.Equal(ServingStatus.Serving, (await client.CheckAsync(new HealthCheckRequest { Service = HealthService.ExtProcService })).Status);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.CheckAsync(new HealthCheckRequest { Service = "nope" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task OneServer_EachPortServesOnlyItsOwnRoutes()
    {
        // ext_proc, health and metrics are three listeners of one Kestrel app; each must answer as its own server.
        await using var epp = await EppServer.StartAsync();
        using var health = Plain(epp.Host.HealthPort);
        using var metrics = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{epp.Host.MetricsPort}") };

        // The stock health service is not on the ext_proc port without --health-checking.
        var e = await Assert.ThrowsAsync<RpcException>(async () => await new Health.HealthClient(epp.Channel).CheckAsync(new HealthCheckRequest()));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        // ext_proc is not on the health port.
        var stream = new ExternalProcessor.ExternalProcessorClient(health).Process();
        e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await stream.RequestStream.WriteAsync(new ProcessingRequest { RequestHeaders = new HttpHeaders() });
            await stream.ResponseStream.MoveNext();
        });
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        // The pool's health answer on the health port.
        Assert.Equal(ServingStatus.Serving, (await new Health.HealthClient(health).CheckAsync(new HealthCheckRequest { Service = "readiness" })).Status);
        // /metrics only on the metrics port; other paths 404 there.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await metrics.GetAsync("/metrics")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await metrics.GetAsync("/healthz")).StatusCode);
        using var h2 = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var onExtProc = await h2.GetAsync($"http://127.0.0.1:{epp.Host.GrpcPort}/metrics");
        Assert.Equal("12", Assert.Single(onExtProc.Headers.GetValues("grpc-status"))); // UNIMPLEMENTED, no page
        Assert.Empty(await onExtProc.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task SecureServing_SelfSignedCertificate_H2Alpn_ServesExtProc()
    {
        var options = EppOptions.Parse(["--endpoints", "10.0.0.9:8000", "--bind-address", "127.0.0.1",
            "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0"]);
        await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance);
        System.Security.Cryptography.X509Certificates.X509Certificate? seen = null;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => { seen = cert; return true; },
            },
        };
        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{host.GrpcPort}", new GrpcChannelOptions { HttpHandler = handler });
        using var s = new EnvoyStream(new ExternalProcessor.ExternalProcessorClient(channel).Process());
        await s.SendRequestHeaders(true, (":method", "GET"));
        var r = await s.Next();
        Assert.Equal("10.0.0.9:8000", EnvoyStream.SetHeaders(r.RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        Assert.NotNull(seen);
        Assert.Equal("O=Inference Ext", seen!.Subject);
    }

    [Fact]
    public async Task MetricsPort_ServesPrometheusText()
    {
        await using var epp = await EppServer.StartAsync();
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{epp.Host.MetricsPort}/metrics");
        Assert.Contains("inference_extension_info{", text);
        Assert.Contains("inference_pool_per_pod_queue_size{model_server_pod=\"static-0-rank-0\"", text);
        Assert.Contains("fastepp_extproc_requests_total 0", text);
    }

    [Fact]
    public async Task Ipv6Endpoint_IsBracketedInDestination_ButNotOnGetPath()
    {
        await using var epp = await EppServer.StartAsync("[fd00::1]:8000");
        using (var s = epp.Open())
        {
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            await s.SendRequestBody("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"u8.ToArray(), 8);
            Assert.Equal("[fd00::1]:8000", EnvoyStream.SetHeaders((await s.Next()).RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        }
        using (var s = epp.Open())
        {
            await s.SendRequestHeaders(true, (":method", "GET"));
            Assert.Equal("fd00::1:8000", EnvoyStream.SetHeaders((await s.Next()).RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        }
    }

    [Fact]
    public async Task OversizeBody_Is413()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--max-request-body-bytes=1000");
        using var s = epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(new byte[1200], 600); // the second chunk crosses the limit; nothing is written after it
        var r = await s.Next();
        Assert.Equal(413, (int)r.ImmediateResponse.Status.Code);
        Assert.StartsWith("inference error: PayloadTooLarge - request body exceeds the limit of 1000 bytes", r.ImmediateResponse.Body.ToStringUtf8());
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }
}
