using FastEpp.Hosting.Logging;

namespace FastEpp.Hosting;

/// <summary>
/// Every command-line flag of the reference EPP (spec runtime.md §1.2), same names and defaults,
/// plus FastEpp's additions (marked). Parsed with <see cref="FlagSet"/>; validated in the reference's order.
/// </summary>
internal sealed class EppOptions
{
    public int GrpcPort { get; set; } = 9002;
    public int GrpcHealthPort { get; set; } = 9003;
    public int MetricsPort { get; set; } = 9090;
    public bool HaEnableLeaderElection { get; set; }
    public string PoolName { get; set; } = "";
    public string PoolNamespace { get; set; } = "";
    public string PoolGroup { get; set; } = "inference.networking.k8s.io";
    public string EndpointSelector { get; set; } = "";
    public List<int> EndpointTargetPorts { get; set; } = [];
    public bool DisableEndpointSubsetFilter { get; set; }
    public string ModelServerMetricsScheme { get; set; } = "http";
    public bool ModelServerMetricsSchemeSet { get; set; }
    public string ModelServerMetricsPath { get; set; } = "/metrics";
    public bool ModelServerMetricsPathSet { get; set; }
    public int ModelServerMetricsPort { get; set; }
    public bool ModelServerMetricsHttpsInsecureSkipVerify { get; set; } = true;
    public bool ModelServerMetricsHttpsInsecureSkipVerifySet { get; set; }
    public TimeSpan RefreshMetricsInterval { get; set; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan RefreshPrometheusMetricsInterval { get; set; } = TimeSpan.FromSeconds(5);
    public TimeSpan MetricsStalenessThreshold { get; set; } = TimeSpan.FromSeconds(2);
    public int Verbosity { get; set; } = 2;
    public string? ZapLogLevel { get; set; }
    /// <summary>The logger's settings from -v and the --zap-* flags (Hosting/Logging).</summary>
    public ZapOptions LogOptions { get; set; } = new();
    public bool Tracing { get; set; } = true;
    public bool HealthChecking { get; set; }
    public bool EnablePprof { get; set; } = true;
    public string CertPath { get; set; } = "";
    public bool EnableCertReload { get; set; }
    public bool SecureServing { get; set; } = true;
    public bool MetricsEndpointAuth { get; set; } = true;
    public string ConfigFile { get; set; } = "";
    public string ConfigText { get; set; } = "";

    // FastEpp additions.
    /// <summary>Static endpoints <c>host:port,host:port</c>: run without Kubernetes.</summary>
    public string Endpoints { get; set; } = "";

    /// <summary>--endpoints was given, even empty (<c>--endpoints=</c>: an empty pool, every request 503).</summary>
    public bool EndpointsSet { get; set; }
    /// <summary>Upper bound on the bytes one request body may buffer; above it → 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>Bind address for all listeners (the reference binds all interfaces).</summary>
    public string BindAddress { get; set; } = "";

    /// <summary>Flags as "name=value" pairs, logged once at start ("Flags processed").</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Processed { get; private set; } = [];

    /// <summary>Every flag with its typed value, for the "Flags processed" log line.</summary>
    public IReadOnlyList<FlagSet.Flag> ProcessedFlags { get; private set; } = [];

    private static readonly string[] DeprecatedMetricFlags =
        ["total-queued-requests-metric", "total-running-requests-metric", "kv-cache-usage-percentage-metric",
         "lora-info-metric", "cache-info-metric"];

    /// <summary>Parses flags the pflag way. Throws <see cref="FlagException"/> (usage error, exit 2) or
    /// <see cref="HelpRequestedException"/>.</summary>
    public static EppOptions Parse(IReadOnlyList<string> args, Action<string>? warn = null) => Parse(args, warn, out _);

    public static EppOptions Parse(IReadOnlyList<string> args, Action<string>? warn, out FlagSet flags)
    {
        var o = new EppOptions();
        var f = flags = new FlagSet();
        var grpcPort = f.Int("grpc-port", o.GrpcPort, "The gRPC port used for communicating with Envoy proxy");
        var healthPort = f.Int("grpc-health-port", o.GrpcHealthPort, "The port used for gRPC liveness and readiness probes");
        var metricsPort = f.Int("metrics-port", o.MetricsPort, "The metrics port");
        var le = f.Bool("ha-enable-leader-election", false, "Enables leader election for high availability. When enabled, readiness probes will only pass on the leader.");
        var poolName = f.String("pool-name", "", "Name of the InferencePool this Endpoint Picker is associated with.");
        var poolNamespace = f.String("pool-namespace", "", "Namespace of the InferencePool this Endpoint Picker is associated with.");
        var poolGroup = f.String("pool-group", o.PoolGroup, "group of the InferencePool this Endpoint Picker is associated with.");
        var selector = f.String("endpoint-selector", "", "selector to filter model server pods on, only key=value paris is supported. Format: a comma-separated list of key value paris, e.g., 'app=vllm-llama3-8b-instruct,env=prod'.");
        var targetPorts = f.Ints("endpoint-target-ports", "target ports of model server pods. Format: a comma-separated list of numbers, e.g., '3000,3001,3002'");
        var disableSubset = f.Bool("disable-endpoint-subset-filter", false, "If true, the endpoint subset filter (x-gateway-destination-endpoint-subset) sent by the proxy is ignored.");
        var scheme = f.String("model-server-metrics-scheme", "http", "Scheme to scrape metrics from pods", "use metrics-data-source plugin parameters instead");
        var path = f.String("model-server-metrics-path", "/metrics", "Path to scrape metrics from pods", "use metrics-data-source plugin parameters instead");
        var mport = f.Int("model-server-metrics-port", 0, "Port to scrape metrics from pods. Used only when the pool has a single target port.", "use metrics-data-source plugin parameters instead");
        var insecure = f.Bool("model-server-metrics-https-insecure-skip-verify", true, "When using 'https' scheme for 'model-server-metrics-scheme', configure 'InsecureSkipVerify' (default to true)", "use metrics-data-source plugin parameters instead");
        var refresh = f.Duration("refresh-metrics-interval", o.RefreshMetricsInterval, "interval to refresh metrics");
        var refreshProm = f.Duration("refresh-prometheus-metrics-interval", o.RefreshPrometheusMetricsInterval, "interval to flush prometheus metrics");
        var staleness = f.Duration("metrics-staleness-threshold", o.MetricsStalenessThreshold, "Duration after which metrics are considered stale. This is used to determine if an endpoint's metrics are fresh enough.");
        var deprecated = DeprecatedMetricFlags.Select(n => f.String(n, DefaultMetricName(n), "Prometheus metric name", "configure via engineConfigs in the core-metrics-extractor plugin")).ToArray();
        var v = f.Int("v", 2, "number for the log level verbosity");
        var zapDevel = f.Bool("zap-devel", false, "Development Mode defaults(encoder=consoleEncoder,logLevel=Debug,stackTraceLevel=Warn). Production Mode defaults(encoder=jsonEncoder,logLevel=Info,stackTraceLevel=Error)");
        var zapEncoder = f.Choice("zap-encoder", "", "Zap log encoding (one of 'json' or 'console')",
            t => ZapOptions.TryParseEncoder(t, out _), "invalid encoder value");
        var zapLevel = f.Choice("zap-log-level", "", "Zap Level to configure the verbosity of logging. Can be one of 'debug', 'info', 'error', 'panic'or any integer value > 0 which corresponds to custom debug levels of increasing verbosity",
            t => ZapOptions.TryParseLevel(t, out _), "invalid log level");
        var zapStack = f.Choice("zap-stacktrace-level", "", "Zap Level at and above which stacktraces are captured (one of 'info', 'error', 'panic').",
            t => ZapOptions.TryParseStacktraceLevel(t, out _), "invalid stacktrace level");
        var zapTime = f.Choice("zap-time-encoding", "", "Zap time encoding (one of 'epoch', 'millis', 'nano', 'iso8601', 'rfc3339' or 'rfc3339nano'). Defaults to 'epoch'.",
            t => ZapOptions.TryParseTimeEncoding(t, out _), "invalid time-encoding value");
        var tracing = f.Bool("tracing", true, "Enables emitting traces");
        var healthChecking = f.Bool("health-checking", false, "Enables health checking");
        var pprof = f.Bool("enable-pprof", true, "Enables pprof handlers. Defaults to true. Set to false to disable pprof handlers.");
        var certPath = f.String("cert-path", "", "The path to the certificate for secure serving. The certificate and private key files are assumed to be named tls.crt and tls.key, respectively. If not set, and secureServing is enabled, then a self-signed certificate is used.");
        var certReload = f.Bool("enable-cert-reload", false, "Enables certificate reloading of the certificates specified in --cert-path");
        var secure = f.Bool("secure-serving", true, "Enables secure serving. Defaults to true.");
        var metricsAuth = f.Bool("metrics-endpoint-auth", true, "Enables authentication and authorization of the metrics endpoint");
        var configFile = f.String("config-file", "", "The path to the configuration file");
        var configText = f.String("config-text", "", "The configuration specified as text, in lieu of a file");
        var endpoints = f.String("endpoints", "", "FastEpp: static model-server endpoints host:port[,host:port...], or @file (one per line, watched and reloaded); empty = no endpoints yet (no Kubernetes needed)");
        var maxBody = f.Long("max-request-body-bytes", o.MaxRequestBodyBytes, "FastEpp: largest request body one request may buffer; larger bodies get HTTP 413");
        var bind = f.String("bind-address", "", "FastEpp: address the listeners bind to (default: all interfaces)");

        f.Parse(args, warn);

        o.GrpcPort = grpcPort.Current;
        o.GrpcHealthPort = healthPort.Current;
        o.MetricsPort = metricsPort.Current;
        o.HaEnableLeaderElection = le.Current;
        o.PoolName = poolName.Current;
        o.PoolNamespace = poolNamespace.Current;
        o.PoolGroup = poolGroup.Current;
        o.EndpointSelector = selector.Current;
        o.EndpointTargetPorts = targetPorts.Current.Distinct().ToList();
        o.DisableEndpointSubsetFilter = disableSubset.Current;
        o.ModelServerMetricsScheme = scheme.Current;
        o.ModelServerMetricsSchemeSet = scheme.Changed;
        o.ModelServerMetricsPath = path.Current;
        o.ModelServerMetricsPathSet = path.Changed;
        o.ModelServerMetricsPort = mport.Current;
        o.ModelServerMetricsHttpsInsecureSkipVerify = insecure.Current;
        o.ModelServerMetricsHttpsInsecureSkipVerifySet = insecure.Changed;
        o.RefreshMetricsInterval = refresh.Current;
        o.RefreshPrometheusMetricsInterval = refreshProm.Current;
        o.MetricsStalenessThreshold = staleness.Current;
        o.Verbosity = v.Current < 0 ? 2 : v.Current;
        o.ZapLogLevel = zapLevel.Changed ? zapLevel.Current : null;
        o.LogOptions = ZapOptions.FromFlags(o.Verbosity, o.ZapLogLevel, zapDevel.Changed && zapDevel.Current,
            zapEncoder.Changed ? zapEncoder.Current : null, zapTime.Changed ? zapTime.Current : null,
            zapStack.Changed ? zapStack.Current : null);
        o.Tracing = tracing.Current;
        o.HealthChecking = healthChecking.Current;
        o.EnablePprof = pprof.Current;
        o.CertPath = certPath.Current;
        o.EnableCertReload = certReload.Current;
        o.SecureServing = secure.Current;
        o.MetricsEndpointAuth = metricsAuth.Current;
        o.ConfigFile = configFile.Current;
        o.ConfigText = configText.Current;
        o.Endpoints = endpoints.Current;
        o.EndpointsSet = endpoints.Changed;
        o.MaxRequestBodyBytes = maxBody.Current;
        o.BindAddress = bind.Current;

        if (o.PoolNamespace.Length == 0)
            o.PoolNamespace = Environment.GetEnvironmentVariable("NAMESPACE") is { Length: > 0 } ns ? ns : "default";

        o.ProcessedFlags = f.All;
        o.Processed = f.All.Select(x => new KeyValuePair<string, string>(x.Name, x.ValueText)).ToArray();
        o._deprecatedMetricFlagSet = deprecated.FirstOrDefault(d => d.Changed)?.Name;
        return o;
    }

    private string? _deprecatedMetricFlagSet;

    /// <summary>Validation in the reference's order (runtime.md §1.3); returns the first error or null.</summary>
    public string? Validate()
    {
        int sources = (PoolName.Length > 0 ? 1 : 0) + (EndpointSelector.Length > 0 ? 1 : 0) + (Endpoints.Length > 0 || EndpointsSet ? 1 : 0);
        if (sources != 1)
            return "either pool-name or endpoint-selector must be set (FastEpp also accepts endpoints)";
        if (EndpointSelector.Length > 0)
        {
            if (EndpointTargetPorts.Count is < 1 or > 8)
                return "endpoint-target-ports must have between 1 and 8 entries when endpoint-selector is set";
            foreach (var p in EndpointTargetPorts)
                if (p is < 0 or > 65535)
                    return $"endpoint-target-ports entry {p} is out of range 0..65535";
        }
        if (ConfigText.Length > 0 && ConfigFile.Length > 0)
            return "both the config-text and config-file flags cannot be set at the same time";
        if (ModelServerMetricsScheme is not ("http" or "https"))
            return $"unexpected model-server-metrics-scheme \"{ModelServerMetricsScheme}\": must be http or https";
        if (_deprecatedMetricFlagSet is not null)
            return $"the --{_deprecatedMetricFlagSet} flag is no longer supported; configure metric names via engineConfigs in the core-metrics-extractor plugin";
        if (MaxRequestBodyBytes <= 0)
            return "max-request-body-bytes must be positive";
        foreach (var (name, port) in new[] { ("grpc-port", GrpcPort), ("grpc-health-port", GrpcHealthPort), ("metrics-port", MetricsPort) })
            if (port is < 0 or > 65535)
                return $"{name} {port} is out of range";
        return null;
    }

    private static string DefaultMetricName(string flag) => flag switch
    {
        "total-queued-requests-metric" => "vllm:num_requests_waiting",
        "total-running-requests-metric" => "vllm:num_requests_running",
        "kv-cache-usage-percentage-metric" => "vllm:kv_cache_usage_perc",
        "lora-info-metric" => "vllm:lora_requests_info",
        _ => "vllm:cache_config_info",
    };
}
