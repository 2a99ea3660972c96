using System.Buffers;
using System.Text.Unicode;

namespace FastEpp.GoCompat;

/// <summary>How <see cref="GoJsonString"/> emits a JSON string's content.</summary>
internal enum GoStringMode
{
    /// <summary>The decoded text (what Go's unquote yields): escapes resolved, bad UTF-8 as U+FFFD.</summary>
    Unquote,

    /// <summary>The decoded text re-encoded as Go's <c>json.Marshal</c> does (HTML-safe), without the quotes.</summary>
    Quote,

    /// <summary>
    /// Input is already decoded text (no escapes to resolve): encode it as Go's appendString does
    /// (invalid UTF-8 becomes the escape <c>\ufffd</c>).
    /// </summary>
    Encode,
}

/// <summary>
/// Go <c>encoding/json</c> string semantics on raw UTF-8 JSON bytes, without allocation: unquoting (escapes,
/// invalid UTF-8 and lone surrogates become U+FFFD exactly as Go's <c>unquoteBytes</c> + <c>utf8.DecodeRune</c>
/// do) and re-quoting as <c>appendString(escapeHTML=true)</c> does. The transcoder works on chunks: it stops
/// before a unit (escape or UTF-8 sequence) that may be cut by the chunk end, so a multi-segment body never has
/// to be copied.
/// FAST PATH: every request unquotes its model, cache salt, escaped keys and prompt lengths here, and the
/// prefix-hash input of chat/responses/conversations/embeddings is re-quoted here. The fast loop validates
/// UTF-8 once per chunk; only bad UTF-8 or U+2028/U+2029 take the per-rune path.
/// </summary>
internal static class GoJsonString
{
    /// <summary>Longest unit: a surrogate pair written as two \u escapes.</summary>
    private const int MaxUnit = 12;

    private static readonly SearchValues<byte> s_quoteStops = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\<>&"u8);

    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;

    private static ReadOnlySpan<byte> Replacement => [0xEF, 0xBF, 0xBD];

    /// <summary>First two bytes of U+2028 / U+2029 (E2 80 A8 / E2 80 A9).</summary>
    private static ReadOnlySpan<byte> LineSepPrefix => [0xE2, 0x80];

    /// <summary>Transcodes a whole string content (bytes between the quotes) that may span segments.</summary>
    public static void Transcode<TSink>(in ReadOnlySequence<byte> content, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        if (content.IsSingleSegment)
        {
            Transcode(content.FirstSpan, final: true, mode, ref sink);
            return;
        }

        // Units cut by a segment end are carried (at most MaxUnit - 1 bytes) into a small buffer.
        Span<byte> carry = stackalloc byte[3 * MaxUnit];
        int carryLen = 0;
        foreach (ReadOnlyMemory<byte> memory in content)
        {
            ReadOnlySpan<byte> span = memory.Span;
            if (span.IsEmpty)
            {
                continue;
            }

            if (carryLen > 0)
            {
                int take = Math.Min(span.Length, carry.Length - carryLen);
                span[..take].CopyTo(carry[carryLen..]);
                int total = carryLen + take;
                int consumed = Transcode(carry[..total], final: false, mode, ref sink);
                if (consumed < carryLen)
                {
                    // Only when the whole (tiny) segment went into the carry: keep collecting.
                    carry[consumed..total].CopyTo(carry);
                    carryLen = total - consumed;
                    if (take == span.Length)
                    {
                        continue;
                    }

                    // Defensive: cannot happen (MaxUnit bytes always fit after the carry).
                    consumed = carryLen;
                }

                span = span[(consumed - carryLen)..];
                carryLen = 0;
            }

            int used = Transcode(span, final: false, mode, ref sink);
            ReadOnlySpan<byte> tail = span[used..];
            tail.CopyTo(carry);
            carryLen = tail.Length;
        }

        if (carryLen > 0)
        {
            Transcode(carry[..carryLen], final: true, mode, ref sink);
        }
    }

