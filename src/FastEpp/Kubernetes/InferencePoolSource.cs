using FastEpp.Endpoints;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// Pool mode (spec runtime.md §2.1–2.3): watches the one InferencePool
/// (<c>inference.networking.k8s.io/v1</c>, pool namespace, <c>fieldSelector=metadata.name=&lt;pool&gt;</c>)
/// and the pods it selects; publishes their endpoints on every change. Pool deleted (or being
/// deleted) → endpoints cleared and not synced, as the reference clears its datastore.
/// </summary>
internal sealed class InferencePoolSource : IPoolSource
{
    private readonly string _namespace;
    private readonly string _poolName;
    private readonly ILogger _logger;
    private readonly Informer<InferencePool> _poolInformer;
    private readonly PodEndpointTracker _pods;
    private string? _invalidReason;

    public InferencePoolSource(KubeApiClient client, string poolNamespace, string poolName, EndpointRegistry registry,
        int metricsPortOverride, ILogger logger, InformerOptions? informerOptions = null)
    {
        _namespace = poolNamespace;
        _poolName = poolName;
        _logger = logger;
        _poolInformer = new Informer<InferencePool>(client,
            $"/apis/inference.networking.k8s.io/v1/namespaces/{Uri.EscapeDataString(poolNamespace)}/inferencepools",
            null, "metadata.name=" + poolName,
            KubeJsonContext.Default.KubeListInferencePool, KubeJsonContext.Default.WatchEventInferencePool, logger, informerOptions);
        _poolInformer.Changed += OnPoolChanged;
        _pods = new PodEndpointTracker(client, registry, metricsPortOverride, logger, informerOptions);
        _pods.StateChanged += () => StateChanged?.Invoke();
    }

    public bool IsSynced => _pods.Synced;

    public string? AppProtocol => _pods.Pool?.AppProtocol;

    public EndpointPool? Pool => _pods.Pool;

    public event Action? StateChanged;

    public async Task RunAsync(CancellationToken ct)
    {
        await _poolInformer.RunAsync(ct).ConfigureAwait(false);
        await _pods.DisposeAsync().ConfigureAwait(false);
    }

    private void OnPoolChanged()
    {
        KubernetesLog.PoolReconciling(_logger, _namespace, _poolName);
        if (!_poolInformer.Items.TryGetValue(_poolName, out var obj))
        {
            KubernetesLog.PoolNotFound(_logger, _namespace, _poolName);
            _pods.SetPool(null);
            return;
        }
        if (obj.Metadata.DeletionTimestamp is not null)
        {
            KubernetesLog.PoolDeleting(_logger, _namespace, _poolName);
            _pods.SetPool(null);
            return;
        }
        if (!EndpointPool.TryFromInferencePool(obj, out var pool, out string error))
        {
            // The CRD's validation makes this unreachable on a real cluster; keep serving what we had.
            if (_invalidReason != error)
                KubernetesLog.PoolInvalid(_logger, _namespace, _poolName, error);
            _invalidReason = error;
            return;
        }
        _invalidReason = null;
        var current = _pods.Pool;
        if (current is not null && current.SameSelector(pool!) && current.SameTargetPorts(pool!) && current.AppProtocol == pool!.AppProtocol)
            return; // status-only or metadata-only update
        bool selectorChanged = current is null || !current.SameSelector(pool!);
        bool portsChanged = current is not null && !current.SameTargetPorts(pool!);
        if (selectorChanged || portsChanged)
            KubernetesLog.PoolEndpointsUpdating(_logger, _namespace, _poolName, pool!.LabelSelectorText, portsChanged, string.Join(',', pool.TargetPorts), pool.AppProtocol);
        _pods.SetPool(pool);
    }

    public ValueTask DisposeAsync() => _pods.DisposeAsync();
}
