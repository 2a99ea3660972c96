using System.Diagnostics;
using System.Globalization;
using FastEpp.Gateway;

namespace FastEpp.Chaos;

/// <summary>One scenario's verdict: the figure it measured and every rule checked.</summary>
internal sealed class Result(string name, string fault)
{
    public string Name { get; } = name;
    public string Fault { get; } = fault;
    public int Requests;
    public int Failed;
    public int Allowed;
    public int Hangs;
    public string Figure = "";
    public string Recovery = "";
    public string Leaks = "";
    public List<string> Broken { get; } = new();
    public bool Pass => Broken.Count == 0;

    public void Rule(bool ok, string what)
    {
        if (!ok)
            Broken.Add(what);
    }
}

/// <summary>Phase lengths (ms): warm-up under load, fault, recovery.</summary>
internal readonly record struct Phases(int Warm, int Fault, int Recover);

internal delegate Task ScenarioBody(Harness h, Load load, Timeline t, Result r);

/// <summary>The fault's moments (ms since the run's start).</summary>
internal sealed class Timeline
{
    public double T0;
    public double T1;
    public double End;
}

internal static class Scenarios
{
    public sealed record Scenario(string Name, string Fault, bool Fast, bool FailOpen, int Concurrency, ScenarioBody Body, bool Kube = false,
        Func<Harness, Task>? Setup = null, Func<Harness, Task>? Teardown = null);

    public static readonly Scenario[] All =
    [
        new("replica-kill", "replica 3 killed mid-stream (connections reset, port refused), dropped from the endpoints file 1 s later (readiness), revived cold", true, false, 12, ReplicaKillAsync),
        new("metrics-hang", "replica 0's /metrics never answers", true, false, 12, (h, l, t, r) => MetricsFaultAsync(h, l, t, r, MetricsFault.Hang)),
        new("metrics-slow", "replica 0's /metrics answers after 0.6 s (the scrape timeout is 1 s)", false, false, 12, (h, l, t, r) => MetricsFaultAsync(h, l, t, r, MetricsFault.Slow)),
        new("metrics-500", "replica 0's /metrics answers 500", false, false, 12, (h, l, t, r) => MetricsFaultAsync(h, l, t, r, MetricsFault.Error500)),
        new("metrics-endless", "replica 0's /metrics sends a body that never ends", true, false, 12, (h, l, t, r) => MetricsFaultAsync(h, l, t, r, MetricsFault.EndlessBody)),
        new("replica-500", "replica 1 answers every inference request 500", false, false, 12, Replica500Async),
        new("saturation", "load ×6 (72 streams) on 4 replicas of max-num-seqs 8: every replica queues", false, false, 12, SaturationAsync),
        new("saturation-queue", "flow control on (featureGates: [flowControl], EPP restarted with it): load ×6 saturates every replica", false, false, 12, SaturationQueueAsync,
            Setup: h => h.RestartEppWithConfigAsync(Harness.FlowControlConfig), Teardown: h => h.RestartEppWithConfigAsync(Harness.DefaultConfig)),
        new("epp-kill-closed", "EPP SIGKILLed under load, restarted; gateway failureMode FailClose", true, false, 12, EppKillAsync),
        new("epp-kill-open", "EPP SIGKILLed under load, restarted; gateway failureMode FailOpen", false, true, 12, EppKillAsync),
        new("endpoints-file", "endpoints file: replica 2 removed, then a malformed file, then replica 2 back", true, false, 12, EndpointsFileAsync),
        new("config-file", "the EndpointPickerConfig file rewritten under load (malformed YAML, then the original back)", false, false, 12, ConfigFileAsync),
        new("replica-kill-pool", "pool mode: replica 3's pod killed mid-stream (connections reset, IP refused), NotReady 1 s later, revived cold and Ready again", false, false, 12, ReplicaKillAsync, Kube: true),
        new("saturation-shed", "pool mode, half the requests name a sheddable InferenceObjective (priority −1): load ×6 saturates every replica", false, false, 12, SaturationShedAsync, Kube: true),
        new("leader-failover", "pool mode, 2 EPP replicas with leader election: the leader SIGKILLed under load, restarted as standby", false, false, 12, LeaderFailoverAsync, Kube: true),
        new("watch-drop", "pool mode: every watch connection cut mid-event, then replica 3's pod turns NotReady, then Ready again", false, false, 12, (h, l, t, r) => WatchDisruptionAsync(h, l, t, r, gone: false), Kube: true),
        new("api-restart", "pool mode: the API server goes away for 3 s (every connection reset, port refused) and comes back with its data; then replica 3's pod turns NotReady, then Ready again", false, false, 12, ApiRestartAsync, Kube: true),
        new("watch-gone", "pool mode: history compacted and every watch ended with 410 Gone, then replica 3's pod turns NotReady, then Ready again", false, false, 12, (h, l, t, r) => WatchDisruptionAsync(h, l, t, r, gone: true), Kube: true),
    ];

