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

    [LoggerMessage(4620, LogLevel.Information, "InferencePool {Namespace}/{Name}: selector {Selector}, targetPorts {Ports}, appProtocol {AppProtocol}", EventName = "PoolUpdated")]
    public static partial void PoolUpdated(ILogger logger, string @namespace, string name, string selector, string ports, string appProtocol);

    [LoggerMessage(4621, LogLevel.Warning, "InferencePool {Namespace}/{Name} not found or being deleted; endpoints cleared", EventName = "PoolGone")]
    public static partial void PoolGone(ILogger logger, string @namespace, string name);

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
