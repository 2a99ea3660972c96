using FastEpp.Endpoints;
using FastEpp.Requests;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// The Kubernetes data layer assembled from <see cref="KubernetesOptions"/>: client config, the pool
/// source (InferencePool or selector), the optional objective/rewrite stores and leader election.
/// Hosting creates it at startup (<see cref="Create"/> throws on bad config, like the reference's
/// startup errors), calls <see cref="StartAsync"/>, and reads <see cref="Source"/>,
/// <see cref="Leader"/>, <see cref="PriorityFor"/> and <see cref="ModelRewrites"/>.
/// </summary>
/// <remarks>
/// As in the reference, the reconcilers (pool, pods, objectives, rewrites) run only while leader;
/// with leader election off every replica is leader. Losing the lease is reported through
/// <see cref="ILeaderElector.LeadershipChanged"/>; the reference exits the process then.
/// </remarks>
internal sealed class KubernetesDiscovery : IAsyncDisposable
{
    private readonly KubeApiClient _client;
    private readonly KubernetesOptions _options;
    private readonly ILogger _logger;
    private readonly InformerOptions? _informerOptions;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = new();
    private readonly Lock _lock = new();
    private OptionalCrds _crds;
    private ObjectiveStore? _objectives;
    private ModelRewriteStore? _rewrites;
    private bool _reconcilersStarted;
    private bool _started;

    private KubernetesDiscovery(KubeApiClient client, KubernetesOptions options, string poolNamespace,
        string poolName, IPoolSource source, ILeaderElector leader, ILogger logger, InformerOptions? informerOptions)
    {
        _client = client;
        _options = options;
        PoolNamespace = poolNamespace;
        PoolName = poolName;
        Source = source;
        Leader = leader;
        _logger = logger;
        _informerOptions = informerOptions;
    }

    /// <summary>Namespace of the pool (flag → NAMESPACE → default).</summary>
    public string PoolNamespace { get; }
    /// <summary>Pool name, or in standalone mode the Deployment name derived from POD_NAME.</summary>
    public string PoolName { get; }
    public IPoolSource Source { get; }
    public ILeaderElector Leader { get; }

    /// <summary>The reference's "setup" logger: its leader-election lines are logged there.</summary>
    internal ILogger SetupLogger { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    public KubeApiClient Client => _client;

    /// <summary>Priority of an InferenceObjective by name; null when unknown (or no CRD / standalone) — callers use 0.</summary>
    public int? PriorityFor(string objectiveName) => Volatile.Read(ref _objectives)?.PriorityFor(objectiveName);

    /// <summary>Current model rewrite rules (empty without the CRD or in standalone mode).</summary>
    public ModelRewriteSnapshot ModelRewrites => Volatile.Read(ref _rewrites)?.Current ?? ModelRewriteSnapshot.Empty;

    /// <summary>
    /// Validates options, resolves the pool identity and the client config. Throws
    /// <see cref="ArgumentException"/> for invalid options / POD_NAME and <see cref="KubeConfigException"/>
    /// when no Kubernetes configuration is usable.
    /// </summary>
    public static KubernetesDiscovery Create(KubernetesOptions options, EndpointRegistry registry, ILoggerFactory loggerFactory,
        KubeClientConfig? config = null, Func<string, string?>? getEnv = null,
        LeaderElectionOptions? leaderElection = null, InformerOptions? informerOptions = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        var logger = loggerFactory.CreateLogger("FastEpp.Kubernetes");
        string ns = options.ResolveNamespace(getEnv);

        string poolName = options.PoolName;
        EndpointPool? standalonePool = null;
        if (options.IsStandalone)
        {
            string? podName = getEnv("POD_NAME");
            if (!KubernetesOptions.TryParseDeploymentName(podName, out poolName))
                throw new ArgumentException(string.IsNullOrEmpty(podName)
                    ? "POD_NAME must be set in standalone mode (--endpoint-selector)"
                    : $"POD_NAME '{podName}' is not a Deployment pod name (<deployment>-<hash>-<suffix>)");
            LabelSelector.TryParse(options.EndpointSelector, out var selector, out _);
            standalonePool = new EndpointPool(ns, poolName, selector, options.DistinctTargetPorts(), appProtocol: null);
        }

        config ??= KubeClientConfig.Load(getEnv);
        KubernetesLog.Configured(logger, config.Origin, config.Server);
        var client = new KubeApiClient(config);

        IPoolSource source = standalonePool is not null
            ? new SelectorSource(client, standalonePool, registry, options.ModelServerMetricsPort, logger, informerOptions)
            : new InferencePoolSource(client, ns, poolName, registry, options.ModelServerMetricsPort, logger, informerOptions);
        ILeaderElector leader = options.EnableLeaderElection
            ? new LeaseLeaderElector(client, ns, KubernetesOptions.LeaseName(ns, poolName), LeaseLeaderElector.NewIdentity(),
                leaderElection ?? new LeaderElectionOptions(), logger)
            : new AlwaysLeader();
        return new KubernetesDiscovery(client, options, ns, poolName, source, leader, logger, informerOptions)
        {
            SetupLogger = loggerFactory.CreateLogger("setup"),
        };
    }

    /// <summary>
    /// Pool mode: API discovery of the optional CRDs. Then starts leader election and — once leader
    /// (immediately without LE) — the watches. Returns without waiting for the first sync.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            if (_started)
                throw new InvalidOperationException("already started");
            _started = true;
        }
        if (!_options.IsStandalone)
            _crds = await ApiDiscovery.DiscoverAsync(_client, _logger, ct).ConfigureAwait(false);

        if (_options.EnableLeaderElection)
            KubernetesLog.LeaderElectionEnabled(SetupLogger);
        Leader.LeadershipChanged += OnLeadershipChanged;
        lock (_lock)
            _loops.Add(Task.Run(() => Leader.RunAsync(_stop.Token)));
        if (Leader.IsLeader)
            StartReconcilers();
    }

    private void OnLeadershipChanged(bool isLeader)
    {
        if (isLeader)
        {
            KubernetesLog.NowLeader(SetupLogger);
            StartReconcilers();
        }
    }

    private void StartReconcilers()
    {
        lock (_lock)
        {
            if (_reconcilersStarted || _stop.IsCancellationRequested)
                return;
            _reconcilersStarted = true;
            KubernetesLog.ReconcilersStarting(_logger, PoolNamespace, PoolName, _crds.Objectives, _crds.ModelRewrites);
            var token = _stop.Token;
            var pool = new PoolReference(PoolName, _options.PoolGroup);
            if (_crds.Objectives)
            {
                var store = new ObjectiveStore(_client, PoolNamespace, pool, _logger, _informerOptions);
                Volatile.Write(ref _objectives, store);
                _loops.Add(Task.Run(() => store.RunAsync(token)));
            }
            if (_crds.ModelRewrites)
            {
                var store = new ModelRewriteStore(_client, PoolNamespace, pool, _logger, _informerOptions);
                Volatile.Write(ref _rewrites, store);
                _loops.Add(Task.Run(() => store.RunAsync(token)));
            }
            _loops.Add(Task.Run(() => Source.RunAsync(token)));
        }
    }

    /// <summary>Stops every watch and releases the lease (best effort, bounded by the renew deadline).</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] loops;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
                return;
            _stop.Cancel();
            loops = _loops.ToArray();
        }
        Leader.LeadershipChanged -= OnLeadershipChanged;
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await Source.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }
}