    /// <summary>Runs one scenario: warm-up, fault, recovery, stop, then the common rules (no hang, nothing leaks).</summary>
    public static async Task<Result> RunAsync(Harness h, Scenario s, Phases p, Stopwatch clock, int baseFds, int baseThreads)
    {
        var r = new Result(s.Name, s.Fault);
        if (s.Setup is not null)
            await s.Setup(h).ConfigureAwait(false);
        GatewayServer gw = s.FailOpen ? h.GatewayOpen : h.GatewayClosed;
        var load = new Load(gw.BaseAddress, clock, TimeSpan.FromSeconds(20));
        var t = new Timeline();
        double start = load.Now;
        load.Concurrency = s.Concurrency;
        await Task.Delay(p.Warm).ConfigureAwait(false);
        t.T0 = load.Now;
        t.T1 = t.T0 + p.Fault;
        t.End = t.T1 + p.Recover;
        try
        {
            await s.Body(h, load, t, r).ConfigureAwait(false);
            double wait = t.End - load.Now;
            if (wait > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(wait)).ConfigureAwait(false);
        }
        catch
        {
            PostCheck = null;
            await load.DisposeAsync().ConfigureAwait(false); // no load left running into the next scenario
            throw;
        }
        await load.StopAsync().ConfigureAwait(false);

        var all = load.Between(start, double.MaxValue);
        r.Requests = all.Count;
        r.Failed = all.Count(x => x.Outcome != Outcome.Ok);
        r.Hangs = all.Count(x => x.Outcome == Outcome.Hang);
        r.Rule(r.Hangs == 0, $"{r.Hangs} requests hung (no answer within {load.Deadline.TotalSeconds:0} s)");
        await CheckLeaksAsync(h, r, baseFds, baseThreads).ConfigureAwait(false);
        PostCheck?.Invoke(r, all, t);
        if (CsvDir is not null)
        {
            using var csv = new StreamWriter(Path.Combine(CsvDir, s.Name + ".csv"));
            csv.WriteLine($"# t0={t.T0:0} t1={t.T1:0} end={t.End:0}");
            csv.WriteLine("start_ms,end_ms,outcome,status,replica,via_epp,sheddable");
            foreach (Record x in all)
                csv.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{x.Start:0.0},{x.End:0.0},{x.Outcome},{x.Status},{x.Replica},{x.ViaEpp},{x.Sheddable}"));
        }
        PostCheck = null;
        await load.DisposeAsync().ConfigureAwait(false);
        if (s.Teardown is not null)
            await s.Teardown(h).ConfigureAwait(false);
        return r;
    }

    /// <summary>Where each scenario's records go as CSV (null = nowhere).</summary>
    public static string? CsvDir;

    /// <summary>Evaluated after the load stopped, with every record (set by a scenario body).</summary>
    private static Action<Result, List<Record>, Timeline>? PostCheck;

    private static async Task CheckLeaksAsync(Harness h, Result r, int baseFds, int baseThreads)
    {
        long running = -1;
        for (int i = 0; i < 50; i++)
        {
            running = await h.EppRunningAsync().ConfigureAwait(false);
            if (running == 0)
                break;
            await Task.Delay(100).ConfigureAwait(false);
        }
        int fds = h.Epp!.Fds(), threads = h.Epp.Threads();
        r.Leaks = $"running {running}, fds {fds} (start {baseFds}), threads {threads} (start {baseThreads})";
        r.Rule(running == 0, $"EPP running-requests gauge is {running} after the load stopped");
        r.Rule(fds <= baseFds + 32, $"EPP open fds {fds} > start {baseFds} + 32");
        r.Rule(threads <= baseThreads + 24, $"EPP threads {threads} > start {baseThreads} + 24");
    }

