using FastEpp.Hosting.Logging;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>Source-generated log messages of the Kubernetes data layer (event ids 4600–4699, Endpoints range).</summary>
internal static partial class KubernetesLog
{
    [LoggerMessage(4600, LogLevel.Information, "Kubernetes client configured from {Origin}, API server {Server}", EventName = "KubeConfigured")]
    public static partial void Configured(ILogger logger, string origin, Uri server);

    [LoggerMessage(4601, LogLevel.Debug, "Listed {Resource}: {Count} objects at resourceVersion {ResourceVersion}", EventName = "KubeListed")]
    public static partial void Listed(ILogger logger, string resource, int count, string resourceVersion);

    [LoggerMessage(4602, LogLevel.Information, "Watch of {Resource} expired at resourceVersion {ResourceVersion} (410 Gone); re-listing", EventName = "KubeWatchExpired")]
    public static partial void WatchExpired(ILogger logger, string resource, string resourceVersion);

    [LoggerMessage(4603, LogLevel.Warning, "List/watch of {Resource} failed (attempt {Attempt}); keeping the cached objects and retrying", EventName = "KubeInformerFailed")]
    public static partial void InformerFailed(ILogger logger, string resource, int attempt, Exception exception);

    [LoggerMessage(4604, LogLevel.Warning, "Ignoring watch event of unknown type {Type} on {Resource}", EventName = "KubeUnknownWatchEvent")]
    public static partial void UnknownWatchEvent(ILogger logger, string resource, string type);

    [LoggerMessage(4605, LogLevel.Error, "Change handler for {Resource} failed", EventName = "KubeHandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, string resource, Exception exception);

    [LoggerMessage(4610, LogLevel.Information, "Watching pods in namespace {Namespace} with selector {Selector}", EventName = "PodWatchStarting")]
    public static partial void PodWatchStarting(ILogger logger, string @namespace, string selector);

    [LoggerMessage(4611, LogLevel.Warning, "Pod {Namespace}/{Pod} is ready but has no IP; skipped until it has one", EventName = "PodWithoutIp")]
    public static partial void PodWithoutIp(ILogger logger, string @namespace, string pod);

    [LoggerMessage(4612, LogLevel.Debug, "Published {Count} endpoints (snapshot version {Version})", EventName = "EndpointsPublished")]
    public static partial void EndpointsPublished(ILogger logger, int count, long version);

    // The events operators alert on carry the reference's constant message and keys (zap fields), not a template:
    // the InferencePool reconciler's lines with controller-runtime's reconcile fields, the datastore's
    // "Updating endpoints", and the runner's leader-election lines on the "setup" logger. Pinned by ReferenceLogTextTests.

    /// <summary>controller-runtime's reconcile fields of the InferencePool controller (reconcileID: one per event).</summary>
    private static KeyValuePair<string, object?>[] Reconcile(string @namespace, string name, params KeyValuePair<string, object?>[] extra)
    {
        var fields = new KeyValuePair<string, object?>[7 + extra.Length];
        fields[0] = ZapEntry.Field("controller", "inferencepool");
        fields[1] = ZapEntry.Field("controllerGroup", "inference.networking.k8s.io");
        fields[2] = ZapEntry.Field("controllerKind", "InferencePool");
        fields[3] = ZapEntry.Field("InferencePool", new KeyValuePair<string, string>[] { new("name", name), new("namespace", @namespace) });
        fields[4] = ZapEntry.Field("namespace", @namespace);
        fields[5] = ZapEntry.Field("name", name);
        fields[6] = ZapEntry.Field("reconcileID", Guid.NewGuid().ToString());
        extra.CopyTo(fields, 7);
        return fields;
    }

    public static void PoolReconciling(ILogger logger, string @namespace, string name) =>
        logger.Zap(LogLevel.Information, "Reconciling InferencePool", Reconcile(@namespace, name));

    public static void PoolNotFound(ILogger logger, string @namespace, string name) =>
        logger.Zap(LogLevel.Information, "InferencePool not found. Clearing the datastore", Reconcile(@namespace, name));

    public static void PoolDeleting(ILogger logger, string @namespace, string name) =>
        logger.Zap(LogLevel.Information, "InferencePool is marked for deletion. Clearing the datastore", Reconcile(@namespace, name));

    /// <summary>The pool's selector or target ports changed (the first sync included): the endpoints are resynced.</summary>
    public static void PoolEndpointsUpdating(ILogger logger, string @namespace, string name, string selector, bool targetPortsChanged, string ports, string appProtocol) =>
        logger.Zap(LogLevel.Information, "Updating endpoints", Reconcile(@namespace, name, ZapEntry.Field("selector", selector),
            ZapEntry.Field("targetPortsChanged", targetPortsChanged), ZapEntry.Field("targetPorts", ports), ZapEntry.Field("appProtocol", appProtocol)));

    public static void LeaderElectionEnabled(ILogger setup) => setup.Zap(LogLevel.Information, "Leader election enabled");

    public static void NowLeader(ILogger setup) => setup.Zap(LogLevel.Information, "This instance is now the leader!");

    [LoggerMessage(4622, LogLevel.Error, "InferencePool {Namespace}/{Name} is invalid ({Reason}); keeping the previous pool", EventName = "PoolInvalid")]
    public static partial void PoolInvalid(ILogger logger, string @namespace, string name, string reason);

    [LoggerMessage(4630, LogLevel.Error, "API discovery of {Path} failed; InferenceObjective and InferenceModelRewrite watchers are skipped", EventName = "DiscoveryFailed")]
    public static partial void DiscoveryFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(4631, LogLevel.Error, "CRD {Crd} is not installed; the {Kind} watcher is skipped", EventName = "CrdMissing")]
    public static partial void CrdMissing(ILogger logger, string kind, string crd);

    [LoggerMessage(4632, LogLevel.Information, "Starting reconcilers: pool {Namespace}/{Name} (objectives: {Objectives}, model rewrites: {Rewrites})", EventName = "ReconcilersStarting")]
    public static partial void ReconcilersStarting(ILogger logger, string @namespace, string name, bool objectives, bool rewrites);

    [LoggerMessage(4640, LogLevel.Information, "Attempting to acquire lease {Namespace}/{Name} as {Identity}", EventName = "LeaseAcquiring")]
    public static partial void LeaseAcquiring(ILogger logger, string @namespace, string name, string identity);

    [LoggerMessage(4641, LogLevel.Information, "Acquired lease {Namespace}/{Name} as {Identity}", EventName = "LeaseAcquired")]
    public static partial void LeaseAcquired(ILogger logger, string @namespace, string name, string identity);

    [LoggerMessage(4642, LogLevel.Error, "Lost lease {Namespace}/{Name} ({Identity}): not renewed within the renew deadline", EventName = "LeaseLost")]
    public static partial void LeaseLost(ILogger logger, string @namespace, string name, string identity);

    [LoggerMessage(4643, LogLevel.Debug, "Lease {Namespace}/{Name} update conflicted (409); will retry", EventName = "LeaseConflict")]
    public static partial void LeaseConflict(ILogger logger, string @namespace, string name);

    [LoggerMessage(4644, LogLevel.Warning, "Lease {Namespace}/{Name} acquire/renew/release attempt failed", EventName = "LeaseAttemptFailed")]
    public static partial void LeaseAttemptFailed(ILogger logger, string @namespace, string name, Exception exception);

    [LoggerMessage(4645, LogLevel.Information, "Released lease {Namespace}/{Name} ({Identity})", EventName = "LeaseReleased")]
    public static partial void LeaseReleased(ILogger logger, string @namespace, string name, string identity);
}
