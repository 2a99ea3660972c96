using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>
/// Test helpers: a small independent msgpack decoder (to read what the publisher sent) and a builder of golden bytes
/// from a spec-like notation: hex bytes and quoted strings (their ASCII bytes), e.g. <c>a4 "type" ab "BlockStored"</c>.
/// </summary>
internal static class MsgPack
{
    /// <summary>A decoded map: its pairs in wire order.</summary>
    internal sealed class Map : List<KeyValuePair<string, object?>>
    {
        public object? this[string key] => this.First(p => p.Key == key).Value;

        public bool Has(string key) => this.Any(p => p.Key == key);
    }

    public static byte[] Golden(string notation)
    {
        var bytes = new List<byte>();
        int i = 0;
        while (i < notation.Length)
        {
            char c = notation[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '"')
            {
                int end = notation.IndexOf('"', i + 1);
                bytes.AddRange(Encoding.ASCII.GetBytes(notation[(i + 1)..end]));
                i = end + 1;
            }
            else
            {
                bytes.Add(byte.Parse(notation.AsSpan(i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 2;
            }
        }
        return bytes.ToArray();
    }

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static object? Decode(byte[] data)
    {
        int pos = 0;
        object? value = Read(data, ref pos);
        Assert.Equal(data.Length, pos);
        return value;
    }

    private static object? Read(byte[] d, ref int p)
    {
        byte b = d[p++];
        switch (b)
        {
            case <= 0x7f: return (ulong)b;
            case >= 0x80 and <= 0x8f: return ReadMap(d, ref p, b & 0x0f);
            case >= 0x90 and <= 0x9f: return ReadArray(d, ref p, b & 0x0f);
            case >= 0xa0 and <= 0xbf: return ReadString(d, ref p, b & 0x1f);
            case 0xc0: return null;
            case 0xc2: return false;
            case 0xc3: return true;
            case 0xc4: return ReadBytes(d, ref p, d[p++]);
            case 0xcb:
                p += 8;
                return BinaryPrimitives.ReadDoubleBigEndian(d.AsSpan(p - 8));
            case 0xcc: return (ulong)d[p++];
            case 0xcd:
                p += 2;
                return (ulong)BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p - 2));
            case 0xce:
                p += 4;
                return (ulong)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(p - 4));
            case 0xcf:
                p += 8;
                return BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(p - 8));
            case 0xd9: return ReadString(d, ref p, d[p++]);
            case 0xda:
                p += 2;
                return ReadString(d, ref p, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p - 2)));
            case 0xdc:
                p += 2;
                return ReadArray(d, ref p, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p - 2)));
            case 0xdd:
                p += 4;
                return ReadArray(d, ref p, (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(p - 4)));
            case 0xde:
                p += 2;
                return ReadMap(d, ref p, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p - 2)));
            default:
                throw new InvalidDataException($"msgpack code 0x{b:x2} not expected from the simulator");
        }
    }

    private static List<object?> ReadArray(byte[] d, ref int p, int n)
    {
        var list = new List<object?>(n);
        for (int i = 0; i < n; i++)
        {
            list.Add(Read(d, ref p));
        }
        return list;
    }

    private static Map ReadMap(byte[] d, ref int p, int n)
    {
        var map = new Map();
        for (int i = 0; i < n; i++)
        {
            string key = (string)Read(d, ref p)!;
            map.Add(new(key, Read(d, ref p)));
        }
        return map;
    }

    private static string ReadString(byte[] d, ref int p, int n)
    {
        string s = Encoding.UTF8.GetString(d, p, n);
        p += n;
        return s;
    }

    private static byte[] ReadBytes(byte[] d, ref int p, int n)
    {
        byte[] s = d.AsSpan(p, n).ToArray();
        p += n;
        return s;
    }
}
