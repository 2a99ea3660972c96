using System.Globalization;
using FastEpp.Gateway;
using FastEpp.Perf.Fleet;
using FastEpp.Perf.Load;
using FastEpp.Perf.Report;
using FastEpp.Perf.Workloads;

namespace FastEpp.Perf.Commands;

/// <summary>
/// <c>compare</c>: the same workload, seed and fleet configuration through each routing mode — round robin and
/// random (plain Service baselines) and the EPP with each <c>--epp-args NAME=FLAGS</c> variant. Every mode gets a
/// fresh in-process fastepp-sim fleet (cold caches), a fresh in-process gateway and, for EPP modes, a fresh EPP
/// process; results go to results/&lt;timestamp&gt;/.
/// </summary>
internal static class CompareCommand
{
    public const string Usage = """
        compare: run one workload through every routing mode and write results/<timestamp>/{report.html,summary.md,summary.json}

          --workload NAME          a built-in workload, perf/workloads/NAME.yaml ('workloads' lists them; many-system-prompts)
          --workload-file F.yaml   a workload in inference-perf's config schema plus a fleet: section (replicas, profile,
                                   sim_args); unknown and ignored keys are listed before the run
          --scale X                rates, shared-prefix groups, replicas and the concurrency cap x X
                                   (0.25 for --workload, 1 for --workload-file)
          --duration-scale X       stage lengths x X (as --scale)
          --stages R:S,R:S         override the (scaled) stages: rate req/s : seconds
          --replicas N             override the scaled replica count
          --seed N                 request/arrival seed, also the sim seed (1)
          --modes a,b              subset of round-robin,random,oracle,fastepp-<name> (all), run in the order given
          --epp-binary PATH        EPP to start (AOT binary preferred; a .dll runs under dotnet); EPP modes need it
          --epp-args NAME=FLAGS    an EPP configuration variant, mode fastepp-NAME (repeatable; default: default= (the
                                   reference's default config), and best= / precise= with --config-file
                                   perf/configs/<name>.yaml when that file exists)
          --epp-replicas N         EPP processes per EPP mode (fleet.epp_replicas, else 1), active-active against the
                                   same fleet, each with the mode's flags and its own log NAME.eppK.log; the gateway
                                   spreads requests round robin over them; EPP CPU and RSS are sums over the replicas
          --bypass-fraction F      share 0..1 of requests (fleet.bypass_fraction, else 0) that skip the EPP and go round
                                   robin, as another gateway's or a plain Service's traffic; the same requests (chosen
                                   from --seed) in every EPP mode and in the oracle (which shares the handicap);
                                   round-robin and random are unaffected
          --mode-sim-args NAME=FLAGS  extra fastepp-sim flags for one mode's fleet only (repeatable), e.g. the KV-event
                                   publisher a fastepp-precise mode subscribes to
          --stream-chunk-tokens N  tokens per SSE event from the sims after the first, sent alone (10: spares the 2 cores)
          --sim-time-scale X       fastepp-sim --time-scale (1 = real time)
          --sim-args "FLAGS"       extra fastepp-sim flags
          --drain-timeout S        wait this long for in-flight requests after the last stage (120)
          --results DIR            output root (results)
        """;

