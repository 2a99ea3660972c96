using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>Which optional CRDs the cluster serves (spec runtime.md §1.5 step 7).</summary>
internal readonly record struct OptionalCrds(bool Objectives, bool ModelRewrites);

/// <summary>
/// Group-version discovery for <c>inference.networking.x-k8s.io/v1alpha2</c>: decides whether the
/// InferenceObjective / InferenceModelRewrite watchers run. A missing CRD (or a failed discovery)
/// is logged as an error and its watcher skipped; startup continues, as in the reference.
/// </summary>
internal static class ApiDiscovery
{
    public const string ExperimentalGroupVersionPath = "/apis/inference.networking.x-k8s.io/v1alpha2";

    public static async Task<OptionalCrds> DiscoverAsync(KubeApiClient client, ILogger logger, CancellationToken ct)
    {
        ApiResourceList? list;
        try
        {
            list = await client.GetAsync(ExperimentalGroupVersionPath, KubeJsonContext.Default.ApiResourceList, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            KubernetesLog.DiscoveryFailed(logger, ExperimentalGroupVersionPath, ex);
            return new OptionalCrds(false, false);
        }
        bool objectives = false, rewrites = false;
        if (list?.Resources is { } resources)
        {
            foreach (var r in resources)
            {
                objectives |= r.Name == "inferenceobjectives";
                rewrites |= r.Name == "inferencemodelrewrites";
            }
        }
        if (!objectives)
            KubernetesLog.CrdMissing(logger, "InferenceObjective", "inferenceobjectives.inference.networking.x-k8s.io");
        if (!rewrites)
            KubernetesLog.CrdMissing(logger, "InferenceModelRewrite", "inferencemodelrewrites.inference.networking.x-k8s.io");
        return new OptionalCrds(objectives, rewrites);
    }
}
