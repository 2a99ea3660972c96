using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FastEpp.Endpoints;
using FastEpp.Metrics;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Tests.Metrics;

public class MetricsPollerTests
{
    private static string VllmBody(int waiting, int running = 1, double kv = 0.25) => $$"""
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="m"} {{running}}.0
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="m"} {{waiting}}.0
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{engine="0",model_name="m"} {{kv.ToString(System.Globalization.CultureInfo.InvariantCulture)}}
        # TYPE vllm:lora_requests_info gauge
        vllm:lora_requests_info{max_lora="2",running_lora_adapters="a",waiting_lora_adapters=""} 1.7e9
        # TYPE vllm:cache_config_info gauge
        vllm:cache_config_info{block_size="16",num_gpu_blocks="1000"} 1.0

        """;

    private static Endpoint EndpointFor(int port, string name, Dictionary<string, string>? labels = null) =>
        new($"default/{name}-rank-0", name, "127.0.0.1", port, port, labels);

    private static MetricsPoller CreatePoller(EndpointRegistry registry, TestLogger<MetricsPoller> logger, Action<MetricsPollerOptions>? configure = null)
    {
        var options = new MetricsPollerOptions { RequestTimeout = TimeSpan.FromMilliseconds(500), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        configure?.Invoke(options);
        var poller = new MetricsPoller(registry, EngineConfigs.CreateDefaultSelector(), options, logger);
        poller.Start();
        return poller;
    }

    private static EndpointScrapeStatus Status(MetricsPoller poller, Endpoint endpoint) =>
        poller.TryGetStatus(endpoint.State, out var s) ? s : default;

    [Fact]
    public async Task Poll_ValuesChange_PollerFollows()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        backend.Body = VllmBody(waiting: 1);
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-a");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => endpoint.State.Metrics.WaitingQueueSize == 1, "first scrape");
        var first = endpoint.State.Metrics;
        Assert.Equal((1, 0.25, 16, 1000, 2), (first.RunningRequestsSize, first.KvCacheUsagePercent, first.CacheBlockSize, first.CacheNumBlocks, first.MaxActiveModels));
        Assert.Equal(["a"], first.ActiveModels!);

        backend.Body = VllmBody(waiting: 5, running: 9, kv: 0.75);
        await Wait.UntilAsync(() => endpoint.State.Metrics.WaitingQueueSize == 5, "second value");
        var second = endpoint.State.Metrics;
        Assert.Equal((9, 0.75), (second.RunningRequestsSize, second.KvCacheUsagePercent));
        Assert.True(second.UpdatedAt > first.UpdatedAt);
        Assert.Same(first.ActiveModels, second.ActiveModels); // unchanged adapter list: same array
        Assert.Equal(0, logger.Count(5001));
        Assert.Equal(0, logger.Count(5003));
    }

    [Fact]
    public async Task Poll_Http500_OldValuesKeptUpdatedAtFrozenLoggedOnceThenRecovers()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        backend.Body = VllmBody(waiting: 4);
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-a");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => endpoint.State.Metrics.IsFresh, "first scrape");
        backend.Behaviour = FakeModelServer.Mode.Status500;
        await Wait.UntilAsync(() => Status(poller, endpoint).ConsecutiveFailures >= 3, "three failed scrapes");
        var frozen = endpoint.State.Metrics;
        int requestsAtFrozen = backend.Requests;
        await Wait.UntilAsync(() => backend.Requests >= requestsAtFrozen + 2, "two more failed scrapes");

        var after = endpoint.State.Metrics;
        Assert.Equal(frozen, after);               // values and UpdatedAt unchanged: the age grows
        Assert.Equal(4, after.WaitingQueueSize);
        var status = Status(poller, endpoint);
        Assert.True(status.Failing);
        // On a loaded machine a scrape may also time out; the 500 is what the next answered scrape reports.
        await Wait.UntilAsync(() => Status(poller, endpoint).LastError?.Contains("HTTP 500", StringComparison.Ordinal) == true, "HTTP 500 reported");
        Assert.Equal(1, logger.Count(5001));       // one warning for the whole outage

