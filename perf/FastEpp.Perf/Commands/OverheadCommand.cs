using System.Globalization;
using System.Text;
using FastEpp.Gateway;
using FastEpp.Perf.Fleet;
using FastEpp.Perf.Load;
using FastEpp.Perf.Report;
using FastEpp.Perf.Workloads;

namespace FastEpp.Perf.Commands;

/// <summary>
/// <c>overhead</c>: the GIE #2928 / llm-d-router #1109 harness (anchors.md §1.2): 4 near-instant simulated servers,
/// 220 KB streaming prompts, closed-loop concurrency 20/60/100/150 through the gateway emulator — once round robin
/// straight to the sims (baseline), once through the EPP — giving the TTFT the EPP adds and its CPU per request.
/// </summary>
internal static class OverheadCommand
{
    public const string Usage = """
        overhead: the #2928 harness; writes results/<timestamp>/{overhead.md,overhead.json}

          --epp-binary PATH       EPP to start (required; AOT binary preferred, .dll runs under dotnet)
          --epp-args "FLAGS"      extra EPP flags
          --concurrency LIST      closed-loop levels (20,60,100,150)
          --duration S            measured seconds per level and mode (20)
          --warmup S              unmeasured seconds before each level (3)
          --prompt-bytes N        prompt size (220000)
          --output-tokens N       streamed output tokens per request (16)
          --results DIR           output root (results)
        """;

    /// <summary>GIE #2928 (EPP v1.5.0 + Istio, 4 sims, 220 KB): concurrency → (TTFT mean ms, req/s).</summary>
    private static readonly Dictionary<int, (double TtftMs, double Rps)> s_reference = new()
    {
        [20] = (158, 120), [60] = (426, 133), [100] = (723, 130), [150] = (1141, 129),
    };

