using System.Globalization;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.Metrics;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// Metrics/PrometheusScanner with the vLLM plan. Raw inputs (mutated expositions): never throws, a total miss
/// keeps the previous metrics, malformed lines ≤ lines. Generated inputs (first byte odd): a well-formed
/// exposition built from the input's hash with decoy families, several series, timestamps, blanks and CRLF;
/// the scanner's queue/running/KV values must equal a slow line-by-line parse (split, tokenise, pick the
/// greatest timestamp, first on ties).
/// </summary>
internal sealed class PrometheusTarget : FuzzTarget
{
    private static readonly ScrapePlan s_plan = ScrapePlan.Create(EngineConfig.Vllm());
    private static readonly DateTimeOffset s_now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly EndpointMetrics s_previous = new() { WaitingQueueSize = -7, RunningRequestsSize = -7, KvCacheUsagePercent = -7 };
    private static readonly string[] s_names = ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"];
    private static readonly string[] s_decoys =
        ["vllm:num_requests_waiting_total", "vllm:num_requests_runningx", "xvllm:kv_cache_usage_perc", "vllm:kv_cache_usage", "vllm:num_requests"];

    public override string Name => "prometheus";

    public override string Property =>
        "raw: no throw, a miss keeps the previous metrics, malformed ≤ lines; generated: values equal a slow line-by-line parse";

    public override IEnumerable<byte[]> ExtraSeeds()
    {
        for (int i = 0; i < 8; i++)
            yield return [(byte)(2 * i + 1), (byte)i, (byte)(i * 37)];
    }

    public override int Run(byte[] input)
    {
        if (input.Length > 0 && input.Length < 16 && (input[0] & 1) == 1)
            return 1000 + Generated(input);
        var report = PrometheusScanner.Scan(input, s_plan, s_previous, s_now, out var next);
        int lines = 1;
        foreach (byte b in input)
            if (b == '\n')
                lines++;
        Check(report.MalformedLines <= lines, $"{report.MalformedLines} malformed lines out of {lines}");
        Check(report.Found != MetricFields.None || next == s_previous, "a scrape that found nothing changed the metrics");
        Check(report.Found == MetricFields.None || next.UpdatedAt == s_now, "a scrape that found something did not stamp UpdatedAt");
        return (int)report.Found | (int)report.Invalid << 8 | Math.Min(report.MalformedLines, 3) << 16;
    }

    private static int Generated(byte[] input)
    {
        int seed = 17;
        foreach (byte b in input)
            seed = seed * 31 + b;
        var rng = new Random(seed);
        string nl = rng.Next(4) == 0 ? "\r\n" : "\n";
        var text = new StringBuilder();
        int lines = rng.Next(1, 40);
        for (int l = 0; l < lines; l++)
        {
            int kind = rng.Next(10);
            string name = kind < 6 ? s_names[rng.Next(s_names.Length)] : s_decoys[rng.Next(s_decoys.Length)];
            if (kind == 9)
            {
                text.Append(rng.Next(2) == 0 ? "# HELP " : "# TYPE ").Append(name).Append(rng.Next(2) == 0 ? " gauge" : " help text").Append(nl);
                continue;
            }
            if (kind == 8)
            {
                text.Append(nl); // blank line
                continue;
            }
            text.Append(name);
            if (rng.Next(2) == 0)
            {
                text.Append('{');
                int labels = rng.Next(0, 3);
                for (int j = 0; j < labels; j++)
                    text.Append(j > 0 ? "," : "").Append(rng.Next(2) == 0 ? "model_name" : "engine").Append("=\"").Append(rng.Next(100)).Append('"');
                text.Append('}');
            }
            text.Append(rng.Next(3) == 0 ? "\t" : " ");
            double value = rng.Next(3) switch
            {
                0 => rng.Next(0, 1000),
                1 => Math.Round(rng.NextDouble(), 6),
                _ => rng.Next(0, 50) + 0.5,
            };
            text.Append(value.ToString(rng.Next(2) == 0 ? "R" : "E3", CultureInfo.InvariantCulture));
            if (rng.Next(2) == 0)
                text.Append(' ').Append(rng.Next(0, 5) * 1000L + 1_700_000_000_000L);
            text.Append(nl);
        }
        string payload = text.ToString();
        var report = PrometheusScanner.Scan(Encoding.UTF8.GetBytes(payload), s_plan, s_previous, s_now, out var next);
        var expected = SlowParse(payload);

        Check(report.MalformedLines == 0, $"{report.MalformedLines} malformed lines in a well-formed exposition:\n{payload}");
        CheckValue(expected[0], next.WaitingQueueSize, truncate: true, "waiting", payload);
        CheckValue(expected[1], next.RunningRequestsSize, truncate: true, "running", payload);
        CheckValue(expected[2], next.KvCacheUsagePercent, truncate: false, "kv usage", payload);
        return (int)report.Found;
    }

    private static void CheckValue(double? expected, double actual, bool truncate, string what, string payload)
    {
        if (expected is null)
        {
            Check(actual == -7, $"{what}: scanner {actual}, slow parse found no sample:\n{payload}");
            return;
        }
        double want = truncate ? Math.Truncate(expected.Value) : expected.Value;
        Check(actual == want, $"{what}: scanner {actual}, slow parse {want}:\n{payload}");
    }

    /// <summary>The obvious parse: every line, split into name, labels, value and timestamp.</summary>
    private static double?[] SlowParse(string payload)
    {
        var best = new double?[3];
        var bestTs = new long[] { -1, -1, -1 };
        foreach (string raw in payload.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            int nameEnd = line.IndexOfAny(['{', ' ', '\t']);
            string name = line[..nameEnd];
            string rest = line[nameEnd..];
            if (rest.StartsWith('{'))
                rest = rest[(rest.IndexOf('}') + 1)..];
            string[] parts = rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            double value = double.Parse(parts[0], CultureInfo.InvariantCulture);
            long ts = parts.Length > 1 ? long.Parse(parts[1], CultureInfo.InvariantCulture) : 0;
            int t = Array.IndexOf(s_names, name);
            if (t >= 0 && ts > bestTs[t])
            {
                bestTs[t] = ts;
                best[t] = value;
            }
        }
        return best;
    }
}
