using System.Buffers;

namespace FastEpp.GoCompat;

// FAST PATH. The output side of the Go transcoders (GoJsonString, GoFloat, GoGenericValueEncoder); Body's
// writers use the same sinks, so a sink type is specialised once per writer (struct generics, no interface calls).

/// <summary>Destination of transcoded bytes; implemented by small structs so generic code specialises.</summary>
internal interface IByteSink
{
    void Write(scoped ReadOnlySpan<byte> data);

    void Write(byte value);
}

/// <summary>Counts bytes instead of writing them (token estimates).</summary>
internal struct CountingSink : IByteSink
{
    public long Count;

    public void Write(scoped ReadOnlySpan<byte> data) => Count += data.Length;

    public void Write(byte value) => Count++;
}

/// <summary>
/// Writes into an <see cref="IBufferWriter{T}"/>, asking for memory once per few KB rather than per
/// write. Call <see cref="Flush"/> when done. A plain struct (not ref) so it can travel next to readers.
/// </summary>
internal struct BufferWriterSink : IByteSink
{
    private const int MinChunk = 4096;
    private readonly IBufferWriter<byte> _writer;
    private Memory<byte> _memory;
    private int _pos;

    public BufferWriterSink(IBufferWriter<byte> writer)
    {
        _writer = writer;
        _memory = default;
        _pos = 0;
    }

    public void Write(scoped ReadOnlySpan<byte> data)
    {
        if (data.Length > _memory.Length - _pos)
        {
            Flush();
            if (data.Length >= MinChunk)
            {
                // Large copies go straight through without staging.
                data.CopyTo(_writer.GetSpan(data.Length));
                _writer.Advance(data.Length);
                return;
            }

            _memory = _writer.GetMemory(MinChunk);
        }

        data.CopyTo(_memory.Span[_pos..]);
        _pos += data.Length;
    }

    public void Write(byte value)
    {
        if (_pos >= _memory.Length)
        {
            Flush();
            _memory = _writer.GetMemory(MinChunk);
        }

        _memory.Span[_pos++] = value;
    }

    public void Flush()
    {
        if (_pos > 0)
        {
            _writer.Advance(_pos);
        }

        _memory = default;
        _pos = 0;
    }
}

/// <summary>Writes into a caller-provided span; sets <see cref="Overflow"/> instead of growing.</summary>
internal ref struct SpanSink : IByteSink
{
    private readonly Span<byte> _dest;
    public int Length;
    public bool Overflow;

    public SpanSink(Span<byte> dest)
    {
        _dest = dest;
        Length = 0;
        Overflow = false;
    }

    public readonly ReadOnlySpan<byte> Written => _dest[..Length];

    public void Write(scoped ReadOnlySpan<byte> data)
    {
        if (data.Length > _dest.Length - Length)
        {
            Overflow = true;
            return;
        }

        data.CopyTo(_dest[Length..]);
        Length += data.Length;
    }

    public void Write(byte value)
    {
        if (Length >= _dest.Length)
        {
            Overflow = true;
            return;
        }

        _dest[Length++] = value;
    }
}
