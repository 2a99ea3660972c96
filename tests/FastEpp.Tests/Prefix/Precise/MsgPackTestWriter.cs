using System.Buffers.Binary;
using System.Text;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// A small msgpack writer for building KV-event payloads in tests the way msgspec encodes them (smallest int width,
/// float64 timestamps). Independent of the decoder under test; the golden fixtures pin the exact bytes.
/// </summary>
internal sealed class MsgPackTestWriter
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    public MsgPackTestWriter Raw(params byte[] b)
    {
        _bytes.AddRange(b);
        return this;
    }

    public MsgPackTestWriter Array(int n)
    {
        if (n < 16) _bytes.Add((byte)(0x90 | n));
        else if (n <= ushort.MaxValue) { _bytes.Add(0xdc); Be((ulong)n, 2); }
        else { _bytes.Add(0xdd); Be((ulong)n, 4); }
        return this;
    }

    public MsgPackTestWriter Map(int n)
    {
        if (n < 16) _bytes.Add((byte)(0x80 | n));
        else { _bytes.Add(0xde); Be((ulong)n, 2); }
        return this;
    }

    public MsgPackTestWriter Nil() => Raw(0xc0);

    public MsgPackTestWriter Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        if (b.Length < 32) _bytes.Add((byte)(0xa0 | b.Length));
        else if (b.Length < 256) { _bytes.Add(0xd9); _bytes.Add((byte)b.Length); }
        else { _bytes.Add(0xda); Be((ulong)b.Length, 2); }
        _bytes.AddRange(b);
        return this;
    }

    public MsgPackTestWriter Bin(byte[] b)
    {
        _bytes.Add(0xc4);
        _bytes.Add((byte)b.Length);
        _bytes.AddRange(b);
        return this;
    }

    /// <summary>An unsigned int in the smallest width (msgspec's choice).</summary>
    public MsgPackTestWriter UInt(ulong v)
    {
        if (v < 128) _bytes.Add((byte)v);
        else if (v <= byte.MaxValue) { _bytes.Add(0xcc); Be(v, 1); }
        else if (v <= ushort.MaxValue) { _bytes.Add(0xcd); Be(v, 2); }
        else if (v <= uint.MaxValue) { _bytes.Add(0xce); Be(v, 4); }
        else { _bytes.Add(0xcf); Be(v, 8); }
        return this;
    }

    public MsgPackTestWriter Float64(double d)
    {
        _bytes.Add(0xcb);
        Be(BitConverter.DoubleToUInt64Bits(d), 8);
        return this;
    }

    private void Be(ulong v, int n)
    {
        for (int i = n - 1; i >= 0; i--)
            _bytes.Add((byte)(v >> (8 * i)));
    }

    /// <summary>One legacy (array) BlockStored event with every field up to kv_cache_spec_kind.</summary>
    public MsgPackTestWriter BlockStored(ulong[] hashes, ulong? parent, uint[] tokens, int blockSize, string? loraName = null, string medium = "GPU", string?[]? extras = null)
    {
        Array(11).Str("BlockStored");
        Array(hashes.Length);
        foreach (ulong h in hashes) UInt(h);
        if (parent is { } p) UInt(p); else Nil();
        Array(tokens.Length);
        foreach (uint t in tokens) UInt(t);
        UInt((ulong)blockSize).Nil().Str(medium);
        if (loraName is null) Nil(); else Str(loraName);
        Array(hashes.Length);
        for (int i = 0; i < hashes.Length; i++)
        {
            string? x = extras is not null && i < extras.Length ? extras[i] : null;
            if (x is null) Nil(); else Array(1).Str(x);
        }
        UInt(0).Str("full_attention");
        return this;
    }

    public MsgPackTestWriter BlockRemoved(params ulong[] hashes)
    {
        Array(4).Str("BlockRemoved").Array(hashes.Length);
        foreach (ulong h in hashes) UInt(h);
        return Str("GPU").UInt(0);
    }

    public MsgPackTestWriter AllBlocksCleared() => Array(1).Str("AllBlocksCleared");

    /// <summary>A batch header: [ts, events(n), …] — the caller writes n events, then <see cref="EndBatch"/>.</summary>
    public MsgPackTestWriter Batch(int events, double ts = 1789095808.8378847) => Array(3).Float64(ts).Array(events);

    public MsgPackTestWriter EndBatch(int rank = 0) => UInt((ulong)rank);

    public static byte[] Hex(string hex)
    {
        hex = string.Concat(hex.Where(c => !char.IsWhiteSpace(c)));
        return Convert.FromHexString(hex);
    }

    public static byte[] SeqFrame(ulong seq)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, seq);
        return b;
    }
}
