namespace FastEpp.Prefix.Precise;

/// <summary>The ingestion state of one endpoint's event stream (touched only under its lane's lock).</summary>
internal sealed class EndpointStream(int endpointId, string key)
{
    /// <summary><see cref="Endpoints.EndpointState.Id"/> of the endpoint the events are indexed under.</summary>
    public int EndpointId { get; } = endpointId;

    /// <summary><c>address:port</c> of the endpoint (llm-d's pod identity in per-pod mode).</summary>
    public string Key { get; } = key;

    public ulong LastSeq;
    public bool HasSeq;

    /// <summary>Engine block hash → FastEpp request key, for BlockRemoved and for the parents of later stores.</summary>
    public readonly Dictionary<ulong, ulong> EngineToKey = new();

    // The last chain start, by the model bytes that named it (topic model or LoRA name).
    public byte[] ModelBytes = new byte[64];
    public int ModelLength = -1;
    public ulong ModelChainStart;

    public bool WarnedBlockSize;

    // Replay (per-pod subscriptions with replaySocketPort; touched on the subscriber's receive loop only).
    /// <summary>The last live (PUB) sequence number consumed: a smaller one is an engine restart.</summary>
    public ulong LastLiveSeq;
    public bool HasLiveSeq;
    /// <summary>Where the pending replay starts.</summary>
    public ulong ReplayFrom;
    /// <summary>The live sequence number a replay was last attempted for (never twice for the same message).</summary>
    public ulong ReplayTriedFor = ulong.MaxValue;
    /// <summary><see cref="Environment.TickCount64"/> of the last failed replay (0 = none): 30 s cool-down, as llm-d.</summary>
    public long ReplayFailedAt;

    /// <summary>Forget the stream's engine mapping (its index entries are cleared by the caller).</summary>
    public void Reset() => EngineToKey.Clear();
}

/// <summary>
/// Applies decoded KV events of one endpoint to the <see cref="PreciseIndex"/> (llm-d's pool worker, routing.md §2):
/// BlockStored recomputes FastEpp's keys from the token ids (parent from the engine→key map, else the model's chain
/// start) and records the endpoint as a confirmed holder; BlockRemoved resolves engine hashes and drops the endpoint;
/// AllBlocksCleared clears the endpoint. Sequence numbers must be consecutive: a jump or a step back (missed batches,
/// engine restart) clears the endpoint first — without replay that is the only way not to keep stale blocks
/// (llm-d-router #2853). One ingestor per lane; not thread-safe (the lane's lock serialises it).
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
internal sealed class KvEventIngestor : IKvEventSink
{
    private readonly PreciseIndex _index;
    private readonly int _blockSize;
    private readonly ulong _root;
    private readonly PreciseCounters _counters;
    private readonly KvEventDecoder _decoder = new();
    private readonly int _maxEngineKeys;
    private EndpointStream? _stream;
    private int _topicModelStart, _topicModelLength;
    private byte[] _topic = new byte[128];

    public KvEventIngestor(PreciseIndex index, int blockSize, ulong root, PreciseCounters counters)
    {
        _index = index;
        _blockSize = blockSize;
        _root = root;
        _counters = counters;
        _maxEngineKeys = (int)Math.Min(index.Capacity, 1 << 26);
    }

    public int BlockSize => _blockSize;

    /// <summary>Set when a block-size mismatch is first seen on a stream (the owner logs it once).</summary>
    public Action<EndpointStream, int>? BlockSizeMismatch { get; init; }

    /// <summary>Applies one message: sequence check, then every event of the batch.</summary>
    public void Apply(EndpointStream stream, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload)
    {
        if (stream.HasSeq && seq != unchecked(stream.LastSeq + 1))
        {
            Clear(stream);
            _counters.Add(PreciseEvent.SequenceGaps);
        }
        stream.LastSeq = seq;
        stream.HasSeq = true;
        SetTopic(topic);
        _stream = stream;
        try
        {
            int events = _decoder.Decode(payload, this);
            _counters.Add(PreciseEvent.Batches);
            _counters.Add(PreciseEvent.Events, events);
        }
        catch (KvEventFormatException)
        {
            _counters.Add(PreciseEvent.Malformed);
        }
        finally
        {
            _stream = null;
        }
    }

    /// <summary>Clears everything the index holds for the stream's endpoint.</summary>
    public void Clear(EndpointStream stream)
    {
        _index.ClearEndpoint(stream.EndpointId);
        stream.Reset();
    }

    // llm-d topic: kv@<pod-id>@<model>; anything else names no model.
    private void SetTopic(ReadOnlySpan<byte> topic)
    {
        if (_topic.Length < topic.Length)
            _topic = new byte[Math.Max(topic.Length, _topic.Length * 2)];
        topic.CopyTo(_topic);
        _topicModelStart = _topicModelLength = 0;
        int first = topic.IndexOf((byte)'@');
        if (first < 0)
            return;
        int second = topic[(first + 1)..].IndexOf((byte)'@');
        if (second < 0)
            return;
        _topicModelStart = first + 1 + second + 1;
        _topicModelLength = topic.Length - _topicModelStart;
    }

