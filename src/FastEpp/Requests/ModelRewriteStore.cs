using FastEpp.Kubernetes;
using Microsoft.Extensions.Logging;

namespace FastEpp.Requests;

/// <summary>
/// Watches InferenceModelRewrites of the pool namespace and keeps the rule set of the served pool
/// as an immutable <see cref="ModelRewriteSnapshot"/> swapped atomically (spec runtime.md §2.5).
/// </summary>
internal sealed class ModelRewriteStore
{
    private readonly PoolReference _pool;
    private readonly Informer<InferenceModelRewrite> _informer;
    private ModelRewriteSnapshot _current = ModelRewriteSnapshot.Empty;

    public ModelRewriteStore(KubeApiClient client, string poolNamespace, PoolReference pool, ILogger logger, InformerOptions? informerOptions = null)
    {
        _pool = pool;
        _informer = new Informer<InferenceModelRewrite>(client,
            $"/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{Uri.EscapeDataString(poolNamespace)}/inferencemodelrewrites",
            null, null, KubeJsonContext.Default.KubeListInferenceModelRewrite, KubeJsonContext.Default.WatchEventInferenceModelRewrite,
            logger, informerOptions);
        _informer.Changed += () => Volatile.Write(ref _current, ModelRewriteSnapshot.Build(_informer.Items.Values, _pool));
    }

    /// <summary>The current rule set (read once per request).</summary>
    public ModelRewriteSnapshot Current => Volatile.Read(ref _current);

    public bool HasSynced => _informer.HasSynced;

    public Task RunAsync(CancellationToken ct) => _informer.RunAsync(ct);
}
