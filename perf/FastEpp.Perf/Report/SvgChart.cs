using System.Globalization;
using System.Text;

namespace FastEpp.Perf.Report;

/// <summary>One line of a chart.</summary>
internal sealed record ChartSeries(string Name, List<(double X, double Y)> Points);

/// <summary>
/// Inline SVG line charts (no JavaScript, no external resources) that are also well-formed XML, so the whole
/// report parses as XHTML. Log-scale Y when the data spans more than two decades.
/// </summary>
internal static class SvgChart
{
    private static readonly string[] s_colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
    private const int Width = 680, Height = 380, Left = 70, Right = 170, Top = 36, Bottom = 50;

    /// <summary>1, 2 or 5 × 10^k: the smallest such step ≥ <paramref name="rough"/> (round tick labels).</summary>
    internal static double NiceStep(double rough)
    {
        if (!(rough > 0) || !double.IsFinite(rough))
            return 1;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double f = rough / magnitude;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
    }

    public static string Line(string id, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series) =>
        Line(id, title, xLabel, yLabel, series, logX: false, markers: true);

    /// <summary>
    /// A line chart; <paramref name="logX"/>: log-scale X when the data spans more than two decades (CDFs of latencies);
    /// <paramref name="markers"/>: a dot with a tooltip on every point (off for dense series such as timelines);
    /// <paramref name="linearY"/>: never a log Y (fractions, percentages); <paramref name="yCap"/>: the quantity's upper
    /// bound (1, 100), where the Y axis ends when no value exceeds it.
    /// </summary>
    public static string Line(string id, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool logX, bool markers,
        bool linearY = false, double yCap = double.NaN)
    {
        double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
        foreach (ChartSeries s in series)
        {
            foreach ((double x, double y) in s.Points)
            {
                if (!double.IsFinite(x) || !double.IsFinite(y))
                    continue;
                minX = Math.Min(minX, x); maxX = Math.Max(maxX, x);
                minY = Math.Min(minY, y); maxY = Math.Max(maxY, y);
            }
        }
        if (minX > maxX) { minX = 0; maxX = 1; minY = 0; maxY = 1; }
        if (maxX - minX < 1e-9) { minX -= 1; maxX += 1; }
        bool log = !linearY && minY > 0 && maxY / minY > 100;
        bool xlog = logX && minX > 0 && maxX / minX > 30;
        double x0 = minX, x1 = maxX;
        if (xlog)
        {
            x0 = Math.Floor(Math.Log10(minX));
            x1 = Math.Ceiling(Math.Log10(maxX));
        }
        double y0, y1, yStep = 1;
        if (log)
        {
            y0 = Math.Floor(Math.Log10(minY));
            y1 = Math.Ceiling(Math.Log10(maxY));
            if (y1 - y0 < 1e-9) y1 = y0 + 1;
        }
        else
        {
            y0 = Math.Min(0, minY);
            yStep = NiceStep(((maxY <= y0 ? y0 + 1 : maxY) - y0) / 5);
            y0 = Math.Floor(y0 / yStep) * yStep;
            y1 = Math.Ceiling((maxY <= y0 ? y0 + 1 : maxY * 1.02) / yStep) * yStep;
            if (maxY <= yCap && y1 > yCap)
            {
                // A bounded quantity (a fraction, a percentage): the axis ends at its bound, on a tick.
                yStep = NiceStep((yCap - y0) / 5);
                y1 = yCap;
            }
        }
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double Px(double x) => xlog
            ? Left + (Math.Log10(Math.Max(x, Math.Pow(10, x0))) - x0) / (x1 - x0) * plotW
            : Left + (x - minX) / (maxX - minX) * plotW;
        double Py(double y)
        {
            double v = log ? Math.Log10(Math.Max(y, Math.Pow(10, y0))) : y;
            return Top + plotH - (v - y0) / (y1 - y0) * plotH;
        }

        var sb = new StringBuilder(4096);
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{Esc(id)}\" class=\"chart\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\">");
        sb.Append(CultureInfo.InvariantCulture, $"<title>{Esc(title)}</title>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{Esc(title)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>");
        // Y grid and ticks
        if (log)
        {
            for (double e = y0; e <= y1 + 1e-9; e++)
            {
                double y = Py(Math.Pow(10, e));
                sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Left + plotW:0.#}\" y2=\"{y:0.#}\" stroke=\"#eee\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" font-size=\"11\" text-anchor=\"end\">{Fmt(Math.Pow(10, e))}</text>");
            }
        }
        else
        {
            for (double v = y0; v <= y1 + yStep * 1e-6; v += yStep)
            {
                double y = Py(v);
                sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Left + plotW:0.#}\" y2=\"{y:0.#}\" stroke=\"#eee\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" font-size=\"11\" text-anchor=\"end\">{Fmt(v)}</text>");
            }
        }
        int xTicks = xlog ? (int)(x1 - x0) : 5;
        for (int i = 0; i <= xTicks; i++)
        {
            double v = xlog ? Math.Pow(10, x0 + i) : minX + (maxX - minX) * i / 5;
            double x = Px(v);
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{Top + plotH + 16:0.#}\" font-size=\"11\" text-anchor=\"middle\">{Fmt(v)}</text>");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW / 2:0.#}\" y=\"{Height - 10}\" font-size=\"12\" text-anchor=\"middle\">{Esc(xLabel + (xlog ? " (log)" : ""))}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{Top + plotH / 2:0.#}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {Top + plotH / 2:0.#})\">{Esc(yLabel + (log ? " (log)" : ""))}</text>");

        for (int si = 0; si < series.Count; si++)
        {
            ChartSeries s = series[si];
            string color = s_colors[si % s_colors.Length];
            var pts = new List<(double X, double Y)>(s.Points.Count);
            foreach ((double x, double y) p in s.Points)
            {
                if (double.IsFinite(p.x) && double.IsFinite(p.y))
                    pts.Add(p);
            }
            pts.Sort((a, b) => a.X.CompareTo(b.X));
            sb.Append(CultureInfo.InvariantCulture, $"<g class=\"series\" data-name=\"{Esc(s.Name)}\">");
            if (pts.Count > 0)
            {
                sb.Append("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"").Append(color).Append("\" points=\"");
                foreach ((double x, double y) in pts)
                    sb.Append(CultureInfo.InvariantCulture, $"{Px(x):0.#},{Py(y):0.#} ");
                sb.Append("\"/>");
                for (int pi = 0; markers && pi < pts.Count; pi++)
                {
                    (double x, double y) = pts[pi];
                    sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Px(x):0.#}\" cy=\"{Py(y):0.#}\" r=\"3\" fill=\"{color}\"><title>{Esc(s.Name)}: {Fmt(x)}, {Fmt(y)}</title></circle>");
                }
            }
            double ly = Top + 14 + si * 18;
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left + plotW + 12:0.#}\" y=\"{ly - 9:0.#}\" width=\"12\" height=\"12\" fill=\"{color}\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW + 30:0.#}\" y=\"{ly + 1:0.#}\" font-size=\"12\">{Esc(s.Name)}</text>");
            sb.Append("</g>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    public static string Fmt(double v)
    {
        if (!double.IsFinite(v))
            return "-";
        double a = Math.Abs(v);
        return a >= 1000 ? v.ToString("0", CultureInfo.InvariantCulture)
            : a >= 10 ? v.ToString("0.#", CultureInfo.InvariantCulture)
            : a >= 0.1 || a == 0 ? v.ToString("0.##", CultureInfo.InvariantCulture)
            : v.ToString("0.####", CultureInfo.InvariantCulture);
    }

    /// <summary>XML text/attribute escaping.</summary>
    public static string Esc(string s)
    {
        if (s.AsSpan().IndexOfAny("<>&\"'") < 0)
            return s;
        return s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal)
            .Replace("'", "&#39;", StringComparison.Ordinal);
    }
}
