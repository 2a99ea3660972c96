using System.Buffers;
using System.Globalization;
using System.Text;

namespace FastEpp.GoCompat;

/// <summary>
/// Go's float64 text, one digit generator for both forms FastEpp needs:
/// <list type="bullet">
/// <item><see cref="FormatJson"/>: <c>encoding/json</c> floatEncoder ('f' for 1e-6 &lt;= |x| &lt; 1e21, else 'e'
/// with <c>e-07</c> cleaned to <c>e-7</c>). FAST PATH: numbers in the prefix-hash input of responses and
/// conversations requests (<see cref="GoGenericValueEncoder"/>).</item>
/// <item><see cref="FormatG"/>: <c>strconv.FormatFloat(v, 'g', -1, 64)</c> with expfmt's <c>+Inf</c>/<c>-Inf</c>/<c>NaN</c>
/// spellings, for the Prometheus exposition (metrics scrape path, not per request).</item>
/// </list>
/// Plus <c>strconv.ParseFloat(s, 64)</c> on JSON number tokens (fast path: the parser's overflow check).
/// </summary>
internal static class GoFloat
{
    /// <summary>Longest output of either format (sign + 17 digits + 21 places or an exponent).</summary>
    public const int MaxLength = 32;

    /// <summary>Largest number token parsed from a stack copy when it spans segments.</summary>
    private const int StackNumberLimit = 512;

    /// <summary>Writes <paramref name="value"/> as Go's JSON encoder does (see <see cref="FormatJson"/>).</summary>
    public static void WriteJson<TSink>(double value, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        Span<byte> buf = stackalloc byte[MaxLength];
        sink.Write(buf[..FormatJson(value, buf)]);
    }

    /// <summary>
    /// Go's floatEncoder: shortest round-trip digits, plain notation for 1e-6 &lt;= |x| &lt; 1e21 (and 0, <c>-0</c>
    /// for negative zero), else exponent form like <c>1e+21</c> / <c>1.5e-7</c>. <paramref name="dest"/> holds at
    /// least <see cref="MaxLength"/> bytes.
    /// </summary>
    public static int FormatJson(double value, Span<byte> dest)
    {
        if (!double.IsFinite(value))
        {
            // Unreachable for parsed JSON (overflow is rejected at parse time); keep output valid JSON.
            "null"u8.CopyTo(dest);
            return 4;
        }

        int pos = 0;
        if (double.IsNegative(value))
        {
            dest[pos++] = (byte)'-';
        }

        return pos + FormatMagnitude(Math.Abs(value), minExp: -6, maxExp: 21, gStyleExponent: false, dest[pos..]);
    }

    /// <summary>
    /// Go's <c>strconv.FormatFloat(v, 'g', -1, 64)</c> (exponent form below 1e-4 and from 1e6, at least two exponent
    /// digits: <c>1.048576e+06</c>) with <c>+Inf</c>/<c>-Inf</c>/<c>NaN</c>; zero of either sign is <c>0</c>.
    /// </summary>
    public static int FormatG(double value, Span<byte> dest)
    {
        ReadOnlySpan<byte> special = double.IsNaN(value) ? "NaN"u8
            : double.IsPositiveInfinity(value) ? "+Inf"u8
            : double.IsNegativeInfinity(value) ? "-Inf"u8
            : value == 0 ? "0"u8
            : default;
        if (!special.IsEmpty)
        {
            special.CopyTo(dest);
            return special.Length;
        }

        int pos = 0;
        if (value < 0)
        {
            dest[pos++] = (byte)'-';
        }

        return pos + FormatMagnitude(Math.Abs(value), minExp: -4, maxExp: 6, gStyleExponent: true, dest[pos..]);
    }

    /// <summary>Appends <see cref="FormatG"/> text (the Prometheus exposition's float form).</summary>
    public static void AppendG(StringBuilder sb, double value)
    {
        Span<byte> buf = stackalloc byte[MaxLength];
        int n = FormatG(value, buf);
        for (int i = 0; i < n; i++)
        {
            sb.Append((char)buf[i]);
        }
    }

    /// <summary>Parses a JSON number token as Go's strconv.ParseFloat(s, 64); false when it overflows.</summary>
    public static bool TryParse(ReadOnlySpan<byte> number, out double value)
    {
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            value = 0;
            return false;
        }

