namespace FastEpp.Sim.Http;

/// <summary>
/// Deterministic output text: token k of request r is a 4-byte word chosen by hashing (seed, r, k), so the text
/// re-tokenises to the same count (4 bytes per token) and needs no JSON escaping.
/// </summary>
internal static class TokenText
{
    /// <summary>Bytes per output token.</summary>
    public const int TokenBytes = 4;

    private static ReadOnlySpan<byte> Vocabulary =>
        "the and for you are not but all can her was one our out day get has him his how man new now old see two way who boy did its let put say she too use "u8;

    private const int WordCount = 32;

    /// <summary>Writes the text of tokens [from, from + count) of request <paramref name="requestId"/> into <paramref name="destination"/>.</summary>
    public static void Write(int seed, long requestId, int from, int count, Span<byte> destination)
    {
        ReadOnlySpan<byte> vocabulary = Vocabulary;
        for (int k = 0; k < count; k++)
        {
            ulong h = Mix(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)requestId * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(from + k)));
            int w = (int)(h % WordCount);
            vocabulary.Slice(w * TokenBytes, TokenBytes).CopyTo(destination.Slice(k * TokenBytes));
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
