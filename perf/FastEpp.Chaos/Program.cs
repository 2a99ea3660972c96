using System.Diagnostics;
using System.Globalization;
using FastEpp.Chaos;
using FastEpp.Hosting;

// fastepp-chaos [--fast] [--scenario a,b] [--sim-dll PATH] [--out DIR]
// With --epp: the EPP itself (EppProgram, the code the fastepp binary runs) for the parent to kill and restart.
if (args.Length > 0 && args[0] == "--epp")
    return await EppProgram.RunAsync(args[1..]);

bool fast = false;
string? only = null, simDll = null, outDir = "out/chaos";
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--fast": fast = true; break;
        case "--scenario": only = args[++i]; break;
        case "--sim-dll": simDll = args[++i]; break;
        case "--out": outDir = args[++i]; break;
        default:
            Console.Error.WriteLine("usage: fastepp-chaos [--fast] [--scenario a,b] [--sim-dll PATH] [--out DIR]\nscenarios: " +
                string.Join(", ", Scenarios.All.Select(s => s.Name)));
            return 2;
    }
}
string chaosDll = typeof(Scenarios).Assembly.Location;
simDll ??= Path.Combine(AppContext.BaseDirectory, "../../../../../src/FastEpp.Sim/bin/Release/net10.0/fastepp-sim.dll");
if (!File.Exists(simDll))
{
    Console.Error.WriteLine("fastepp-sim.dll not found at " + simDll + " (build src/FastEpp.Sim or pass --sim-dll)");
    return 2;
}
var chosen = Scenarios.All.Where(s => only is null ? (!fast || s.Fast) : only.Split(',').Contains(s.Name)).ToList();
if (chosen.Count == 0)
{
    Console.Error.WriteLine("no such scenario: " + only);
    return 2;
}
var phases = fast ? new Phases(2000, 3000, 3000) : new Phases(3000, 6000, 5000);
outDir = Path.GetFullPath(Path.Combine(outDir, DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
var clock = Stopwatch.StartNew();
Console.WriteLine($"fastepp-chaos: {chosen.Count} scenario(s), phases warm {phases.Warm / 1000.0:0.#} s / fault {phases.Fault / 1000.0:0.#} s / recovery {phases.Recover / 1000.0:0.#} s, logs in {outDir}");
var results = new List<Result>();
foreach (bool kube in new[] { false, true })
{
    var group = chosen.Where(s => s.Kube == kube).ToList();
    if (group.Count == 0)
        continue;
    await using Harness h = await Harness.StartAsync(chaosDll, simDll, outDir, kube);
    Scenarios.CsvDir = Path.Combine(outDir, kube ? "kube" : "static");
    Console.WriteLine(kube
        ? $"fleet (pool mode): fake API server {h.Api!.BaseAddress}, EPP replicas :{h.KubeEpps[0].Port} and :{h.KubeEpps[1].Port} behind a Service on :{h.Service!.Port} (leader :{h.EppPort}); fronts {string.Join(",", h.Fronts.Select(f => f.Endpoint))}"
        : $"fleet: fastepp-sim 4 replicas (max-num-seqs 8) behind fault fronts {string.Join(",", h.Fronts.Select(f => f.Endpoint))}; EPP pid {h.Epp!.Pid} on :{h.EppPort}; gateway {h.GatewayClosed.BaseAddress} (fail-closed), {h.GatewayOpen.BaseAddress} (fail-open)");

    // Warm the whole path once and take the EPP's resting fds/threads as the leak baseline.
    await using (var warm = new Load(h.GatewayClosed.BaseAddress, clock, TimeSpan.FromSeconds(20)))
    {
        warm.Concurrency = 12;
        await Task.Delay(3000);
    }
    int baseFds = h.Epp!.Fds(), baseThreads = h.Epp.Threads();

    foreach (var s in group)
    {
        Console.WriteLine($"-- {s.Name}: {s.Fault}");
        Result r;
        try
        {
            r = await Scenarios.RunAsync(h, s, phases, clock, baseFds, baseThreads);
        }
        catch (Exception e)
        {
            r = new Result(s.Name, s.Fault);
            r.Rule(false, "the scenario itself failed: " + e.GetType().Name + ": " + e.Message);
        }
        results.Add(r);
        Console.WriteLine($"   {r.Requests} requests, {r.Failed} failed ({r.Allowed} allowed by the rule), {r.Hangs} hung; {r.Figure}; {r.Recovery}; {r.Leaks} → {(r.Pass ? "PASS" : "FAIL: " + string.Join("; ", r.Broken))}");
        if (!kube && h.Epp.Exited)
            await h.StartEppAsync();
    }
}

Console.WriteLine();
Console.WriteLine("| scenario | fault | requests | failed (allowed) | hung | figure | recovery | leak check | result |");
Console.WriteLine("|---|---|---:|---:|---:|---|---|---|---|");
foreach (var r in results)
    Console.WriteLine($"| {r.Name} | {r.Fault} | {r.Requests} | {r.Failed} ({r.Allowed}) | {r.Hangs} | {r.Figure} | {r.Recovery} | {r.Leaks} | {(r.Pass ? "PASS" : "FAIL: " + string.Join("; ", r.Broken))} |");
bool pass = results.All(r => r.Pass);
Console.WriteLine(pass ? "PASS" : "FAIL");
return pass ? 0 : 1;
