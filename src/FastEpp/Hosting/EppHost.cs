using System.Globalization;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Kubernetes;
using FastEpp.Metrics;
using FastEpp.Configuration;
using FastEpp.Metrics.DataSources;
using FastEpp.Observability;
using FastEpp.Requests;
using FastEpp.Scheduling;

namespace FastEpp.Hosting;

/// <summary>
/// The composition root of the running EPP: the ext_proc server (--grpc-port), the health server
/// (--grpc-health-port) and the metrics server (--metrics-port) as three listeners of one Kestrel app, plus the
/// endpoint source and the background loops. It builds and wires the parts, in dependency order, and stops them in reverse; the parts live in their folders (Kestrel plumbing in <see cref="KestrelApps"/>,
/// the /metrics page in <see cref="MetricsPage"/>). Used by <see cref="EppProgram"/> and by the tests.
/// </summary>
internal sealed class EppHost : IAsyncDisposable
{
    private WebApplication? _app;
    private Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions? _extProcListener, _healthListener, _metricsListener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private MetricsPoller? _poller;
    private KubernetesDiscovery? _kubernetes;
    private CertificateProvider? _certificates;
    private Observability.EppTracing? _tracing;
    private Admission.FlowController? _flowControl;
    // The configured prefix-cache indexes, for the indexer gauges.
    private Prefix.PrefixIndex[] _prefixIndexes = [];
    private MetricsPage? _metricsPage;

    private EppHost(EppOptions options, ILoggerFactory loggerFactory)
    {
        Options = options;
        LoggerFactory = loggerFactory;
    }

    public EppOptions Options { get; }
    public ILoggerFactory LoggerFactory { get; }
    public EndpointRegistry Registry { get; } = new();

    private readonly List<Scheduling.Producers.IEndpointFollower> _followers = [];
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

        var healthState = await StartEndpointSourceAsync(kubeConfig, config?.Parser ?? Parsers.OpenAiParser.Default).ConfigureAwait(false);

        if (Options.Tracing)
            _tracing = Observability.EppTracing.Create(logger);
        var admission = Admission.AdmissionControl.FromConfig(config, Registry, Metrics, Options.PoolName, logger);
        _flowControl = admission.FlowControl;

