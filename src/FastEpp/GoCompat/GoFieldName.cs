namespace FastEpp.GoCompat;

/// <summary>How a decoder matches a JSON key against a field name it knows.</summary>
internal enum GoKeyMatch
{
    /// <summary>Byte-exact after unescaping: keys the reference reads from its generic <c>map[string]any</c>.</summary>
    Exact,

    /// <summary>Go's case-insensitive struct-field match (<see cref="GoFieldName.FoldEquals"/>): typed struct fields.</summary>
    Fold,
}

/// <summary>
/// Go <c>encoding/json</c>'s struct field name matching. FAST PATH: every key of every request body is classified
/// with it (a client can observe it: <c>"MESSAGES"</c> is the chat messages field for the reference too).
/// </summary>
internal static class GoFieldName
{
    /// <summary>
    /// Go's case-insensitive struct field match (<c>foldName</c>: ToUpper(ToLower(r)) per rune) of an
    /// unescaped key against a lower-case ASCII field name. Besides ASCII letters only four runes fold into
    /// ASCII: U+017F (ſ→S), U+212A (Kelvin→K), U+0130 and U+0131 (→I).
    /// </summary>
    public static bool FoldEquals(ReadOnlySpan<byte> key, ReadOnlySpan<byte> lowerName)
    {
        int k = 0;
        for (int n = 0; n < lowerName.Length; n++)
        {
            if (k >= key.Length)
            {
                return false;
            }

            byte c = lowerName[n];
            byte b = key[k];
            if (b < 0x80)
            {
                if (b != c && !(c >= (byte)'a' && c <= (byte)'z' && b == c - 32))
                {
                    return false;
                }

                k++;
                continue;
            }

            if (c == (byte)'s' && key[k..].StartsWith("ſ"u8))
            {
                k += 2;
            }
            else if (c == (byte)'k' && key[k..].StartsWith("\u212A"u8))
            {
                k += 3;
            }
            else if (c == (byte)'i' && key.Length - k >= 2 && b == 0xC4 && (key[k + 1] == 0xB0 || key[k + 1] == 0xB1))
            {
                k += 2;
            }
            else
            {
                return false;
            }
        }

        return k == key.Length;
    }

    /// <summary>Unescaped <paramref name="key"/> matches <paramref name="lowerName"/> under <paramref name="match"/>.</summary>
    public static bool Matches(ReadOnlySpan<byte> key, ReadOnlySpan<byte> lowerName, GoKeyMatch match) =>
        match == GoKeyMatch.Fold ? FoldEquals(key, lowerName) : key.SequenceEqual(lowerName);
}
