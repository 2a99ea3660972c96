using System.Globalization;
using System.Net;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Kubernetes;
using FastEpp.Metrics;
using FastEpp.Metrics.DataSources;
using FastEpp.Configuration;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastEpp.Hosting;

/// <summary>
/// The running EPP: the ext_proc server (--grpc-port), the health server (--grpc-health-port) and the
/// metrics server (--metrics-port) as three small Kestrel apps sharing one set of services, plus the
/// endpoint source and the background loops. Used by <see cref="EppProgram"/> and by the tests.
/// </summary>
internal sealed class EppHost : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private MetricsPoller? _poller;
    private KubernetesDiscovery? _kubernetes;
    private CertificateProvider? _certificates;
    private Observability.EppTracing? _tracing;
    private Admission.FlowController? _flowControl;
    // The configured prefix-cache indexes, for the indexer gauges.
    private Prefix.PrefixIndex[] _prefixIndexes = [];

    private EppHost(EppOptions options, ILoggerFactory loggerFactory)
    {
        Options = options;
        LoggerFactory = loggerFactory;
    }

    public EppOptions Options { get; }
    public ILoggerFactory LoggerFactory { get; }
    public EndpointRegistry Registry { get; } = new();
    public RequestServices Runtime { get; private set; } = null!;
    public PoolMetricsAggregator PoolMetrics { get; private set; } = null!;
    public int GrpcPort { get; private set; }
    public int HealthPort { get; private set; }
    public int MetricsPort { get; private set; }
    /// <summary>The config-driven scheduler (null when a test injected its own).</summary>
    public ConfiguredScheduler? Scheduler { get; private set; }
    /// <summary>The reference's request, scheduler and prefix-indexer metric families.</summary>
    public Observability.EppMetrics Metrics { get; } = new();
    /// <summary>The metrics server's TokenReview/SubjectAccessReview filter (null when off or without Kubernetes).</summary>
    public MetricsEndpointAuth? MetricsAuth { get; private set; }

    /// <summary>Builds and starts everything; throws on configuration errors (caller exits 1).</summary>
    public static async Task<EppHost> StartAsync(EppOptions options, ILoggerFactory loggerFactory, IRequestScheduler? scheduler = null,
        KubeClientConfig? kubeConfig = null)
    {
        var host = new EppHost(options, loggerFactory);
        try
        {
            await host.StartCoreAsync(scheduler, kubeConfig).ConfigureAwait(false);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(IRequestScheduler? scheduler, KubeClientConfig? kubeConfig)
    {
        var logger = LoggerFactory.CreateLogger("FastEpp");

        // EndpointPickerConfig (--config-file / --config-text, else the built-in default). Loaded before anything
        // listens, so a bad config ends start-up with the reference's message (exit 1).
        LoadedConfig? config = null;
        if (scheduler is null)
        {
            var configured = SchedulerFactory.CreateFromFlags(Options.ConfigText, Options.ConfigFile, new PluginContext { Metrics = Metrics });
            config = configured.Config;
            scheduler = configured;
            Scheduler = configured;
            logger.LogInformation("Scheduling profiles: {Profiles}",
                Options.ConfigFile.Length + Options.ConfigText.Length > 0 ? DescribeProfiles(configured) : "built-in default (" + DescribeProfiles(configured) + ")");
        }

        // Endpoint source.
        Func<bool>? synced = null;
        Func<string?> appProtocol = static () => null;
        Func<bool> isLeader = static () => true;
        if (Options.Endpoints.Length > 0)
        {
            Registry.Publish(StaticEndpoints.Parse(Options.Endpoints, Options.PoolNamespace));
        }
        else
        {
            var k8sOptions = new KubernetesOptions
            {
                PoolName = Options.PoolName,
                PoolNamespace = Options.PoolNamespace,
                PoolGroup = Options.PoolGroup,
                EndpointSelector = Options.EndpointSelector,
                EndpointTargetPorts = Options.EndpointTargetPorts,
                EnableLeaderElection = Options.HaEnableLeaderElection,
                ModelServerMetricsPort = Options.ModelServerMetricsPort,
            };
            _kubernetes = KubernetesDiscovery.Create(k8sOptions, Registry, LoggerFactory, kubeConfig);
            await _kubernetes.StartAsync(_stopping.Token).ConfigureAwait(false);
            var k8s = _kubernetes;
            synced = () => k8s.Source.IsSynced;
            appProtocol = () => k8s.Source.AppProtocol;
            isLeader = () => k8s.Leader.IsLeader;
        }

        if (Options.Tracing)
            _tracing = Observability.EppTracing.Create(logger);
        var admission = Admission.AdmissionControl.FromConfig(config, Registry, Metrics, Options.PoolName, logger);
        _flowControl = admission.FlowControl;

        Runtime = new RequestServices
        {
            Parser = config?.Parser ?? Parsers.OpenAiParser.Default,
            Tracing = _tracing,
            Registry = Registry,
            Scheduler = scheduler,
            MaxRequestBodyBytes = Options.MaxRequestBodyBytes,
            DisableEndpointSubsetFilter = Options.DisableEndpointSubsetFilter,
            PriorityLookup = _kubernetes is { } kp ? kp.PriorityFor : static _ => null,
            ModelRewrites = _kubernetes is { } kr ? () => kr.ModelRewrites : static () => ModelRewriteSnapshot.Empty,
            // Legacy shedding when flow control is off, else the queue (spec runtime.md §4.3).
            Admission = admission,
            Metrics = Metrics,
        };
        if (config is not null)
        {
            _prefixIndexes = config.PrefixIndexes;
            if (_prefixIndexes.Length > 0)
                Metrics.PrefixIndexSize = () =>
                {
                    long entries = 0;
                    foreach (var index in _prefixIndexes)
                        entries += index.EntryCount;
                    return entries;
                };
        }

        // Model-server metrics: one polling loop, plus the pool gauges.
        // The metrics-data-source parameters win over the deprecated flags, which win over defaults; with the
        // enableLegacyMetrics gate the dataLayer section is ignored and only the flags apply (spec §4.7).
        MetricsSourceSettings? source = config is { LegacyMetrics: false } ? config.MetricsSource : null;
        var pollerOptions = new MetricsPollerOptions { RefreshInterval = Options.RefreshMetricsInterval };
        pollerOptions.ApplyDataSource(
            source is { SchemeSet: true } ? source.Scheme : null,
            source is { PathSet: true } ? source.Path : null,
            source is { InsecureSkipVerifySet: true } ? source.InsecureSkipVerify : null,
            Options.ModelServerMetricsSchemeSet ? Options.ModelServerMetricsScheme : null,
            Options.ModelServerMetricsPathSet ? Options.ModelServerMetricsPath : null,
            Options.ModelServerMetricsHttpsInsecureSkipVerifySet ? Options.ModelServerMetricsHttpsInsecureSkipVerify : null);
        EngineSelector engines = EngineConfigs.CreateDefaultSelector();
        if (config is { LegacyMetrics: false })
        {
            // Already validated by the loader; a failure here would be a loader bug, reported the same way.
            if (!config.EngineConfigs.TryBuild(out var selector, out var engineErrors))
                throw new ConfigException(string.Join("; ", engineErrors));
            engines = selector!;
        }
        _poller = new MetricsPoller(Registry, engines, pollerOptions, LoggerFactory.CreateLogger<MetricsPoller>());
        _poller.Start();
        PoolMetrics = new PoolMetricsAggregator(Registry, LoggerFactory.CreateLogger<PoolMetricsAggregator>(),
            interval: Options.RefreshPrometheusMetricsInterval, stalenessThreshold: Options.MetricsStalenessThreshold);
        _loops.Add(PoolMetrics.RunAsync(_stopping.Token));

        var healthState = new HealthState(Registry)
        {
            LeaderElection = Options.HaEnableLeaderElection,
            IsLeader = isLeader,
            AppProtocol = appProtocol,
            IsSynced = synced,
        };

        if (Options.SecureServing)
            _certificates = new CertificateProvider(Options.CertPath, Options.EnableCertReload, logger);

        // 1. ext_proc (+ stock health with --health-checking).
        var extProc = CreateApp(Options.GrpcPort, grpc: true, tls: _certificates);
        extProc.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null; // no 4 MiB cap: bodies are bounded by --max-request-body-bytes
            o.MaxSendMessageSize = null;
        });
        extProc.Services.AddSingleton(Runtime);
        extProc.Services.AddSingleton<StockHealthService>();
        var extProcApp = extProc.Build();
        extProcApp.MapGrpcService<ExtProcService>();
        if (Options.HealthChecking)
            extProcApp.MapGrpcService<StockHealthService>();
        _apps.Add(extProcApp);

        // 2. Dedicated health server, always plaintext.
        var health = CreateApp(Options.GrpcHealthPort, grpc: true, tls: null);
        health.Services.AddGrpc();
        health.Services.AddSingleton(healthState);
        var healthApp = health.Build();
        healthApp.MapGrpcService<HealthService>();
        _apps.Add(healthApp);

        // 3. Metrics (Prometheus text).
        var metrics = CreateApp(Options.MetricsPort, grpc: false, tls: null);
        var metricsApp = metrics.Build();
        if (Options.MetricsEndpointAuth && _kubernetes is not null)
        {
            // Bearer token → TokenReview → SubjectAccessReview on the path, as controller-runtime's filter.
            MetricsAuth = new MetricsEndpointAuth(_kubernetes.Client, LoggerFactory.CreateLogger<MetricsEndpointAuth>());
            var auth = MetricsAuth;
            metricsApp.Use(async (HttpContext ctx, RequestDelegate next) =>
            {
                var (status, body) = await auth.CheckAsync(ctx.Request.Headers.Authorization.ToString(), ctx.Request.Path.Value ?? "/",
                    ctx.Request.Method.ToLowerInvariant(), ctx.RequestAborted).ConfigureAwait(false);
                if (status != StatusCodes.Status200OK)
                {
                    ctx.Response.StatusCode = status;
                    ctx.Response.ContentType = "text/plain; charset=utf-8";
                    await ctx.Response.WriteAsync(body + "\n").ConfigureAwait(false);
                    return;
                }
                await next(ctx).ConfigureAwait(false);
            });
        }
        else if (Options.MetricsEndpointAuth)
        {
            logger.LogWarning("--metrics-endpoint-auth needs the Kubernetes API (TokenReview); with --endpoints there is none, so /metrics is served without authentication");
        }
        metricsApp.MapGet("/metrics", (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return ctx.Response.WriteAsync(RenderMetrics());
        });
        _apps.Add(metricsApp);

        foreach (var app in _apps)
            await app.StartAsync(_stopping.Token).ConfigureAwait(false);
        GrpcPort = BoundPort(extProcApp);
        HealthPort = BoundPort(healthApp);
        MetricsPort = BoundPort(metricsApp);
        logger.LogInformation("FastEpp serving ext_proc on {GrpcPort} ({Tls}), health on {HealthPort}, metrics on {MetricsPort}; {Endpoints} endpoints",
            GrpcPort, Options.SecureServing ? "TLS" : "plaintext", HealthPort, MetricsPort, Registry.Current.Count);
    }

    private static string DescribeProfiles(ConfiguredScheduler scheduler)
    {
        var sb = new StringBuilder();
        foreach (SchedulerProfile profile in scheduler.Profiles)
        {
            if (sb.Length > 0)
                sb.Append("; ");
            sb.Append(profile.Name).Append(": ");
            for (int i = 0; i < profile.Scorers.Length; i++)
                sb.Append(i == 0 ? "" : ", ").Append(profile.Scorers[i].Scorer.Name).Append(" ×").Append(profile.Scorers[i].Weight.ToString(CultureInfo.InvariantCulture));
            sb.Append(" → ").Append(profile.Picker.Name);
        }
        return sb.ToString();
    }

    private WebApplicationBuilder CreateApp(int port, bool grpc, CertificateProvider? tls)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(LoggerFactory);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.Http2.MaxStreamsPerConnection = 10_000; // Envoy multiplexes many ext_proc streams per connection
            k.Limits.Http2.InitialConnectionWindowSize = 8 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            void Configure(ListenOptions l)
            {
                l.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2;
                if (tls is not null)
                    l.UseHttps(h => h.ServerCertificateSelector = (_, _) => tls.Current);
            }
            if (Options.BindAddress.Length > 0)
                k.Listen(IPAddress.Parse(Options.BindAddress), port, Configure);
            else
                k.ListenAnyIP(port, Configure);
        });
        return builder;
    }

    private static int BoundPort(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            int colon = address.LastIndexOf(':');
            if (colon > 0 && int.TryParse(address.AsSpan(colon + 1).TrimEnd('/'), NumberStyles.None, CultureInfo.InvariantCulture, out int p))
                return p;
        }
        return 0;
    }

    /// <summary>The metrics this stage exports, with the reference's names where one exists.</summary>
    internal string RenderMetrics()
    {
        var sb = new StringBuilder(1024);
        var inv = CultureInfo.InvariantCulture;
        string pool = Options.PoolName;
        sb.Append("# HELP inference_extension_info [ALPHA] General information of the current build of Inference Extension.\n# TYPE inference_extension_info gauge\n");
        sb.Append("inference_extension_info{build_ref=\"fastepp\",commit=\"unknown\"} 1\n");
        var p = PoolMetrics.Current;
        if (p.HasPool)
        {
            sb.Append("# HELP inference_pool_average_kv_cache_utilization [ALPHA] The average kv cache utilization for an inference server pool.\n# TYPE inference_pool_average_kv_cache_utilization gauge\n");
            sb.Append(inv, $"inference_pool_average_kv_cache_utilization{{name=\"{pool}\"}} {p.AverageKvCacheUtilization}\n");
            sb.Append("# HELP inference_pool_average_queue_size [ALPHA] The average number of requests pending in the model server queue.\n# TYPE inference_pool_average_queue_size gauge\n");
            sb.Append(inv, $"inference_pool_average_queue_size{{name=\"{pool}\"}} {p.AverageQueueSize}\n");
            sb.Append("# HELP inference_pool_average_running_requests [ALPHA] The average number of running requests across model servers in the pool.\n# TYPE inference_pool_average_running_requests gauge\n");
            sb.Append(inv, $"inference_pool_average_running_requests{{name=\"{pool}\"}} {p.AverageRunningRequests}\n");
            sb.Append("# HELP inference_pool_ready_pods [ALPHA] The number of ready pods in the inference server pool.\n# TYPE inference_pool_ready_pods gauge\n");
            sb.Append(inv, $"inference_pool_ready_pods{{name=\"{pool}\"}} {p.ReadyEndpoints}\n");
        }
        var snapshot = Registry.Current;
        if (snapshot.Count > 0)
        {
            sb.Append("# HELP inference_pool_per_pod_queue_size [ALPHA] The total number of requests pending in the model server queue for each underlying pod.\n# TYPE inference_pool_per_pod_queue_size gauge\n");
            foreach (var e in snapshot.Endpoints)
                sb.Append(inv, $"inference_pool_per_pod_queue_size{{model_server_pod=\"{e.Name[(e.Name.IndexOf('/') + 1)..]}\",name=\"{pool}\"}} {e.State.Metrics.WaitingQueueSize}\n");
        }
        Metrics.Write(sb);
        Observability.ProcessMetrics.Write(sb);
        if (_prefixIndexes.Length > 0)
        {
            long bytes = 0;
            foreach (var index in _prefixIndexes)
                bytes += index.ApproximateBytes;
            sb.Append("# HELP fastepp_prefix_index_bytes Approximate memory held by the prefix-cache index.\n# TYPE fastepp_prefix_index_bytes gauge\n");
            sb.Append(inv, $"fastepp_prefix_index_bytes {bytes}\n");
        }
        var s = Runtime.Stats;
        sb.Append("# HELP fastepp_extproc_requests_total Requests seen on ext_proc streams.\n# TYPE fastepp_extproc_requests_total counter\n");
        sb.Append(inv, $"fastepp_extproc_requests_total {s.Requests}\n");
        sb.Append("# HELP fastepp_extproc_errors_total Requests answered with an ImmediateResponse error.\n# TYPE fastepp_extproc_errors_total counter\n");
        sb.Append(inv, $"fastepp_extproc_errors_total {s.Errors}\n");
        sb.Append("# HELP fastepp_extproc_protocol_errors_total ext_proc streams ended for protocol misuse.\n# TYPE fastepp_extproc_protocol_errors_total counter\n");
        sb.Append(inv, $"fastepp_extproc_protocol_errors_total {s.ProtocolErrors}\n");
        sb.Append("# HELP fastepp_extproc_running_requests Requests scheduled whose response has not completed.\n# TYPE fastepp_extproc_running_requests gauge\n");
        sb.Append(inv, $"fastepp_extproc_running_requests {s.Running}\n");
        return sb.ToString();
    }

    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        _stopping.Cancel();
        // Queued requests are evicted first (500, as the reference at shutdown) so their streams can end.
        if (_flowControl is not null)
            await _flowControl.DisposeAsync().ConfigureAwait(false);
        foreach (var app in _apps)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        if (_poller is not null)
            await _poller.StopAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        if (_kubernetes is not null)
            await _kubernetes.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (var app in _apps)
            await app.DisposeAsync().ConfigureAwait(false);
        if (_poller is not null)
            await _poller.DisposeAsync().ConfigureAwait(false);
        _certificates?.Dispose();
        _tracing?.Dispose();
        _stopping.Dispose();
    }
}
