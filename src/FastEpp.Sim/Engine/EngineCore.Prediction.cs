namespace FastEpp.Sim.Engine;

/// <summary>Work sent to an engine that it has not seen yet (decided by a router, still on the wire).</summary>
/// <param name="PrefillTokens">Uncached prompt tokens of those requests.</param>
/// <param name="Blocks">KV blocks they will allocate.</param>
/// <param name="Hashes">Their prompt block hashes: cached by the time a later request is scheduled.</param>
internal readonly record struct InTransitWork(int PrefillTokens, int Blocks, IReadOnlySet<ulong>? Hashes);

/// <summary>What <see cref="EngineCore.PredictTtft"/> expects for one request on one engine.</summary>
/// <param name="Seconds">Predicted time to first token, simulated seconds.</param>
/// <param name="HitTokens">Prompt tokens found in the prefix cache (or in work in transit).</param>
/// <param name="PrefillAhead">Prefill tokens queued ahead of it (waiting, running, in transit).</param>
/// <param name="KvWaitSeconds">Part of <see cref="Seconds"/> spent waiting for KV blocks, sequence slots or a LoRA slot.</param>
/// <param name="DecodeStepSeconds">Step time of the engine's decode batch alone (what its decoders pay per token now).</param>
/// <param name="OwnPrefillSeconds">GPU time this request's uncached prompt costs the engine (prefill and attention terms).</param>
internal readonly record struct TtftPrediction(double Seconds, int HitTokens, int PrefillAhead, double KvWaitSeconds, double DecodeStepSeconds,
    double OwnPrefillSeconds);

