using System.Text;
using FastEpp.GoCompat;

namespace FastEpp.Observability;

/// <summary>
/// Prometheus text exposition (0.0.4) helpers that match what the reference's Go client writes, so a dashboard
/// or a recording rule that matches label strings (<c>le="1.048576e+06"</c>) sees the same text: Go float text and
/// label escaping. Lines and families are written by <see cref="ExpositionWriter"/>.
/// </summary>
internal static class PrometheusText
{
    /// <summary>Go's <c>strconv.FormatFloat(v, 'g', -1, 64)</c> with expfmt's +Inf/-Inf/NaN spellings.</summary>
    public static void AppendFloat(StringBuilder sb, double v) => GoFloat.AppendG(sb, v);

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
