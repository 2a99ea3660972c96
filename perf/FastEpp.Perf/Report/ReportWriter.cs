using System.Globalization;
using System.Text;
using System.Text.Json;
using static FastEpp.Perf.Report.SvgChart;

namespace FastEpp.Perf.Report;

/// <summary>
/// Writes a comparison as report.html (self-contained: inline CSS and SVG, no scripts, well-formed XHTML),
/// summary.md and summary.json, and formats the console table.
/// </summary>
internal static class ReportWriter
{
    public static void WriteAll(CompareReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "report.html"), Html(report));
        File.WriteAllText(Path.Combine(directory, "summary.md"), Markdown(report));
        File.WriteAllText(Path.Combine(directory, "summary.json"), JsonSerializer.Serialize(report, ReportJsonContext.Default.CompareReport));
    }

    public static void WriteOverhead(OverheadReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "overhead.md"), OverheadMarkdown(report));
        File.WriteAllText(Path.Combine(directory, "overhead.json"), JsonSerializer.Serialize(report, ReportJsonContext.Default.OverheadReport));
    }

    /// <summary>The comparison table (one row per mode, overall figures).</summary>
    public static string Table(CompareReport r)
    {
        var sb = new StringBuilder();
        string sum = r.EppReplicas > 1 ? " (sum of " + r.EppReplicas.ToString(CultureInfo.InvariantCulture) + ")" : "";
        sb.AppendLine("| mode | sent | ok | errors | TTFT p50 (s) | TTFT p90 (s) | TTFT p99 (s) | TPOT p50 (ms) | TPOT p90 (ms) | E2E p90 (s) | output tok/s | req/s | prefix hit | EPP CPU ms/req" + sum + " | EPP RSS MiB" + sum + " |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (ModeReport m in r.Modes)
        {
            StageReport o = m.Overall;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Mode} | {o.Sent} | {o.Completed} | {o.Errors} | {Fmt(o.Ttft.P50)} | {Fmt(o.Ttft.P90)} | {Fmt(o.Ttft.P99)} | {Fmt(o.Tpot.P50 * 1000)} | {Fmt(o.Tpot.P90 * 1000)} | {Fmt(o.E2e.P90)} | {Fmt(o.OutputTokensPerSecond)} | {Fmt(o.RequestsPerSecond)} | {Pct(m.PrefixCacheHitRate)} | {Fmt(m.EppCpuMsPerRequest)} | {Fmt(m.EppPeakRssMiB)} |"));
        }
        return sb.ToString();
    }

    /// <summary>
    /// One line per non-baseline mode: its TTFT p90 and output throughput as ratios to round robin, measured in
    /// this run (empty when round robin did not run).
    /// </summary>
    public static List<string> Verdicts(CompareReport r)
    {
        var lines = new List<string>();
        ModeReport? oracle = r.Modes.Find(m => m.Mode == "oracle");
        if (oracle is not null && oracle.Overall.Ttft.P90 > 0)
        {
            // The limit: every other mode's TTFT p90 as a multiple of the oracle's, in this run.
            foreach (ModeReport m in r.Modes)
            {
                if (m != oracle)
                    lines.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{m.Mode} vs oracle: TTFT p90 {Fmt(m.Overall.Ttft.P90)} s vs {Fmt(oracle.Overall.Ttft.P90)} s = {Fmt(m.Overall.Ttft.P90 / oracle.Overall.Ttft.P90)}× the oracle"));
            }
        }
        ModeReport? baseline = r.Modes.Find(m => m.Mode == "round-robin");
        if (baseline is null)
            return lines;
        StageReport b = baseline.Overall;
        foreach (ModeReport m in r.Modes)
        {
            if (m == baseline)
                continue;
            StageReport o = m.Overall;
            double ttftRatio = o.Ttft.P90 > 0 ? b.Ttft.P90 / o.Ttft.P90 : double.NaN;
            double tputRatio = b.OutputTokensPerSecond > 0 ? o.OutputTokensPerSecond / b.OutputTokensPerSecond : double.NaN;
            string ttft = !double.IsFinite(ttftRatio) ? "n/a"
                : ttftRatio >= 1 ? $"{Fmt(ttftRatio)}× lower" : $"{Fmt(1 / ttftRatio)}× higher";
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{m.Mode} vs round-robin: TTFT p90 {Fmt(o.Ttft.P90)} s vs {Fmt(b.Ttft.P90)} s ({ttft}); output {Fmt(o.OutputTokensPerSecond)} vs {Fmt(b.OutputTokensPerSecond)} tok/s ({Fmt(tputRatio)}×); prefix-cache hit {Pct(m.PrefixCacheHitRate)} vs {Pct(baseline.PrefixCacheHitRate)}; errors {o.Errors} vs {b.Errors}"));
        }
        return lines;
    }

    public static string Markdown(CompareReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Routing comparison: " + r.Workload);
        sb.AppendLine();
        sb.AppendLine("- Source: " + r.Source);
        sb.AppendLine("- Parameters: " + r.Parameters);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- Scale {r.Scale} (rates, groups, replicas, concurrency cap), duration scale {r.DurationScale}; {r.Replicas} replicas; seed {r.Seed}"));
        sb.AppendLine("- Simulator: fastepp-sim " + r.SimArgs);
        sb.AppendLine("- EPP: " + (r.EppBinary.Length > 0 ? r.EppBinary : "(none)") + EppDeployment(r));
        sb.AppendLine("- Machine: " + r.Machine + "; started " + r.StartedUtc);
        sb.AppendLine();
        sb.AppendLine("## Overall");
        sb.AppendLine();
        foreach (string v in Verdicts(r))
            sb.AppendLine("- " + v);
        sb.AppendLine();
        sb.Append(Table(r));
        foreach (ModeReport m in r.Modes)
        {
            sb.AppendLine();
            sb.AppendLine("## " + m.Mode + (m.Description.Length > 0 ? " — " + m.Description : ""));
            sb.AppendLine();
            sb.AppendLine("| stage | offered req/s | s | sent | ok | err | TTFT p50 | TTFT p90 | TTFT p99 | TPOT p50 ms | TPOT p90 ms | E2E p50 | E2E p90 | out tok/s | req/s | cached |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (StageReport s in m.Stages)
            {
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {s.Stage} | {Fmt(s.OfferedRate)} | {Fmt(s.Seconds)} | {s.Sent} | {s.Completed} | {s.Errors} | {Fmt(s.Ttft.P50)} | {Fmt(s.Ttft.P90)} | {Fmt(s.Ttft.P99)} | {Fmt(s.Tpot.P50 * 1000)} | {Fmt(s.Tpot.P90 * 1000)} | {Fmt(s.E2e.P50)} | {Fmt(s.E2e.P90)} | {Fmt(s.OutputTokensPerSecond)} | {Fmt(s.RequestsPerSecond)} | {Pct(s.CachedTokenFraction)} |"));
            }
        }
        return sb.ToString();
    }

    private static string EppSum(CompareReport r) => r.EppReplicas > 1 ? " (sum of " + r.EppReplicas.ToString(CultureInfo.InvariantCulture) + ")" : "";

    /// <summary>The EPP replicas and bypass share of the run, when not the plain single-EPP setup ("" otherwise).</summary>
    internal static string EppDeployment(CompareReport r)
    {
        string s = "";
        if (r.EppReplicas > 1)
            s += string.Create(CultureInfo.InvariantCulture, $"; {r.EppReplicas} EPP replicas per EPP mode, active-active, the gateway spreads requests round robin over them (EPP CPU and RSS columns are sums over the replicas)");
        if (r.BypassFraction > 0)
            s += string.Create(CultureInfo.InvariantCulture, $"; bypass fraction {r.BypassFraction:0.###}: in the EPP modes and the oracle that share of requests (the same ones in every mode) skips the picker and goes round robin");
        return s;
    }

    public static string Html(CompareReport r)
    {
        var ttft = new List<ChartSeries>();
        var tput = new List<ChartSeries>();
        foreach (ModeReport m in r.Modes)
        {
            var a = new List<(double, double)>();
            var b = new List<(double, double)>();
            foreach (StageReport s in m.Stages)
            {
                a.Add((s.OfferedRate, s.Ttft.P90));
                b.Add((s.OfferedRate, s.OutputTokensPerSecond));
            }
            ttft.Add(new ChartSeries(m.Mode, a));
            tput.Add(new ChartSeries(m.Mode, b));
        }
        var sb = new StringBuilder(32 * 1024);
        sb.Append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/>");
        sb.Append("<title>FastEpp routing comparison: ").Append(Esc(r.Workload)).Append("</title>");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0;font-size:13px}");
        sb.Append("th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}");
        sb.Append(".charts{display:flex;flex-wrap:wrap;gap:16px}.meta{font-size:13px;color:#555}.verdict{font-weight:bold}</style></head><body>");
        sb.Append("<h1>Routing comparison: ").Append(Esc(r.Workload)).Append("</h1>");
        sb.Append("<ul class=\"meta\">");
        Li(sb, "Source: " + r.Source);
        Li(sb, "Parameters: " + r.Parameters);
        Li(sb, string.Create(CultureInfo.InvariantCulture, $"Scale {r.Scale} (rates, groups, replicas, concurrency cap); duration scale {r.DurationScale}; {r.Replicas} replicas; seed {r.Seed}"));
        Li(sb, "Simulator: fastepp-sim " + r.SimArgs);
        Li(sb, "EPP: " + (r.EppBinary.Length > 0 ? r.EppBinary : "(none)") + EppDeployment(r));
        Li(sb, "Machine: " + r.Machine + "; started " + r.StartedUtc);
        sb.Append("</ul>");
        foreach (string v in Verdicts(r))
            sb.Append("<p class=\"verdict\">").Append(Esc(v)).Append("</p>");
        sb.Append("<div class=\"charts\">");
        sb.Append(Line("ttft-p90", "TTFT p90 vs offered rate", "offered rate (req/s)", "TTFT p90 (s)", ttft));
        sb.Append(Line("throughput", "Output throughput vs offered rate", "offered rate (req/s)", "output tokens/s", tput));
        var cdf = new List<ChartSeries>();
        foreach (ModeReport m in r.Modes)
        {
            var pts = new List<(double, double)>(m.TtftCdf.Count);
            foreach (CdfPoint p in m.TtftCdf)
                pts.Add((p.Seconds, p.Fraction));
            cdf.Add(new ChartSeries(m.Mode, pts));
        }
        sb.Append(Line("ttft-cdf", "TTFT CDF (all stages)", "TTFT (s)", "fraction of requests sent", cdf, logX: true, markers: false, linearY: true, yCap: 1));
        sb.Append("</div>");
        sb.Append(Timelines(r));
        sb.Append("<h2>Overall</h2><table id=\"overall\"><thead><tr>");
        foreach (string h in new[] { "mode", "sent", "ok", "errors", "TTFT p50 (s)", "TTFT p90 (s)", "TTFT p99 (s)", "TPOT p50 (ms)", "TPOT p90 (ms)", "E2E p90 (s)", "output tok/s", "req/s", "prefix-cache hit", "EPP CPU ms/req" + EppSum(r), "EPP peak RSS MiB" + EppSum(r) })
            sb.Append("<th>").Append(Esc(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (ModeReport m in r.Modes)
        {
            StageReport o = m.Overall;
            Row(sb, m.Mode, o.Sent.ToString(CultureInfo.InvariantCulture), o.Completed.ToString(CultureInfo.InvariantCulture), o.Errors.ToString(CultureInfo.InvariantCulture),
                Fmt(o.Ttft.P50), Fmt(o.Ttft.P90), Fmt(o.Ttft.P99), Fmt(o.Tpot.P50 * 1000), Fmt(o.Tpot.P90 * 1000), Fmt(o.E2e.P90),
                Fmt(o.OutputTokensPerSecond), Fmt(o.RequestsPerSecond), Pct(m.PrefixCacheHitRate), Fmt(m.EppCpuMsPerRequest), Fmt(m.EppPeakRssMiB));
        }
        sb.Append("</tbody></table>");
        foreach (ModeReport m in r.Modes)
        {
            sb.Append("<h2>").Append(Esc(m.Mode)).Append("</h2>");
            if (m.Description.Length > 0)
                sb.Append("<p class=\"meta\">").Append(Esc(m.Description)).Append("</p>");
            sb.Append("<table class=\"stages\"><thead><tr>");
            foreach (string h in new[] { "stage", "offered req/s", "s", "sent", "ok", "err", "TTFT p50", "TTFT p90", "TTFT p99", "TPOT p50 ms", "TPOT p90 ms", "E2E p50", "E2E p90", "out tok/s", "req/s", "cached" })
                sb.Append("<th>").Append(Esc(h)).Append("</th>");
            sb.Append("</tr></thead><tbody>");
            foreach (StageReport s in m.Stages)
            {
                Row(sb, s.Stage.ToString(CultureInfo.InvariantCulture), Fmt(s.OfferedRate), Fmt(s.Seconds), s.Sent.ToString(CultureInfo.InvariantCulture),
                    s.Completed.ToString(CultureInfo.InvariantCulture), s.Errors.ToString(CultureInfo.InvariantCulture), Fmt(s.Ttft.P50), Fmt(s.Ttft.P90), Fmt(s.Ttft.P99),
                    Fmt(s.Tpot.P50 * 1000), Fmt(s.Tpot.P90 * 1000), Fmt(s.E2e.P50), Fmt(s.E2e.P90), Fmt(s.OutputTokensPerSecond), Fmt(s.RequestsPerSecond), Pct(s.CachedTokenFraction));
            }
            sb.Append("</tbody></table>");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Per mode, three charts with one line per replica: waiting queue length, KV-cache use and prefix-cache hit rate
    /// (per sampling interval) over the run — why one router wins (a replica whose queue grows while another idles,
    /// caches full of prefixes nobody asks for).
    /// </summary>
    internal static string Timelines(CompareReport r)
    {
        var sb = new StringBuilder(16 * 1024);
        sb.Append("<h2>Per-replica timelines</h2><p class=\"meta\">Sampled from the simulated engines once a second: waiting requests, KV blocks in use, and the prefix-cache hit rate (hit ÷ queried prompt tokens) of the requests scheduled in the last 5 seconds.</p>");
        int mi = 0;
        foreach (ModeReport m in r.Modes)
        {
            if (m.Timeline.Count == 0)
                continue;
            int replicas = 0;
            foreach (ReplicaSample s in m.Timeline)
                replicas = Math.Max(replicas, s.Replica + 1);
            var queue = new List<ChartSeries>(replicas);
            var kv = new List<ChartSeries>(replicas);
            var hit = new List<ChartSeries>(replicas);
            for (int i = 0; i < replicas; i++)
            {
                string name = "replica " + i.ToString(CultureInfo.InvariantCulture);
                queue.Add(new ChartSeries(name, new List<(double, double)>()));
                kv.Add(new ChartSeries(name, new List<(double, double)>()));
                hit.Add(new ChartSeries(name, new List<(double, double)>()));
            }
            foreach (ReplicaSample s in m.Timeline)
            {
                queue[s.Replica].Points.Add((s.T, s.Waiting));
                kv[s.Replica].Points.Add((s.T, s.KvUsage * 100));
                if (double.IsFinite(s.PrefixHitRate))
                    hit[s.Replica].Points.Add((s.T, s.PrefixHitRate * 100));
            }
            string id = "timeline-" + mi.ToString(CultureInfo.InvariantCulture);
            sb.Append("<h3>").Append(Esc(m.Mode)).Append("</h3><div class=\"charts\">");
            sb.Append(TimelineChart(id + "-queue", m.Mode + ": waiting requests", "waiting requests", queue, double.NaN));
            sb.Append(TimelineChart(id + "-kv", m.Mode + ": KV-cache use", "KV blocks in use (%)", kv, 100));
            sb.Append(TimelineChart(id + "-hit", m.Mode + ": prefix-cache hit rate", "prefix hit (%)", hit, 100));
            sb.Append("</div>");
            mi++;
        }
        return sb.ToString();
    }

    // Linear axes, no markers (hundreds of points per line).
    private static string TimelineChart(string id, string title, string yLabel, List<ChartSeries> series, double yCap) =>
        Line(id, title, "time since load start (s)", yLabel, series, logX: false, markers: false, linearY: true, yCap: yCap);

    public static string OverheadMarkdown(OverheadReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# EPP overhead (GIE #2928 harness)");
        sb.AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"4 near-instant simulated servers, {r.PromptBytes / 1000} KB prompts, {r.OutputTokens} streamed output tokens, closed loop, {r.SecondsPerLevel} s per level; baseline = gateway round robin straight to the sims; EPP = gateway → ext_proc → {r.EppBinary} {r.EppArgs}. Machine: {r.Machine}. EPP peak RSS {Fmt(r.EppPeakRssMiB)} MiB."));
        sb.AppendLine();
        sb.AppendLine(OverheadTable(r));
        return sb.ToString();
    }

    public static string OverheadTable(OverheadReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| concurrency | baseline TTFT mean / p50 / p99 (ms) | EPP TTFT mean / p50 / p99 (ms) | added TTFT mean / p50 (ms) | baseline req/s | EPP req/s | EPP CPU ms/req | errors (base/EPP) | #2928 ref TTFT mean (ms) | #2928 ref req/s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (OverheadRow o in r.Rows)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {o.Concurrency} | {Fmt(o.BaselineTtft.Mean * 1000)} / {Fmt(o.BaselineTtft.P50 * 1000)} / {Fmt(o.BaselineTtft.P99 * 1000)} | {Fmt(o.EppTtft.Mean * 1000)} / {Fmt(o.EppTtft.P50 * 1000)} / {Fmt(o.EppTtft.P99 * 1000)} | {Fmt(o.AddedTtftMeanMs)} / {Fmt(o.AddedTtftP50Ms)} | {Fmt(o.BaselineRequestsPerSecond)} | {Fmt(o.EppRequestsPerSecond)} | {Fmt(o.EppCpuMsPerRequest)} | {o.BaselineErrors}/{o.EppErrors} | {Fmt(o.ReferenceTtftMeanMs)} | {Fmt(o.ReferenceRequestsPerSecond)} |"));
        }
        return sb.ToString();
    }

    private static string Pct(double v) => double.IsFinite(v) ? (v * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : "-";

    private static void Li(StringBuilder sb, string text) => sb.Append("<li>").Append(Esc(text)).Append("</li>");

    private static void Row(StringBuilder sb, params string[] cells)
    {
        sb.Append("<tr>");
        foreach (string c in cells)
            sb.Append("<td>").Append(Esc(c)).Append("</td>");
        sb.Append("</tr>");
    }
}