    public static async Task<int> RunAsync(Flags f, CancellationToken ct)
    {
        string workloadPath = f.String("workload-file", "");
        string workloadName = f.String("workload", "");
        WorkloadFile? file;
        if (workloadPath.Length > 0)
        {
            if (workloadName.Length > 0)
            {
                Console.Error.WriteLine("--workload and --workload-file are exclusive");
                return 2;
            }
            file = WorkloadFile.Load(workloadPath);
        }
        else
        {
            workloadName = workloadName.Length > 0 ? workloadName : "many-system-prompts";
            file = WorkloadCatalog.Find(workloadName);
            if (file is null)
            {
                Console.Error.WriteLine("unknown workload '" + workloadName + "' (built in: " + string.Join(", ", WorkloadCatalog.Names()) + ")");
                return 2;
            }
        }
        foreach (string note in file.Notes)
            Console.Error.WriteLine("workload " + file.Spec.Name + ": " + note);
        WorkloadSpec baseSpec = file.Spec;
        double defaultScale = workloadPath.Length > 0 ? 1 : 0.25;
        double scale = f.Double("scale", defaultScale);
        double durationScale = f.Double("duration-scale", defaultScale);
        WorkloadSpec spec = baseSpec.Scale(scale, durationScale);
        string stagesFlag = f.String("stages", "");
        if (stagesFlag.Length > 0)
            spec = spec with { Stages = ParseStages(stagesFlag) };
        int replicas = f.Int("replicas", spec.Replicas);
        spec = spec with { Replicas = replicas };
        int seed = f.Int("seed", 1);
        int eppReplicas = f.Int("epp-replicas", spec.EppReplicas);
        if (eppReplicas < 1 || eppReplicas > 64)
        {
            Console.Error.WriteLine("--epp-replicas must be 1..64, not " + eppReplicas.ToString(CultureInfo.InvariantCulture));
            return 2;
        }
        double bypass = f.Fraction("bypass-fraction", spec.BypassFraction);
        spec = spec with { EppReplicas = eppReplicas, BypassFraction = bypass };
        string eppBinary = f.String("epp-binary", "");
        List<string> variants = f.All("epp-args");
        if (variants.Count == 0)
        {
            // The reference's default configuration, and ours for these workloads when run from the repository root.
            variants.Add("default=");
            // The mode table: fastepp-best is FastEpp's own profile; fastepp-precise (precise prefix routing from the
            // engines' KV events, issue 10 §3) joins it when perf/configs/precise.yaml exists, its fleet's event
            // publisher given with --mode-sim-args precise=...
            foreach (string variant in new[] { "best", "precise" })
            {
                string path = Path.GetFullPath(Path.Combine("perf", "configs", variant + ".yaml"));
                if (File.Exists(path))
                    variants.Add(variant + "=--config-file " + path);
            }
        }
        int chunkTokens = f.Int("stream-chunk-tokens", 10);
        double simTimeScale = f.Double("sim-time-scale", 1);
        string extraSim = f.String("sim-args", "");
        var drain = TimeSpan.FromSeconds(f.Double("drain-timeout", 120));
        string resultsRoot = f.String("results", "results");
        string modesFlag = f.String("modes", "");
        var modeSimArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string v in f.All("mode-sim-args"))
        {
            int eq = v.IndexOf('=');
            if (eq <= 0)
            {
                Console.Error.WriteLine("--mode-sim-args takes NAME=FLAGS (NAME: a mode, with or without its fastepp- prefix), got '" + v + "'");
                return 2;
            }
            modeSimArgs[v[..eq].StartsWith("fastepp-", StringComparison.Ordinal) || v[..eq] is "round-robin" or "random" or "oracle" ? v[..eq] : "fastepp-" + v[..eq]] = v[(eq + 1)..];
        }
        if (f.Unknown() is { } unknown)
        {
            Console.Error.WriteLine(unknown);
            return 2;
        }