    /// <summary>
    /// Transcodes <paramref name="src"/>; when not <paramref name="final"/>, stops before a unit that
    /// might continue in the next chunk and returns how many bytes were consumed.
    /// </summary>
    public static int Transcode<TSink>(scoped ReadOnlySpan<byte> src, bool final, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        // Fast path (RequestBodyBenchmarks): validate UTF-8 (and look for U+2028/9) once for the chunk, then
        // only escapes and escapable ASCII stop the copy. Bad UTF-8 takes the careful per-rune path.
        int cleanEnd = final ? src.Length : CompleteUtf8Prefix(src);
        ReadOnlySpan<byte> clean = src[..cleanEnd];
        if (!Utf8.IsValid(clean) || (mode != GoStringMode.Unquote && clean.IndexOf(LineSepPrefix) >= 0))
        {
            return TranscodeCareful(src, final, mode, ref sink);
        }

        int i = 0;
        while (true)
        {
            ReadOnlySpan<byte> rest = src[i..cleanEnd];
            int stop = mode == GoStringMode.Unquote ? rest.IndexOf((byte)'\\') : rest.IndexOfAny(s_quoteStops);
            if (stop < 0)
            {
                sink.Write(rest);
                return cleanEnd;
            }

            if (stop > 0)
            {
                sink.Write(rest[..stop]);
            }

            i += stop;
            int used = WriteStop(src, i, final, mode, ref sink);
            if (used == 0)
            {
                return i;
            }

            i += used;
        }
    }

    /// <summary>Per-rune transcoding for chunks with invalid UTF-8 or U+2028/U+2029.</summary>
    private static int TranscodeCareful<TSink>(scoped ReadOnlySpan<byte> src, bool final, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        int i = 0;
        while (i < src.Length)
        {
            ReadOnlySpan<byte> rest = src[i..];
            int stop = mode == GoStringMode.Unquote ? rest.IndexOf((byte)'\\') : rest.IndexOfAny(s_quoteStops);
            int runLen = stop < 0 ? rest.Length : stop;
            bool trimmed = false;
            if (stop < 0 && !final)
            {
                int keep = CompleteUtf8Prefix(rest);
                trimmed = keep < runLen;
                runLen = keep;
            }

            if (runLen > 0)
            {
                WriteRun(rest[..runLen], mode, ref sink);
                i += runLen;
            }

            if (trimmed || i >= src.Length)
            {
                return i;
            }

            int used = WriteStop(src, i, final, mode, ref sink);
            if (used == 0)
            {
                return i;
            }

            i += used;
        }

        return i;
    }

    /// <summary>
    /// Writes the stop byte at <paramref name="i"/>: an escape (resolved, or re-written in Quote mode) or, in Quote /
    /// Encode mode, an ASCII character that must be escaped. Returns the bytes used, or 0 when the escape may
    /// continue in the next chunk.
    /// </summary>
    private static int WriteStop<TSink>(scoped ReadOnlySpan<byte> src, int i, bool final, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        byte b = src[i];
        if (b != (byte)'\\' || mode == GoStringMode.Encode)
        {
            WriteQuotedAscii(b, ref sink);
            return 1;
        }

        return !final && src.Length - i < MaxUnit ? 0 : DecodeEscape(src[i..], mode, ref sink);
    }

    /// <summary>Decoded (unquoted) byte length of a string content.</summary>
    public static long UnquotedLength(in ReadOnlySequence<byte> content)
    {
        var sink = new CountingSink();
        Transcode(content, GoStringMode.Unquote, ref sink);
        return sink.Count;
    }

    /// <summary>Decoded (unquoted) byte length of a contiguous string content.</summary>
    public static long UnquotedLength(scoped ReadOnlySpan<byte> content)
    {
        if (!Utf8.IsValid(content))
        {
            var sink = new CountingSink();
            TranscodeCareful(content, final: true, GoStringMode.Unquote, ref sink);
            return sink.Count;
        }

        // Valid UTF-8: only escapes change the length (escapes are ASCII, so literal parts are valid too).
        long length = content.Length;
        int i = content.IndexOf((byte)'\\');
        while (i >= 0 && i + 1 < content.Length)
        {
            int used;
            int produced;
            if (content[i + 1] != (byte)'u')
            {
                used = 2;
                produced = 1;
            }
            else
            {
                int rune = GetU4(content[i..]);
                used = 6;
                if (rune < 0)
                {
                    used = 2;
                    produced = 0;
                }
                else if (rune >= 0xD800 && rune < 0xE000)
                {
                    int r2 = GetU4(content[(i + 6)..]);
                    bool pair = rune < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000;
                    used = pair ? 12 : 6;
                    produced = pair ? 4 : 3;
                }
                else
                {
                    produced = rune < 0x80 ? 1 : rune < 0x800 ? 2 : 3;
                }
            }

            length -= used - produced;
            i += used;
            if (i >= content.Length)
            {
                break;
            }

            int next = content[i..].IndexOf((byte)'\\');
            i = next < 0 ? -1 : i + next;
        }

        return length;
    }

