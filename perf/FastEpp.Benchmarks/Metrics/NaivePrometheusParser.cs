using System.Globalization;
using System.Text;

namespace FastEpp.Benchmarks.Metrics;

/// <summary>
/// Baseline for PrometheusScannerBenchmarks: what a straightforward implementation does —
/// decode to a string, split lines, parse every sample into a dictionary of families, then look
/// the wanted series up. Correct enough for the benchmark payload; not used by FastEpp.
/// </summary>
internal static class NaivePrometheusParser
{
    public sealed record Sample(Dictionary<string, string> Labels, double Value);

    public static Dictionary<string, List<Sample>> Parse(byte[] payload)
    {
        var families = new Dictionary<string, List<Sample>>();
        foreach (var rawLine in Encoding.UTF8.GetString(payload).Split('\n'))
        {
            string line = rawLine.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            int brace = line.IndexOf('{');
            int space = line.LastIndexOf(' ');
            string name;
            var labels = new Dictionary<string, string>();
            if (brace >= 0)
            {
                name = line[..brace];
                int close = line.LastIndexOf('}');
                foreach (var pair in line[(brace + 1)..close].Split("\","))
                {
                    int eq = pair.IndexOf('=');
                    if (eq > 0)
                        labels[pair[..eq]] = pair[(eq + 1)..].Trim('"');
                }
            }
            else
            {
                name = line[..line.IndexOf(' ')];
            }
            double value = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            if (!families.TryGetValue(name, out var list))
                families[name] = list = [];
            list.Add(new Sample(labels, value));
        }
        return families;
    }

    /// <summary>Parses and extracts the five vLLM fields; returns a checksum so nothing is optimised away.</summary>
    public static double ExtractVllm(byte[] payload)
    {
        var f = Parse(payload);
        double sum = f["vllm:num_requests_waiting"][0].Value + f["vllm:num_requests_running"][0].Value
            + f["vllm:kv_cache_usage_perc"][0].Value;
        Sample? lora = null;
        foreach (var s in f["vllm:lora_requests_info"])
            if (lora is null || s.Value > lora.Value)
                lora = s;
        var running = lora!.Labels["running_lora_adapters"].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var cache = f["vllm:cache_config_info"][0].Labels;
        return sum + running.Length + int.Parse(cache["block_size"], CultureInfo.InvariantCulture)
            + int.Parse(cache["num_gpu_blocks"], CultureInfo.InvariantCulture);
    }
}
