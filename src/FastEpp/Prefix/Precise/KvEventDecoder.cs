namespace FastEpp.Prefix.Precise;

/// <summary>One decoded <c>BlockStored</c> event: slices of the decoder's buffers and of the payload, valid during the callback.</summary>
internal readonly ref struct BlockStoredEvent
{
    /// <summary>The engine's hashes of the new full blocks (opaque; only used to map later removals and parents).</summary>
    public ReadOnlySpan<ulong> EngineHashes { get; init; }

    /// <summary>The engine hash of the block before the first new one; meaningful only when <see cref="HasParent"/>.</summary>
    public ulong ParentHash { get; init; }

    public bool HasParent { get; init; }

    /// <summary>The tokens of the new blocks, block after block (uint32 each: vocabulary ids).</summary>
    public ReadOnlySpan<uint> TokenIds { get; init; }

    /// <summary>The engine's block size (tokens per hash).</summary>
    public int BlockSize { get; init; }

    /// <summary>UTF-8 LoRA adapter name, empty when nil (then the topic's model names the chain).</summary>
    public ReadOnlySpan<byte> LoraName { get; init; }

    /// <summary>UTF-8 storage medium (<c>GPU</c>, <c>CPU</c>, …), empty when nil.</summary>
    public ReadOnlySpan<byte> Medium { get; init; }

    /// <summary>UTF-8 KV-cache spec kind (<c>full_attention</c>, <c>sliding_window</c>, …), empty when nil.</summary>
    public ReadOnlySpan<byte> SpecKind { get; init; }

    /// <summary>KV-cache group (hybrid models); 0 when nil.</summary>
    public int GroupIdx { get; init; }

    /// <summary>The string extra keys (cache salt, multimodal ids) per block, as [block, start, length] triples into <see cref="Payload"/>.</summary>
    public ReadOnlySpan<int> Extras { get; init; }

    /// <summary>The batch payload the extras point into.</summary>
    public ReadOnlySpan<byte> Payload { get; init; }
}

/// <summary>Receives the events of one batch, in order.</summary>
internal interface IKvEventSink
{
    void BlockStored(in BlockStoredEvent e);

    void BlockRemoved(ReadOnlySpan<ulong> engineHashes, ReadOnlySpan<byte> medium);

    void AllBlocksCleared();
}

/// <summary>
/// Decodes vLLM's msgpack <c>KVEventBatch</c> (spec routing.md §1.3): the batch as a positional array
/// <c>[ts, events, data_parallel_rank?]</c> or a map; each event in the legacy array form (<c>[tag, fields…]</c>,
/// trailing defaults omitted) or the map form (<c>{"type": tag, field: value…}</c>, vLLM ≥ 0.26); any int width;
/// hashes as ints or bytes; unknown fields and unknown event types skipped (counted). One decoder per ingestion
/// worker: its buffers grow to the largest event seen and are reused, so a warm decode allocates nothing.
/// </summary>
internal sealed class KvEventDecoder
{
    private ulong[] _hashes = new ulong[64];
    private uint[] _tokens = new uint[1024];
    private int[] _extras = new int[48];

    /// <summary>Events of a type this decoder does not know (skipped).</summary>
    public long UnknownEvents { get; private set; }