        return double.IsFinite(value);
    }

    /// <summary><see cref="TryParse(ReadOnlySpan{byte}, out double)"/> for a token that may span segments.</summary>
    public static bool TryParse(in ReadOnlySequence<byte> number, out double value)
    {
        if (number.IsSingleSegment)
        {
            return TryParse(number.FirstSpan, out value);
        }

        if (number.Length <= StackNumberLimit)
        {
            Span<byte> buf = stackalloc byte[StackNumberLimit];
            number.CopyTo(buf);
            return TryParse(buf[..(int)number.Length], out value);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent((int)number.Length);
        try
        {
            number.CopyTo(rented);
            return TryParse(rented.AsSpan(0, (int)number.Length), out value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Writes a finite positive <paramref name="abs"/> in plain notation when its decimal exponent is in
    /// [<paramref name="minExp"/>, <paramref name="maxExp"/>), else as d.ddd e±x (two exponent digits at least for
    /// 'g'; JSON's cleanup leaves one digit for negative exponents and positive ones are always >= 21).
    /// </summary>
    private static int FormatMagnitude(double abs, int minExp, int maxExp, bool gStyleExponent, Span<byte> dest)
    {
        if (abs == 0)
        {
            dest[0] = (byte)'0';
            return 1;
        }

        Span<byte> digits = stackalloc byte[32];
        int nd = ShortestDigits(abs, digits, out int pointPos);
        ReadOnlySpan<byte> d = digits[..nd];
        int exp = pointPos - 1;
        int pos = 0;
        if (exp < minExp || exp >= maxExp)
        {
            dest[pos++] = d[0];
            if (d.Length > 1)
            {
                dest[pos++] = (byte)'.';
                d[1..].CopyTo(dest[pos..]);
                pos += d.Length - 1;
            }

            dest[pos++] = (byte)'e';
            dest[pos++] = exp < 0 ? (byte)'-' : (byte)'+';
            int a = Math.Abs(exp);
            if (a < 10 && (gStyleExponent || exp > 0))
            {
                dest[pos++] = (byte)'0';
            }

            a.TryFormat(dest[pos..], out int en, default, CultureInfo.InvariantCulture);
            return pos + en;
        }

        if (pointPos <= 0)
        {
            dest[pos++] = (byte)'0';
            dest[pos++] = (byte)'.';
            dest.Slice(pos, -pointPos).Fill((byte)'0');
            pos += -pointPos;
            d.CopyTo(dest[pos..]);
            return pos + d.Length;
        }

        if (pointPos >= d.Length)
        {
            d.CopyTo(dest);
            dest.Slice(d.Length, pointPos - d.Length).Fill((byte)'0');
            return pointPos;
        }

        d[..pointPos].CopyTo(dest);
        pos = pointPos;
        dest[pos++] = (byte)'.';
        d[pointPos..].CopyTo(dest[pos..]);
        return pos + d.Length - pointPos;
    }

    /// <summary>
    /// Shortest round-trip digits of <paramref name="abs"/> (from .NET's "R" form) without leading or trailing
    /// zeros: abs = 0.DIGITS × 10^<paramref name="pointPos"/>. Returns the digit count.
    /// </summary>
    private static int ShortestDigits(double abs, Span<byte> digits, out int pointPos)
    {
        Span<byte> r = stackalloc byte[64];
        abs.TryFormat(r, out int rn, "R", CultureInfo.InvariantCulture);
        int nd = 0;
        int point = -1;
        int exp = 0;
        for (int j = 0; j < rn; j++)
        {
            byte c = r[j];
            if (c == (byte)'.')
            {
                point = nd;
            }
            else if (c == (byte)'E' || c == (byte)'e')
            {
                exp = int.Parse(r[(j + 1)..rn], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                break;
            }
            else
            {
                digits[nd++] = c;
            }
        }

        if (point < 0)
        {
            point = nd;
        }

        int lead = 0;
        while (lead < nd - 1 && digits[lead] == (byte)'0')
        {
            lead++;
        }

        int trail = nd;
        while (trail > lead + 1 && digits[trail - 1] == (byte)'0')
        {
            trail--;
        }

        digits[lead..trail].CopyTo(digits);
        pointPos = point - lead + exp;
        return trail - lead;
    }
}