    private static string Ms(double ms) => double.IsNaN(ms) ? "–" : ms >= 10_000 ? (ms / 1000).ToString("0.0 's'", CultureInfo.InvariantCulture) : ms.ToString("0 'ms'", CultureInfo.InvariantCulture);

    private static async Task At(Load load, double when)
    {
        double wait = when - load.Now;
        if (wait > 0)
            await Task.Delay(TimeSpan.FromMilliseconds(wait)).ConfigureAwait(false);
    }

    // ---- replica killed mid-stream, revived cold ----
    private static async Task ReplicaKillAsync(Harness h, Load load, Timeline t, Result r)
    {
        const int victim = 3;
        long fallbacks0 = h.GatewayClosed.Stats.Fallbacks;
        double killed = load.Now;
        h.Fronts[victim].Kill();
        await h.SimAdminAsync($"/admin/kill?replica={victim}").ConfigureAwait(false);
        double dead = load.Now; // a request that started before this may have reached the replica before it died
        await At(load, t.T0 + 1000).ConfigureAwait(false);
        if (h.Api is null)
            h.WriteEndpoints([0, 1, 2]); // the kubelet's readiness probe failed: the pod leaves the endpoints
        else
            h.SetReadyPods([0, 1, 2]);
        await At(load, t.T1).ConfigureAwait(false);
        double revived = load.Now;
        await h.SimAdminAsync($"/admin/revive?replica={victim}").ConfigureAwait(false);
        h.Fronts[victim].Revive();
        if (h.Api is null)
            h.WriteEndpoints([0, 1, 2, 3]);
        else
            h.SetReadyPods([0, 1, 2, 3]);
        PostCheck = (r, all, t) =>
        {
            bool InFlight(Record x) => x.Start < dead && x.End >= killed && (x.Replica == victim || x.Replica < 0);
            var inFlight = all.Where(InFlight).ToList();
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            var unexpected = failed.Where(x => !InFlight(x)).ToList();
            r.Allowed = failed.Count - unexpected.Count;
            double maxToError = failed.Count == 0 ? double.NaN : failed.Max(x => x.End - killed);
            var outage = all.Where(x => x.Start >= killed && x.Start < revived).ToList();
            var back = all.Where(x => x.Start >= revived && x.Replica == victim && x.Outcome == Outcome.Ok).OrderBy(x => x.Start).FirstOrDefault();
            long fb = h.GatewayClosed.Stats.Fallbacks - fallbacks0;
            r.Figure = $"{inFlight.Count} in flight on the victim at the kill → {r.Allowed} errors (reset; all within {Ms(maxToError)}); " +
                $"{outage.Count} requests during the outage: {outage.Count(x => x.Outcome == Outcome.Ok)} OK ({fb} via the fallback endpoint before readiness dropped it)";
            r.Recovery = back.Start > 0 ? $"revived replica serves again {Ms(back.Start - revived)} after revival" : "revived replica got no request";
            r.Rule(unexpected.Count == 0, $"{unexpected.Count} failures not in flight on the killed replica (first: {Describe(unexpected)})");
            r.Rule(back.Start > 0, "the revived replica was never routed to again");
        };
    }

