using System.Net;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// Leader election on a <c>coordination.k8s.io/v1</c> Lease, following client-go's algorithm:
/// try to acquire every RetryPeriod (jittered ×1.2); a lease held by someone else counts as valid
/// until LeaseDuration after we last saw its record change (our clock, not theirs, so clock skew
/// does not matter); while leader, renew every RetryPeriod and give up when no renewal succeeded
/// for RenewDeadline; on shutdown release (empty holder) so a standby takes over immediately.
/// Optimistic concurrency: every update is a PUT carrying the resourceVersion read; 409 = lost race.
/// </summary>
internal sealed class LeaseLeaderElector : ILeaderElector
{
    private readonly KubeApiClient _client;
    private readonly string _path;
    private readonly string _collectionPath;
    private readonly string _namespace;
    private readonly string _name;
    private readonly LeaderElectionOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    private Lease? _observed;            // last record read or written
    private DateTimeOffset _observedTime; // when that record last changed, by our clock
    private volatile bool _isLeader;

    public LeaseLeaderElector(KubeApiClient client, string @namespace, string name, string identity,
        LeaderElectionOptions options, ILogger logger, TimeProvider? time = null)
    {
        _client = client;
        _namespace = @namespace;
        _name = name;
        _collectionPath = $"/apis/coordination.k8s.io/v1/namespaces/{Uri.EscapeDataString(@namespace)}/leases";
        _path = $"{_collectionPath}/{Uri.EscapeDataString(name)}";
        Identity = identity;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>controller-runtime's identity shape: <c>&lt;hostname&gt;_&lt;uuid&gt;</c>.</summary>
    public static string NewIdentity() => $"{Environment.MachineName}_{Guid.NewGuid()}";

    public string Identity { get; }

    public bool IsLeader => _isLeader;

    public event Action<bool>? LeadershipChanged;

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                KubernetesLog.LeaseAcquiring(_logger, _namespace, _name, Identity);
                while (!await TryAcquireOrRenewAsync(ct).ConfigureAwait(false))
                    await Task.Delay(Jitter(_options.RetryPeriod), _time, ct).ConfigureAwait(false);
                SetLeader(true);
                KubernetesLog.LeaseAcquired(_logger, _namespace, _name, Identity);

                var lastRenew = _time.GetUtcNow();
                while (true)
                {
                    await Task.Delay(_options.RetryPeriod, _time, ct).ConfigureAwait(false);
                    if (await TryAcquireOrRenewAsync(ct).ConfigureAwait(false))
                    {
                        lastRenew = _time.GetUtcNow();
                        continue;
                    }
                    if (_time.GetUtcNow() - lastRenew >= _options.RenewDeadline)
                    {
                        // The reference's manager exits here; the host decides (LeadershipChanged(false)).
                        SetLeader(false);
                        KubernetesLog.LeaseLost(_logger, _namespace, _name, Identity);
                        break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            if (_isLeader && _options.ReleaseOnCancel)
                await ReleaseAsync().ConfigureAwait(false);
            SetLeader(false);
        }
    }

    /// <summary>One attempt; false on any failure (not found races, 409, network), never throws except on cancel.</summary>
    internal async Task<bool> TryAcquireOrRenewAsync(CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(_options.RenewDeadline);
        try
        {
            var now = _time.GetUtcNow();
            var lease = await _client.GetAsync(_path, KubeJsonContext.Default.Lease, cts.Token).ConfigureAwait(false);
            if (lease is null)
            {
                var created = new Lease
                {
                    Metadata = new ObjectMeta { Name = _name, Namespace = _namespace },
                    Spec = NewSpec(now, acquireTime: now, transitions: 0),
                };
                created = await _client.SendAsync(HttpMethod.Post, _collectionPath, created, KubeJsonContext.Default.Lease, cts.Token).ConfigureAwait(false);
                Observe(created, now);
                return true;
            }

            if (!SameRecord(lease, _observed))
                Observe(lease, now);
            string? holder = lease.Spec.HolderIdentity;
            bool heldByUs = holder == Identity;
            if (!string.IsNullOrEmpty(holder) && !heldByUs && LeaseValid(lease, now))
                return false;

            var oldSpec = lease.Spec;
            int transitions = oldSpec.LeaseTransitions ?? 0;
            lease.Spec = NewSpec(now, acquireTime: now, transitions: heldByUs ? transitions : transitions + 1);
            if (heldByUs && oldSpec.AcquireTime is not null)
                lease.Spec.AcquireTime = oldSpec.AcquireTime; // a renewal keeps the original acquire time
            lease.Spec.Extra = oldSpec.Extra;
            var updated = await _client.SendAsync(HttpMethod.Put, _path, lease, KubeJsonContext.Default.Lease, cts.Token).ConfigureAwait(false);
            Observe(updated, now);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (KubeApiException ex) when (ex.StatusCode == HttpStatusCode.Conflict)
        {
            KubernetesLog.LeaseConflict(_logger, _namespace, _name);
            return false;
        }
        catch (Exception ex)
        {
            KubernetesLog.LeaseAttemptFailed(_logger, _namespace, _name, ex);
            return false;
        }
    }

    private async Task ReleaseAsync()
    {
        // Best effort with its own short deadline: shutdown must not hang on an unreachable API server.
        using var cts = new CancellationTokenSource(_options.RenewDeadline);
        try
        {
            var lease = await _client.GetAsync(_path, KubeJsonContext.Default.Lease, cts.Token).ConfigureAwait(false);
            if (lease is null || lease.Spec.HolderIdentity != Identity)
                return;
            var now = _time.GetUtcNow();
            lease.Spec.HolderIdentity = "";
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.AcquireTime = LeaseTime.Format(now);
            lease.Spec.RenewTime = LeaseTime.Format(now);
            await _client.SendAsync(HttpMethod.Put, _path, lease, KubeJsonContext.Default.Lease, cts.Token).ConfigureAwait(false);
            KubernetesLog.LeaseReleased(_logger, _namespace, _name, Identity);
        }
        catch (Exception ex)
        {
            KubernetesLog.LeaseAttemptFailed(_logger, _namespace, _name, ex);
        }
    }

    private LeaseSpec NewSpec(DateTimeOffset now, DateTimeOffset acquireTime, int transitions) => new()
    {
        HolderIdentity = Identity,
        LeaseDurationSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds),
        AcquireTime = LeaseTime.Format(acquireTime),
        RenewTime = LeaseTime.Format(now),
        LeaseTransitions = transitions,
    };

    private bool LeaseValid(Lease lease, DateTimeOffset now)
    {
        var duration = lease.Spec.LeaseDurationSeconds is > 0 and var s
            ? TimeSpan.FromSeconds(s) : _options.LeaseDuration;
        return _observedTime + duration > now;
    }

    private void Observe(Lease lease, DateTimeOffset now)
    {
        _observed = lease;
        _observedTime = now;
    }

    private static bool SameRecord(Lease a, Lease? b) =>
        b is not null
        && a.Spec.HolderIdentity == b.Spec.HolderIdentity
        && a.Spec.RenewTime == b.Spec.RenewTime
        && a.Spec.AcquireTime == b.Spec.AcquireTime
        && a.Spec.LeaseTransitions == b.Spec.LeaseTransitions
        && a.Spec.LeaseDurationSeconds == b.Spec.LeaseDurationSeconds;

    private void SetLeader(bool value)
    {
        if (_isLeader == value)
            return;
        _isLeader = value;
        LeadershipChanged?.Invoke(value);
    }

    private static TimeSpan Jitter(TimeSpan period) =>
        period + TimeSpan.FromTicks((long)(period.Ticks * 1.2 * Random.Shared.NextDouble()));
}
