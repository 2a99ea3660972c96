using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Benchmarks.Metrics;

/// <summary>
/// "Poll N endpoints served by one local fake every 50 ms" — not a BenchmarkDotNet shape, so a
/// console mode: <c>dotnet run -c Release --project perf/FastEpp.Benchmarks -- poller-load
/// [--endpoints 1000] [--seconds 10] [--warmup 3] [--interval-ms 50] [--payload small|vllm]</c>.
/// The fake model server runs in a child process (<c>poller-fake</c>, one Kestrel listener per
/// endpoint on 127.0.0.1) so the CPU measured here is the poller's alone. Reports cores used
/// (process CPU time / wall time), scrapes/s, allocation per scrape and the freshness distribution
/// (age of every endpoint's metrics sampled every 100 ms).
/// </summary>
internal static class PollerLoadTest
{
    public static bool TryRun(string[] args)
    {
        if (args.Length > 0 && args[0] == "poller-load")
        {
            RunAsync(ParseArgs(args)).GetAwaiter().GetResult();
            return true;
        }
        if (args.Length > 0 && args[0] == "poller-fake")
        {
            RunFakeAsync(ParseArgs(args)).GetAwaiter().GetResult();
            return true;
        }
        return false;
    }

    private static Dictionary<string, string> ParseArgs(string[] args)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i + 1 < args.Length; i += 2)
            d[args[i].TrimStart('-')] = args[i + 1];
        return d;
    }

    private static int Int(Dictionary<string, string> a, string key, int fallback) =>
        a.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static async Task RunAsync(Dictionary<string, string> a)
    {
        int endpoints = Int(a, "endpoints", 1000);
        int seconds = Int(a, "seconds", 10);
        int warmup = Int(a, "warmup", 3);
        int intervalMs = Int(a, "interval-ms", 50);
        string payload = a.GetValueOrDefault("payload", "small");

        using var child = StartFake(endpoints, payload, out var ports);
        try
        {
            var registry = new EndpointRegistry();
            var list = new Endpoint[endpoints];
            for (int i = 0; i < endpoints; i++)
                list[i] = new Endpoint($"default/pod-{i}-rank-0", $"pod-{i}", "127.0.0.1", ports[i], ports[i]);
            registry.Publish(list);

            var options = new MetricsPollerOptions { RefreshInterval = TimeSpan.FromMilliseconds(intervalMs) };
            await using var poller = new MetricsPoller(registry, EngineConfigs.CreateDefaultSelector(), options,
                NullLogger<MetricsPoller>.Instance);
            poller.Start();
            await Task.Delay(TimeSpan.FromSeconds(warmup));

            var process = Process.GetCurrentProcess();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
            int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
            long scrapes0 = poller.ScrapeCount, failures0 = poller.FailureCount;
            var wall = Stopwatch.StartNew();

            var ages = new List<double>(endpoints * seconds * 10 + 16);
            int neverScraped = 0;
            while (wall.Elapsed < TimeSpan.FromSeconds(seconds))
            {
                await Task.Delay(100);
                var now = DateTimeOffset.UtcNow;
                foreach (var e in list)
                {
                    var m = e.State.Metrics;
                    if (!m.IsFresh)
                        neverScraped++;
                    else
                        ages.Add((now - m.UpdatedAt).TotalMilliseconds);
                }
            }
            double wallSeconds = wall.Elapsed.TotalSeconds;
            process.Refresh();
            double cpuSeconds = (process.TotalProcessorTime - cpu0).TotalSeconds;
            long scrapes = poller.ScrapeCount - scrapes0, failures = poller.FailureCount - failures0;
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - alloc0;

            ages.Sort();
            double P(double q) => ages.Count == 0 ? double.NaN : ages[Math.Min(ages.Count - 1, (int)(q * ages.Count))];
            var sb = new StringBuilder();
            sb.AppendLine(CultureInfo.InvariantCulture, $"poller-load: {endpoints} endpoints, interval {intervalMs} ms, payload '{payload}' ({PayloadBytes(payload)} B), {seconds} s measured after {warmup} s warm-up, {Environment.ProcessorCount} cores visible");
            sb.AppendLine("| metric | value |");
            sb.AppendLine("|---|---|");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| poller CPU (cores = CPU time / wall time) | {cpuSeconds / wallSeconds:0.000} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| scrapes/s (target {endpoints * 1000.0 / intervalMs:0}) | {scrapes / wallSeconds:0} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| CPU per scrape | {cpuSeconds * 1e6 / Math.Max(1, scrapes):0.0} µs |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| failed scrapes | {failures} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| allocated per scrape (HttpClient + request objects) | {allocated / Math.Max(1, scrapes)} B |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| GCs gen0/gen1/gen2 | {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| metrics age p50 / p90 / p99 / max | {P(0.5):0.0} / {P(0.9):0.0} / {P(0.99):0.0} / {P(1):0.0} ms |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| samples (never-scraped samples) | {ages.Count} ({neverScraped}) |");
            Console.WriteLine(sb.ToString());
            await poller.StopAsync();
        }
        finally
        {
            if (!child.HasExited)
                child.Kill(entireProcessTree: false);
            await child.WaitForExitAsync();
        }
    }

    private static int PayloadBytes(string payload) => Payload(payload).Length;

    private static byte[] Payload(string name) =>
        name == "vllm" ? MetricsPayloads.Load("vllm.txt") : Encoding.UTF8.GetBytes(MetricsPayloads.SmallVllm);

    private static Process StartFake(int listeners, string payload, out int[] ports)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(typeof(PollerLoadTest).Assembly.Location);
        foreach (var arg in new[] { "poller-fake", "--listeners", listeners.ToString(CultureInfo.InvariantCulture), "--payload", payload })
            psi.ArgumentList.Add(arg);
        var child = Process.Start(psi) ?? throw new InvalidOperationException("could not start the fake server");
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null && !line.StartsWith("PORTS ", StringComparison.Ordinal))
        {
        }
        if (line is null)
            throw new InvalidOperationException("fake server exited before reporting its ports");
        ports = Array.ConvertAll(line[6..].Split(','), s => int.Parse(s, CultureInfo.InvariantCulture));
        return child;
    }

    private static async Task RunFakeAsync(Dictionary<string, string> a)
    {
        int listeners = Int(a, "listeners", 1000);
        byte[] body = Payload(a.GetValueOrDefault("payload", "small"));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o =>
        {
            for (int i = 0; i < listeners; i++)
                o.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        app.Run(async ctx =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            ctx.Response.ContentLength = body.Length;
            await ctx.Response.Body.WriteAsync(body);
        });
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Console.WriteLine("PORTS " + string.Join(',', addresses.Select(x => new Uri(x).Port)));
        Console.Out.Flush();
        // Runs until the parent closes stdin or kills the process.
        await Task.Run(() => Console.In.ReadToEnd());
        await app.StopAsync();
    }
}