    // ---- /metrics faults ----
    private static async Task MetricsFaultAsync(Harness h, Load load, Timeline t, Result r, MetricsFault fault)
    {
        const int victim = 0;
        FaultFront f = h.Fronts[victim];
        long endless0 = f.EndlessBytes, scrapes0 = Interlocked.Read(ref f.Scrapes);
        double rss0 = h.Epp!.RssMiB();
        f.Fault = fault;
        await At(load, t.T1).ConfigureAwait(false);
        double rssDuring = h.Epp.RssMiB();
        long scrapes = Interlocked.Read(ref f.Scrapes) - scrapes0;
        long endless = f.EndlessBytes - endless0;
        f.Fault = MetricsFault.None;
        PostCheck = (r, all, t) =>
        {
            var before = all.Where(x => x.Start < t.T0).ToList();
            var during = all.Where(x => x.Start >= t.T0 && x.Start < t.T1).ToList();
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            double share = during.Count == 0 ? 0 : 100.0 * during.Count(x => x.Replica == victim) / during.Count;
            r.Figure = $"p50/p99 {Ms(Load.Percentile(before, 0.5))}/{Ms(Load.Percentile(before, 0.99))} before, " +
                $"{Ms(Load.Percentile(during, 0.5))}/{Ms(Load.Percentile(during, 0.99))} during; victim's share during {share:0}%; {scrapes} scrapes answered";
            if (fault == MetricsFault.EndlessBody)
            {
                double perScrape = scrapes == 0 ? 0 : endless / (double)scrapes / (1024 * 1024);
                r.Figure += $"; {endless / (1024.0 * 1024):0} MiB sent, ≤ {perScrape:0.0} MiB read per scrape; EPP RSS {rss0:0} → {rssDuring:0} MiB";
                r.Rule(perScrape <= 24, $"{perScrape:0.0} MiB sent per endless body (cap 16 MiB + loopback socket buffers)");
                r.Rule(rssDuring - rss0 < 96, $"EPP RSS grew {rssDuring - rss0:0} MiB during endless scrapes");
            }
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            var after = all.Where(x => x.Start >= t.T1 + 1000).ToList();
            r.Recovery = $"{after.Count(x => x.Replica == victim)} of {after.Count} requests on the victim after healing";
        };
    }

    // ---- a replica answering 500 ----
    private static async Task Replica500Async(Harness h, Load load, Timeline t, Result r)
    {
        const int victim = 1;
        await h.Admin.PostAsync($"http://127.0.0.1:{h.SimBasePort + victim}/admin/faults?fail-rate=1", null).ConfigureAwait(false);
        await At(load, t.T1).ConfigureAwait(false);
        await h.Admin.PostAsync($"http://127.0.0.1:{h.SimBasePort + victim}/admin/faults?fail-rate=0", null).ConfigureAwait(false);
        double healed = load.Now;
        PostCheck = (r, all, t) =>
        {
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            var relayed = failed.Where(x => x.Outcome == Outcome.Status && x.Status == 500 && x.Replica == victim && x.Start >= t.T0 - 100 && x.Start < healed).ToList();
            var unexpected = failed.Except(relayed).ToList();
            var during = all.Where(x => x.Start >= t.T0 && x.Start < healed).ToList();
            r.Allowed = relayed.Count;
            r.Figure = $"{relayed.Count} of {during.Count} requests during the fault got the replica's 500 (relayed, {Ms(Load.Percentile(relayed, 0.99))} p99); " +
                $"{during.Count(x => x.Replica != victim && x.Outcome == Outcome.Ok)} on the other replicas OK";
            r.Rule(unexpected.Count == 0, $"{unexpected.Count} failures other than the victim's relayed 500s (first: {Describe(unexpected)})");
            var after = all.Where(x => x.Start >= healed).ToList();
            r.Recovery = $"{after.Count(x => x.Outcome == Outcome.Ok)} of {after.Count} OK after healing";
        };
    }

    // ---- every replica saturated ----
    private static async Task SaturationAsync(Harness h, Load load, Timeline t, Result r)
    {
        int normal = load.Concurrency;
        load.Concurrency = normal * 6;
        await At(load, t.T1).ConfigureAwait(false);
        load.Concurrency = normal;
        PostCheck = (r, all, t) =>
        {
            var before = all.Where(x => x.Start < t.T0).ToList();
            var during = all.Where(x => x.Start >= t.T0 && x.Start < t.T1).ToList();
            var after = all.Where(x => x.Start >= t.T1 + 2000).ToList();
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            r.Figure = $"p50/p99 {Ms(Load.Percentile(before, 0.5))}/{Ms(Load.Percentile(before, 0.99))} before, {Ms(Load.Percentile(during, 0.5))}/{Ms(Load.Percentile(during, 0.99))} saturated " +
                $"({during.Count} requests, {failed.Count(x => x.Status == 429)} shed with 429: the default config sheds only sheddable (priority < 0) requests, these are priority 0)";
            r.Recovery = $"p50 {Ms(Load.Percentile(after, 0.5))} from 2 s after the burst";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
        };
    }

