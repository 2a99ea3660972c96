using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;

namespace FastEpp.Kubernetes;

/// <summary>
/// LIST + WATCH cache of one resource collection (client-go's reflector + store, reduced):
/// LIST → WATCH from the list's resourceVersion → on a normal stream end resume from the last seen
/// resourceVersion (bookmarks advance it) → on 410 Gone re-LIST and replace the cache (the consumer
/// recomputes, which is the diff) → on any other failure back off with jitter and resume.
/// The cache is never cleared by a failure: a dropped watch or an unreachable API server keeps the
/// last known objects, so endpoints are never lost to a network blip.
/// </summary>
/// <remarks>
/// Writer: the <see cref="RunAsync"/> loop only. Readers: anyone, through <see cref="Items"/> (an
/// immutable dictionary swapped by reference). <see cref="Changed"/> runs on the loop after every
/// cache change (once per LIST, once per ADDED/MODIFIED/DELETED event).
/// </remarks>
internal sealed class Informer<T> where T : class, IKubeObject
{
    private readonly KubeApiClient _client;
    private readonly string _path;
    private readonly string? _labelSelector;
    private readonly string? _fieldSelector;
    private readonly JsonTypeInfo<KubeList<T>> _listInfo;
    private readonly JsonTypeInfo<WatchEvent<T>> _watchInfo;
    private readonly ILogger _logger;
    private readonly InformerOptions _options;
    private ImmutableDictionary<string, T> _items = ImmutableDictionary.Create<string, T>(StringComparer.Ordinal);
    private string _resourceVersion = "";
    private volatile bool _synced;
    private int _eventsThisWatch;

    public Informer(KubeApiClient client, string path, string? labelSelector, string? fieldSelector,
        JsonTypeInfo<KubeList<T>> listInfo, JsonTypeInfo<WatchEvent<T>> watchInfo, ILogger logger, InformerOptions? options = null)
    {
        _client = client;
        _path = path;
        _labelSelector = labelSelector;
        _fieldSelector = fieldSelector;
        _listInfo = listInfo;
        _watchInfo = watchInfo;
        _logger = logger;
        _options = options ?? InformerOptions.Default;
    }

    /// <summary>Current objects keyed by metadata.name (namespaced informers only).</summary>
    public ImmutableDictionary<string, T> Items => Volatile.Read(ref _items);

    /// <summary>True after the first successful LIST.</summary>
    public bool HasSynced => _synced;

    public string Description => _labelSelector is null && _fieldSelector is null
        ? _path : $"{_path}?{_labelSelector}{(_fieldSelector is null ? "" : " " + _fieldSelector)}";

    public event Action? Changed;

    public async Task RunAsync(CancellationToken ct)
    {
        bool needList = true;
        int failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    var (items, rv) = await _client.ListAsync(_path, _labelSelector, _fieldSelector, _listInfo, ct).ConfigureAwait(false);
                    var builder = ImmutableDictionary.CreateBuilder<string, T>(StringComparer.Ordinal);
                    foreach (var item in items)
                        builder[item.Metadata.Name] = item;
                    Volatile.Write(ref _items, builder.ToImmutable());
                    _resourceVersion = rv;
                    needList = false;
                    _synced = true;
                    KubernetesLog.Listed(_logger, Description, items.Count, rv);
                    RaiseChanged();
                }

                long started = Stopwatch.GetTimestamp();
                _eventsThisWatch = 0;
                int timeout = _options.MinWatchTimeoutSeconds + Random.Shared.Next(_options.MinWatchTimeoutSeconds + 1);
                await _client.WatchAsync(_path, _labelSelector, _fieldSelector, _resourceVersion, timeout, _watchInfo, Apply, ct).ConfigureAwait(false);

                // A server that closes watches immediately must not turn this into a hot loop.
                if (_eventsThisWatch == 0 && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
                    await DelayAsync(++failures, ct).ConfigureAwait(false);
                else
                    failures = 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (KubeApiException ex) when (ex.IsGone)
            {
                KubernetesLog.WatchExpired(_logger, Description, _resourceVersion);
                needList = true;
                // Right after a LIST a 410 means something is badly off; otherwise re-list at once.
                if (_eventsThisWatch == 0)
                    await DelayAsync(++failures, ct).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failures++;
                KubernetesLog.InformerFailed(_logger, Description, failures, ex);
                await DelayAsync(failures, ct).ConfigureAwait(false);
            }
        }
    }

    private void Apply(WatchEvent<T> ev)
    {
        var obj = ev.Object;
        if (obj?.Metadata.ResourceVersion is { Length: > 0 } rv)
            _resourceVersion = rv;
        _eventsThisWatch++;
        switch (ev.Type)
        {
            case "ADDED":
            case "MODIFIED":
                if (obj is null)
                    return;
                Volatile.Write(ref _items, _items.SetItem(obj.Metadata.Name, obj));
                break;
            case "DELETED":
                if (obj is null)
                    return;
                Volatile.Write(ref _items, _items.Remove(obj.Metadata.Name));
                break;
            case "BOOKMARK":
                return;
            default:
                KubernetesLog.UnknownWatchEvent(_logger, Description, ev.Type);
                return;
        }
        RaiseChanged();
    }

    private void RaiseChanged()
    {
        try
        {
            Changed?.Invoke();
        }
        catch (Exception ex)
        {
            // A consumer bug must not stop the watch (and so freeze the cache).
            KubernetesLog.HandlerFailed(_logger, Description, ex);
        }
    }

    private Task DelayAsync(int failures, CancellationToken ct)
    {
        // Exponential back-off with "equal jitter": half fixed, half random, so replicas spread out.
        double baseMs = Math.Min(_options.BackoffMax.TotalMilliseconds,
            _options.BackoffInitial.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 16)));
        var delay = TimeSpan.FromMilliseconds(baseMs / 2 + Random.Shared.NextDouble() * baseMs / 2);
        return Task.Delay(delay, ct).ContinueWith(static _ => { }, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}

/// <summary>Informer tuning; the defaults follow client-go's reflector.</summary>
internal sealed record InformerOptions
{
    public static readonly InformerOptions Default = new();

    /// <summary>First retry delay after a failure (client-go: 800 ms).</summary>
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromMilliseconds(800);
    /// <summary>Retry delay cap (client-go: 30 s).</summary>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Watches ask the server to end after a random 1–2× this (client-go: 5 min).</summary>
    public int MinWatchTimeoutSeconds { get; init; } = 300;
}
