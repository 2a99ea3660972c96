using System.Collections.Frozen;
using FastEpp.Kubernetes;
using Microsoft.Extensions.Logging;

namespace FastEpp.Requests;

/// <summary>
/// InferenceObjectives of the served pool (spec runtime.md §2.4), keyed by object name. Readers
/// call <see cref="PriorityFor"/> (one volatile read of a frozen dictionary, no lock); the watch
/// loop rebuilds and swaps the whole map on every change.
/// </summary>
internal sealed class ObjectiveStore
{
    private readonly PoolReference _pool;
    private readonly Informer<InferenceObjective> _informer;
    private FrozenDictionary<string, int> _priorities = FrozenDictionary<string, int>.Empty;

    public ObjectiveStore(KubeApiClient client, string poolNamespace, PoolReference pool, ILogger logger, InformerOptions? informerOptions = null)
    {
        _pool = pool;
        _informer = new Informer<InferenceObjective>(client,
            $"/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{Uri.EscapeDataString(poolNamespace)}/inferenceobjectives",
            null, null, KubeJsonContext.Default.KubeListInferenceObjective, KubeJsonContext.Default.WatchEventInferenceObjective,
            logger, informerOptions);
        _informer.Changed += Rebuild;
    }

    /// <summary>True after the first LIST.</summary>
    public bool HasSynced => _informer.HasSynced;

    /// <summary>Number of objectives referencing the pool.</summary>
    public int Count => Volatile.Read(ref _priorities).Count;

    /// <summary>
    /// Priority of the objective named by the request's <c>x-gateway-inference-objective</c> header:
    /// null when no such objective exists for this pool (the caller uses 0), 0 when it has no priority.
    /// </summary>
    public int? PriorityFor(string objectiveName) =>
        Volatile.Read(ref _priorities).TryGetValue(objectiveName, out int p) ? p : null;

    public Task RunAsync(CancellationToken ct) => _informer.RunAsync(ct);

    private void Rebuild()
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, obj) in _informer.Items)
        {
            if (obj.Metadata.DeletionTimestamp is null && _pool.Matches(obj.Spec?.PoolRef))
                map[name] = obj.Spec!.Priority ?? 0;
        }
        Volatile.Write(ref _priorities, map.ToFrozenDictionary(StringComparer.Ordinal));
    }
}