    // ---- every replica saturated, flow control queueing in the EPP ----
    private static async Task SaturationQueueAsync(Harness h, Load load, Timeline t, Result r)
    {
        int normal = load.Concurrency;
        load.Concurrency = normal * 6;
        long maxQueued = 0;
        while (load.Now < t.T1)
        {
            maxQueued = Math.Max(maxQueued, await h.EppGaugeSumAsync("inference_extension_flow_control_queue_size").ConfigureAwait(false));
            await Task.Delay(100).ConfigureAwait(false);
        }
        load.Concurrency = normal;
        PostCheck = (r, all, t) =>
        {
            var before = all.Where(x => x.Start < t.T0).ToList();
            var during = all.Where(x => x.Start >= t.T0 && x.Start < t.T1).ToList();
            var after = all.Where(x => x.Start >= t.T1 + 2000).ToList();
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            r.Figure = $"p50/p99 {Ms(Load.Percentile(before, 0.5))}/{Ms(Load.Percentile(before, 0.99))} before, {Ms(Load.Percentile(during, 0.5))}/{Ms(Load.Percentile(during, 0.99))} saturated ({during.Count} requests); up to {maxQueued} requests queued in the EPP (flow-control queue-size gauge, sampled every 100 ms)";
            r.Recovery = $"p50 {Ms(Load.Percentile(after, 0.5))} from 2 s after the burst";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            r.Rule(maxQueued > 0, "flow control never queued a request while every replica was saturated");
        };
    }

    // ---- every replica saturated, sheddable traffic present ----
    private static async Task SaturationShedAsync(Harness h, Load load, Timeline t, Result r)
    {
        // The load started before the body: from now on every other request of each worker is sheddable.
        double from = load.Now;
        load.Sheddable = static (_, n) => n % 2 == 0;
        int normal = load.Concurrency;
        load.Concurrency = normal * 6;
        await At(load, t.T1).ConfigureAwait(false);
        load.Concurrency = normal;
        PostCheck = (r, all, t) =>
        {
            var marked = all.Where(x => x.Start >= from).ToList();
            var critical = marked.Where(x => !x.Sheddable).ToList();
            var sheddable = marked.Where(x => x.Sheddable).ToList();
            var burst = sheddable.Where(x => x.Start < t.T1).ToList();
            var shed = sheddable.Where(x => x.Outcome == Outcome.Status && x.Status == 429).ToList();
            var otherSheddableFailures = sheddable.Where(x => x.Outcome != Outcome.Ok && !(x.Outcome == Outcome.Status && x.Status == 429)).ToList();
            var lateShed = shed.Where(x => x.Start >= t.T1 + 3000).ToList();
            var failedCritical = critical.Where(x => x.Outcome != Outcome.Ok).ToList();
            r.Allowed = shed.Count;
            r.Figure = $"priority 0: {critical.Count(x => x.Outcome == Outcome.Ok)}/{critical.Count} OK, p50/p99 {Ms(Load.Percentile(critical.Where(x => x.Start < t.T1).ToList(), 0.5))}/{Ms(Load.Percentile(critical.Where(x => x.Start < t.T1).ToList(), 0.99))} saturated; " +
                $"sheddable: {burst.Count(x => x.Status == 429)} of {burst.Count} shed with 429 during the burst (p99 {Ms(Load.Percentile(shed, 0.99))}), {burst.Count(x => x.Outcome == Outcome.Ok)} served";
            r.Recovery = $"{lateShed.Count} shed from 3 s after the burst; {sheddable.Count(x => x.Start >= t.T1 + 3000 && x.Outcome == Outcome.Ok)} sheddable served then";
            r.Rule(failedCritical.Count == 0, $"{failedCritical.Count} priority-0 requests failed (first: {Describe(failedCritical)})");
            r.Rule(otherSheddableFailures.Count == 0, $"{otherSheddableFailures.Count} sheddable requests failed otherwise than 429 (first: {Describe(otherSheddableFailures)})");
            r.Rule(burst.Any(x => x.Status == 429), "no sheddable request was shed while every replica was saturated");
            r.Rule(lateShed.Count == 0, $"{lateShed.Count} sheddable requests still shed 3 s after the burst");
        };
    }

