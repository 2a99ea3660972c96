using System.Net;
using System.Net.Security;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using Microsoft.Extensions.Logging;

namespace FastEpp.Metrics;

/// <summary>
/// Scrapes every endpoint's <c>scheme://MetricsHost/path</c> every refresh interval and writes the
/// extracted values into its <see cref="EndpointState"/> (scheduling.md §4.1–4.5).
/// <para>
/// One loop instead of the reference's goroutine per endpoint: a <see cref="PeriodicTimer"/> ticks
/// a few times per interval; each tick (1) follows <see cref="EndpointRegistry.Current"/> (new
/// endpoints start, removed ones stop), (2) starts the scrapes that are due, up to
/// <see cref="MetricsPollerOptions.MaxConcurrency"/> in flight, round-robin so none starves.
/// A scrape is one async HTTP GET on a shared <see cref="SocketsHttpHandler"/> (pooled keep-alive
/// connections), read into a <see cref="ScrapeBuffers"/> buffer capped at
/// <see cref="MetricsPollerOptions.MaxBodyBytes"/>, scanned by <see cref="PrometheusScanner"/>.
/// </para>
/// <para>
/// Per endpoint: at most one scrape in flight, so the poller is the single writer its seqlock
/// needs. A partial scrape updates what was found with a fresh timestamp; a failed one keeps the
/// old values and the old UpdatedAt (staleness stays visible) and backs off exponentially with
/// jitter. Failures and recoveries are logged once per transition, never per scrape. A server that
/// hangs, fails, closes mid-body or sends garbage costs one concurrency slot for at most the
/// request timeout and never blocks other endpoints.
/// </para>
/// </summary>
internal sealed class MetricsPoller : IAsyncDisposable
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly EndpointRegistry _registry;
    private readonly EngineSelector _engines;
    private readonly MetricsPollerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HttpMessageInvoker _invoker;
    private readonly long _intervalTicks;
    private readonly long _maxBackoffTicks;
    private readonly long _timeoutTicks;
    private readonly TimeSpan _tickPeriod;

    // Loop-owned state (only the loop thread touches these).
    private readonly Dictionary<EndpointState, PollTarget> _byState = new(ReferenceEqualityComparer.Instance);
    private PollTarget[] _targets = [];
    private EndpointSnapshot? _snapshot;
    private int _cursor;
    private bool _saturatedLogged;

    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private int _active;
    private CancellationToken _runToken;
    private int _disposed;
    private long _scrapes;
    private long _failures;

    public MetricsPoller(EndpointRegistry registry, EngineSelector engines, MetricsPollerOptions options,
        ILogger<MetricsPoller> logger, TimeProvider? timeProvider = null, HttpMessageHandler? handler = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException("invalid metrics poller options: " + string.Join("; ", errors), nameof(options));
        _registry = registry;
        _engines = engines;
        _options = options;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        // HttpMessageInvoker, not HttpClient: no per-request linked token source; the handler
        // returns once headers arrive and the body is streamed (ResponseHeadersRead semantics).
        _invoker = new HttpMessageInvoker(handler ?? CreateHandler(options), disposeHandler: handler is null);
        _timeoutTicks = ToTimestampTicks(options.RequestTimeout);
        _intervalTicks = ToTimestampTicks(options.RefreshInterval);
        _maxBackoffTicks = ToTimestampTicks(options.MaxBackoff);
        // Several ticks per interval spread scrapes out; the bounds keep idle wake-ups cheap.
        _tickPeriod = TimeSpan.FromTicks(Math.Clamp(options.RefreshInterval.Ticks / 5,
            TimeSpan.TicksPerMillisecond, 50 * TimeSpan.TicksPerMillisecond));
    }

    /// <summary>The shared transport: pooled keep-alive connections, no proxy, optional TLS verification skip.</summary>
    public static SocketsHttpHandler CreateHandler(MetricsPollerOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,           // pod IPs are never reached through an HTTP(S)_PROXY
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(10), // the reference's idle timeout
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        if (options.InsecureSkipVerify)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            };
        }
        return handler;
    }

    /// <summary>Scrapes completed (any outcome) since start.</summary>
    public long ScrapeCount => Interlocked.Read(ref _scrapes);
    /// <summary>Scrapes that failed at the transport/HTTP level since start.</summary>
    public long FailureCount => Interlocked.Read(ref _failures);
    /// <summary>Scrapes in flight now.</summary>
    public int ActiveScrapes => Volatile.Read(ref _active);

    /// <summary>Starts the background loop (idempotent).</summary>
    public void Start()
    {
        if (_loop is not null)
            return;
        MetricsLog.PollerStarted(_logger, _options.Scheme, _options.Path, _options.RefreshInterval.TotalMilliseconds,
            _options.RequestTimeout.TotalMilliseconds, _options.MaxConcurrency);
        _loop = Task.Run(() => RunAsync(_stopping.Token));
    }

    /// <summary>Stops the loop and waits (bounded by the request timeout) for scrapes in flight.</summary>
    public async Task StopAsync()
    {
        _stopping.Cancel();
        if (_loop is not null)
            await _loop.ConfigureAwait(false);
        // In-flight scrapes observe the same token; wait for them so no write happens after stop.
        var deadline = DateTime.UtcNow + _options.RequestTimeout + TimeSpan.FromSeconds(1);
        while (Volatile.Read(ref _active) > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(5).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await StopAsync().ConfigureAwait(false);
        _invoker.Dispose(); // a caller-provided handler stays alive (disposeHandler: false)
        _stopping.Dispose();
    }

    /// <summary>The loop; <see cref="Start"/> runs it on the thread pool, tests may call it directly.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _runToken = cancellationToken;
        using var timer = new PeriodicTimer(_tickPeriod, _time);
        try
        {
            do
            {
                try
                {
                    Tick(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    MetricsLog.PollerIterationFailed(_logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Scrapes in flight use per-endpoint tokens: cancel them so shutdown does not wait for timeouts.
            foreach (var t in _targets)
                t.CancelIfArmed();
            lock (_retired)
                foreach (var t in _retired)
                    t.CancelIfArmed();
        }
    }

    /// <summary>Whether the endpoint is currently tracked by the loop or still has a scrape in flight.</summary>
    public bool IsPolling(EndpointState state)
    {
        var targets = Volatile.Read(ref _targets);
        foreach (var t in targets)
            if (ReferenceEquals(t.Endpoint.State, state))
                return true;
        lock (_retired)
        {
            foreach (var t in _retired)
                if (ReferenceEquals(t.Endpoint.State, state) && Volatile.Read(ref t.InFlight) != 0)
                    return true;
        }
        return false;
    }

    /// <summary>Diagnostics of one endpoint's scraping; false when the endpoint is not tracked.</summary>
    public bool TryGetStatus(EndpointState state, out EndpointScrapeStatus status)
    {
        foreach (var t in Volatile.Read(ref _targets))
        {
            if (ReferenceEquals(t.Endpoint.State, state))
            {
                lock (t)
                    status = t.Status;
                return true;
            }
        }
        status = default;
        return false;
    }

    // Removed targets whose scrape may still be running (IsPolling reports them until done).
    private readonly List<PollTarget> _retired = [];

    private void Tick(CancellationToken cancellationToken)
    {
        var snapshot = _registry.Current;
        if (!ReferenceEquals(snapshot, _snapshot))
            Reconcile(snapshot);
        lock (_retired)
            _retired.RemoveAll(static t => Volatile.Read(ref t.InFlight) == 0);

        var targets = _targets;
        int n = targets.Length;
        if (n == 0)
            return;
        long now = _time.GetTimestamp();
        bool saturated = false;
        int start = _cursor % n;
        for (int k = 0; k < n; k++)
        {
            int index = (start + k) % n;
            var t = targets[index];
            if (Volatile.Read(ref t.InFlight) != 0)
            {
                // Timeout watchdog: one check per tick instead of a timer per scrape.
                if (now - Volatile.Read(ref t.StartedAt) > _timeoutTicks)
                    t.CancelIfArmed();
                continue;
            }
            long due = Volatile.Read(ref t.NextDue);
            if (now < due)
                continue;
            if (Volatile.Read(ref _active) >= _options.MaxConcurrency)
            {
                // Resume from the first deferred endpoint next tick so none starves.
                if (!saturated)
                    _cursor = index;
                saturated = true;
                continue;
            }
            t.Arm(now, due);
            Volatile.Write(ref t.InFlight, 1);
            Interlocked.Increment(ref _active);
            // The synchronous part of a send (pool lookup, request write) runs on a pool thread,
            // not on the loop: the loop only decides. PollTarget is the work item (no allocation).
            ThreadPool.UnsafeQueueUserWorkItem(t, preferLocal: false);
        }
        if (saturated != _saturatedLogged)
        {
            _saturatedLogged = saturated;
            if (saturated)
                MetricsLog.PollerSaturated(_logger, _options.MaxConcurrency);
            else
                MetricsLog.PollerUnsaturated(_logger);
        }
    }

    /// <summary>Follows a new endpoint snapshot: keeps targets by state identity, adds new ones, retires removed ones.</summary>
    private void Reconcile(EndpointSnapshot snapshot)
    {
        _snapshot = snapshot;
        var next = new PollTarget[snapshot.Count];
        var seen = new HashSet<EndpointState>(ReferenceEqualityComparer.Instance);
        long now = _time.GetTimestamp();
        int n = 0;
        foreach (var endpoint in snapshot.Endpoints)
        {
            if (!seen.Add(endpoint.State))
                continue;
            if (_byState.TryGetValue(endpoint.State, out var target))
            {
                if (!ReferenceEquals(target.Endpoint, endpoint))
                {
                    // Labels (engine) or metrics port may have changed with the same state.
                    target.Plan = _engines.Select(endpoint.Labels);
                    if (target.Endpoint.MetricsHost != endpoint.MetricsHost)
                        target.Uri = BuildUri(endpoint);
                    target.Endpoint = endpoint;
                }
            }
            else
            {
                target = new PollTarget(this, endpoint, _engines.Select(endpoint.Labels), BuildUri(endpoint));
                // Spread first scrapes over one interval so a large new pool does not burst.
                target.NextDue = now + (long)(Random.Shared.NextDouble() * _intervalTicks);
                _byState[endpoint.State] = target;
            }
            next[n++] = target;
        }
        if (n != next.Length)
            Array.Resize(ref next, n);

        foreach (var old in _targets)
        {
            if (seen.Contains(old.Endpoint.State))
                continue;
            old.Removed = true;
            _byState.Remove(old.Endpoint.State);
            if (Volatile.Read(ref old.InFlight) != 0)
                lock (_retired)
                    _retired.Add(old);
        }
        Volatile.Write(ref _targets, next);
    }

    private Uri BuildUri(Endpoint endpoint) => new($"{_options.Scheme}://{endpoint.MetricsHost}{_options.Path}");

    private async Task ScrapeAsync(PollTarget target)
    {
        var stopping = _runToken;
        byte[]? buffer = null;
        string? failure = null;
        ScrapeReport report = default;
        var plan = target.Plan;
        var endpoint = target.Endpoint;
        var ct = target.Token; // armed on the loop thread just before this call
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, target.Uri);
            using var response = await _invoker.SendAsync(request, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failure = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
            }
            else if (response.Content.Headers.ContentLength is long declared && declared > _options.MaxBodyBytes)
            {
                failure = $"body of {declared} bytes exceeds the {_options.MaxBodyBytes}-byte limit";
            }
            else
            {
                int expected = (int)Math.Min(response.Content.Headers.ContentLength ?? InitialBufferBytes, _options.MaxBodyBytes);
                buffer = ScrapeBuffers.Rent(Math.Max(expected, 4096));
                var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    int cap = _options.MaxBodyBytes;
                    int total = 0;
                    while (true)
                    {
                        int limit = Math.Min(buffer.Length, cap);
                        if (total == limit)
                        {
                            if (limit == cap)
                            {
                                // Full at the cap: one more byte means the body is too large.
                                if (await stream.ReadAsync(target.Probe, ct).ConfigureAwait(false) > 0)
                                    failure = $"body exceeds the {cap}-byte limit";
                                break;
                            }
                            var bigger = ScrapeBuffers.Rent((int)Math.Min((long)buffer.Length * 2, cap));
                            buffer.AsSpan(0, total).CopyTo(bigger);
                            ScrapeBuffers.Return(buffer);
                            buffer = bigger;
                            continue;
                        }
                        int read = await stream.ReadAsync(buffer.AsMemory(total, limit - total), ct).ConfigureAwait(false);
                        if (read == 0)
                            break;
                        total += read;
                    }
                    if (failure is null && !target.Removed && !stopping.IsCancellationRequested)
                        report = ScanAndPublish(endpoint, plan, buffer, total);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutting down: not a model-server failure, nothing to log.
            CompleteStopped(target, buffer);
            return;
        }
        catch (OperationCanceledException)
        {
            failure = $"timed out after {_options.RequestTimeout.TotalMilliseconds:0} ms";
        }
        catch (HttpRequestException ex)
        {
            failure = ex.HttpRequestError == HttpRequestError.Unknown ? ex.Message : $"{ex.HttpRequestError}: {ex.Message}";
        }
        catch (IOException ex)
        {
            failure = "connection closed while reading the body: " + ex.Message;
        }
        catch (Exception ex)
        {
            failure = $"{ex.GetType().Name}: {ex.Message}";
        }

        if (buffer is not null)
            ScrapeBuffers.Return(buffer);
        Complete(target, endpoint, plan, failure, report);
    }

    private void CompleteStopped(PollTarget target, byte[]? buffer)
    {
        if (buffer is not null)
            ScrapeBuffers.Return(buffer);
        target.Disarm();
        Volatile.Write(ref target.InFlight, 0);
        Interlocked.Decrement(ref _active);
    }

    private ScrapeReport ScanAndPublish(Endpoint endpoint, ScrapePlan plan, byte[] buffer, int length)
    {
        var state = endpoint.State;
        var report = PrometheusScanner.Scan(buffer.AsSpan(0, length), plan, state.Metrics, _time.GetUtcNow(), out var next);
        if (report.Updated)
            state.SetMetrics(next);
        return report;
    }

    private void Complete(PollTarget target, Endpoint endpoint, ScrapePlan plan, string? failure, ScrapeReport report)
    {
        target.Disarm();
        Interlocked.Increment(ref _scrapes);
        long started = target.StartedAt;
        long baseline = started;
        long delay;
        lock (target)
        {
            ref var status = ref target.Status;
            status.Scrapes++;
            if (failure is not null)
            {
                Interlocked.Increment(ref _failures);
                status.Failures++;
                status.ConsecutiveFailures++;
                status.LastError = failure;
                if (!status.Failing)
                {
                    status.Failing = true;
                    if (!target.Removed)
                        MetricsLog.ScrapeFailed(_logger, endpoint.Address, endpoint.Name, target.Uri, failure);
                }
                // Exponential back-off: interval × 2^failures, capped, never below the interval.
                int shift = Math.Min(status.ConsecutiveFailures, 16);
                delay = Math.Max(_intervalTicks, Math.Min(_intervalTicks << shift, _maxBackoffTicks));
            }
            else
            {
                if (status.Failing)
                {
                    status.Failing = false;
                    MetricsLog.ScrapeRecovered(_logger, endpoint.Address, endpoint.Name, status.ConsecutiveFailures);
                }
                status.ConsecutiveFailures = 0;
                status.LastReport = report;
                status.LastError = null;
                var incomplete = report.Missing | report.Invalid;
                if (incomplete != status.LoggedIncomplete)
                {
                    if (incomplete != MetricFields.None)
                        MetricsLog.ExtractIncomplete(_logger, endpoint.Address, endpoint.Name, plan.Name, report.Describe(plan));
                    else
                        MetricsLog.ExtractRecovered(_logger, endpoint.Address, endpoint.Name, plan.Name);
                    status.LoggedIncomplete = incomplete;
                }
                delay = _intervalTicks;
                // Schedule from the due time, not the (tick-rounded) start, so the average
                // period equals the interval; after a long delay restart from now.
                if (started - target.DueAt < _intervalTicks)
                    baseline = target.DueAt;
            }
        }

        double jitter = _options.Jitter * (Random.Shared.NextDouble() * 2 - 1);
        Volatile.Write(ref target.NextDue, baseline + (long)(delay * (1 + jitter)));
        Volatile.Write(ref target.InFlight, 0);
        Interlocked.Decrement(ref _active);
    }

    private long ToTimestampTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Loop-side record of one endpoint.</summary>
    private sealed class PollTarget(MetricsPoller owner, Endpoint endpoint, ScrapePlan plan, Uri uri) : IThreadPoolWorkItem
    {
        // Scrape exceptions are all caught inside ScrapeAsync; the task is not observed.
        public void Execute() => _ = owner.ScrapeAsync(this);

        public Endpoint Endpoint = endpoint;
        public ScrapePlan Plan = plan;
        public Uri Uri = uri;
        public long NextDue;
        public long DueAt;
        public long StartedAt;
        public int InFlight;
        public volatile bool Removed;
        public EndpointScrapeStatus Status;
        public readonly byte[] Probe = new byte[1];
        private CancellationTokenSource _cts = new();
        private bool _armed;

        public CancellationToken Token => _cts.Token;

        /// <summary>Loop thread, before a scrape starts: records times and enables the watchdog.</summary>
        public void Arm(long now, long due)
        {
            lock (this)
            {
                DueAt = due;
                Volatile.Write(ref StartedAt, now);
                _armed = true;
            }
        }

        /// <summary>Watchdog or shutdown: cancels the scrape in flight, if any.</summary>
        public void CancelIfArmed()
        {
            lock (this)
            {
                if (!_armed)
                    return;
                _armed = false;
                _cts.Cancel();
            }
        }

        /// <summary>Scrape completion: the token source is reused unless it was cancelled.</summary>
        public void Disarm()
        {
            lock (this)
            {
                _armed = false;
                if (!_cts.TryReset())
                {
                    _cts.Dispose();
                    _cts = new CancellationTokenSource();
                }
            }
        }
    }
}

/// <summary>Scrape diagnostics of one endpoint (a copy; see <see cref="MetricsPoller.TryGetStatus"/>).</summary>
internal struct EndpointScrapeStatus
{
    /// <summary>The last scrape failed at the transport/HTTP level (timeout, refused, non-200, too large, cut body).</summary>
    public bool Failing;
    public int ConsecutiveFailures;
    public long Scrapes;
    public long Failures;
    public string? LastError;
    /// <summary>Extraction result of the last successful HTTP scrape.</summary>
    public ScrapeReport LastReport;
    internal MetricFields LoggedIncomplete;
}