    /// <summary>Decodes one payload into <paramref name="sink"/>; returns the number of events. Malformed input throws <see cref="KvEventFormatException"/>
    /// — events before the bad one have already been delivered.</summary>
    public int Decode<TSink>(ReadOnlySpan<byte> payload, TSink sink) where TSink : IKvEventSink
    {
        var r = new MsgPackReader(payload);
        int events = 0;
        if (r.NextIsArray)
        {
            int n = r.ReadArrayHeader();
            if (n < 2)
                throw new KvEventFormatException("EventBatch array needs ts and events");
            r.ReadDouble(); // ts
            events = DecodeEvents(ref r, sink);
            for (int i = 2; i < n; i++)
                r.Skip(); // data_parallel_rank and anything newer
        }
        else if (r.NextIsMap)
        {
            int n = r.ReadMapHeader();
            bool seen = false;
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<byte> key = r.ReadStringBytes();
                if (key.SequenceEqual("events"u8))
                {
                    events = DecodeEvents(ref r, sink);
                    seen = true;
                }
                else
                    r.Skip();
            }
            if (!seen)
                throw new KvEventFormatException("EventBatch map without events");
        }
        else
            throw new KvEventFormatException("EventBatch is neither an array nor a map");
        if (!r.End)
            throw new KvEventFormatException("trailing bytes after the EventBatch");
        return events;
    }

    private int DecodeEvents<TSink>(ref MsgPackReader r, TSink sink) where TSink : IKvEventSink
    {
        int n = r.ReadArrayHeader();
        for (int i = 0; i < n; i++)
        {
            if (r.NextIsArray)
                DecodeArrayEvent(ref r, sink);
            else if (r.NextIsMap)
                DecodeMapEvent(ref r, sink);
            else
                throw new KvEventFormatException("an event is neither an array nor a map");
        }
        return n;
    }

    private enum Kind { Unknown, Stored, Removed, Cleared }

    private static Kind KindOf(ReadOnlySpan<byte> tag) =>
        tag.SequenceEqual("BlockStored"u8) ? Kind.Stored
        : tag.SequenceEqual("BlockRemoved"u8) ? Kind.Removed
        : tag.SequenceEqual("AllBlocksCleared"u8) ? Kind.Cleared
        : Kind.Unknown;

    // Field ids, in BlockStored's declaration order (routing.md §1.3).
    private const int FHashes = 1, FParent = 2, FTokens = 3, FBlockSize = 4, FLoraId = 5, FMedium = 6, FLoraName = 7,
        FExtraKeys = 8, FGroupIdx = 9, FSpecKind = 10, FSlidingWindow = 11, FOther = 99;

    private static int StoredFieldAt(int position) => position switch
    {
        1 => FHashes, 2 => FParent, 3 => FTokens, 4 => FBlockSize, 5 => FLoraId, 6 => FMedium,
        7 => FLoraName, 8 => FExtraKeys, 9 => FGroupIdx, 10 => FSpecKind, 11 => FSlidingWindow, _ => FOther,
    };

    private static int RemovedFieldAt(int position) => position switch { 1 => FHashes, 2 => FMedium, 3 => FGroupIdx, _ => FOther };

    private static int FieldNamed(ReadOnlySpan<byte> name) =>
        name.SequenceEqual("block_hashes"u8) ? FHashes
        : name.SequenceEqual("parent_block_hash"u8) ? FParent
        : name.SequenceEqual("token_ids"u8) ? FTokens
        : name.SequenceEqual("block_size"u8) ? FBlockSize
        : name.SequenceEqual("medium"u8) ? FMedium
        : name.SequenceEqual("lora_name"u8) ? FLoraName
        : name.SequenceEqual("extra_keys"u8) ? FExtraKeys
        : name.SequenceEqual("group_idx"u8) ? FGroupIdx
        : name.SequenceEqual("kv_cache_spec_kind"u8) ? FSpecKind
        : FOther;

    /// <summary>The fields of one event as they are read (spans into the payload or this decoder's buffers).</summary>
    private ref struct Fields
    {
        public int HashCount, TokenCount, ExtraCount, BlockSize, GroupIdx;
        public ulong Parent;
        public bool HasParent, HasHashes, HasTokens, HasBlockSize;
        public ReadOnlySpan<byte> Medium, LoraName, SpecKind;
    }

    private void DecodeArrayEvent<TSink>(ref MsgPackReader r, TSink sink) where TSink : IKvEventSink
    {
        int n = r.ReadArrayHeader();
        if (n == 0)
            throw new KvEventFormatException("an event array without its tag");
        Kind kind = KindOf(r.ReadStringBytes());
        var f = new Fields();
        for (int i = 1; i < n; i++)
        {
            int field = kind switch
            {
                Kind.Stored => StoredFieldAt(i),
                Kind.Removed => RemovedFieldAt(i),
                _ => FOther,
            };
            ReadField(ref r, field, ref f);
        }
        Deliver(kind, ref f, r.Data, sink);
    }

    private void DecodeMapEvent<TSink>(ref MsgPackReader r, TSink sink) where TSink : IKvEventSink
    {
        int n = r.ReadMapHeader();
        Kind kind = Kind.Unknown;
        bool tagged = false;
        var f = new Fields();
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> key = r.ReadStringBytes();
            if (key.SequenceEqual("type"u8))
            {
                kind = KindOf(r.ReadStringBytes());
                tagged = true;
                continue;
            }
            ReadField(ref r, FieldNamed(key), ref f);
        }
        if (!tagged)
            throw new KvEventFormatException("an event map without its type");
        Deliver(kind, ref f, r.Data, sink);
    }

    private void Deliver<TSink>(Kind kind, ref Fields f, ReadOnlySpan<byte> payload, TSink sink) where TSink : IKvEventSink
    {
        switch (kind)
        {
            case Kind.Stored:
                if (!f.HasHashes || !f.HasBlockSize || !f.HasTokens)
                    throw new KvEventFormatException("BlockStored without block_hashes, token_ids or block_size");
                sink.BlockStored(new BlockStoredEvent
                {
                    EngineHashes = _hashes.AsSpan(0, f.HashCount),
                    ParentHash = f.Parent,
                    HasParent = f.HasParent,
                    TokenIds = _tokens.AsSpan(0, f.TokenCount),
                    BlockSize = f.BlockSize,
                    LoraName = f.LoraName,
                    Medium = f.Medium,
                    SpecKind = f.SpecKind,
                    GroupIdx = f.GroupIdx,
                    Extras = _extras.AsSpan(0, f.ExtraCount * 3),
                    Payload = payload,
                });
                break;
            case Kind.Removed:
                if (!f.HasHashes)
                    throw new KvEventFormatException("BlockRemoved without block_hashes");
                sink.BlockRemoved(_hashes.AsSpan(0, f.HashCount), f.Medium);
                break;
            case Kind.Cleared:
                sink.AllBlocksCleared();
                break;
            default:
                UnknownEvents++;
                break;
        }
    }

    private void ReadField(ref MsgPackReader r, int field, ref Fields f)
    {
        switch (field)
        {
            case FHashes:
            {
                int n = r.ReadArrayHeader();
                if (_hashes.Length < n)
                    _hashes = new ulong[Math.Max(n, _hashes.Length * 2)];
                for (int i = 0; i < n; i++)
                    _hashes[i] = r.ReadHash();
                f.HashCount = n;
                f.HasHashes = true;
                break;
            }
            case FParent:
                f.HasParent = !r.TryReadNil();
                if (f.HasParent)
                    f.Parent = r.ReadHash();
                break;
            case FTokens:
            {
                int n = r.ReadArrayHeader();
                if (_tokens.Length < n)
                    _tokens = new uint[Math.Max(n, _tokens.Length * 2)];
                for (int i = 0; i < n; i++)
                    _tokens[i] = (uint)r.ReadInt64InRange(0, uint.MaxValue);
                f.TokenCount = n;
                f.HasTokens = true;
                break;
            }
            case FBlockSize:
                f.BlockSize = (int)r.ReadInt64InRange(1, 1 << 20);
                f.HasBlockSize = true;
                break;
            case FMedium:
                f.Medium = r.TryReadNil() ? default : r.ReadStringBytes();
                break;
            case FLoraName:
                f.LoraName = r.TryReadNil() ? default : r.ReadStringBytes();
                break;
            case FSpecKind:
                f.SpecKind = r.TryReadNil() ? default : r.ReadStringBytes();
                break;
            case FGroupIdx:
                f.GroupIdx = r.TryReadNil() ? 0 : (int)r.ReadInt64InRange(0, int.MaxValue);
                break;
            case FExtraKeys:
                f.ExtraCount = 0;
                if (r.TryReadNil())
                    break;
                ReadExtraKeys(ref r, ref f);
                break;
            default:
                r.Skip();
                break;
        }
    }

    /// <summary><c>extra_keys</c>: one entry per block, nil or a tuple (array) of keys; a key is a bare string, bytes, or a
    /// tuple whose first element is the identifier (multimodal hash + offset). Strings and bytes are kept, per block.</summary>
    private void ReadExtraKeys(ref MsgPackReader r, ref Fields f)
    {
        int blocks = r.ReadArrayHeader();
        for (int b = 0; b < blocks; b++)
        {
            if (r.TryReadNil())
                continue;
            if (!r.NextIsArray)
            {
                AddExtra(ref r, b, ref f);
                continue;
            }
            int keys = r.ReadArrayHeader();
            for (int k = 0; k < keys; k++)
            {
                if (r.NextIsArray)
                {
                    int parts = r.ReadArrayHeader();
                    for (int p = 0; p < parts; p++)
                    {
                        if (p == 0)
                            AddExtra(ref r, b, ref f);
                        else
                            r.Skip();
                    }
                }
                else
                    AddExtra(ref r, b, ref f);
            }
        }
    }

    private void AddExtra(ref MsgPackReader r, int block, ref Fields f)
    {
        if (!r.NextIsString && !r.NextIsBinary)
        {
            r.Skip(); // numbers, nil: no identity of their own
            return;
        }
        int start = r.Position;
        ReadOnlySpan<byte> bytes = r.NextIsString ? r.ReadStringBytes() : r.ReadBinary();
        int offset = start + (r.Position - start - bytes.Length);
        int at = f.ExtraCount * 3;
        if (_extras.Length < at + 3)
            Array.Resize(ref _extras, Math.Max(at + 3, _extras.Length * 2));
        _extras[at] = block;
        _extras[at + 1] = offset;
        _extras[at + 2] = bytes.Length;
        f.ExtraCount++;
    }
}
