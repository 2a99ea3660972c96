using System.Globalization;
using System.Text;

namespace FastEpp.Observability;

/// <summary>
/// Writes Prometheus text exposition (0.0.4) the way the reference's Go client does: a HELP and a TYPE line per
/// family, then its samples, <c>name{labels} value</c> with label values escaped and values as Go's
/// <c>strconv.FormatFloat(v, 'g', -1, 64)</c> text. Every family on the metrics port is written through it
/// (<see cref="MetricsPage"/>, <see cref="EppMetrics"/>, <see cref="ProcessMetrics"/>, <see cref="Histogram"/>),
/// so the line shapes live in one place. A struct over the caller's builder: writing allocates only the builder's growth.
/// </summary>
internal readonly struct ExpositionWriter(StringBuilder sb)
{
    /// <summary>The <c># HELP</c> and <c># TYPE</c> lines that open a family.</summary>
    public void Family(string name, string help, string type) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    /// <summary>A family with one unlabelled sample (Go float text).</summary>
    public void Single(string name, string help, string type, double value)
    {
        Family(name, help, type);
        Sample(name, value);
    }

    /// <summary>A family with one unlabelled sample written as integer digits.</summary>
    public void SingleInteger(string name, string help, string type, long value)
    {
        Family(name, help, type);
        SampleInteger(name, "", value);
    }

    /// <summary>
    /// One sample; <paramref name="labels"/> is a rendered label list without braces
    /// (<see cref="PrometheusText.LabelList"/>, values already escaped), "" for none.
    /// </summary>
    public void Sample(string name, string labels, double value)
    {
        Series(name, "", labels);
        PrometheusText.AppendFloat(sb, value);
        sb.Append('\n');
    }

    public void Sample(string name, double value) => Sample(name, "", value);

    /// <summary>
    /// A sample written as integer digits (FastEpp's own counters, the build info, ready pods and the per-pod queue
    /// size, as they have always been). A separate name, not an overload, so a long never silently loses Go's text.
    /// </summary>
    public void SampleInteger(string name, string labels, long value)
    {
        Series(name, "", labels);
        sb.Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    /// <summary>One <c>_bucket</c> line of a histogram: the labels, then <c>le</c>.</summary>
    public void Bucket(string name, string labels, double upperBound, double cumulativeCount)
    {
        sb.Append(name).Append("_bucket{").Append(labels);
        if (labels.Length > 0)
            sb.Append(',');
        sb.Append("le=\"");
        PrometheusText.AppendFloat(sb, upperBound);
        sb.Append("\"} ");
        PrometheusText.AppendFloat(sb, cumulativeCount);
        sb.Append('\n');
    }

    /// <summary>The <c>_sum</c> line of a histogram.</summary>
    public void Sum(string name, string labels, double sum)
    {
        Series(name, "_sum", labels);
        PrometheusText.AppendFloat(sb, sum);
        sb.Append('\n');
    }

    /// <summary>The <c>_count</c> line of a histogram.</summary>
    public void Count(string name, string labels, double count)
    {
        Series(name, "_count", labels);
        PrometheusText.AppendFloat(sb, count);
        sb.Append('\n');
    }

    private void Series(string name, string suffix, string labels)
    {
        sb.Append(name).Append(suffix);
        if (labels.Length > 0)
            sb.Append('{').Append(labels).Append('}');
        sb.Append(' ');
    }
}
