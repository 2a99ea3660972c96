namespace FastEpp.Sim.Engine;

/// <summary>Outcome of <see cref="EngineCore.Submit"/>.</summary>
internal enum SubmitResult
{
    /// <summary>Queued.</summary>
    Accepted,
    /// <summary>The waiting queue is at its bound (HTTP 429).</summary>
    QueueFull,
    /// <summary>Prompt + max tokens exceed max-model-len or the whole KV cache (HTTP 400).</summary>
    TooLong,
    /// <summary>An adapter request on an engine without LoRA slots (HTTP 400).</summary>
    NoLoraSlots,
}

/// <summary>
/// One simulated vLLM engine: a deterministic, single-threaded model of V1's scheduler loop in simulated time.
/// Nothing here reads a clock or sleeps: callers submit requests with their arrival time and advance the engine
/// to a time (<see cref="AdvanceTo"/>), so tests run whole workloads instantly and repeatably.
/// <para>
/// Each step (continuous batching, V1 shape): running requests first, in order, each gets the tokens it still
/// needs (1 for a decode, the rest of a prefill) capped by the <c>max-num-batched-tokens</c> budget (chunked
/// prefill); when KV blocks run out the last running request is preempted (recompute: blocks freed, back to the
/// front of the waiting queue) until the current one fits. Without a preemption in the step, waiting requests are
/// admitted FCFS while the budget and <c>max-num-seqs</c> allow: prefix-cache hits are taken first, a request
/// whose LoRA adapter cannot be made resident is skipped (not head-of-line), one that does not fit in the KV cache
/// stops admission. When a request's computed tokens reach all its known tokens a new token is sampled at the end
/// of the step. The step lasts <see cref="EngineProfile.StepSeconds"/> of its composition.
/// </para>
/// Thread-safety: none; the host calls every member under the replica's lock.
/// </summary>
internal sealed partial class EngineCore
{
    private readonly EngineProfile _profile;
    private readonly KvBlockPool _kv;
    private readonly LoraSlots _lora;
    private readonly List<SimRequest> _inbox = new();
    private readonly List<SimRequest> _waiting = new();
    private readonly List<SimRequest> _running = new();
    private readonly List<SimRequest> _step = new();
    private int _inboxHead;
    private double _cursor;
    private double _lastArrival;
    private bool _inFlight;
    private double _stepEnd;

    /// <summary>Creates an idle engine with an empty KV cache at simulated time 0.</summary>
    public EngineCore(EngineProfile profile)
    {
        _profile = profile;
        _kv = new KvBlockPool(profile.NumGpuBlocks, profile.BlockSize, profile.EnablePrefixCaching);
        _lora = new LoraSlots(profile.MaxLoras);
    }

    /// <summary>The physics.</summary>
    public EngineProfile Profile => _profile;

    /// <summary>Counters and histograms.</summary>
    public EngineStats Stats { get; } = new();

    /// <summary>The KV cache.</summary>
    public KvBlockPool Kv => _kv;

    /// <summary>The LoRA slots.</summary>
    public LoraSlots Lora => _lora;

    /// <summary>Requests in the running batch (vllm:num_requests_running).</summary>
    public int RunningCount => _running.Count;

    /// <summary>Requests waiting, including arrivals not yet admitted at a step boundary (vllm:num_requests_waiting).</summary>
    public int WaitingCount => _waiting.Count + (_inbox.Count - _inboxHead);

    /// <summary>True while a step is being executed.</summary>
    public bool StepInFlight => _inFlight;

    /// <summary>Simulated time of the next thing this engine will do without new arrivals; +∞ when idle.</summary>
    public double NextEventTime
    {
        get
        {
            if (_inFlight)
            {
                return _stepEnd;
            }
            if (_waiting.Count > 0 || _running.Count > 0)
            {
                return _cursor;
            }
            return _inboxHead < _inbox.Count ? Math.Max(_cursor, _inbox[_inboxHead].ArrivalTime) : double.PositiveInfinity;
        }
    }

    /// <summary>Queues a request arriving at <paramref name="arrivalTime"/> (clamped to be non-decreasing).</summary>
    public SubmitResult Submit(SimRequest request, double arrivalTime)
    {
        Stats.SubmitCalls++;
        if ((long)request.PromptTokens + request.MaxTokens > _profile.MaxModelLen
            || _kv.BlocksFor(request.PromptTokens + request.MaxTokens) > _kv.NumBlocks)
        {
            return SubmitResult.TooLong;
        }
        if (request.Adapter >= 0 && _lora.MaxLoras == 0)
        {
            return SubmitResult.NoLoraSlots;
        }
        if (_profile.MaxWaiting > 0 && WaitingCount >= _profile.MaxWaiting)
        {
            return SubmitResult.QueueFull;
        }
        _lastArrival = Math.Max(_lastArrival, arrivalTime);
        request.ArrivalTime = _lastArrival;
        request.State = RequestState.Waiting;
        _inbox.Add(request);
        return SubmitResult.Accepted;
    }

