using System.Globalization;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.Hosting;
using FastEpp.Configuration;
using FastEpp.Scheduling.Producers;
using FastEpp.Tests.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.ExtProc;

/// <summary>
/// The whole decision path as deployed: the EPP started from flags (and an EndpointPickerConfig file), static
/// endpoints whose /metrics are real HTTP servers on loopback, the metrics poller feeding the scheduler, and
/// requests driven over gRPC the way Envoy sends them. Queue, KV-cache and prefix signals must move the choice.
/// </summary>
public sealed class ConfiguredSchedulingEndToEndTests
{
    private static string VllmMetrics(int waiting, double kv, int running = 0) => string.Create(CultureInfo.InvariantCulture, $"""
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{"{"}model_name="m"{"}"} {waiting}
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{"{"}model_name="m"{"}"} {running}
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{"{"}model_name="m"{"}"} {kv}
        # TYPE vllm:cache_config_info gauge
        vllm:cache_config_info{"{"}block_size="16",num_gpu_blocks="1000"{"}"} 1

        """);

    private sealed class Fleet : IAsyncDisposable
    {
        public required FakeModelServer Servers { get; init; }
        public required EppServer Epp { get; init; }
        public FakeModelServer.Backend this[int i] => Servers.Backends[i];
        public string HostPort(int i) => "127.0.0.1:" + Servers.Backends[i].Port.ToString(CultureInfo.InvariantCulture);

        public async ValueTask DisposeAsync()
        {
            await Epp.DisposeAsync();
            await Servers.DisposeAsync();
        }
    }

    private static async Task<Fleet> StartFleet(int count, Action<FakeModelServer.Backend, int> setup, params string[] flags)
    {
        var servers = await FakeModelServer.StartAsync(count);
        for (int i = 0; i < count; i++)
            setup(servers.Backends[i], i);
        string endpoints = string.Join(',', servers.Backends.Select(b => "127.0.0.1:" + b.Port.ToString(CultureInfo.InvariantCulture)));
        var epp = await EppServer.StartAsync(endpoints, ["--refresh-metrics-interval", "20ms", .. flags]);
        var fleet = new Fleet { Servers = servers, Epp = epp };
        await WaitForScrapes(fleet);
        return fleet;
    }

    /// <summary>Waits until every endpoint's metrics were scraped at least once after the current bodies were set.</summary>
    private static async Task WaitForScrapes(Fleet fleet)
    {
        var start = fleet.Servers.Backends.Select(b => b.Requests).ToArray();
        for (int attempt = 0; attempt < 500; attempt++)
        {
            bool all = true;
            for (int i = 0; i < start.Length; i++)
                all &= fleet[i].Requests >= start[i] + 2;
            if (all && fleet.Epp.Endpoints.Endpoints.All(e => e.State.Metrics.UpdatedAt != default))
                return;
            await Task.Delay(10);
        }
        Assert.Fail("the poller never scraped every endpoint");
    }

    private static async Task<string> Route(EppServer epp, string prompt)
    {
        using var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        byte[] body = Encoding.UTF8.GetBytes($$"""{"model":"m","prompt":"{{prompt}}","max_tokens":4}""");
        await stream.SendRequestBody(body, 8192);
        var headers = await stream.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        await stream.ReadRequestBody();
        await stream.Complete();
        Scheduling.SchedulingTestData.WaitForPrefixRecords(epp.Host.Scheduler!);
        return EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
    }

    [Fact]
    public async Task DefaultConfig_ShortestQueueWins_AndFollowsTheMetricsWhenTheyChange()
    {
        int[] queues = [7, 0, 4];
        await using var fleet = await StartFleet(3, (b, i) => b.Body = VllmMetrics(queues[i], 0.2));
        for (int i = 0; i < 6; i++)
            Assert.Equal(fleet.HostPort(1), await Route(fleet.Epp, "hello " + i));

        fleet[1].Body = VllmMetrics(12, 0.2);
        fleet[2].Body = VllmMetrics(0, 0.2);
        await WaitForScrapes(fleet);
        for (int i = 0; i < 6; i++)
            Assert.Equal(fleet.HostPort(2), await Route(fleet.Epp, "again " + i));
    }

    [Fact]
    public async Task DefaultConfig_FreerKvCacheWins_AtEqualQueues()
    {
        double[] kv = [0.9, 0.5, 0.1];
        await using var fleet = await StartFleet(3, (b, i) => b.Body = VllmMetrics(2, kv[i]));
        for (int i = 0; i < 6; i++)
            Assert.Equal(fleet.HostPort(2), await Route(fleet.Epp, "kv " + i));
    }

    [Fact]
    public async Task DefaultConfig_SharedPrefixSticks_ThenLoadOverridesIt()
    {
        await using var fleet = await StartFleet(4, (b, _) => b.Body = VllmMetrics(1, 0.3));
        string system = string.Concat(Enumerable.Repeat("You are a careful assistant who answers briefly. ", 40));
        string first = await Route(fleet.Epp, system + "Question 0");
        for (int i = 1; i < 8; i++)
            Assert.Equal(first, await Route(fleet.Epp, system + "Question " + i));

        // The prefix holder becomes the most loaded endpoint by far: queue (×2) and KV (×2) now outweigh prefix (×3).
        int holder = Enumerable.Range(0, 4).Single(i => fleet.HostPort(i) == first);
        fleet[holder].Body = VllmMetrics(40, 0.95);
        await WaitForScrapes(fleet);
        Assert.NotEqual(first, await Route(fleet.Epp, system + "Question 9"));

        // The index is exported on the metrics port.
        string metrics = fleet.Epp.Host.RenderMetrics();
        Assert.Matches(@"inference_extension_prefix_indexer_size [1-9]\d*", metrics);
    }

