using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.Tests.ExtProc;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FastEpp.Tests.Endpoints;

/// <summary>
/// <c>--endpoints=</c> (an empty pool: 503 per request, health as the reference's empty pool) and a watched
/// <c>--endpoints @file</c> (reloaded without a restart, malformed lines reported, the last good list kept),
/// driven over real gRPC with real files.
/// </summary>
public sealed class StaticEndpointSourceTests
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"hello\"}");

    private static async Task<ProcessingResponse> Route(EppServer epp)
    {
        using var s = epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        await s.SendRequestBody(Body, 4096);
        return await s.Next();
    }

    [Fact]
    public async Task EmptyList_StartsWithWarning_Answers503_HealthServing()
    {
        await using var epp = await EppServer.StartAsync("");
        Assert.Equal(0, epp.Endpoints.Count);
        var r = await Route(epp);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, r.ResponseCase);
        Assert.Equal(503, (int)r.ImmediateResponse.Status.Code);
        Assert.Equal("inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request", r.ImmediateResponse.Body.ToStringUtf8());

        // The reference's empty pool is still a synced pool: SERVING.
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{epp.Host.HealthPort}");
        var health = new Health.HealthClient(channel);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task WatchedFile_ChangesApplyWithoutRestart_MalformedKeepsLastGoodList()
    {
        string dir = Directory.CreateTempSubdirectory("fastepp-endpoints").FullName;
        try
        {
            string file = Path.Combine(dir, "endpoints");
            await File.WriteAllTextAsync(file, "# nothing yet\n");
            await using var epp = await EppServer.StartAsync("@" + file);
            Assert.Equal(503, (int)(await Route(epp)).ImmediateResponse.Status.Code);

            await File.WriteAllTextAsync(file, "10.0.0.7:8000\n");
            await Wait.UntilAsync(() => epp.Endpoints.Count == 1, "the new list is applied");
            var routed = await Route(epp);
            Assert.Equal("10.0.0.7:8000", EnvoyStream.SetHeaders(routed.RequestHeaders.Response)["x-gateway-destination-endpoint"]);

            var published = new System.Collections.Concurrent.ConcurrentQueue<string>();
            epp.Host.Registry.Changed += snapshot => published.Enqueue(string.Join(',', snapshot.Endpoints.Select(e => e.HostPort)));
            await File.WriteAllTextAsync(file, "10.0.0.8:8000\nnot an endpoint\n");

            // ConfigMap style: a new file swapped in by rename.
            string next = Path.Combine(dir, "endpoints.new");
            await File.WriteAllTextAsync(next, "10.0.0.7:8000, 10.0.0.9:8000\n");
            File.Move(next, file, overwrite: true);
            await Wait.UntilAsync(() => epp.Endpoints.Count == 2, "the swapped-in list is applied");
            Assert.Equal(["default/static-0-rank-0", "default/static-1-rank-0"], epp.Endpoints.Endpoints.Select(e => e.Name)); // 10.0.0.7 kept its name
            Assert.DoesNotContain(published, p => p.Contains("10.0.0.8", StringComparison.Ordinal)); // the malformed list was never applied

            await File.WriteAllTextAsync(file, "");
            await Wait.UntilAsync(() => epp.Endpoints.Count == 0, "an emptied file empties the pool");
            Assert.Equal(503, (int)(await Route(epp)).ImmediateResponse.Status.Code);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Reload_ReportsMalformedAndMissingFiles_KeepsTheList()
    {
        string dir = Directory.CreateTempSubdirectory("fastepp-endpoints").FullName;
        try
        {
            string file = Path.Combine(dir, "endpoints");
            File.WriteAllText(file, "10.0.0.1:80\n");
            var registry = new EndpointRegistry();
            var log = new FastEpp.Tests.Metrics.TestLogger<StaticEndpointFile>();
            var watched = new StaticEndpointFile(file, "ns", registry, log);
            Assert.Equal(1, watched.LoadInitial());

            File.WriteAllText(file, "10.0.0.2:80\nbad\n");
            watched.Reload();
            Assert.Equal("10.0.0.1:80", Assert.Single(registry.Current.Endpoints).HostPort);
            Assert.Contains(log.Entries.Select(e => e.Message), m => m.Contains("line 2: invalid endpoint \"bad\"", StringComparison.Ordinal)
                && m.Contains("keeping the last good list of 1 endpoints", StringComparison.Ordinal));

            File.Delete(file);
            watched.Reload();
            Assert.Single(registry.Current.Endpoints);
            Assert.Contains(log.Entries.Select(e => e.Message), m => m.Contains("cannot read the endpoints file", StringComparison.Ordinal));

            File.WriteAllText(file, "10.0.0.2:80\n");
            watched.Reload();
            Assert.Equal("10.0.0.2:80", Assert.Single(registry.Current.Endpoints).HostPort);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