    /// <summary>Runs every step that ends at or before <paramref name="time"/> and starts the step due next.</summary>
    public void AdvanceTo(double time)
    {
        while (true)
        {
            if (_inFlight)
            {
                if (_stepEnd > time)
                {
                    return;
                }
                CompleteStep();
                continue;
            }
            double start = _cursor;
            if (_waiting.Count == 0 && _running.Count == 0)
            {
                if (_inboxHead >= _inbox.Count)
                {
                    return;
                }
                start = Math.Max(start, _inbox[_inboxHead].ArrivalTime);
            }
            if (start > time)
            {
                return;
            }
            _cursor = start;
            Admit(start);
            StartStep(start);
        }
    }

    /// <summary>Advances until no work is left (tests); returns the simulated time reached.</summary>
    public double RunUntilIdle()
    {
        double next;
        while (!double.IsPositiveInfinity(next = NextEventTime))
        {
            AdvanceTo(next);
        }
        return _cursor;
    }

    /// <summary>Cancels a request; a request inside the step in flight leaves at the end of that step.</summary>
    public void Abort(SimRequest request)
    {
        if (request.State is RequestState.Finished or RequestState.Aborted)
        {
            return;
        }
        if (request.Scheduled > 0)
        {
            request.AbortRequested = true;
            return;
        }
        if (request.State == RequestState.Running)
        {
            _running.Remove(request);
            ReleaseResources(request);
        }
        else
        {
            int i = _inbox.IndexOf(request, _inboxHead);
            if (i >= 0)
            {
                _inbox.RemoveAt(i);
            }
            else
            {
                _waiting.Remove(request);
            }
        }
        MarkAborted(request);
    }

    /// <summary>Drops every request (replica killed): all waiters are woken with <see cref="RequestState.Aborted"/>.</summary>
    public void AbortAll()
    {
        for (int i = _inboxHead; i < _inbox.Count; i++)
        {
            MarkAborted(_inbox[i]);
        }
        foreach (SimRequest r in _waiting)
        {
            MarkAborted(r);
        }
        foreach (SimRequest r in _running)
        {
            _kv.Free(r);
            MarkAborted(r);
        }
        _inbox.Clear();
        _inboxHead = 0;
        _waiting.Clear();
        _running.Clear();
        _step.Clear();
        _inFlight = false;
    }

    /// <summary>Adds the adapters of running and waiting requests to the given sets (vllm:lora_requests_info).</summary>
    public void CollectAdapters(HashSet<int> running, HashSet<int> waiting)
    {
        foreach (SimRequest r in _running)
        {
            if (r.Adapter >= 0)
            {
                running.Add(r.Adapter);
            }
        }
        foreach (SimRequest r in _waiting)
        {
            if (r.Adapter >= 0)
            {
                waiting.Add(r.Adapter);
            }
        }
        for (int i = _inboxHead; i < _inbox.Count; i++)
        {
            if (_inbox[i].Adapter >= 0)
            {
                waiting.Add(_inbox[i].Adapter);
            }
        }
    }

    private void Admit(double start)
    {
        while (_inboxHead < _inbox.Count && _inbox[_inboxHead].ArrivalTime <= start)
        {
            _waiting.Add(_inbox[_inboxHead++]);
        }
        if (_inboxHead == _inbox.Count)
        {
            _inbox.Clear();
            _inboxHead = 0;
        }
        else if (_inboxHead > 1024 && _inboxHead > _inbox.Count / 2)
        {
            _inbox.RemoveRange(0, _inboxHead);
            _inboxHead = 0;
        }
    }

    private void StartStep(double start)
    {
        var composition = new StepComposition();
        int budget = _profile.MaxNumBatchedTokens;
        bool preempted = false;
        _step.Clear();

        // 1. Running requests keep their place; KV pressure preempts from the back.
        int i = 0;
        while (i < _running.Count && budget > 0)
        {
            SimRequest r = _running[i];
            int n = Math.Min(r.TotalTokens - r.Computed, budget);
            bool fits = true;
            while (!_kv.TryGrow(r, r.Computed + n))
            {
                SimRequest victim = _running[^1];
                _running.RemoveAt(_running.Count - 1);
                Preempt(victim, start);
                preempted = true;
                if (victim == r)
                {
                    fits = false;
                    break;
                }
            }
            if (!fits)
            {
                break;
            }
            Schedule(r, n, ref composition);
            budget -= n;
            i++;
        }

        // 2. New (or preempted) requests, FCFS; LoRA-blocked ones are skipped, a KV shortfall stops admission.
        if (!preempted)
        {
            int j = 0;
            while (j < _waiting.Count && budget > 0 && _running.Count < _profile.MaxNumSeqs)
            {
                SimRequest r = _waiting[j];
                if (r.Adapter >= 0 && !_lora.IsResident(r.Adapter) && !CanLoadAdapter())
                {
                    j++;
                    continue;
                }
                int hitBlocks = _kv.CountHitBlocks(r);
                int hitTokens = hitBlocks * _kv.BlockSize;
                int n = Math.Min(r.TotalTokens - hitTokens, budget);
                if (!_kv.TryAllocateWithHits(r, hitBlocks, hitTokens + n))
                {
                    break;
                }
                if (r.Adapter >= 0)
                {
                    _lora.TryPin(r.Adapter, start, out bool loaded);
                    if (loaded)
                    {
                        composition.LoraLoadMs += _profile.LoraLoadMs;
                    }
                }
                Stats.PrefixQueries += r.TotalTokens;
                Stats.PrefixHits += hitTokens;
                if (r.CachedTokens < 0)
                {
                    r.CachedTokens = hitTokens;
                }
                r.Computed = hitTokens;
                _waiting.RemoveAt(j);
                _running.Add(r);
                r.State = RequestState.Running;
                if (double.IsNaN(r.FirstScheduledTime))
                {
                    r.FirstScheduledTime = start;
                    Stats.Queue.Observe(start - r.ArrivalTime);
                }
                Schedule(r, n, ref composition);
                budget -= n;
            }
        }

        foreach (SimRequest r in _step)
        {
            _kv.CacheFullBlocks(r, r.Computed + r.Scheduled);
        }
        double seconds = _profile.StepSeconds(composition.PrefillTokens, composition.AttentionPairs, composition.DecodeSeqs,
            composition.DecodeContext, composition.LoraLoadMs);
        _inFlight = true;
        _stepEnd = start + seconds;
        Stats.Steps++;
        Stats.BusySeconds += seconds;
    }