    [Fact]
    public async Task ConfigFile_FallbackList_QueueOnlyProfile_CustomMetricsPath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"fastepp-config-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(path, """
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: queue-scorer
            - name: picker
              type: max-score-picker
              parameters:
                maxNumOfEndpoints: 3
            - type: metrics-data-source
              parameters:
                path: /engine/metrics
            - type: core-metrics-extractor
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: queue-scorer
              - pluginRef: picker
            dataLayer:
              sources:
              - pluginRef: metrics-data-source
                extractors:
                - pluginRef: core-metrics-extractor
            """);
        try
        {
            int[] queues = [5, 1, 9, 3];
            await using var fleet = await StartFleet(4, (b, i) =>
            {
                b.MetricsPath = "/engine/metrics";
                b.Body = VllmMetrics(queues[i], 0.99);
            }, "--config-file", path);
            string destination = await Route(fleet.Epp, "fallbacks please");
            Assert.Equal($"{fleet.HostPort(1)},{fleet.HostPort(3)},{fleet.HostPort(0)}", destination);
            Assert.Equal(4, fleet.Epp.Host.Registry.Current.Endpoints.Count(e => e.State.Metrics.WaitingQueueSize == queues[Array.IndexOf(
                fleet.Servers.Backends.Select(b => b.Port).ToArray(), e.Port)]));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ConfigText_RandomPicker_SpreadsAcrossEndpoints()
    {
        await using var fleet = await StartFleet(3, (b, i) => b.Body = VllmMetrics(i * 10, 0.5),
            "--config-text", """
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: random-picker
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: random-picker
            """);
        var seen = new HashSet<string>();
        for (int i = 0; i < 60 && seen.Count < 3; i++)
            seen.Add(await Route(fleet.Epp, "r" + i));
        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public async Task TokenLoad_SpreadsOpenRequests_AndEveryEndedStreamReleasesItsCharge()
    {
        await using var fleet = await StartFleet(3, (b, _) => b.Body = VllmMetrics(0, 0.1), "--config-text", """
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: token-load-scorer
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: token-load-scorer
            """);
        var producer = fleet.Epp.Host.Scheduler!.Config!.Plugins.OfType<InFlightLoadProducer>().Single();

        // Six requests whose responses have not arrived: the least-loaded endpoint wins each time → two each.
        var open = new List<EnvoyStream>();
        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 6; i++)
        {
            var stream = fleet.Epp.Open();
            open.Add(stream);
            await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
            await stream.SendRequestBody(Encoding.UTF8.GetBytes($$"""{"model":"m","prompt":"same size {{i}}"}"""), 4096);
            var headers = await stream.Next();
            string dest = EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
            counts[dest] = counts.GetValueOrDefault(dest) + 1;
            await stream.ReadRequestBody();
        }
        Assert.Equal([2, 2, 2], counts.Values.Order().ToArray());
        Assert.Equal(6, fleet.Epp.Endpoints.Endpoints.Sum(e => producer.Get(e.State).Requests));

        // End them every way a stream ends: response completed, client gone, half-close without a response.
        await open[0].Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")), EndOfStream = true } });
        await open[0].Next();
        open[1].Dispose();
        open[2].Dispose();
        for (int i = 3; i < 6; i++)
            await open[i].Complete();
        open[0].Dispose();
        for (int i = 3; i < 6; i++)
            open[i].Dispose();
        for (int attempt = 0; attempt < 300 && fleet.Epp.Endpoints.Endpoints.Sum(e => producer.Get(e.State).Requests) > 0; attempt++)
            await Task.Delay(10);
        Assert.All(fleet.Epp.Endpoints.Endpoints, e => Assert.Equal((0, 0L), producer.Get(e.State)));
    }

    public static TheoryData<string, string> BadConfigs => new()
    {
        { "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: no-such-scorer\n", "no-such-scorer" },
        { "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: predicted-latency-producer\n", "latency-predictor" },
        { "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nbogusField: 1\n", "bogusField" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public async Task BadConfig_StopsStartup_WithTheReason(string config, string expected)
    {
        var options = EppOptions.Parse(["--endpoints", "127.0.0.1:1", "--secure-serving=false", "--bind-address", "127.0.0.1",
            "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0", "--config-text", config]);
        var error = await Assert.ThrowsAsync<ConfigException>(() => EppHost.StartAsync(options, NullLoggerFactory.Instance));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadConfigFile_ExitsOne() =>
        Assert.Equal(1, await EppProgram.RunAsync(["--endpoints", "127.0.0.1:1", "--secure-serving=false", "--grpc-port", "0",
            "--grpc-health-port", "0", "--metrics-port", "0", "--config-file", "/nonexistent/fastepp.yaml"]));
}
