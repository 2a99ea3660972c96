using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using FastEpp.Configuration;
using System.Diagnostics;
using FastEpp.Observability;

namespace FastEpp.Scheduling;

/// <summary>
/// The EndpointPickerConfig-driven scheduler (spec scheduling.md §2.3–§2.4): data producers, then the
/// profile handler loop (filters → weighted scorers → picker per profile), then the primary profile's
/// endpoints. Immutable and thread-safe; all per-request state lives in the request's
/// <see cref="RequestScratch"/>, so a warm decision allocates nothing.
/// Built by <see cref="SchedulerFactory"/>.
/// </summary>
internal sealed class ConfiguredScheduler : IRequestScheduler
{
    private readonly SchedulerProfile[] _profiles;
    private readonly IProfileHandler _handler;
    private readonly IDataProducer[] _producers;
    private readonly IAsyncPreparer[] _preparers;
    private readonly IPreRequest[] _preRequest;
    private readonly IResponseComplete[] _responseComplete;
    private readonly int _maxResults;
    private readonly ScratchPool _scratchPool = new();

    public ConfiguredScheduler(
        SchedulerProfile[] profiles,
        IProfileHandler handler,
        IDataProducer[] producers,
        IPreRequest[] preRequest,
        IResponseComplete[] responseComplete,
        LoadedConfig? config = null)
    {
        if (profiles.Length == 0)
            throw new ArgumentException("at least one profile is required", nameof(profiles));
        _profiles = profiles;
        _handler = handler;
        _producers = producers;
        var preparers = new List<IAsyncPreparer>();
        foreach (IDataProducer p in producers)
            if (p is IAsyncPreparer a)
                preparers.Add(a);
        _preparers = preparers.ToArray();
        _preRequest = preRequest;
        _responseComplete = responseComplete;
        int max = 1;
        foreach (SchedulerProfile p in profiles)
            max = Math.Max(max, p.Picker.MaxEndpoints);
        _maxResults = max;
        Config = config;
    }

    public IReadOnlyList<SchedulerProfile> Profiles => _profiles;

    public IProfileHandler ProfileHandler => _handler;

    // inference_extension_plugin_duration_seconds for the handler and PreRequest plugins; null = not timed.
    private Histogram? _pickTimer, _processTimer;
    private Histogram[]? _preRequestTimers;

    /// <summary>Times every plugin into <paramref name="metrics"/> (ProfilePicker, Filter, Scorer, Picker, ProcessProfilesResults, PreRequest).</summary>
    public void EnableTimings(EppMetrics metrics)
    {
        _pickTimer = metrics.PluginDuration("ProfilePicker", _handler.TypeName, _handler.Name);
        _processTimer = metrics.PluginDuration("ProcessProfilesResults", _handler.TypeName, _handler.Name);
        _preRequestTimers = Array.ConvertAll(_preRequest, p => metrics.PluginDuration("PreRequest", p.TypeName, p.Name));
        foreach (SchedulerProfile profile in _profiles)
            profile.EnableTimings(metrics);
    }

    /// <summary>The loaded configuration this scheduler was built from (null when built by hand).</summary>
    public LoadedConfig? Config { get; }

    /// <summary>The most endpoints (primary + fallbacks) one decision can return.</summary>
    public int MaxResults => _maxResults;

    public Task? BeginPrepare(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates)
    {
        if (_preparers.Length == 0)
            return null;
        if (_preparers.Length == 1)
            return _preparers[0].BeginPrepare(request, snapshot, candidates);
        List<Task>? tasks = null;
        foreach (IAsyncPreparer p in _preparers)
            if (p.BeginPrepare(request, snapshot, candidates) is { IsCompleted: false } t)
                (tasks ??= []).Add(t);
        return tasks is null ? null : Task.WhenAll(tasks);
    }

    public int Schedule(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates,
        Span<int> result, out string? error)
    {
        RequestScratch scratch = request.Scratch ??= _scratchPool.Rent();
        scratch.Begin(snapshot, candidates.Length);
        var ctx = new SchedulingContext(snapshot, request, scratch);

        foreach (IDataProducer producer in _producers)
            producer.Prepare(ctx, candidates);

        int profileCount = _profiles.Length;
        Span<bool> hasResult = profileCount <= 16 ? stackalloc bool[16] : new bool[profileCount];
        hasResult = hasResult[..profileCount];
        hasResult.Clear();
        Span<int> outcomes = profileCount <= 16 ? stackalloc int[16] : new int[profileCount];
        outcomes = outcomes[..profileCount];
        outcomes.Fill(-2);
        Span<int> toRun = profileCount <= 16 ? stackalloc int[16] : new int[profileCount];
        toRun = toRun[..profileCount];
        Span<int> results = scratch.ProfileResults(profileCount, _maxResults);

        int ran = 0;
        // The handler decides when to stop; the bound guards a handler that keeps asking for profiles.
        for (int round = 0; round <= profileCount; round++)
        {
            long pickStart = _pickTimer is null ? 0 : Stopwatch.GetTimestamp();
            int k = _handler.Pick(ctx, hasResult, toRun);
            _pickTimer?.Observe(Stopwatch.GetElapsedTime(pickStart).TotalSeconds);
            if (k <= 0)
                break;
            for (int j = 0; j < k; j++)
            {
                int p = toRun[j];
                if ((uint)p >= (uint)profileCount || hasResult[p])
                    continue;
                Span<int> slot = results.Slice(p * _maxResults, _maxResults);
                outcomes[p] = candidates.IsEmpty ? -1 : _profiles[p].Run(ctx, candidates, slot);
                hasResult[p] = true;
                ran++;
            }
        }

        if (ran == 0)
        {
            error = $"failed to run any scheduler profile for request {request.RequestId}";
            return -1;
        }

        long processStart = _processTimer is null ? 0 : Stopwatch.GetTimestamp();
        int primary = _handler.ProcessResults(ctx, _profiles, outcomes, out error);
        _processTimer?.Observe(Stopwatch.GetElapsedTime(processStart).TotalSeconds);
        if (primary < 0)
            return -1;
        int count = outcomes[primary];
        if (count <= 0)
        {
            error = $"failed to run scheduler profile '{_profiles[primary].Name}'";
            return -1;
        }
        count = Math.Min(count, result.Length);
        results.Slice(primary * _maxResults, count).CopyTo(result);
        error = null;
        return count;
    }

    public void PreRequest(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.IsEmpty || _preRequest.Length == 0)
            return;
        RequestScratch scratch = request.Scratch ??= _scratchPool.Rent();
        Histogram[]? timers = _preRequestTimers;
        for (int i = 0; i < _preRequest.Length; i++)
        {
            long start = timers is null ? 0 : Stopwatch.GetTimestamp();
            _preRequest[i].PreRequest(request, scratch, snapshot, chosen);
            timers?[i].Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    public void ResponseComplete(SchedulingRequest request, Endpoint? target)
    {
        if (request.Scratch is not { } scratch)
            return;
        foreach (IResponseComplete plugin in _responseComplete)
            plugin.ResponseComplete(request, scratch);
        // The request is done with its scratch: give it to the next decision (any stream).
        request.Scratch = null;
        _scratchPool.Return(scratch);
    }
}