    // ---- the EPP killed and restarted ----
    private static async Task EppKillAsync(Harness h, Load load, Timeline t, Result r)
    {
        double killed = load.Now;
        h.Epp!.Kill();
        double dead = load.Now; // SIGKILL sent and the process reaped: the stamps bracket the moment of death
        await At(load, t.T0 + 2000).ConfigureAwait(false);
        double restart = load.Now;
        await h.StartEppAsync().ConfigureAwait(false);
        double listening = load.Now;
        await At(load, Math.Max(t.T1, listening + 1000)).ConfigureAwait(false);
        t.End = Math.Max(t.End, load.Now + 2000);
        PostCheck = (r, all, t) =>
        {
            bool failOpen = all.Any(x => x.Start >= killed + 100 && x.Start < restart && x.Outcome == Outcome.Ok);
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            bool InFlight(Record x) => x.Start < dead && x.End >= killed;
            var inFlight = all.Where(InFlight).ToList();
            var back = all.Where(x => x.Start >= killed && x.Outcome == Outcome.Ok && x.ViaEpp).OrderBy(x => x.Start).FirstOrDefault();
            double backAt = back.Start > 0 ? back.Start : double.NaN;
            var down = all.Where(x => x.Start >= killed && !InFlight(x) && (double.IsNaN(backAt) || x.Start < backAt)).ToList();
            List<Record> unexpected;
            if (failOpen)
            {
                // Fail-open: only streams in flight on the dead EPP may fail; the rest go round robin.
                unexpected = failed.Where(x => !InFlight(x)).ToList();
                r.Figure = $"{inFlight.Count} in flight at the kill → {failed.Count(InFlight)} errors; {down.Count} requests while the EPP was down: {down.Count(x => x.Outcome == Outcome.Ok && !x.ViaEpp)} served round robin (fail-open)";
            }
            else
            {
                // Fail-closed: requests while the EPP is down are refused with 503 by configuration, at once.
                var refused = failed.Where(x => !InFlight(x) && x.Outcome == Outcome.Status && x.Status == 503 && x.Start >= killed && (double.IsNaN(backAt) || x.Start < backAt + 1000)).ToList();
                unexpected = failed.Where(x => !InFlight(x)).Except(refused).ToList();
                r.Figure = $"{inFlight.Count} in flight at the kill → {failed.Count(InFlight)} errors; {down.Count} requests while the EPP was down: {refused.Count} answered 503 (fail-closed), p99 {Ms(Load.Percentile(refused, 0.99))}";
            }
            r.Allowed = failed.Count - unexpected.Count;
            r.Recovery = double.IsNaN(backAt) ? "routing never came back" :
                $"kill took {Ms(dead - killed)}; EPP routing back {Ms(backAt - killed)} after the kill ({Ms(listening - restart)} to restart and listen, first routed request {Ms(backAt - listening)} after that)";
            r.Rule(unexpected.Count == 0, $"{unexpected.Count} unexpected failures (first: {Describe(unexpected)})");
            // After the EPP listens, the rest is the gateway's gRPC reconnect backoff (1 s × 1.6ⁿ, as Envoy's is exponential too).
            r.Rule(!double.IsNaN(backAt) && backAt - listening <= 10_000, "routing through the EPP not back within 10 s of its restart");
        };
    }