    // Running requests pin their adapters, so with every slot pinned a new adapter has to wait.
    private bool CanLoadAdapter() => _lora.PinnedSlots < _lora.MaxLoras;

    private void Schedule(SimRequest r, int n, ref StepComposition c)
    {
        r.Scheduled = n;
        _step.Add(r);
        if (n == 1 && r.Generated > 0 && r.Computed == r.TotalTokens - 1)
        {
            c.DecodeSeqs++;
            c.DecodeContext += r.Computed + 1;
        }
        else
        {
            c.PrefillTokens += n;
            c.AttentionPairs += (double)n * r.Computed + (double)n * n / 2;
        }
    }

    private void CompleteStep()
    {
        double end = _stepEnd;
        _inFlight = false;
        _cursor = end;
        bool removed = false;
        foreach (SimRequest r in _step)
        {
            int n = r.Scheduled;
            r.Scheduled = 0;
            if (r.AbortRequested)
            {
                ReleaseResources(r);
                MarkAborted(r);
                removed = true;
                continue;
            }
            r.Computed += n;
            if (r.Computed < r.TotalTokens)
            {
                continue;   // a prefill chunk that did not finish the prompt
            }
            int generated = r.Generated + 1;
            if (generated == 1)
            {
                r.FirstTokenTime = end;
                Stats.Ttft.Observe(end - r.ArrivalTime);
                Stats.PromptTokens += r.PromptTokens;
            }
            else
            {
                Stats.Itl.Observe(end - r.LastTokenTime);
            }
            r.LastTokenTime = end;
            Stats.GenerationTokens++;
            r.Generated = generated;
            if (generated >= r.MaxTokens)
            {
                r.FinishTime = end;
                Stats.E2e.Observe(end - r.ArrivalTime);
                if (r.EndsWithStop)
                {
                    Stats.FinishedStop++;
                }
                else
                {
                    Stats.FinishedLength++;
                }
                ReleaseResources(r);
                r.State = RequestState.Finished;
                removed = true;
            }
            r.Signal();
        }
        _step.Clear();
        if (removed)
        {
            _running.RemoveAll(static r => r.State != RequestState.Running);
        }
        // vLLM publishes the step's KV events (stores and evictions of its scheduling) once the step is done.
        _kv.Events?.Flush(end);
    }

    /// <summary>
    /// vLLM's <c>reset_prefix_cache</c>: false (nothing changes) while any request holds KV blocks; on success the
    /// AllBlocksCleared event is published at once (vLLM may hold it until the next step of a busy engine).
    /// </summary>
    public bool ResetPrefixCache(double now)
    {
        if (!_kv.ResetPrefixCache())
        {
            return false;
        }
        _kv.Events?.Flush(Math.Max(_cursor, now));
        return true;
    }

    private void Preempt(SimRequest victim, double now)
    {
        _kv.Free(victim);
        if (victim.Adapter >= 0)
        {
            _lora.Unpin(victim.Adapter, now);
        }
        victim.Computed = 0;
        victim.Preemptions++;
        Stats.Preemptions++;
        victim.State = RequestState.Waiting;
        _waiting.Insert(0, victim);
    }

    private void ReleaseResources(SimRequest r)
    {
        _kv.Free(r);
        if (r.Adapter >= 0 && r.State == RequestState.Running)
        {
            _lora.Unpin(r.Adapter, _cursor);
        }
    }

    private void MarkAborted(SimRequest r)
    {
        r.State = RequestState.Aborted;
        r.Scheduled = 0;
        Stats.Aborted++;
        r.Signal();
    }

    private struct StepComposition
    {
        public long PrefillTokens;
        public double AttentionPairs;
        public int DecodeSeqs;
        public long DecodeContext;
        public double LoraLoadMs;
    }
}
