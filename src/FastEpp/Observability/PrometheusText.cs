using System.Globalization;
using System.Text;

namespace FastEpp.Observability;

/// <summary>
/// Prometheus text exposition (0.0.4) helpers that match what the reference's Go client writes, so a dashboard
/// or a recording rule that matches label strings (<c>le="1.048576e+06"</c>) sees the same text: Go float text and
/// label escaping. Lines and families are written by <see cref="ExpositionWriter"/>.
/// </summary>
internal static class PrometheusText
{
    /// <summary>Go's <c>strconv.FormatFloat(v, 'g', -1, 64)</c> with expfmt's +Inf/-Inf/NaN spellings.</summary>
    public static void AppendFloat(StringBuilder sb, double v)
    {
        if (double.IsNaN(v)) { sb.Append("NaN"); return; }
        if (double.IsPositiveInfinity(v)) { sb.Append("+Inf"); return; }
        if (double.IsNegativeInfinity(v)) { sb.Append("-Inf"); return; }
        if (v == 0) { sb.Append('0'); return; }
        if (v < 0) { sb.Append('-'); v = -v; }

        // Shortest round-trip digits and the decimal point position, from .NET's "R" form ("1.5E-05", "262144").
        string r = v.ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E');
        int exp10 = e < 0 ? 0 : int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        ReadOnlySpan<char> mantissa = e < 0 ? r : r.AsSpan(0, e);
        int dot = mantissa.IndexOf('.');
        Span<char> digits = stackalloc char[32];
        int nd = 0;
        foreach (char c in mantissa)
            if (c != '.')
                digits[nd++] = c;
        int dp = (dot < 0 ? mantissa.Length : dot) + exp10;
        int lead = 0;
        while (lead < nd - 1 && digits[lead] == '0') { lead++; dp--; }
        digits = digits[lead..nd];
        nd = digits.Length;
        while (nd > 1 && digits[nd - 1] == '0') nd--;
        digits = digits[..nd];

        int exp = dp - 1;
        if (exp < -4 || exp >= 6)
        {
            sb.Append(digits[0]);
            if (nd > 1)
                sb.Append('.').Append(digits[1..]);
            sb.Append('e').Append(exp < 0 ? '-' : '+');
            int a = Math.Abs(exp);
            if (a < 10)
                sb.Append('0');
            sb.Append(a.ToString(CultureInfo.InvariantCulture));
        }
        else if (dp <= 0)
        {
            sb.Append("0.").Append('0', -dp).Append(digits);
        }
        else if (dp >= nd)
        {
            sb.Append(digits).Append('0', dp - nd);
        }
        else
        {
            sb.Append(digits[..dp]).Append('.').Append(digits[dp..]);
        }
    }

    public static string FormatFloat(double v)
    {
        var sb = new StringBuilder(24);
        AppendFloat(sb, v);
        return sb.ToString();
    }

    /// <summary>A label value with <c>\</c>, <c>"</c> and newline escaped.</summary>
    public static void AppendLabelValue(StringBuilder sb, string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    /// <summary>Renders <c>k1="v1",k2="v2"</c> (no braces; empty for no labels).</summary>
    public static string LabelList(params (string Name, string Value)[] labels)
    {
        var sb = new StringBuilder(64);
        for (int i = 0; i < labels.Length; i++)
        {
            if (i > 0)
                sb.Append(',');
            sb.Append(labels[i].Name).Append("=\"");
            AppendLabelValue(sb, labels[i].Value);
            sb.Append('"');
        }
        return sb.ToString();
    }
}
