using FastEpp.Endpoints;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// Standalone mode (spec runtime.md §2.9): a synthetic pool from <c>--endpoint-selector</c> and
/// <c>--endpoint-target-ports</c>, named after the Deployment of <c>POD_NAME</c>. Only pods are
/// watched; the pool is synced from the first instant (health can pass before any pod is seen).
/// </summary>
internal sealed class SelectorSource : IPoolSource
{
    private readonly EndpointPool _pool;
    private readonly PodEndpointTracker _pods;

    public SelectorSource(KubeApiClient client, EndpointPool pool, EndpointRegistry registry, int metricsPortOverride,
        ILogger logger, InformerOptions? informerOptions = null)
    {
        _pool = pool;
        _pods = new PodEndpointTracker(client, registry, metricsPortOverride, logger, informerOptions);
    }

    public bool IsSynced => true;

    public string? AppProtocol => _pool.AppProtocol;

    public EndpointPool? Pool => _pool;

    // The synthetic pool never changes; the event exists for the interface.
    public event Action? StateChanged { add { } remove { } }

    public async Task RunAsync(CancellationToken ct)
    {
        _pods.SetPool(_pool);
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await _pods.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _pods.DisposeAsync();
}
