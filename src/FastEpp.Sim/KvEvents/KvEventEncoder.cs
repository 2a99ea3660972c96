using System.Buffers.Binary;

namespace FastEpp.Sim.KvEvents;

/// <summary>Which msgspec encoding of the events the publisher uses (see <see cref="KvEventEncoder"/>).</summary>
internal enum KvEventEncoding
{
    /// <summary>vLLM v0.26.0+ (PR #42892): each event is a map with <c>"type"</c> first; replay replies carry the topic frame (PR #45177).</summary>
    Map,
    /// <summary>vLLM ≤ v0.25: each event is a positional array with the tag first; replay replies are <c>[seq][payload]</c>.</summary>
    Array,
}

/// <summary>
/// Encodes a <see cref="KvEventBatch"/> exactly as vLLM's msgspec encoder does (../shared/spec/routing.md §1.3):
/// the batch is the positional array <c>[ts, [events…], data_parallel_rank]</c>; events are a tagged union whose
/// tag is the class name. Map form: <c>{"type": "BlockStored", field: value…}</c> with fields in declaration order,
/// required fields always present (possibly nil), defaulted fields present only when not their default. Array form:
/// <c>["BlockStored", field…]</c>, trailing default-valued fields dropped.
/// <para>
/// What the simulator fills, as vLLM's block pool does for a full-attention model: <c>extra_keys</c> one entry per
/// block (nil for the base model, <c>["adapter"]</c> — the LoRA name as the block's only extra key — for an adapter),
/// <c>group_idx</c> 0, <c>kv_cache_spec_kind</c> "full_attention"; BlockRemoved carries <c>group_idx</c> 0.
/// Block hashes are uint64 ints by default (<c>VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1</c>, vLLM's default) or
/// 8-byte big-endian bin when that variable is <c>0</c>.
/// </para>
/// </summary>
internal static class KvEventEncoder
{
    public const string MediumGpu = "GPU";

    private static ReadOnlySpan<byte> Type => "type"u8;

    /// <summary>Encodes one batch into <paramref name="w"/> (appending).</summary>
    public static void Encode(MsgPackWriter w, KvEventBatch batch, KvEventEncoding encoding, bool intHashes = true)
    {
        w.WriteArrayHeader(3);
        w.WriteDouble(batch.Timestamp);
        w.WriteArrayHeader(batch.Events.Count);
        foreach (KvCacheEvent e in batch.Events)
        {
            switch (e)
            {
                case BlockStored s:
                    WriteStored(w, s, encoding, intHashes);
                    break;
                case BlockRemoved r:
                    WriteRemoved(w, r, encoding, intHashes);
                    break;
                default:
                    if (encoding == KvEventEncoding.Map)
                    {
                        w.WriteMapHeader(1);
                        w.WriteString(Type);
                    }
                    else
                    {
                        w.WriteArrayHeader(1);
                    }
                    w.WriteString("AllBlocksCleared"u8);
                    break;
            }
        }
        w.WriteInt(batch.DataParallelRank);
    }

    private static void WriteStored(MsgPackWriter w, BlockStored s, KvEventEncoding encoding, bool intHashes)
    {
        bool map = encoding == KvEventEncoding.Map;
        // type + 7 required fields + extra_keys + group_idx + kv_cache_spec_kind (sliding_window nil: omitted).
        if (map)
        {
            w.WriteMapHeader(11);
            w.WriteString(Type);
        }
        else
        {
            w.WriteArrayHeader(11);
        }
        w.WriteString("BlockStored"u8);
        Key(w, map, "block_hashes"u8);
        WriteHashes(w, s.BlockHashes, intHashes);
        Key(w, map, "parent_block_hash"u8);
        if (s.ParentBlockHash is ulong parent)
        {
            WriteHash(w, parent, intHashes);
        }
        else
        {
            w.WriteNil();
        }
        Key(w, map, "token_ids"u8);
        w.WriteArrayHeader(s.TokenIds.Length);
        foreach (uint t in s.TokenIds)
        {
            w.WriteUInt(t);
        }
        Key(w, map, "block_size"u8);
        w.WriteInt(s.BlockSize);
        Key(w, map, "lora_id"u8);
        if (s.LoraId is int id)
        {
            w.WriteInt(id);
        }
        else
        {
            w.WriteNil();
        }
        Key(w, map, "medium"u8);
        w.WriteString(s.Medium);
        Key(w, map, "lora_name"u8);
        if (s.LoraName is null)
        {
            w.WriteNil();
        }
        else
        {
            w.WriteString(s.LoraName);
        }
        Key(w, map, "extra_keys"u8);
        w.WriteArrayHeader(s.BlockHashes.Length);
        for (int i = 0; i < s.BlockHashes.Length; i++)
        {
            if (s.LoraName is null)
            {
                w.WriteNil();
            }
            else
            {
                w.WriteArrayHeader(1);
                w.WriteString(s.LoraName);
            }
        }
        Key(w, map, "group_idx"u8);
        w.WriteInt(0);
        Key(w, map, "kv_cache_spec_kind"u8);
        w.WriteString("full_attention"u8);
    }

    private static void WriteRemoved(MsgPackWriter w, BlockRemoved r, KvEventEncoding encoding, bool intHashes)
    {
        bool map = encoding == KvEventEncoding.Map;
        if (map)
        {
            w.WriteMapHeader(4);
            w.WriteString(Type);
        }
        else
        {
            w.WriteArrayHeader(4);
        }
        w.WriteString("BlockRemoved"u8);
        Key(w, map, "block_hashes"u8);
        WriteHashes(w, r.BlockHashes, intHashes);
        Key(w, map, "medium"u8);
        w.WriteString(r.Medium);
        Key(w, map, "group_idx"u8);
        w.WriteInt(0);
    }

    private static void Key(MsgPackWriter w, bool map, ReadOnlySpan<byte> name)
    {
        if (map)
        {
            w.WriteString(name);
        }
    }

    private static void WriteHashes(MsgPackWriter w, ulong[] hashes, bool intHashes)
    {
        w.WriteArrayHeader(hashes.Length);
        foreach (ulong h in hashes)
        {
            WriteHash(w, h, intHashes);
        }
    }

    private static void WriteHash(MsgPackWriter w, ulong hash, bool intHashes)
    {
        if (intHashes)
        {
            w.WriteUInt(hash);
        }
        else
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(b, hash);
            w.WriteBinary(b);
        }
    }
}