        backend.Behaviour = FakeModelServer.Mode.Ok;
        backend.Body = VllmBody(waiting: 6);
        await Wait.UntilAsync(() => endpoint.State.Metrics.WaitingQueueSize == 6, "recovery");
        Assert.True(endpoint.State.Metrics.UpdatedAt > frozen.UpdatedAt);
        await Wait.UntilAsync(() => logger.Count(5002) == 1, "recovery logged");
        Assert.Equal(1, logger.Count(5001));
    }

    [Fact]
    public async Task Poll_HangingServer_TimesOutAndOthersStayFresh()
    {
        await using var server = await FakeModelServer.StartAsync(2);
        var (healthy, hanging) = (server.Backends[0], server.Backends[1]);
        healthy.Body = VllmBody(waiting: 2);
        hanging.Behaviour = FakeModelServer.Mode.Hang;
        var registry = new EndpointRegistry();
        var a = EndpointFor(healthy.Port, "pod-a");
        var h = EndpointFor(hanging.Port, "pod-h");
        registry.Publish([a, h]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger, o => o.RequestTimeout = TimeSpan.FromSeconds(5));

        await Wait.UntilAsync(() => hanging.Requests >= 1, "the hanging server got a request");
        long healthyScrapesAtHang = Status(poller, a).Scrapes;
        // A loop blocked by the hang would scrape nothing else for 5 s; a loaded machine still manages two in 4 s.
        await Wait.UntilAsync(() => Status(poller, a).Scrapes >= healthyScrapesAtHang + 2, "the healthy endpoint kept being scraped while the other one hung", TimeSpan.FromSeconds(4));
        await Wait.UntilAsync(() => Status(poller, h).Failures >= 1, "the hang timed out");

        Assert.Contains("timed out", Status(poller, h).LastError);
        Assert.False(h.State.Metrics.IsFresh);
        Assert.Equal(2, a.State.Metrics.WaitingQueueSize);
    }

    [Fact]
    public async Task Poll_ConnectionClosedMidBody_FailureAndValuesKept()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        backend.Body = VllmBody(waiting: 3);
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-a");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => endpoint.State.Metrics.IsFresh, "first scrape");
        var before = endpoint.State.Metrics;
        backend.Body = VllmBody(waiting: 8);
        backend.Behaviour = FakeModelServer.Mode.CloseMidBody;
        await Wait.UntilAsync(() => Status(poller, endpoint).ConsecutiveFailures >= 2, "failed scrapes");

        Assert.Equal(before, endpoint.State.Metrics); // the first 200 bytes were never scanned
        Assert.True(Status(poller, endpoint).Failing);
    }

    [Fact]
    public async Task Poll_MalformedBody_NotATransportFailureNothingUpdated()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        var garbage = new byte[32 * 1024];
        new Random(3).NextBytes(garbage);
        backend.RawBody = garbage;
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-a");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => Status(poller, endpoint).Scrapes >= 3, "three scrapes");
        var status = Status(poller, endpoint);
        Assert.False(status.Failing);
        Assert.False(status.LastReport.Updated);
        Assert.Equal(status.LastReport.Enabled, status.LastReport.Missing);
        Assert.Equal(default, endpoint.State.Metrics.UpdatedAt);
        Assert.Equal(1, logger.Count(5003)); // incomplete extraction logged once
    }

    [Fact]
    public async Task Poll_HugeBodies_RejectedAtCapAndOthersUnaffected()
    {
        await using var server = await FakeModelServer.StartAsync(3);
        var (declared, streamed, healthy) = (server.Backends[0], server.Backends[1], server.Backends[2]);
        declared.Behaviour = FakeModelServer.Mode.DeclaredHuge;   // Content-Length: 50 MB
        streamed.Behaviour = FakeModelServer.Mode.StreamedHuge;   // chunked 4 MB, cap 1 MiB
        healthy.Body = VllmBody(waiting: 7);
        var registry = new EndpointRegistry();
        var d = EndpointFor(declared.Port, "pod-d");
        var s = EndpointFor(streamed.Port, "pod-s");
        var a = EndpointFor(healthy.Port, "pod-a");
        registry.Publish([d, s, a]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger, o => o.MaxBodyBytes = 1024 * 1024);

        // A loaded box may time a scrape out first; the cap must be what the poller reports once a scrape completes.
        await Wait.UntilAsync(() => Status(poller, d).LastError?.Contains("exceeds", StringComparison.Ordinal) == true
            && Status(poller, s).LastError?.Contains("exceeds", StringComparison.Ordinal) == true, "both huge bodies rejected at the cap");
        Assert.Contains("exceeds the 1048576-byte limit", Status(poller, d).LastError);
        Assert.Contains("52428800", Status(poller, d).LastError);
        Assert.Contains("exceeds the 1048576-byte limit", Status(poller, s).LastError);
        await Wait.UntilAsync(() => a.State.Metrics.WaitingQueueSize == 7, "healthy endpoint scraped");
        Assert.False(d.State.Metrics.IsFresh);
        Assert.False(s.State.Metrics.IsFresh);
    }

    [Fact]
    public async Task Poll_RegistryChanges_AddedEndpointPolledRemovedEndpointStops()
    {
        await using var server = await FakeModelServer.StartAsync(2);
        var (first, second) = (server.Backends[0], server.Backends[1]);
        first.Body = VllmBody(waiting: 1);
        second.Body = VllmBody(waiting: 2);
        var registry = new EndpointRegistry();
        var a = EndpointFor(first.Port, "pod-a");
        registry.Publish([a]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);
        await Wait.UntilAsync(() => a.State.Metrics.IsFresh, "pod-a scraped");
        Assert.Equal(0, second.Requests);

        var b = EndpointFor(second.Port, "pod-b");
        registry.Publish([a, b]);
        await Wait.UntilAsync(() => b.State.Metrics.WaitingQueueSize == 2, "new endpoint scraped");

        registry.Publish([b]);
        await Wait.UntilAsync(() => !poller.IsPolling(a.State), "pod-a no longer polled");
        int requestsAfterRemoval = first.Requests;
        int secondRequests = second.Requests;
        await Wait.UntilAsync(() => second.Requests >= secondRequests + 5, "five more scrapes of pod-b");
        Assert.Equal(requestsAfterRemoval, first.Requests);
        Assert.False(poller.TryGetStatus(a.State, out _));
    }

    [Fact]
    public async Task Poll_NeverReachable_UpdatedAtStaysDefault()
    {
        // A port nobody listens on: connection refused on every attempt.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int deadPort = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(deadPort, "pod-dead");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => Status(poller, endpoint).Failures >= 3, "three failed attempts");
        Assert.Equal(default, endpoint.State.Metrics);
        Assert.False(endpoint.State.Metrics.IsFresh);
        Assert.Equal(1, logger.Count(5001));
    }

    [Fact]
    public async Task Poll_AllFourDialects_OverRealHttp_OnePollerMixedFleet()
    {
        var cases = new (string Fixture, string? Engine, (int, int, double, int, int) Expected)[]
        {
            ("vllm.txt", null, (3, 7, 0.4375, 16, 27000)),
            ("sglang.txt", "sglang", (5, 12, 0.62, 1, 183320)),
            ("trtllm-serve.txt", "trtllm-serve", (2, 31, 0.8125, 32, 4096)),
            ("triton.txt", EngineConfig.TritonTensorRtLlmName, (6, 14, 0.296875, 64, 2048)),
        };
        await using var server = await FakeModelServer.StartAsync(cases.Length);
        var registry = new EndpointRegistry();
        var endpoints = new Endpoint[cases.Length];
        for (int i = 0; i < cases.Length; i++)
        {
            server.Backends[i].Body = MetricsFixtures.LoadText(cases[i].Fixture);
            var labels = cases[i].Engine is { } engine ? new Dictionary<string, string> { [EngineConfigs.DefaultEngineLabelKey] = engine } : null;
            endpoints[i] = EndpointFor(server.Backends[i].Port, $"pod-{i}", labels);
        }
        registry.Publish(endpoints);
        await using var poller = CreatePoller(registry, new TestLogger<MetricsPoller>());
        foreach (var e in endpoints)
            await Wait.UntilAsync(() => e.State.Metrics.IsFresh, "scraped " + e.Name);
        for (int i = 0; i < cases.Length; i++)
        {
            var m = endpoints[i].State.Metrics;
            Assert.Equal(cases[i].Expected, (m.WaitingQueueSize, m.RunningRequestsSize, m.KvCacheUsagePercent, m.CacheBlockSize, m.CacheNumBlocks));
        }
    }

    [Fact]
    public async Task Poll_EngineSelectedByPodLabel_SGLangParsed()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        backend.Body = MetricsFixtures.LoadText("sglang.txt");
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-sg", new() { [EngineConfigs.DefaultEngineLabelKey] = "sglang" });
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using var poller = CreatePoller(registry, logger);

        await Wait.UntilAsync(() => endpoint.State.Metrics.IsFresh, "scraped");
        var m = endpoint.State.Metrics;
        Assert.Equal((5, 12, 1, 183320), (m.WaitingQueueSize, m.RunningRequestsSize, m.CacheBlockSize, m.CacheNumBlocks));
        Assert.True(Status(poller, endpoint).LastReport.Complete);
    }

    [Fact]
    public async Task Poll_Https_SelfSignedAcceptedOnlyWithInsecureSkipVerify()
    {
        using var certificate = CreateSelfSigned();
        await using var server = await FakeModelServer.StartAsync(1, certificate);
        var backend = server.Backends[0];
        backend.Body = VllmBody(waiting: 9);

        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-tls");
        registry.Publish([endpoint]);
        var logger = new TestLogger<MetricsPoller>();
        await using (var verifying = CreatePoller(registry, logger, o => { o.Scheme = "https"; o.InsecureSkipVerify = false; }))
        {
            await Wait.UntilAsync(() => Status(verifying, endpoint).Failures >= 1, "TLS verification failure");
            Assert.False(endpoint.State.Metrics.IsFresh);
        }

        await using var insecure = CreatePoller(registry, logger, o => { o.Scheme = "https"; o.InsecureSkipVerify = true; });
        await Wait.UntilAsync(() => endpoint.State.Metrics.WaitingQueueSize == 9, "scraped over TLS");
    }

    [Fact]
    public async Task StopAsync_NoScrapeAfterStop()
    {
        await using var server = await FakeModelServer.StartAsync(1);
        var backend = server.Backends[0];
        backend.Body = VllmBody(waiting: 1);
        var registry = new EndpointRegistry();
        var endpoint = EndpointFor(backend.Port, "pod-a");
        registry.Publish([endpoint]);
        var poller = CreatePoller(registry, new TestLogger<MetricsPoller>());
        await Wait.UntilAsync(() => endpoint.State.Metrics.IsFresh, "scraped");
        await poller.DisposeAsync();
        Assert.Equal(0, poller.ActiveScrapes);
        int requests = backend.Requests;
        // A second, independent poller proves time passes and the server is still served.
        var other = new EndpointRegistry();
        var probe = EndpointFor(backend.Port, "pod-probe");
        other.Publish([probe]);
        await using var second = CreatePoller(other, new TestLogger<MetricsPoller>());
        await Wait.UntilAsync(() => Status(second, probe).Scrapes >= 5, "probe scrapes");
        Assert.Equal(requests + (int)Status(second, probe).Scrapes, backend.Requests, tolerance: 1);
    }

    [Fact]
    public void Options_Validate_ReportsEveryProblem()
    {
        var errors = new MetricsPollerOptions
        {
            Scheme = "ftp", Path = "metrics", RefreshInterval = TimeSpan.Zero, RequestTimeout = TimeSpan.Zero,
            MaxConcurrency = 0, MaxBodyBytes = 10, Jitter = 2,
        }.Validate();
        Assert.Equal(7, errors.Count);
        Assert.Contains(errors, e => e.Contains("\"ftp\""));
        Assert.Empty(new MetricsPollerOptions().Validate());
        Assert.Throws<ArgumentException>(() => new MetricsPoller(new EndpointRegistry(), EngineConfigs.CreateDefaultSelector(),
            new MetricsPollerOptions { Scheme = "ftp" }, new TestLogger<MetricsPoller>()));
    }

    [Fact]
    public void Options_ApplyDataSource_ParametersWinOverDeprecatedFlags()
    {
        var o = new MetricsPollerOptions();
        o.ApplyDataSource(paramScheme: null, paramPath: "/custom", paramInsecureSkipVerify: null,
            flagScheme: "https", flagPath: "/flag", flagInsecureSkipVerify: false);
        Assert.Equal(("https", "/custom", false), (o.Scheme, o.Path, o.InsecureSkipVerify));
        o.ApplyDataSource(null, null, null, null, null, null);
        Assert.Equal(("http", "/metrics", true), (o.Scheme, o.Path, o.InsecureSkipVerify));
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }
}
