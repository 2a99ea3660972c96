using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// Watches the pods of the current <see cref="EndpointPool"/> and publishes their endpoints to the
/// <see cref="EndpointRegistry"/> whenever the computed set changes. Shared by the InferencePool
/// source and the selector (standalone) source.
/// </summary>
/// <remarks>
/// The pod informer is scoped server-side with the pool's label selector (the API server turns a
/// pod that stops matching into a DELETED event), so the cache holds only pool pods. A selector
/// change starts a new informer (full resync: LIST + WATCH) while the old endpoint set stays
/// published until the new LIST completes; a target-port change just rebuilds from the cache.
/// All rebuilds run under one lock, so publications are ordered.
/// </remarks>
internal sealed class PodEndpointTracker : IAsyncDisposable
{
    private readonly KubeApiClient _client;
    private readonly EndpointRegistry _registry;
    private readonly int _metricsPortOverride;
    private readonly ILogger _logger;
    private readonly InformerOptions? _informerOptions;
    private readonly Lock _lock = new();
    private readonly HashSet<string> _warnedNoIp = new(StringComparer.Ordinal);
    private readonly List<string> _noIpScratch = new();

    private EndpointPool? _pool;
    private Informer<Pod>? _informer;
    private CancellationTokenSource? _informerCts;
    private Task _informerTask = Task.CompletedTask;
    private IReadOnlyList<Endpoint> _published = [];
    private bool _synced;
    private bool _disposed;

    public PodEndpointTracker(KubeApiClient client, EndpointRegistry registry, int metricsPortOverride, ILogger logger, InformerOptions? informerOptions = null)
    {
        _client = client;
        _registry = registry;
        _metricsPortOverride = metricsPortOverride;
        _logger = logger;
        _informerOptions = informerOptions;
    }

    /// <summary>True once the pods of the current pool have been listed at least once (false while no pool).</summary>
    public bool Synced
    {
        get { lock (_lock) return _synced; }
    }

    public EndpointPool? Pool
    {
        get { lock (_lock) return _pool; }
    }

    /// <summary>Raised (outside the lock) when <see cref="Synced"/> or the pool changes.</summary>
    public event Action? StateChanged;

    /// <summary>
    /// Sets the pool (null = pool gone: endpoints cleared, not synced, as the reference's datastore
    /// clear). Namespace/selector changes restart the pod watch; target-port or protocol changes rebuild.
    /// </summary>
    public void SetPool(EndpointPool? pool)
    {
        CancellationTokenSource? stop = null;
        bool stateChanged;
        lock (_lock)
        {
            if (_disposed)
                return;
            var old = _pool;
            _pool = pool;
            stateChanged = !ReferenceEquals(old, pool);
            if (pool is null && old is null)
            {
                return; // still no pool: nothing was published, nothing to clear
            }
            if (pool is null)
            {
                stop = _informerCts;
                _informer = null;
                _informerCts = null;
                _synced = false;
                PublishLocked([], synced: false);
            }
            else if (old is null || !old.SameSelector(pool) || _informer is null)
            {
                KubernetesLog.PodWatchStarting(_logger, pool.Namespace, pool.LabelSelectorText);
                stop = _informerCts;
                var informer = new Informer<Pod>(_client, $"/api/v1/namespaces/{Uri.EscapeDataString(pool.Namespace)}/pods",
                    pool.LabelSelectorText, null, KubeJsonContext.Default.KubeListPod, KubeJsonContext.Default.WatchEventPod,
                    _logger, _informerOptions);
                informer.Changed += () => OnPodsChanged(informer);
                _informer = informer;
                _informerCts = new CancellationTokenSource();
                _informerTask = Task.Run(() => informer.RunAsync(_informerCts.Token));
                // Endpoints of the previous selector stay published until the new LIST arrives.
            }
            else
            {
                RebuildLocked();
            }
        }
        stop?.Cancel(); // not disposed: the superseded informer may still be unwinding with its token
        if (stateChanged)
            StateChanged?.Invoke();
    }

    private void OnPodsChanged(Informer<Pod> informer)
    {
        bool becameSynced;
        lock (_lock)
        {
            if (!ReferenceEquals(informer, _informer))
                return; // a superseded selector's informer still draining
            becameSynced = !_synced;
            _synced = true;
            RebuildLocked();
        }
        if (becameSynced)
            StateChanged?.Invoke();
    }

    private void RebuildLocked()
    {
        var pool = _pool;
        var informer = _informer;
        if (pool is null || informer is null || !informer.HasSynced)
            return;
        var list = new List<Endpoint>();
        _noIpScratch.Clear();
        var pods = informer.Items;
        PodEndpoints.Build(pool, pods.Values, _metricsPortOverride, list, _noIpScratch);

        foreach (string pod in _noIpScratch)
            if (_warnedNoIp.Add(pod))
                KubernetesLog.PodWithoutIp(_logger, pool.Namespace, pod);
        if (_warnedNoIp.Count > 0)
            _warnedNoIp.RemoveWhere(p => !_noIpScratch.Contains(p)); // warn again if it loses its IP later

        if (!_registry.Current.Synced || !PodEndpoints.SameEndpoints(list, _published))
            PublishLocked(list, synced: true);
    }

    private void PublishLocked(IReadOnlyList<Endpoint> endpoints, bool synced)
    {
        _published = endpoints;
        var snapshot = _registry.Publish(endpoints, synced);
        KubernetesLog.EndpointsPublished(_logger, snapshot.Count, snapshot.Version);
    }

    public async ValueTask DisposeAsync()
    {
        CancellationTokenSource? cts;
        Task task;
        lock (_lock)
        {
            _disposed = true;
            cts = _informerCts;
            task = _informerTask;
            _informerCts = null;
            _informer = null;
        }
        if (cts is not null)
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await task.ConfigureAwait(false);
            cts.Dispose();
        }
    }
}