    /// <summary>Writes a .NET string as a Go JSON string literal (with quotes).</summary>
    public static void WriteQuotedString<TSink>(string value, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        sink.Write((byte)'"');
        int max = value.Length * 3;
        byte[]? rented = null;
        Span<byte> utf8 = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        // Lone UTF-16 surrogates become U+FFFD, matching what Go sees for the same text.
        int n = System.Text.Encoding.UTF8.GetBytes(value, utf8);
        Transcode(utf8[..n], final: true, GoStringMode.Encode, ref sink);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        sink.Write((byte)'"');
    }

    /// <summary>
    /// Go <c>utf8.DecodeRune</c>: returns the rune and its width, or (U+FFFD, 1) for any invalid or
    /// truncated sequence, surrogates and overlong forms included.
    /// </summary>
    public static int DecodeRune(ReadOnlySpan<byte> s, out int rune)
    {
        byte b0 = s[0];
        if (b0 < 0x80)
        {
            rune = b0;
            return 1;
        }

        rune = 0xFFFD;
        if (b0 >= 0xC2 && b0 <= 0xDF)
        {
            if (s.Length >= 2 && IsCont(s[1]))
            {
                rune = ((b0 & 0x1F) << 6) | (s[1] & 0x3F);
                return 2;
            }

            return 1;
        }

        if (b0 >= 0xE0 && b0 <= 0xEF)
        {
            if (s.Length < 3)
            {
                return 1;
            }

            byte b1 = s[1];
            byte lo = b0 == 0xE0 ? (byte)0xA0 : (byte)0x80;
            byte hi = b0 == 0xED ? (byte)0x9F : (byte)0xBF;
            if (b1 < lo || b1 > hi || !IsCont(s[2]))
            {
                return 1;
            }

            rune = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (s[2] & 0x3F);
            return 3;
        }

        if (b0 >= 0xF0 && b0 <= 0xF4)
        {
            if (s.Length < 4)
            {
                return 1;
            }

            byte b1 = s[1];
            byte lo = b0 == 0xF0 ? (byte)0x90 : (byte)0x80;
            byte hi = b0 == 0xF4 ? (byte)0x8F : (byte)0xBF;
            if (b1 < lo || b1 > hi || !IsCont(s[2]) || !IsCont(s[3]))
            {
                return 1;
            }

            rune = ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
            return 4;
        }

        return 1;
    }

    private static bool IsCont(byte b) => (b & 0xC0) == 0x80;

    private static void WriteRun<TSink>(scoped ReadOnlySpan<byte> run, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        bool fast = Utf8.IsValid(run);
        if (fast && mode != GoStringMode.Unquote)
        {
            // U+2028 / U+2029 (E2 80 A8/A9) must be escaped.
            int at = run.IndexOf(LineSepPrefix);
            while (at >= 0 && fast)
            {
                if (at + 2 < run.Length && (run[at + 2] == 0xA8 || run[at + 2] == 0xA9))
                {
                    fast = false;
                    break;
                }

                int next = run[(at + 2)..].IndexOf(LineSepPrefix);
                at = next < 0 ? -1 : at + 2 + next;
            }
        }

        if (fast)
        {
            sink.Write(run);
            return;
        }

        int i = 0;
        int start = 0;
        while (i < run.Length)
        {
            if (run[i] < 0x80)
            {
                i++;
                continue;
            }

            int width = DecodeRune(run[i..], out int rune);
            bool bad = rune == 0xFFFD && width == 1;
            bool sep = mode != GoStringMode.Unquote && (rune == 0x2028 || rune == 0x2029);
            if (!bad && !sep)
            {
                i += width;
                continue;
            }

            sink.Write(run[start..i]);
            if (bad)
            {
                sink.Write(mode == GoStringMode.Encode ? "\\ufffd"u8 : Replacement);
            }
            else
            {
                sink.Write(rune == 0x2028 ? "\\u2028"u8 : "\\u2029"u8);
            }

            i += width;
            start = i;
        }

        sink.Write(run[start..]);
    }

    /// <summary>Longest prefix that does not end inside a (possibly) incomplete UTF-8 sequence.</summary>
    private static int CompleteUtf8Prefix(ReadOnlySpan<byte> s)
    {
        int n = s.Length;
        for (int back = 1; back <= 3 && back <= n; back++)
        {
            byte b = s[n - back];
            if (b < 0x80)
            {
                return n;
            }

            if (b >= 0xC0)
            {
                int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                return need > back ? n - back : n;
            }
        }

        return n;
    }

