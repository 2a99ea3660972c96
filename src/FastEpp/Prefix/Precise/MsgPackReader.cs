using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace FastEpp.Prefix.Precise;

/// <summary>Malformed or unsupported msgpack in a KV-event payload (the whole batch is dropped and counted).</summary>
internal sealed class KvEventFormatException(string message) : Exception(message);

/// <summary>
/// A forward-only msgpack reader over one payload: just what vLLM's (msgspec) encoding of <c>KVEventBatch</c>
/// needs — nil, bool, every int width (positive and negative fixint, u8…u64, i8…i64), float32/64, str, bin,
/// array, map, and a bounded skip of anything else (ext included). Never allocates; every bound is checked
/// and a violation raises <see cref="KvEventFormatException"/> (never an index exception).
/// </summary>
internal ref struct MsgPackReader(ReadOnlySpan<byte> data)
{
    private const int MaxSkipDepth = 64;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly int Position => _pos;

    public readonly bool End => _pos >= _data.Length;

    public readonly ReadOnlySpan<byte> Data => _data;

    /// <summary>The next format byte without consuming it.</summary>
    public readonly byte Peek()
    {
        if (_pos >= _data.Length)
            Fail("unexpected end of payload");
        return _data[_pos];
    }

    public readonly bool NextIsNil => _pos < _data.Length && _data[_pos] == 0xc0;

    public readonly bool NextIsArray
    {
        get
        {
            if (_pos >= _data.Length)
                return false;
            byte b = _data[_pos];
            return (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd;
        }
    }

    public readonly bool NextIsMap
    {
        get
        {
            if (_pos >= _data.Length)
                return false;
            byte b = _data[_pos];
            return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
        }
    }

    public readonly bool NextIsString
    {
        get
        {
            if (_pos >= _data.Length)
                return false;
            byte b = _data[_pos];
            return (b & 0xe0) == 0xa0 || b is 0xd9 or 0xda or 0xdb;
        }
    }

    public readonly bool NextIsBinary => _pos < _data.Length && _data[_pos] is 0xc4 or 0xc5 or 0xc6;

    public readonly bool NextIsInteger
    {
        get
        {
            if (_pos >= _data.Length)
                return false;
            byte b = _data[_pos];
            return b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3);
        }
    }

    /// <summary>Consumes a nil if one is next.</summary>
    public bool TryReadNil()
    {
        if (NextIsNil)
        {
            _pos++;
            return true;
        }
        return false;
    }

    public int ReadArrayHeader()
    {
        byte b = ReadByte();
        long n;
        if ((b & 0xf0) == 0x90)
            n = b & 0x0f;
        else if (b == 0xdc)
            n = ReadBigEndian(2);
        else if (b == 0xdd)
            n = ReadBigEndian(4);
        else
            return Fail<int>("expected an array");
        return CheckCount(n);
    }

    public int ReadMapHeader()
    {
        byte b = ReadByte();
        long n;
        if ((b & 0xf0) == 0x80)
            n = b & 0x0f;
        else if (b == 0xde)
            n = ReadBigEndian(2);
        else if (b == 0xdf)
            n = ReadBigEndian(4);
        else
            return Fail<int>("expected a map");
        // Each entry is at least two bytes.
        if (n > (_data.Length - _pos) / 2)
            Fail("map longer than the payload");
        return (int)n;
    }

    /// <summary>A UTF-8 string (str8/16/32 or fixstr) as a slice of the payload.</summary>
    public ReadOnlySpan<byte> ReadStringBytes()
    {
        byte b = ReadByte();
        long n;
        if ((b & 0xe0) == 0xa0)
            n = b & 0x1f;
        else if (b == 0xd9)
            n = ReadBigEndian(1);
        else if (b == 0xda)
            n = ReadBigEndian(2);
        else if (b == 0xdb)
            n = ReadBigEndian(4);
        else
        {
            Fail("expected a string");
            return default;
        }
        return Take(n);
    }

    /// <summary>A bin8/16/32 value as a slice of the payload.</summary>
    public ReadOnlySpan<byte> ReadBinary()
    {
        byte b = ReadByte();
        long n = b switch
        {
            0xc4 => ReadBigEndian(1),
            0xc5 => ReadBigEndian(2),
            0xc6 => ReadBigEndian(4),
            _ => Fail<long>("expected binary"),
        };
        return Take(n);
    }

    /// <summary>Any msgpack integer as its 64-bit two's-complement pattern (negative values keep their bits).</summary>
    public ulong ReadUInt64Bits()
    {
        byte b = ReadByte();
        if (b <= 0x7f)
            return b;
        if (b >= 0xe0)
            return unchecked((ulong)(long)(sbyte)b);
        return b switch
        {
            0xcc => (ulong)ReadBigEndian(1),
            0xcd => (ulong)ReadBigEndian(2),
            0xce => (ulong)ReadBigEndian(4),
            0xcf => ReadU64(),
            0xd0 => unchecked((ulong)(long)(sbyte)ReadBigEndian(1)),
            0xd1 => unchecked((ulong)(long)(short)ReadBigEndian(2)),
            0xd2 => unchecked((ulong)(long)(int)ReadBigEndian(4)),
            0xd3 => ReadU64(),
            _ => Fail<ulong>("expected an integer"),
        };
    }

    /// <summary>An integer that must fit in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public long ReadInt64InRange(long min, long max)
    {
        byte b = Peek();
        ulong bits = ReadUInt64Bits();
        // u64 values above long.MaxValue are out of any range we ask for.
        if (b == 0xcf && bits > long.MaxValue)
            Fail("integer out of range");
        long v = unchecked((long)bits);
        if (v < min || v > max)
            Fail("integer out of range");
        return v;
    }

    /// <summary>A block hash: any integer (its 64-bit pattern), or bytes (the last 8, big-endian; shorter ones zero-extended).</summary>
    public ulong ReadHash()
    {
        if (NextIsBinary || NextIsString)
        {
            ReadOnlySpan<byte> bytes = NextIsBinary ? ReadBinary() : ReadStringBytes();
            if (bytes.Length >= 8)
                return BinaryPrimitives.ReadUInt64BigEndian(bytes[^8..]);
            ulong v = 0;
            foreach (byte x in bytes)
                v = (v << 8) | x;
            return v;
        }
        return ReadUInt64Bits();
    }

    public double ReadDouble()
    {
        byte b = Peek();
        if (b == 0xcb)
        {
            _pos++;
            return BitConverter.UInt64BitsToDouble(ReadU64());
        }
        if (b == 0xca)
        {
            _pos++;
            return BitConverter.Int32BitsToSingle((int)ReadBigEndian(4));
        }
        if (NextIsInteger)
            return unchecked((long)ReadUInt64Bits());
        return Fail<double>("expected a number");
    }

    /// <summary>Skips one value of any type (bounded nesting).</summary>
    public void Skip() => Skip(0);

    private void Skip(int depth)
    {
        if (depth > MaxSkipDepth)
            Fail("nesting too deep");
        byte b = ReadByte();
        if (b <= 0x7f || b >= 0xe0 || b is 0xc0 or 0xc2 or 0xc3)
            return;
        if ((b & 0xe0) == 0xa0)
        {
            Take(b & 0x1f);
            return;
        }
        if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80)
        {
            int n = (b & 0x0f) * ((b & 0xf0) == 0x80 ? 2 : 1);
            for (int i = 0; i < n; i++)
                Skip(depth + 1);
            return;
        }
        switch (b)
        {
            case 0xcc or 0xd0: Take(1); return;
            case 0xcd or 0xd1: Take(2); return;
            case 0xce or 0xd2 or 0xca: Take(4); return;
            case 0xcf or 0xd3 or 0xcb: Take(8); return;
            case 0xd9 or 0xc4: Take(ReadBigEndian(1)); return;
            case 0xda or 0xc5: Take(ReadBigEndian(2)); return;
            case 0xdb or 0xc6: Take(ReadBigEndian(4)); return;
            case 0xd4: Take(2); return;
            case 0xd5: Take(3); return;
            case 0xd6: Take(5); return;
            case 0xd7: Take(9); return;
            case 0xd8: Take(17); return;
            case 0xc7: Take(ReadBigEndian(1) + 1); return;
            case 0xc8: Take(ReadBigEndian(2) + 1); return;
            case 0xc9: Take(ReadBigEndian(4) + 1); return;
            case 0xdc or 0xdd:
            {
                long n = ReadBigEndian(b == 0xdc ? 2 : 4);
                CheckCount(n);
                for (long i = 0; i < n; i++)
                    Skip(depth + 1);
                return;
            }
            case 0xde or 0xdf:
            {
                long n = ReadBigEndian(b == 0xde ? 2 : 4);
                if (n > (_data.Length - _pos) / 2)
                    Fail("map longer than the payload");
                for (long i = 0; i < 2 * n; i++)
                    Skip(depth + 1);
                return;
            }
            default:
                Fail("invalid msgpack format byte");
                return;
        }
    }

    private byte ReadByte()
    {
        if (_pos >= _data.Length)
            Fail("unexpected end of payload");
        return _data[_pos++];
    }

    private long ReadBigEndian(int bytes)
    {
        if (_data.Length - _pos < bytes)
            Fail("unexpected end of payload");
        long v = 0;
        for (int i = 0; i < bytes; i++)
            v = (v << 8) | _data[_pos + i];
        _pos += bytes;
        return v;
    }

    private ulong ReadU64()
    {
        if (_data.Length - _pos < 8)
            Fail("unexpected end of payload");
        ulong v = BinaryPrimitives.ReadUInt64BigEndian(_data.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos)
            Fail("length longer than the payload");
        ReadOnlySpan<byte> s = _data.Slice(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private readonly int CheckCount(long n)
    {
        // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
        if (n > _data.Length - _pos)
            Fail("array longer than the payload");
        return (int)n;
    }

    [DoesNotReturn]
    private static void Fail(string message) => throw new KvEventFormatException(message);

    [DoesNotReturn]
    private static T Fail<T>(string message) => throw new KvEventFormatException(message);
}