internal sealed partial class EngineCore
{
    /// <summary>
    /// Read-only: predicts the TTFT of a request with the given prompt block hashes arriving now, from this engine's
    /// true state and its own step model (FCFS admission behind every waiting request, running prefills first):
    /// <list type="number">
    /// <item>hit = leading prompt blocks in the prefix cache (or in <paramref name="transit"/>), capped as the scheduler caps it;</item>
    /// <item>prefill ahead = uncached tokens of running prefills, of waiting requests (each against the cache now) and of work in transit;</item>
    /// <item>the rest of the step in flight, then steps of max-num-batched-tokens minus one token per running decoder, each costing
    /// <see cref="EngineProfile.StepSeconds"/> with the decode batch, until the queue ahead and this prompt's uncached tokens are done;</item>
    /// <item>a wait when the KV blocks (or sequence slots, or a LoRA slot) needed by the queue and this prompt are not free: until enough
    /// running requests finish their remaining output at the current decode step time.</item>
    /// </list>
    /// Call under the replica's lock. It only reads (a stack buffer for the finish-order sort).
    /// </summary>
    public TtftPrediction PredictTtft(ReadOnlySpan<ulong> hashes, int promptTokens, int adapter, double now, InTransitWork transit)
    {
        int bs = _kv.BlockSize;
        int hitBlocks = 0;
        if (_kv.PrefixCaching)
        {
            int max = Math.Min(hashes.Length, (promptTokens - 1) / bs);
            while (hitBlocks < max && (_kv.IsCached(hashes[hitBlocks]) || (transit.Hashes?.Contains(hashes[hitBlocks]) ?? false)))
            {
                hitBlocks++;
            }
        }
        int hit = hitBlocks * bs;
        int own = promptTokens - hit;

        // Queue ahead.
        long ahead = transit.PrefillTokens;
        long blocksNeeded = transit.Blocks + _kv.BlocksFor(promptTokens + 1) - hitBlocks;
        int decoders = 0, sequences = _running.Count;
        long decodeContext = 0;
        foreach (SimRequest r in _running)
        {
            int left = r.TotalTokens - r.Computed - r.Scheduled;
            if (r.Generated > 0 && left <= 1)
            {
                decoders++;
                decodeContext += r.TotalTokens;
            }
            else
            {
                ahead += Math.Max(0, left);
            }
        }
        for (int i = 0; i < _waiting.Count; i++)
        {
            (int t, int b) = QueuedCost(_waiting[i]);
            ahead += t;
            blocksNeeded += b;
            sequences++;
        }
        for (int i = _inboxHead; i < _inbox.Count; i++)
        {
            (int t, int b) = QueuedCost(_inbox[i]);
            ahead += t;
            blocksNeeded += b;
            sequences++;
        }

        double decodeStep = _profile.StepSeconds(0, 0, decoders, decodeContext, 0);
        double seconds = _inFlight ? Math.Max(0, _stepEnd - now) : 0;

        // Prefill steps: the queue ahead (attention approximated as each chunk attending to itself), then this prompt
        // chunk by chunk from its cached prefix.
        int budget = Math.Max(1, _profile.MaxNumBatchedTokens - decoders);
        long queued = ahead;
        int ownLeft = own, ownComputed = hit;
        while (queued > 0 || ownLeft > 0)
        {
            int fromQueue = (int)Math.Min(queued, budget);
            int fromOwn = Math.Min(ownLeft, budget - fromQueue);
            double pairs = (double)fromQueue * fromQueue / 2 + (double)fromOwn * ownComputed + (double)fromOwn * fromOwn / 2;
            seconds += _profile.StepSeconds(fromQueue + fromOwn, pairs, decoders, decodeContext, 0);
            queued -= fromQueue;
            ownLeft -= fromOwn;
            ownComputed += fromOwn;
        }

        // Capacity waits: KV blocks, sequence slots, LoRA slot.
        double wait = 0;
        long deficitBlocks = blocksNeeded - _kv.FreeCount;
        int deficitSeqs = sequences + 1 - _profile.MaxNumSeqs;
        if (deficitBlocks > 0 || deficitSeqs > 0)
        {
            wait = Math.Max(wait, FinishWait(deficitBlocks, deficitSeqs, -1) * decodeStep);
        }
        if (adapter >= 0 && !_lora.IsResident(adapter))
        {
            wait += _lora.PinnedSlots < _lora.MaxLoras ? _profile.LoraLoadMs / 1000.0 : FinishWait(0, 1, adapter) * decodeStep;
        }
        double ownWork = (_profile.PrefillMsPerToken * own + _profile.AttentionMsPerTokenPair * ((double)own * hit + (double)own * own / 2)) / 1000.0;
        return new TtftPrediction(seconds + wait, hit, (int)Math.Min(int.MaxValue, ahead), wait, decodeStep, ownWork);
    }

    // Uncached tokens and new blocks of a queued request against the cache now.
    private (int Tokens, int Blocks) QueuedCost(SimRequest r)
    {
        int bs = _kv.BlockSize;
        int hitBlocks = _kv.CountHitBlocks(r);
        return (r.TotalTokens - hitBlocks * bs, _kv.BlocksFor(r.TotalTokens + 1) - hitBlocks);
    }

    // Decode steps until running requests, finishing shortest-remaining first, free the blocks and slots needed
    // (adapter >= 0: until one request holding any adapter finishes). Without enough, the longest remaining output.
    private int FinishWait(long blocks, int seqs, int adapter)
    {
        Span<long> keys = _running.Count <= 256 ? stackalloc long[_running.Count] : new long[_running.Count];
        int n = 0;
        foreach (SimRequest r in _running)
        {
            if (adapter >= 0 && r.Adapter < 0)
            {
                continue;
            }
            // remaining output tokens in the high bits, blocks held in the low 24 bits
            keys[n++] = ((long)Math.Max(1, r.MaxTokens - r.Generated) << 24) | (uint)Math.Min(r.BlockCount, 0xFFFFFF);
        }
        keys = keys[..n];
        keys.Sort();
        int remaining = 0;
        foreach (long k in keys)
        {
            remaining = (int)(k >> 24);
            blocks -= k & 0xFFFFFF;
            seqs--;
            if (blocks <= 0 && seqs <= 0)
            {
                return remaining;
            }
        }
        return remaining;
    }
}