    private static int DecodeEscape<TSink>(scoped ReadOnlySpan<byte> s, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        if (s.Length < 2)
        {
            return s.Length;
        }

        int rune;
        int used = 2;
        switch (s[1])
        {
            case (byte)'"':
            case (byte)'\\':
            case (byte)'/':
            case (byte)'\'':
                rune = s[1];
                break;
            case (byte)'b':
                rune = '\b';
                break;
            case (byte)'f':
                rune = '\f';
                break;
            case (byte)'n':
                rune = '\n';
                break;
            case (byte)'r':
                rune = '\r';
                break;
            case (byte)'t':
                rune = '\t';
                break;
            case (byte)'u':
                rune = GetU4(s);
                if (rune < 0)
                {
                    // Not reachable after the syntax check; consume the two bytes and go on.
                    return 2;
                }

                used = 6;
                if (rune >= 0xD800 && rune < 0xE000)
                {
                    int r2 = GetU4(s[6..]);
                    if (rune < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000)
                    {
                        rune = 0x10000 + ((rune - 0xD800) << 10) + (r2 - 0xDC00);
                        used = 12;
                    }
                    else
                    {
                        rune = 0xFFFD;
                    }
                }

                break;
            default:
                rune = s[1];
                break;
        }

        WriteRune(rune, mode, ref sink);
        return used;
    }

    private static int GetU4(ReadOnlySpan<byte> s)
    {
        if (s.Length < 6 || s[0] != (byte)'\\' || s[1] != (byte)'u')
        {
            return -1;
        }

        int r = 0;
        for (int i = 2; i < 6; i++)
        {
            int c = s[i];
            int v = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : -1;
            if (v < 0)
            {
                return -1;
            }

            r = (r << 4) | v;
        }

        return r;
    }

    private static void WriteRune<TSink>(int rune, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        if (rune < 0x80)
        {
            if (mode == GoStringMode.Quote)
            {
                WriteQuotedAscii((byte)rune, ref sink);
            }
            else
            {
                sink.Write((byte)rune);
            }

            return;
        }

        if (mode == GoStringMode.Quote && (rune == 0x2028 || rune == 0x2029))
        {
            sink.Write(rune == 0x2028 ? "\\u2028"u8 : "\\u2029"u8);
            return;
        }

        Span<byte> buf = stackalloc byte[4];
        int n;
        if (rune < 0x800)
        {
            buf[0] = (byte)(0xC0 | (rune >> 6));
            buf[1] = (byte)(0x80 | (rune & 0x3F));
            n = 2;
        }
        else if (rune < 0x10000)
        {
            buf[0] = (byte)(0xE0 | (rune >> 12));
            buf[1] = (byte)(0x80 | ((rune >> 6) & 0x3F));
            buf[2] = (byte)(0x80 | (rune & 0x3F));
            n = 3;
        }
        else
        {
            buf[0] = (byte)(0xF0 | (rune >> 18));
            buf[1] = (byte)(0x80 | ((rune >> 12) & 0x3F));
            buf[2] = (byte)(0x80 | ((rune >> 6) & 0x3F));
            buf[3] = (byte)(0x80 | (rune & 0x3F));
            n = 4;
        }

        sink.Write(buf[..n]);
    }

    /// <summary>One ASCII byte as Go's appendString(escapeHTML=true) writes it.</summary>
    private static void WriteQuotedAscii<TSink>(byte b, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        switch (b)
        {
            case (byte)'\\':
            case (byte)'"':
                sink.Write((byte)'\\');
                sink.Write(b);
                return;
            case (byte)'\b':
                sink.Write("\\b"u8);
                return;
            case (byte)'\f':
                sink.Write("\\f"u8);
                return;
            case (byte)'\n':
                sink.Write("\\n"u8);
                return;
            case (byte)'\r':
                sink.Write("\\r"u8);
                return;
            case (byte)'\t':
                sink.Write("\\t"u8);
                return;
        }

        if (b < 0x20 || b == (byte)'<' || b == (byte)'>' || b == (byte)'&')
        {
            Span<byte> esc = [(byte)'\\', (byte)'u', (byte)'0', (byte)'0', Hex[b >> 4], Hex[b & 0xF]];
            sink.Write(esc);
            return;
        }

        sink.Write(b);
    }
}