        var modes = new List<(string Name, RoutingMode Mode, string EppArgs)>
        {
            ("round-robin", RoutingMode.RoundRobin, ""),
            ("random", RoutingMode.Random, ""),
            ("oracle", RoutingMode.Oracle, ""),
        };
        foreach (string v in variants)
        {
            int eq = v.IndexOf('=');
            string name = eq > 0 ? v[..eq] : "default";
            modes.Add(("fastepp-" + name, RoutingMode.Epp, eq >= 0 ? v[(eq + 1)..] : v));
        }
        if (modesFlag.Length > 0)
        {
            // In the order given; an unknown name is an error, not a silently empty run.
            var picked = new List<(string Name, RoutingMode Mode, string EppArgs)>();
            foreach (string want in modesFlag.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                int i = modes.FindIndex(m => m.Name == want);
                if (i < 0)
                {
                    Console.Error.WriteLine("unknown mode '" + want + "' (known: " + string.Join(", ", modes.ConvertAll(m => m.Name)) + ")");
                    return 2;
                }
                picked.Add(modes[i]);
            }
            modes = picked;
        }
        if (eppBinary.Length == 0 && modes.RemoveAll(m => m.Mode == RoutingMode.Epp) > 0)
            Console.Error.WriteLine("note: no --epp-binary: EPP modes skipped");
        if (modes.Count == 0)
        {
            Console.Error.WriteLine("no routing mode left to run");
            return 2;
        }
        foreach (string key in modeSimArgs.Keys)
        {
            if (!modes.Exists(m => m.Name == key))
            {
                Console.Error.WriteLine("--mode-sim-args names '" + key + "', which is not a mode of this run");
                return 2;
            }
        }

        var simArgs = new List<string>
        {
            "--replicas", replicas.ToString(CultureInfo.InvariantCulture), "--port", "0",
            "--profile", spec.SimProfile, "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--stream-chunk-tokens", chunkTokens.ToString(CultureInfo.InvariantCulture),
            "--time-scale", simTimeScale.ToString(CultureInfo.InvariantCulture),
        };
        simArgs.AddRange(spec.SimArgs);
        simArgs.AddRange(EppProcess.SplitArgs(extraSim));

