using System.Globalization;
using FastEpp.Prefix.Precise;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// Two precise EPPs active-active over one simulated fleet (the perf suite's <c>--epp-replicas 2</c>): each EPP
/// SUBscribes to every engine's KV-event PUB socket at serving port + <c>kvEventsPortOffset</c>, and a PUB socket takes
/// any number of subscribers, so both hear every engine — also about a request neither of them routed (traffic that
/// bypassed the EPPs): both send the next request with that prompt to the engine that holds its blocks.
/// </summary>
public sealed class PreciseEppPairTests
{
    private const int Replicas = 2;

    [Fact]
    public async Task TwoEpps_BothHearOneEnginesEvents_AndRouteToIt()
    {
        int httpPort = PreciseWithSimulatorTests.FreeConsecutivePorts(Replicas);
        int pubPort = PreciseWithSimulatorTests.FreeConsecutivePorts(Replicas, avoid: httpPort);
        string kv = "{\"enable_kv_cache_events\":true,\"publisher\":\"zmq\",\"endpoint\":\"tcp://*:" + pubPort.ToString(CultureInfo.InvariantCulture) +
                    "\",\"topic\":\"kv@$(POD_IP):$(POD_PORT)@" + PreciseWithSimulatorTests.Model + "\"}";
        SimOptions options = SimOptions.Parse(
            ["--replicas", Replicas.ToString(CultureInfo.InvariantCulture), "--port", httpPort.ToString(CultureInfo.InvariantCulture), "--time-scale", "0.02",
             "--model", PreciseWithSimulatorTests.Model, "--block-size", "16", "--kv-events-config", kv], out string? error)
            ?? throw new InvalidOperationException(error);
        await using SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();

        string config = PreciseWithSimulatorTests.PreciseConfig("kvEventsPortOffset: " + (pubPort - httpPort).ToString(CultureInfo.InvariantCulture));
        string endpoints = string.Join(',', Enumerable.Range(0, Replicas).Select(i => $"127.0.0.1:{httpPort + i}"));
        await using var a = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        await using var b = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        var pair = new[] { a, b };
        PrecisePrefixCacheProducer[] producers = pair
            .Select(e => ((ConfiguredScheduler)e.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single()).ToArray();
        int[][] ids = pair.Select(e => Enumerable.Range(0, Replicas).Select(i => e.Endpoints.Endpoints.Single(x => x.Port == httpPort + i).State.Id).ToArray()).ToArray();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        for (int e = 0; e < 2; e++)
        {
            int k = e;
            await Wait.UntilAsync(() => ids[k].All(producers[k].Subscriptions.HasStream), $"EPP {k}: every replica's KV-event stream is up");
        }
        // Each engine's PUB reaches both SUBs: serve small requests at each replica until BOTH EPPs applied one of its batches.
        for (int r = 0; r < Replicas; r++)
        {
            int replica = r, round = 0;
            await Wait.UntilAsync(async () =>
            {
                if (producers[0].Subscriptions.TryGetLastSeq(ids[0][replica], out _) && producers[1].Subscriptions.TryGetLastSeq(ids[1][replica], out _))
                    return true;
                await PreciseWithSimulatorTests.Direct(http, httpPort + replica, $"Warm-up {replica}.{round++}: a short system prompt of a few blocks.", "hi");
                return false;
            }, $"replica {replica}'s events reach both EPPs");
        }

        // Replica 1's engine stores a long system prompt that no EPP routed: both EPPs learn it from the one engine's events.
        string system = PreciseWithSimulatorTests.System("pair");
        long[] keys = producers.Select(p => p.Index.KeyCount).ToArray();
        int promptTokens = await PreciseWithSimulatorTests.Direct(http, httpPort + 1, system, "first question");
        Assert.True(promptTokens >= 400, $"prompt of {promptTokens} tokens");
        for (int e = 0; e < 2; e++)
        {
            int k = e;
            await Wait.UntilAsync(() => producers[k].Index.KeyCount >= keys[k] + promptTokens / 16 - 2, $"EPP {k} indexed replica 1's BlockStored events");
        }

        for (int q = 0; q < 2; q++)
        {
            Assert.Equal($"127.0.0.1:{httpPort + 1}", await PreciseWithSimulatorTests.Route(a, system, "question a" + q));
            Assert.Equal($"127.0.0.1:{httpPort + 1}", await PreciseWithSimulatorTests.Route(b, system, "question b" + q));
        }
        Assert.All(producers, p => Assert.Equal(0, p.Counters[PreciseEvent.BlockSizeMismatch]));
    }
}
