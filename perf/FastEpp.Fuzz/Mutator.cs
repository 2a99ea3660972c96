using System.Text;

namespace FastEpp.Fuzz;

/// <summary>
/// Deterministic mutations (one <see cref="Random"/> seeded per run): byte flips, insertions, deletions,
/// duplications, interesting bytes, splices of two corpus entries, and for JSON targets structure-aware
/// ones (token replacement, deep nesting, huge numbers, duplicated keys, invalid UTF-8, escapes).
/// </summary>
internal sealed class Mutator(Random rng)
{
    private static readonly byte[] s_interesting = [0, 1, 0x7F, 0x80, 0xFF, 0xC0, 0xED, 0xF4, (byte)'"', (byte)'\\',
        (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'\n', (byte)'\r', (byte)' ', (byte)'0', (byte)'-', (byte)'e'];

    private static readonly string[] s_jsonTokens =
    [
        "null", "true", "false", "0", "-0", "1e308", "1e309", "-1e400", "123456789012345678901234567890", "0.5", "1E+2",
        "\"\"", "\"x\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\uDBFF\\uDFFF\"", "\"\\\"\"", "[]", "{}", "[1,2]", "{\"a\":1}",
        "\"model\"", "\"stream\"", "\"messages\"", "\"prompt\"", "\"input\"", "\"items\"", "\"usage\"", "\"MODEL\"",
        "\"Messages\"", "\"prompt_tokens\"", "\"content\"", "\"role\"", "\"type\"", "\"text\"", "\"data\"",
        "[{\"role\":\"user\",\"content\":\"hi\"}]", "[{\"type\":\"text\",\"text\":\"t\"}]", "[1,2,3]", "[\"a\",\"b\"]",
    ];

    private static readonly byte[][] s_badUtf8 = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80]];

    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, bool json, int maxLength)
    {
        var data = new List<byte>(input);
        int rounds = 1 + rng.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            int op = rng.Next(json ? 16 : 10);
            if (op == 12 && rng.Next(4) != 0)
                op = 13; // deep nesting is slow to check: rarer
            switch (op)
            {
                case 0 when data.Count > 0:
                    data[rng.Next(data.Count)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1:
                    data.Insert(rng.Next(data.Count + 1), (byte)rng.Next(256));
                    break;
                case 2 when data.Count > 0:
                {
                    int at = rng.Next(data.Count);
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + rng.Next(16)));
                    break;
                }
                case 3 when data.Count > 0:
                    data[rng.Next(data.Count)] = s_interesting[rng.Next(s_interesting.Length)];
                    break;
                case 4 when data.Count > 0:
                {
                    int at = rng.Next(data.Count);
                    int len = Math.Min(data.Count - at, 1 + rng.Next(64));
                    var chunk = data.GetRange(at, len);
                    data.InsertRange(rng.Next(data.Count + 1), chunk);
                    break;
                }
                case 5 when corpus.Count > 0:
                {
                    // Splice: a prefix of this input and a suffix of another corpus entry.
                    var other = corpus[rng.Next(corpus.Count)];
                    int cut = rng.Next(data.Count + 1);
                    int from = rng.Next(other.Length + 1);
                    data.RemoveRange(cut, data.Count - cut);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                }
                case 6 when data.Count > 0:
                {
                    int cut = rng.Next(data.Count); // truncate
                    data.RemoveRange(cut, data.Count - cut);
                    break;
                }
                case 7:
                    data.InsertRange(rng.Next(data.Count + 1), s_badUtf8[rng.Next(s_badUtf8.Length)]);
                    break;
                case 8 when data.Count > 1:
                {
                    int a = rng.Next(data.Count), b = rng.Next(data.Count);
                    (data[a], data[b]) = (data[b], data[a]);
                    break;
                }
                case 9 when data.Count > 0:
                {
                    // Repeat one byte many times (long runs: deep brackets, long strings).
                    int at = rng.Next(data.Count);
                    data.InsertRange(at, Enumerable.Repeat(data[at], 1 + rng.Next(200)));
                    break;
                }
                case 10 or 11:
                    ReplaceToken(data);
                    break;
                case 12:
                {
                    int depth = 1 + rng.Next(rng.Next(8) != 0 ? 100 : 12000);
                    var nest = new StringBuilder();
                    bool arrays = rng.Next(2) == 0;
                    for (int i = 0; i < depth; i++)
                        nest.Append(arrays ? "[" : "{\"a\":");
                    nest.Append('1');
                    for (int i = 0; i < depth; i++)
                        nest.Append(arrays ? ']' : '}');
                    InsertAtValue(data, nest.ToString());
                    break;
                }
                case 13:
                    InsertAtValue(data, s_jsonTokens[rng.Next(s_jsonTokens.Length)]);
                    break;
                case 14:
                {
                    // Duplicate a "key": value member right after itself.
                    int key = FindQuote(data);
                    if (key < 0)
                        break;
                    int end = data.IndexOf((byte)',', key);
                    if (end < 0)
                        break;
                    data.InsertRange(end + 1, data.GetRange(key, end - key + 1));
                    break;
                }
                default:
                {
                    // Escape mutation: turn a string byte into \uXXXX, or inject a random escape.
                    int q = FindQuote(data);
                    if (q < 0)
                        break;
                    string[] escapes = ["\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\n", "\\/", "\\u0000", "\\x", "\\"];
                    data.InsertRange(q + 1, Encoding.ASCII.GetBytes(escapes[rng.Next(escapes.Length)]));
                    break;
                }
            }
        }
        if (data.Count > maxLength)
            data.RemoveRange(maxLength, data.Count - maxLength);
        return data.ToArray();
    }

    private int FindQuote(List<byte> data)
    {
        if (data.Count == 0)
            return -1;
        int start = rng.Next(data.Count);
        int q = data.IndexOf((byte)'"', start);
        return q >= 0 ? q : data.IndexOf((byte)'"');
    }

    // Replaces one JSON scalar/token (a run of non-structural bytes) with an interesting token.
    private void ReplaceToken(List<byte> data)
    {
        if (data.Count == 0)
        {
            data.AddRange(Encoding.UTF8.GetBytes(s_jsonTokens[rng.Next(s_jsonTokens.Length)]));
            return;
        }
        int at = rng.Next(data.Count);
        int s = at, e = at;
        while (s > 0 && !IsStructural(data[s - 1]))
            s--;
        while (e < data.Count && !IsStructural(data[e]))
            e++;
        data.RemoveRange(s, e - s);
        data.InsertRange(s, Encoding.UTF8.GetBytes(s_jsonTokens[rng.Next(s_jsonTokens.Length)]));
    }

    // Inserts a value after a ':' or '[' (where a value may start), else anywhere.
    private void InsertAtValue(List<byte> data, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        for (int tries = 0; tries < 8 && data.Count > 0; tries++)
        {
            int at = rng.Next(data.Count);
            if (data[at] is (byte)':' or (byte)'[')
            {
                int end = at + 1;
                while (end < data.Count && !IsStructural(data[end]))
                    end++;
                data.RemoveRange(at + 1, end - at - 1);
                data.InsertRange(at + 1, bytes);
                return;
            }
        }
        data.InsertRange(rng.Next(data.Count + 1), bytes);
    }

    private static bool IsStructural(byte b) => b is (byte)'{' or (byte)'}' or (byte)'[' or (byte)']' or (byte)',' or (byte)':';
}