    public static async Task<int> RunAsync(Flags f, CancellationToken ct)
    {
        string eppBinary = f.String("epp-binary", "");
        string eppArgs = f.String("epp-args", "");
        string levelsFlag = f.String("concurrency", "20,60,100,150");
        double duration = f.Double("duration", 20);
        double warmup = f.Double("warmup", 3);
        int promptBytes = f.Int("prompt-bytes", 220_000);
        int outputTokens = f.Int("output-tokens", 16);
        string resultsRoot = f.String("results", "results");
        if (f.Unknown() is { } unknown)
        {
            Console.Error.WriteLine(unknown);
            return 2;
        }
        if (eppBinary.Length == 0)
        {
            Console.Error.WriteLine("overhead needs --epp-binary");
            return 2;
        }
        var levels = new List<int>();
        foreach (string p in levelsFlag.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            levels.Add(int.Parse(p, CultureInfo.InvariantCulture));

        string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string dir = Path.Combine(resultsRoot, stamp);
        Directory.CreateDirectory(dir);

        // Near-instant servers: no prefill/decode cost, one step per ~10 µs; room for 150 × 55k-token prompts.
        string[] simArgs =
        [
            "--replicas", "4", "--port", "0", "--profile", "h100-llama8b",
            "--step-overhead-ms", "0.01", "--prefill-ms-per-token", "0", "--prefill-hidden-ms", "0",
            "--attention-ms-per-token-pair", "0", "--decode-ms-per-seq", "0", "--kv-read-ms-per-token", "0",
            "--no-enable-prefix-caching", "--num-gpu-blocks", "1200000", "--max-model-len", "200000",
            "--max-num-batched-tokens", "100000000", "--max-num-seqs", "1024",
        ];
        await using SimHost sim = await SimHost.StartAsync(simArgs, ct).ConfigureAwait(false);
        await using EppProcess epp = await EppProcess.StartAsync(eppBinary, sim.Endpoints, eppArgs, Path.Combine(dir, "overhead.epp.log"), ct).ConfigureAwait(false);

        var rrOptions = new GatewayOptions { Mode = RoutingMode.RoundRobin, Port = 0 };
        rrOptions.Upstreams.AddRange(sim.Endpoints);
        await using GatewayServer baseline = GatewayServer.Create(rrOptions);
        await baseline.StartAsync(ct).ConfigureAwait(false);
        var eppOptions = new GatewayOptions { Mode = RoutingMode.Epp, Port = 0, Epp = epp.Address };
        await using GatewayServer viaEpp = GatewayServer.Create(eppOptions);
        await viaEpp.StartAsync(ct).ConfigureAwait(false);

        BodyTemplate template = BodyTemplate.Create(sim.Model, promptBytes, outputTokens);
        var report = new OverheadReport
        {
            StartedUtc = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            PromptBytes = promptBytes,
            OutputTokens = outputTokens,
            SecondsPerLevel = duration,
            EppBinary = eppBinary,
            EppArgs = eppArgs,
            Machine = Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        };
        Console.WriteLine($"overhead: 4 near-instant sims, {promptBytes} B prompts, {outputTokens} output tokens, {duration} s per level; EPP pid {epp.Pid}");
        using var baseClient = new StreamingClient(baseline.BaseAddress);
        using var eppClient = new StreamingClient(viaEpp.BaseAddress);
        foreach (int c in levels)
        {
            (RequestResult[] b, _) = await LoadRunner.RunClosedLoopAsync(template.Next, baseClient, c,
                TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(duration), ct).ConfigureAwait(false);
            double cpu0 = ProcStats.CpuSeconds(epp.Pid);
            (RequestResult[] e, int eTotal) = await LoadRunner.RunClosedLoopAsync(template.Next, eppClient, c,
                TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(duration), ct).ConfigureAwait(false);
            double cpu1 = ProcStats.CpuSeconds(epp.Pid);
            StageReport bs = StatsBuilder.Aggregate(b, -1, 0, 0, duration);
            StageReport es = StatsBuilder.Aggregate(e, -1, 0, 0, duration);
            var row = new OverheadRow
            {
                Concurrency = c,
                BaselineTtft = bs.Ttft,
                EppTtft = es.Ttft,
                AddedTtftMeanMs = (es.Ttft.Mean - bs.Ttft.Mean) * 1000,
                AddedTtftP50Ms = (es.Ttft.P50 - bs.Ttft.P50) * 1000,
                BaselineRequestsPerSecond = bs.Completed / duration,
                EppRequestsPerSecond = es.Completed / duration,
                EppCpuMsPerRequest = eTotal > 0 ? (cpu1 - cpu0) * 1000 / eTotal : double.NaN,
                BaselineErrors = bs.Errors,
                EppErrors = es.Errors,
            };
            if (s_reference.TryGetValue(c, out var reference))
            {
                row.ReferenceTtftMeanMs = reference.TtftMs;
                row.ReferenceRequestsPerSecond = reference.Rps;
            }
            report.Rows.Add(row);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  c={c}: baseline TTFT mean {SvgChart.Fmt(bs.Ttft.Mean * 1000)} ms, {SvgChart.Fmt(row.BaselineRequestsPerSecond)} req/s; EPP TTFT mean {SvgChart.Fmt(es.Ttft.Mean * 1000)} ms, {SvgChart.Fmt(row.EppRequestsPerSecond)} req/s; added {SvgChart.Fmt(row.AddedTtftMeanMs)} ms; EPP CPU {SvgChart.Fmt(row.EppCpuMsPerRequest)} ms/req"));
        }
        report.EppPeakRssMiB = ProcStats.Memory(epp.Pid).PeakRssMiB;
        ReportWriter.WriteOverhead(report, dir);
        Console.WriteLine();
        Console.Write(ReportWriter.OverheadTable(report));
        Console.WriteLine("results: " + Path.GetFullPath(dir));
        return 0;
    }

    /// <summary>
    /// One big chat body built once; each request gets a copy whose first prompt bytes carry a counter, so every
    /// prompt is distinct (no prefix reuse anywhere, like random #2928 prompts) at the cost of one memcpy.
    /// </summary>
    private sealed class BodyTemplate
    {
        private byte[] _template = [];
        private int _markerOffset;

        public static BodyTemplate Create(string model, int promptBytes, int outputTokens)
        {
            const string Marker = "0000000000 ";
            string prompt = Marker + PromptFactory.Words(Math.Max(1, (promptBytes - Marker.Length) / 4), 2928);
            string json = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt +
                "\"}],\"max_tokens\":" + outputTokens.ToString(CultureInfo.InvariantCulture) +
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
            byte[] bytes = Encoding.UTF8.GetBytes(json);
            return new BodyTemplate { _template = bytes, _markerOffset = json.IndexOf(Marker, StringComparison.Ordinal) };
        }

        public byte[] Next(int n)
        {
            byte[] b = (byte[])_template.Clone();
            uint v = (uint)n;
            for (int i = 9; i >= 0; i--)
            {
                b[_markerOffset + i] = (byte)('0' + v % 10);
                v /= 10;
            }
            return b;
        }
    }
}
