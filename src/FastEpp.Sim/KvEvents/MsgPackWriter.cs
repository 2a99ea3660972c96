using System.Buffers.Binary;
using System.Text;

namespace FastEpp.Sim.KvEvents;

/// <summary>
/// A lean msgpack writer that makes the same format choices as Python's msgspec encoder (what vLLM publishes
/// with): integers in the smallest width (non-negative values as positive fixint / uint8..uint64, negative as
/// negative fixint / int8..int64), floats always float64 (<c>0xcb</c>), strings as fixstr / str8 / str16 / str32,
/// arrays and maps as fix / 16 / 32 headers, byte strings as bin8 / bin16 / bin32. Growable; reused per publisher.
/// </summary>
internal sealed class MsgPackWriter
{
    private byte[] _buffer;
    private int _length;

    /// <summary>Creates a writer with an initial capacity.</summary>
    public MsgPackWriter(int capacity = 4096) => _buffer = new byte[capacity];

    /// <summary>Bytes written so far.</summary>
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    /// <summary>Number of bytes written.</summary>
    public int Length => _length;

    /// <summary>Forgets what was written (keeps the buffer).</summary>
    public void Reset() => _length = 0;

    /// <summary>A copy of what was written.</summary>
    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    public void WriteNil() => Span(1)[0] = 0xc0;

    public void WriteBool(bool value) => Span(1)[0] = value ? (byte)0xc3 : (byte)0xc2;

    public void WriteArrayHeader(int count) => WriteHeader(count, 0x90, 16, 0xdc, 0xdd);

    public void WriteMapHeader(int count) => WriteHeader(count, 0x80, 16, 0xde, 0xdf);

    public void WriteUInt(ulong value)
    {
        if (value < 0x80)
        {
            Span(1)[0] = (byte)value;
        }
        else if (value <= byte.MaxValue)
        {
            Span<byte> s = Span(2);
            s[0] = 0xcc;
            s[1] = (byte)value;
        }
        else if (value <= ushort.MaxValue)
        {
            Span<byte> s = Span(3);
            s[0] = 0xcd;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)value);
        }
        else if (value <= uint.MaxValue)
        {
            Span<byte> s = Span(5);
            s[0] = 0xce;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)value);
        }
        else
        {
            Span<byte> s = Span(9);
            s[0] = 0xcf;
            BinaryPrimitives.WriteUInt64BigEndian(s[1..], value);
        }
    }

    public void WriteInt(long value)
    {
        if (value >= 0)
        {
            WriteUInt((ulong)value);
        }
        else if (value >= -32)
        {
            Span(1)[0] = unchecked((byte)(sbyte)value);
        }
        else if (value >= sbyte.MinValue)
        {
            Span<byte> s = Span(2);
            s[0] = 0xd0;
            s[1] = unchecked((byte)(sbyte)value);
        }
        else if (value >= short.MinValue)
        {
            Span<byte> s = Span(3);
            s[0] = 0xd1;
            BinaryPrimitives.WriteInt16BigEndian(s[1..], (short)value);
        }
        else if (value >= int.MinValue)
        {
            Span<byte> s = Span(5);
            s[0] = 0xd2;
            BinaryPrimitives.WriteInt32BigEndian(s[1..], (int)value);
        }
        else
        {
            Span<byte> s = Span(9);
            s[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(s[1..], value);
        }
    }

    public void WriteDouble(double value)
    {
        Span<byte> s = Span(9);
        s[0] = 0xcb;
        BinaryPrimitives.WriteDoubleBigEndian(s[1..], value);
    }

    /// <summary>A UTF-8 string given as bytes.</summary>
    public void WriteString(ReadOnlySpan<byte> utf8)
    {
        int n = utf8.Length;
        if (n < 32)
        {
            Span(1)[0] = (byte)(0xa0 | n);
        }
        else if (n <= byte.MaxValue)
        {
            Span<byte> s = Span(2);
            s[0] = 0xd9;
            s[1] = (byte)n;
        }
        else if (n <= ushort.MaxValue)
        {
            Span<byte> s = Span(3);
            s[0] = 0xda;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)n);
        }
        else
        {
            Span<byte> s = Span(5);
            s[0] = 0xdb;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)n);
        }
        utf8.CopyTo(Span(n));
    }

    /// <summary>A string (UTF-8 encoded).</summary>
    public void WriteString(string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max <= 256)
        {
            Span<byte> tmp = stackalloc byte[256];
            int n = Encoding.UTF8.GetBytes(value, tmp);
            WriteString(tmp[..n]);
        }
        else
        {
            WriteString(Encoding.UTF8.GetBytes(value));
        }
    }

    /// <summary>A byte string (msgpack bin).</summary>
    public void WriteBinary(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        if (n <= byte.MaxValue)
        {
            Span<byte> s = Span(2);
            s[0] = 0xc4;
            s[1] = (byte)n;
        }
        else if (n <= ushort.MaxValue)
        {
            Span<byte> s = Span(3);
            s[0] = 0xc5;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)n);
        }
        else
        {
            Span<byte> s = Span(5);
            s[0] = 0xc6;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)n);
        }
        bytes.CopyTo(Span(n));
    }

    private void WriteHeader(int count, byte fix, int fixLimit, byte code16, byte code32)
    {
        if (count < fixLimit)
        {
            Span(1)[0] = (byte)(fix | count);
        }
        else if (count <= ushort.MaxValue)
        {
            Span<byte> s = Span(3);
            s[0] = code16;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)count);
        }
        else
        {
            Span<byte> s = Span(5);
            s[0] = code32;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)count);
        }
    }

    private Span<byte> Span(int n)
    {
        if (_length + n > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + n));
        }
        Span<byte> s = _buffer.AsSpan(_length, n);
        _length += n;
        return s;
    }
}