        string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string dir = Path.Combine(resultsRoot, stamp);
        Directory.CreateDirectory(dir);
        var report = new CompareReport
        {
            Workload = spec.Name,
            Source = spec.Source,
            Parameters = Describe(spec) + (file.Notes.Count > 0 ? "; workload file notes: " + string.Join("; ", file.Notes) : ""),
            StartedUtc = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            Scale = scale,
            DurationScale = durationScale,
            Replicas = replicas,
            Seed = seed,
            SimArgs = string.Join(' ', simArgs),
            EppBinary = eppBinary,
            EppReplicas = eppReplicas,
            BypassFraction = bypass,
            Machine = Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        };
        Console.WriteLine($"compare {spec.Name}: {Describe(spec)}");
        Console.WriteLine($"  scale {scale}, duration scale {durationScale}, {replicas} replicas, {spec.Stages.Length} stages, {spec.TotalSeconds:0} s per mode; results in {dir}");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach ((string name, RoutingMode mode, string eppArgs) in modes)
        {
            Console.WriteLine($"mode {name}" + (mode == RoutingMode.Epp ? " (" + eppBinary + " " + eppArgs + ")" : ""));
            string[] fleetArgs = simArgs.ToArray();
            if (modeSimArgs.TryGetValue(name, out string? own))
                fleetArgs = [.. simArgs, .. EppProcess.SplitArgs(own)];
            await using SimHost sim = await SimHost.StartAsync(fleetArgs, ct).ConfigureAwait(false);
            var epps = new List<EppProcess>();
            try
            {
                if (mode == RoutingMode.Epp)
                {
                    // Active-active replicas: the same flags, the same fleet, each its own ports and log.
                    for (int k = 1; k <= eppReplicas; k++)
                    {
                        string log = Path.Combine(dir, name + (eppReplicas == 1 ? ".epp.log" : ".epp" + k.ToString(CultureInfo.InvariantCulture) + ".log"));
                        epps.Add(await EppProcess.StartAsync(eppBinary, sim.Endpoints, eppArgs, log, ct).ConfigureAwait(false));
                    }
                }
                var go = new GatewayOptions { Mode = mode, Port = 0, Seed = seed };
                foreach (EppProcess e in epps)
                    go.Epps.Add(e.Address);
                if (mode is RoutingMode.Epp or RoutingMode.Oracle)
                    go.BypassFraction = bypass;
                if (mode == RoutingMode.Oracle)
                    go.Picker = sim.OraclePicker();
                go.Upstreams.AddRange(sim.Endpoints);
                await using GatewayServer gateway = GatewayServer.Create(go);
                await gateway.StartAsync(ct).ConfigureAwait(false);
                using var client = new StreamingClient(gateway.BaseAddress, spec.Chat ? "/v1/chat/completions" : "/v1/completions");
                var prompts = new PromptFactory(spec, sim.Model, seed, sim.MaxModelLen);

                double cpu0 = CpuSum(epps);
                RequestResult[] results;
                List<ReplicaSample> timeline;
                await using (FleetSampler sampler = sim.StartSampler(TimeSpan.FromSeconds(1)))
                {
                    results = await LoadRunner.RunOpenLoopAsync(spec, prompts, client, seed, drain, Console.WriteLine, ct).ConfigureAwait(false);
                    sampler.Sample();
                    timeline = sampler.Samples;
                }
                double cpu1 = CpuSum(epps);
                MetricsScraper.FleetCounters counters = await MetricsScraper.ScrapeAsync(http, sim.Endpoints, ct).ConfigureAwait(false);

                (List<StageReport> stages, StageReport overall) = StatsBuilder.Build(results, spec.Stages, spec.StageGap);
                var m = new ModeReport
                {
                    Mode = name,
                    Description = mode switch
                    {
                        RoutingMode.RoundRobin => "plain Kubernetes Service, round robin",
                        RoutingMode.Random => "plain Kubernetes Service, random",
                        RoutingMode.Oracle => "oracle: lowest TTFT predicted from the simulated engines' true state (the limit)",
                        _ => "EPP via ext_proc, flags: " + (eppArgs.Length > 0 ? eppArgs : "(defaults)"),
                    } + (epps.Count > 1 ? "; " + EppSpread(epps.Count, gateway.Stats.PerEpp()) : "")
                      + (go.BypassFraction > 0 ? "; " + gateway.Stats.Bypassed.ToString(CultureInfo.InvariantCulture) + " requests bypassed the " + (mode == RoutingMode.Oracle ? "oracle" : "EPP") + " (round robin)" : ""),
                    Stages = stages,
                    Overall = overall,
                    PrefixCacheHitRate = counters.HitRate,
                    Preemptions = counters.Preemptions,
                    GatewayFallbacks = gateway.Stats.Fallbacks,
                    GatewayEppErrors = gateway.Stats.EppErrors,
                    EppReplicas = epps.Count,
                    GatewayBypassed = gateway.Stats.Bypassed,
                    PerEpp = gateway.Stats.PerEpp(),
                    PerUpstream = gateway.Stats.PerUpstream(),
                    TtftCdf = StatsBuilder.TtftCdf(results, 200),
                    PickMeanMs = gateway.Stats.PickTime.MeanMs,
                    PickMaxMs = gateway.Stats.PickTime.MaxMs,
                    Timeline = timeline,
                };
                if (epps.Count > 0)
                {
                    // Several replicas: the EPP's cost is theirs together (CPU and RSS summed).
                    m.EppCpuSeconds = cpu1 - cpu0;
                    m.EppCpuMsPerRequest = overall.Sent > 0 ? (cpu1 - cpu0) * 1000 / overall.Sent : double.NaN;
                    m.EppRssMiB = 0;
                    m.EppPeakRssMiB = 0;
                    foreach (EppProcess e in epps)
                    {
                        (double rss, double peak) = ProcStats.Memory(e.Pid);
                        m.EppRssMiB += rss;
                        m.EppPeakRssMiB += peak;
                    }
                }
                report.Modes.Add(m);
                string pickTime = gateway.Stats.PickTime.Count > 0
                    ? ", oracle decision " + SvgChart.Fmt(m.PickMeanMs) + " ms mean, " + SvgChart.Fmt(m.PickMaxMs) + " ms max"
                    : "";
                string scaleOut = (epps.Count > 1 ? "; " + EppSpread(epps.Count, m.PerEpp) : "")
                    + (go.BypassFraction > 0 ? "; bypassed " + m.GatewayBypassed.ToString(CultureInfo.InvariantCulture) : "");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  done: {overall.Completed}/{overall.Sent} ok, TTFT p90 {SvgChart.Fmt(overall.Ttft.P90)} s, {SvgChart.Fmt(overall.OutputTokensPerSecond)} tok/s, prefix hit {SvgChart.Fmt(counters.HitRate * 100)}%") + pickTime + scaleOut);
            }
            finally
            {
                foreach (EppProcess e in epps)
                    await e.DisposeAsync().ConfigureAwait(false);
            }
            ReportWriter.WriteAll(report, dir); // after each mode, so an interrupted run keeps what it has
        }
        Console.WriteLine();
        Console.Write(ReportWriter.Table(report));
        Console.WriteLine();
        foreach (string verdict in ReportWriter.Verdicts(report))
            Console.WriteLine(verdict);
        Console.WriteLine("report: " + Path.GetFullPath(Path.Combine(dir, "report.html")));
        return 0;
    }

    private static double CpuSum(List<EppProcess> epps)
    {
        if (epps.Count == 0)
            return double.NaN;
        double sum = 0;
        foreach (EppProcess e in epps)
            sum += ProcStats.CpuSeconds(e.Pid);
        return sum;
    }

    private static string EppSpread(int replicas, Dictionary<string, long> perEpp)
    {
        var counts = new List<string>(perEpp.Count);
        foreach (long n in perEpp.Values)
            counts.Add(n.ToString(CultureInfo.InvariantCulture));
        return replicas.ToString(CultureInfo.InvariantCulture) + " EPP replicas, ext_proc streams " + string.Join("/", counts) + " (CPU and RSS summed)";
    }

    public static string Describe(WorkloadSpec s)
    {
        string shape = s.Groups > 0
            ? $"{s.Groups} groups x {s.PromptsPerGroup} prompts, system {s.SystemPrompt}, question {s.Question}, output {s.Output}"
            : $"input {s.Question}, output {s.Output}";
        if (s.MultiTurn)
            shape += ", multi-turn";
        shape += s.Chat ? ", chat API" : ", completions API";
        if (s.Adapters.Length > 0)
            shape += $", {s.Adapters.Length} LoRA adapters";
        var stages = new List<string>(s.Stages.Length);
        foreach (Stage st in s.Stages)
            stages.Add(string.Create(CultureInfo.InvariantCulture, $"{st.Rate:0.##}x{st.Seconds:0.#}s"));
        string arrivals = s.Arrivals == ArrivalKind.Constant ? "constant" : "poisson";
        string gap = s.StageGap > 0 ? string.Create(CultureInfo.InvariantCulture, $", {s.StageGap:0.##} s between stages") : "";
        if (s.EppReplicas > 1)
            shape += $", {s.EppReplicas} EPP replicas";
        if (s.BypassFraction > 0)
            shape += string.Create(CultureInfo.InvariantCulture, $", bypass fraction {s.BypassFraction:0.###}");
        return shape + $"; {arrivals} stages {string.Join(", ", stages)}{gap}; max concurrency {s.MaxConcurrency}";
    }

    private static Stage[] ParseStages(string s)
    {
        var list = new List<Stage>();
        foreach (string part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] rs = part.Split(':');
            if (rs.Length != 2 ||
                !double.TryParse(rs[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || rate <= 0 ||
                !double.TryParse(rs[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double sec) || sec <= 0)
                throw new FormatException("--stages takes rate:seconds pairs, e.g. 2:30,4:30; bad part '" + part + "'");
            list.Add(new Stage(rate, sec));
        }
        return list.ToArray();
    }
}