    private ulong ChainStart(EndpointStream s, ReadOnlySpan<byte> model)
    {
        if (s.ModelLength == model.Length && s.ModelBytes.AsSpan(0, model.Length).SequenceEqual(model))
            return s.ModelChainStart;
        if (s.ModelBytes.Length < model.Length)
            s.ModelBytes = new byte[model.Length];
        model.CopyTo(s.ModelBytes);
        s.ModelLength = model.Length;
        s.ModelChainStart = TokenBlockKeys.ChainStart(_root, model);
        return s.ModelChainStart;
    }

    private static bool IsGpu(ReadOnlySpan<byte> medium) => medium.IsEmpty || System.Text.Ascii.EqualsIgnoreCase(medium, "GPU"u8);

    // Groups whose blocks are the whole prefix (llm-d-router #2362): others would create false residency.
    private static bool IsFullAttention(ReadOnlySpan<byte> kind) =>
        kind.IsEmpty || kind.SequenceEqual("full_attention"u8) || kind.SequenceEqual("mla_attention"u8) || kind.SequenceEqual("sink_full_attention"u8);

    public void BlockStored(in BlockStoredEvent e)
    {
        EndpointStream s = _stream!;
        if (!IsGpu(e.Medium) || !IsFullAttention(e.SpecKind))
        {
            _counters.Add(PreciseEvent.Skipped);
            return;
        }
        if (e.BlockSize != _blockSize)
        {
            _counters.Add(PreciseEvent.BlockSizeMismatch);
            if (!s.WarnedBlockSize)
            {
                s.WarnedBlockSize = true;
                BlockSizeMismatch?.Invoke(s, e.BlockSize);
            }
            return;
        }
        if (e.TokenIds.Length != e.EngineHashes.Length * _blockSize)
        {
            _counters.Add(PreciseEvent.Malformed);
            return;
        }
        ulong parent;
        if (e.HasParent)
        {
            if (!s.EngineToKey.TryGetValue(e.ParentHash, out parent))
            {
                _counters.Add(PreciseEvent.UnknownParent);
                return;
            }
        }
        else
        {
            ReadOnlySpan<byte> model = !e.LoraName.IsEmpty ? e.LoraName : _topic.AsSpan(_topicModelStart, _topicModelLength);
            parent = ChainStart(s, model);
        }

        Span<byte> extras = stackalloc byte[512];
        for (int i = 0; i < e.EngineHashes.Length; i++)
        {
            int extraLength = EncodeExtras(e, i, extras);
            ulong key = TokenBlockKeys.Block(parent, e.TokenIds.Slice(i * _blockSize, _blockSize),
                extraLength < 0 ? default : extras[..extraLength]);
            if (extraLength < 0)
                key = ~key; // extras beyond 512 bytes: a key no request produces (never a false match)
            _index.Add(key, s.EndpointId);
            if (s.EngineToKey.Count >= _maxEngineKeys && !s.EngineToKey.ContainsKey(e.EngineHashes[i]))
            {
                // More engine blocks than the index can hold: start this endpoint's mapping afresh (counted as a gap).
                Clear(s);
                _counters.Add(PreciseEvent.SequenceGaps);
            }
            s.EngineToKey[e.EngineHashes[i]] = key;
            parent = key;
        }
    }

    /// <summary>Block <paramref name="block"/>'s string extras (not the LoRA name) as "len ‖ bytes" pieces; −1 if they do not fit.</summary>
    private static int EncodeExtras(in BlockStoredEvent e, int block, Span<byte> destination)
    {
        int written = 0;
        ReadOnlySpan<int> x = e.Extras;
        for (int i = 0; i + 2 < x.Length; i += 3)
        {
            if (x[i] != block)
                continue;
            ReadOnlySpan<byte> value = e.Payload.Slice(x[i + 1], x[i + 2]);
            if (!e.LoraName.IsEmpty && value.SequenceEqual(e.LoraName))
                continue; // the adapter already names the chain (llm-d-router PR #2929)
            if (written + 8 + value.Length > destination.Length)
                return -1;
            written += TokenBlockKeys.EncodeExtra(value, destination[written..]);
        }
        return written;
    }

    public void BlockRemoved(ReadOnlySpan<ulong> engineHashes, ReadOnlySpan<byte> medium)
    {
        if (!IsGpu(medium))
            return;
        EndpointStream s = _stream!;
        foreach (ulong h in engineHashes)
            if (s.EngineToKey.Remove(h, out ulong key))
                _index.Remove(key, s.EndpointId);
    }

    public void AllBlocksCleared()
    {
        Clear(_stream!);
        _counters.Add(PreciseEvent.AllBlocksCleared);
    }
}