        Runtime = new RequestServices
        {
            Parser = config?.Parser ?? Parsers.OpenAiParser.Default,
            ResponseHeadersPlugins = config?.ResponseHeadersPlugins ?? [],
            Reporters = config?.Reporters ?? [],
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
            // Plugins that follow the endpoints from start-up (precise-prefix-cache-producer's KV-event subscriptions).
            foreach (var plugin in config.Plugins)
                if (plugin is Scheduling.Producers.IEndpointFollower follower)
                {
                    follower.Attach(Registry, LoggerFactory);
                    _followers.Add(follower);
                }
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

        StartMetricsLoops(config);

        if (Options.SecureServing)
            _certificates = new CertificateProvider(Options.CertPath, Options.EnableCertReload, logger);
        _app = BuildApp(healthState, logger);
        await _app.StartAsync(_stopping.Token).ConfigureAwait(false);
        _certificates?.StartSelfSigned();
        GrpcPort = KestrelApps.BoundPort(_extProcListener);
        HealthPort = KestrelApps.BoundPort(_healthListener);
        MetricsPort = KestrelApps.BoundPort(_metricsListener);
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

    /// <summary>Static endpoints (--endpoints) or the Kubernetes pool watch; returns what the health server reports on.</summary>
    private async Task<HealthState> StartEndpointSourceAsync(KubeClientConfig? kubeConfig, Parsers.IRequestParser parser)
    {
        Func<bool>? synced = null;
        Func<string?> appProtocol = static () => null;
        Func<bool> isLeader = static () => true;
        if (Options.Endpoints.Length > 0 || Options.EndpointsSet)
        {
            StartStaticEndpoints();
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
        return new HealthState(Registry)
        {
            LeaderElection = Options.HaEnableLeaderElection,
            IsLeader = isLeader,
            AppProtocol = appProtocol,
            IsSynced = synced,
            ParserProtocols = parser.SupportedAppProtocols,
        };
    }

    /// <summary>--endpoints: a fixed list, or an @file watched for changes. An empty list is an empty pool (503 per request).</summary>
    private void StartStaticEndpoints()
    {
        var logger = LoggerFactory.CreateLogger("FastEpp.Endpoints");
        int count;
        if (Options.Endpoints.StartsWith('@'))
        {
            var file = new StaticEndpointFile(Options.Endpoints[1..], Options.PoolNamespace, Registry, logger);
            count = file.LoadInitial();
            _loops.Add(file.RunAsync(_stopping.Token));
        }
        else
        {
            var list = StaticEndpoints.Parse(Options.Endpoints, Options.PoolNamespace);
            Registry.Publish(list);
            count = list.Count;
        }
        if (count == 0)
            logger.LogWarning("--endpoints lists no endpoints: every request is answered 503 until endpoints appear");
    }

    /// <summary>The model-server metrics poller and the pool gauges' aggregation loop.</summary>
    private void StartMetricsLoops(LoadedConfig? config)
    {
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
    }

    /// <summary>
    /// The one Kestrel app with three listeners: 1. ext_proc (+ the stock health service with --health-checking), TLS
    /// with --secure-serving; 2. the dedicated health server, always plaintext; 3. metrics (Prometheus text), behind
    /// TokenReview/SubjectAccessReview with --metrics-endpoint-auth. Each port answers only its own routes (a gRPC
    /// service of another port is UNIMPLEMENTED, any other HTTP path 404), as the reference's three servers.
    /// </summary>
    private WebApplication BuildApp(HealthState healthState, ILogger logger)
    {
        var builder = KestrelApps.CreateBuilder(LoggerFactory, k =>
        {
            _extProcListener = KestrelApps.Listen(k, EppListener.ExtProc, Options.GrpcPort, grpc: true, _certificates, Options.BindAddress);
            _healthListener = KestrelApps.Listen(k, EppListener.Health, Options.GrpcHealthPort, grpc: true, tls: null, Options.BindAddress);
            _metricsListener = KestrelApps.Listen(k, EppListener.Metrics, Options.MetricsPort, grpc: false, tls: null, Options.BindAddress);
        });
        builder.Services.AddGrpc().AddServiceOptions<ExtProcService>(o =>
        {
            // No 4 MiB cap (the reference's users hit it): one message may carry up to the whole body limit plus
            // room for headers/metadata; larger ones are refused (ResourceExhausted) before they are buffered.
            o.MaxReceiveMessageSize = (int)Math.Min(int.MaxValue, Math.Max(4L << 20, Options.MaxRequestBodyBytes + (1L << 20)));
            o.MaxSendMessageSize = null;
        });
        builder.Services.AddSingleton(Runtime);
        builder.Services.AddSingleton(new HealthRouter(new HealthService(healthState), new StockHealthService()));
        var app = builder.Build();

        _metricsPage = new MetricsPage(Options.PoolName, Registry, PoolMetrics, Metrics, Runtime.Stats, _prefixIndexes);
        if (Options.MetricsEndpointAuth && _kubernetes is not null)
            MetricsAuth = new MetricsEndpointAuth(_kubernetes.Client, LoggerFactory.CreateLogger<MetricsEndpointAuth>());
        else if (Options.MetricsEndpointAuth)
            logger.LogWarning("--metrics-endpoint-auth needs the Kubernetes API (TokenReview); with --endpoints there is none, so /metrics is served without authentication");

        bool stockHealth = Options.HealthChecking;
        var auth = MetricsAuth;
        // Synchronous pass-through (no state machine per ext_proc stream); only the metrics access check awaits.
        app.Use((HttpContext ctx, RequestDelegate next) =>
        {
            string path = ctx.Request.Path.Value ?? "";
            switch (KestrelApps.ListenerOf(ctx))
            {
                case EppListener.ExtProc:
                    return path.StartsWith(ExtProcPathPrefix, StringComparison.Ordinal) || (stockHealth && path.StartsWith(HealthPathPrefix, StringComparison.Ordinal))
                        ? next(ctx)
                        : KestrelApps.Unimplemented(ctx);
                case EppListener.Health:
                    return path.StartsWith(HealthPathPrefix, StringComparison.Ordinal) ? next(ctx) : KestrelApps.Unimplemented(ctx);
                case EppListener.Metrics:
                    return auth is not null ? AuthorizedMetricsAsync(ctx, next, auth) : MetricsRoute(ctx, next);
                default:
                    ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
            }
        });
        app.MapGrpcService<ExtProcService>();
        app.MapGrpcService<HealthRouter>();
        MetricsServer.MapPage(app, _metricsPage);
        return app;
    }

    private static Task MetricsRoute(HttpContext ctx, RequestDelegate next)
    {
        if (ctx.Request.Path.Value == MetricsServer.Path)
            return next(ctx);
        ctx.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    private static async Task AuthorizedMetricsAsync(HttpContext ctx, RequestDelegate next, MetricsEndpointAuth auth)
    {
        if (await MetricsServer.AuthorizeAsync(ctx, auth).ConfigureAwait(false))
            await MetricsRoute(ctx, next).ConfigureAwait(false);
    }

    private const string ExtProcPathPrefix = "/envoy.service.ext_proc.v3.ExternalProcessor/";
    private const string HealthPathPrefix = "/grpc.health.v1.Health/";

    /// <summary>The /metrics page as the metrics port serves it.</summary>
    internal string RenderMetrics() => _metricsPage!.Render();

    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        _stopping.Cancel();
        // Queued requests are evicted first (500, as the reference at shutdown) so their streams can end.
        if (_flowControl is not null)
            await _flowControl.DisposeAsync().ConfigureAwait(false);
        if (_app is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
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
        foreach (var follower in _followers)
            await follower.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_app is not null)
            await _app.DisposeAsync().ConfigureAwait(false);
        if (_poller is not null)
            await _poller.DisposeAsync().ConfigureAwait(false);
        _certificates?.Dispose();
        _tracing?.Dispose();
        _stopping.Dispose();
    }
}