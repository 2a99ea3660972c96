using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace FastEpp.Sim.Http;

/// <summary>A growable UTF-8 output buffer rented from the shared pool (Prometheus text, SSE prefixes). Dispose returns it.</summary>
internal sealed class ByteWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _length;

    /// <summary>Rents an initial buffer.</summary>
    public ByteWriter(int initialCapacity = 4096) => _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);

    /// <summary>Bytes written.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    /// <summary>Bytes written.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    /// <inheritdoc />
    public void Advance(int count) => _length += count;

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    /// <summary>Appends raw bytes.</summary>
    public ByteWriter Write(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
        return this;
    }

    /// <summary>Appends a string as UTF-8.</summary>
    public ByteWriter Write(string text)
    {
        Ensure(Encoding.UTF8.GetMaxByteCount(text.Length));
        _length += Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_length));
        return this;
    }

    /// <summary>Appends an integer.</summary>
    public ByteWriter Write(long value)
    {
        Ensure(24);
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out int n);
        _length += n;
        return this;
    }

    /// <summary>Appends a number in Prometheus text form (shortest round-trip, +Inf/-Inf/NaN spelled out).</summary>
    public ByteWriter Write(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return Write("+Inf"u8);
        }
        if (double.IsNegativeInfinity(value))
        {
            return Write("-Inf"u8);
        }
        if (double.IsNaN(value))
        {
            return Write("NaN"u8);
        }
        Ensure(32);
        value.TryFormat(_buffer.AsSpan(_length), out int n, "R", CultureInfo.InvariantCulture);
        _length += n;
        return this;
    }

    /// <summary>Appends a Prometheus label value with \ " and newline escaped.</summary>
    public ByteWriter WriteLabelValue(string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': Write("\\\\"u8); break;
                case '"': Write("\\\""u8); break;
                case '\n': Write("\\n"u8); break;
                default:
                    if (c < 0x80)
                    {
                        Ensure(1);
                        _buffer[_length++] = (byte)c;
                    }
                    else
                    {
                        Write(c.ToString());
                    }
                    break;
            }
        }
        return this;
    }

    /// <summary>Forgets the content, keeps the buffer.</summary>
    public void Clear() => _length = 0;

    /// <summary>Copies the content out.</summary>
    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <inheritdoc />
    public void Dispose()
    {
        byte[] b = _buffer;
        _buffer = [];
        _length = 0;
        if (b.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(b);
        }
    }

    private void Ensure(int extra)
    {
        extra = Math.Max(extra, 1);
        if (_length + extra <= _buffer.Length)
        {
            return;
        }
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + extra));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = bigger;
    }
}