    // ---- the endpoints file changed (removal, malformed, addition) ----
    private static async Task EndpointsFileAsync(Harness h, Load load, Timeline t, Result r)
    {
        const int victim = 2;
        double removed = load.Now;
        h.WriteEndpoints([0, 1, 3]);
        await At(load, t.T0 + (t.T1 - t.T0) / 2).ConfigureAwait(false);
        double malformed = load.Now;
        File.WriteAllText(h.EndpointsFile + ".tmp", "127.0.0.1:notaport\n");
        File.Move(h.EndpointsFile + ".tmp", h.EndpointsFile, overwrite: true);
        await At(load, t.T1).ConfigureAwait(false);
        double added = load.Now;
        h.WriteEndpoints([0, 1, 2, 3]);
        PostCheck = (r, all, t) =>
        {
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            double lastOld = all.Where(x => x.Start >= removed && x.Start < added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(removed).Max();
            var firstNew = all.Where(x => x.Start >= added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(double.NaN).Min();
            var whileMalformed = all.Where(x => x.Start >= malformed && x.Start < added).ToList();
            r.Figure = $"removed replica's last new request {Ms(lastOld - removed)} after the change; malformed file: last good list kept, {whileMalformed.Count(x => x.Outcome == Outcome.Ok)}/{whileMalformed.Count} OK, none on the removed replica: {whileMalformed.All(x => x.Replica != victim)}";
            r.Recovery = double.IsNaN(firstNew) ? "re-added replica never routed to" : $"re-added replica routed to {Ms(firstNew - added)} after the change";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            r.Rule(lastOld - removed <= 3000, $"the removed replica still got new requests {Ms(lastOld - removed)} after the change (file poll 1 s)");
            r.Rule(whileMalformed.All(x => x.Replica != victim), "a malformed file changed the endpoint list");
            r.Rule(!double.IsNaN(firstNew) && firstNew - added <= 3000, "the re-added replica was not routed to within 3 s");
        };
    }

    // ---- the EndpointPickerConfig file changed ----
    private static async Task ConfigFileAsync(Harness h, Load load, Timeline t, Result r)
    {
        string original = File.ReadAllText(h.ConfigFile);
        double changed = load.Now;
        File.WriteAllText(h.ConfigFile, "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins: [ {type: \n");
        await At(load, t.T1).ConfigureAwait(false);
        bool alive = !h.Epp!.Exited;
        File.WriteAllText(h.ConfigFile, original);
        PostCheck = (r, all, t) =>
        {
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            var during = all.Where(x => x.Start >= changed && x.Start < t.T1).ToList();
            r.Figure = $"{during.Count(x => x.Outcome == Outcome.Ok && x.ViaEpp)}/{during.Count} routed by the EPP while the file was malformed: the config is read at start-up only (as the reference); a restart applies a change";
            r.Recovery = alive ? "EPP kept running" : "EPP exited";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            r.Rule(alive, "the EPP exited when its config file changed");
        };
    }

    // ---- leader election: the leader killed ----
    private static async Task LeaderFailoverAsync(Harness h, Load load, Timeline t, Result r)
    {
        int leader = Array.FindIndex(h.KubeEpps, e => e.Port == h.Service!.ReadyPort);
        if (leader < 0)
            throw new InvalidOperationException("no leader before the kill");
        double killed = load.Now;
        h.KubeEpps[leader].Proc.Kill();
        double dead = load.Now;
        int standbyPort = h.KubeEpps[1 - leader].Port;
        while (h.Service!.ReadyPort != standbyPort && load.Now - killed < 40_000)
            await Task.Delay(20).ConfigureAwait(false);
        double ready = load.Now;
        bool tookOver = h.Service.ReadyPort == standbyPort;
        h.SyncLeader();
        await h.StartKubeEppAsync(leader).ConfigureAwait(false); // the killed pod comes back as the standby
        t.End = Math.Max(t.End, load.Now + 3000);
        PostCheck = (r, all, t) =>
        {
            bool InFlight(Record x) => x.Start < dead && x.End >= killed;
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            var back = all.Where(x => x.Start >= dead && x.Outcome == Outcome.Ok && x.ViaEpp).OrderBy(x => x.Start).FirstOrDefault();
            double backAt = back.Start > 0 ? back.Start : double.NaN;
            var refused = failed.Where(x => !InFlight(x) && x.Outcome == Outcome.Status && x.Status == 503 && x.Start >= killed && (double.IsNaN(backAt) || x.Start < backAt + 1000)).ToList();
            var unexpected = failed.Where(x => !InFlight(x)).Except(refused).ToList();
            r.Allowed = failed.Count - unexpected.Count;
            r.Figure = $"{all.Count(InFlight)} in flight at the kill → {failed.Count(InFlight)} errors; {refused.Count} answered 503 while no replica was ready (fail-closed, p99 {Ms(Load.Percentile(refused, 0.99))})";
            r.Recovery = tookOver ? $"standby ready (lease taken, pool synced) {Ms(ready - killed)} after the kill (lease 15 s, retry 2 s); first routed request {Ms(backAt - ready)} after that" : "the standby never became ready";
            r.Rule(tookOver && ready - killed <= 20_000, $"standby takeover {Ms(ready - killed)} > lease duration 15 s + retry period 2 s + 3 s");
            r.Rule(!double.IsNaN(backAt) && backAt - ready <= 3000, "routing not back within 3 s of the standby's readiness");
            r.Rule(unexpected.Count == 0, $"{unexpected.Count} unexpected failures (first: {Describe(unexpected)})");
        };
    }

    // ---- the Kubernetes watch dropped / expired ----
    private static async Task WatchDisruptionAsync(Harness h, Load load, Timeline t, Result r, bool gone)
    {
        const int victim = 3;
        if (gone)
            h.Api!.ExpireWatches();
        else
            h.Api!.DropWatches(midLine: true);
        await Task.Delay(200).ConfigureAwait(false);
        double removed = load.Now;
        h.SetReadyPods([0, 1, 2]);
        await At(load, t.T1).ConfigureAwait(false);
        double added = load.Now;
        h.SetReadyPods([0, 1, 2, 3]);
        PostCheck = (r, all, t) =>
        {
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            double lastOld = all.Where(x => x.Start >= removed && x.Start < added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(removed).Max();
            double firstNew = all.Where(x => x.Start >= added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(double.NaN).Min();
            r.Figure = $"{h.Api!.WatchRequests} watch requests so far; replica 3's pod NotReady 200 ms after the disruption: its last new request {Ms(lastOld - removed)} after the change";
            r.Recovery = double.IsNaN(firstNew) ? "pod Ready again: never routed to" : $"pod Ready again: routed to {Ms(firstNew - added)} after the change";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            r.Rule(lastOld - removed <= 5000, $"the pool change was followed only {Ms(lastOld - removed)} later");
            r.Rule(!double.IsNaN(firstNew) && firstNew - added <= 5000, "the pod Ready again was not routed to within 5 s");
        };
    }

    // ---- the API server restarted ----
    private static async Task ApiRestartAsync(Harness h, Load load, Timeline t, Result r)
    {
        const int victim = 3;
        int leaderPort = h.Service!.ReadyPort;
        double down = load.Now;
        h.ApiFront!.Kill();
        await At(load, t.T0 + 3000).ConfigureAwait(false);
        double up = load.Now;
        h.ApiFront.Revive();
        await Task.Delay(500).ConfigureAwait(false);
        double removed = load.Now;
        h.SetReadyPods([0, 1, 2]);
        await At(load, Math.Max(t.T1, removed + 4000)).ConfigureAwait(false);
        double added = load.Now;
        h.SetReadyPods([0, 1, 2, 3]);
        t.End = Math.Max(t.End, load.Now + 4000);
        PostCheck = (r, all, t) =>
        {
            var failed = all.Where(x => x.Outcome != Outcome.Ok).ToList();
            var outage = all.Where(x => x.Start >= down && x.Start < up).ToList();
            double lastOld = all.Where(x => x.Start >= removed && x.Start < added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(removed).Max();
            double firstNew = all.Where(x => x.Start >= added && x.Replica == victim).Select(x => x.Start).DefaultIfEmpty(double.NaN).Min();
            bool sameLeader = h.Service.ReadyPort == leaderPort;
            r.Figure = $"{outage.Count(x => x.Outcome == Outcome.Ok)}/{outage.Count} OK during the outage (last known endpoints); leader kept its lease: {sameLeader}; readiness change 0.5 s after the API came back followed in {Ms(lastOld - removed)}";
            r.Recovery = double.IsNaN(firstNew) ? "pod Ready again: never routed to" : $"pod Ready again: routed to {Ms(firstNew - added)} after the change";
            r.Rule(failed.Count == 0, $"{failed.Count} requests failed (first: {Describe(failed)})");
            r.Rule(sameLeader, "a 3 s API outage (renew deadline 10 s) changed the leader");
            r.Rule(lastOld - removed <= 5000, $"the readiness change after the restart was followed only {Ms(lastOld - removed)} later");
            r.Rule(!double.IsNaN(firstNew) && firstNew - added <= 5000, "the pod Ready again was not routed to within 5 s");
        };
    }

    private static string Describe(List<Record> rs)
    {
        if (rs.Count == 0)
            return "none";
        Record x = rs[0];
        return $"{x.Outcome} {x.Status} replica {x.Replica} at {x.Start:0} ms, {x.End - x.Start:0} ms";
    }
}
