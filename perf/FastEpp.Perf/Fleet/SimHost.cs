using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;

namespace FastEpp.Perf.Fleet;

/// <summary>A fastepp-sim fleet hosted in this process (the perf tool and the gateway tests use it).</summary>
internal sealed class SimHost : IAsyncDisposable
{
    private readonly SimFleet _fleet;

    private SimHost(SimFleet fleet, string[] endpoints)
    {
        _fleet = fleet;
        Endpoints = endpoints;
    }

    /// <summary>host:port of each replica, by index.</summary>
    public string[] Endpoints { get; }

    /// <summary>Served base model name.</summary>
    public string Model => _fleet.Options.Model;

    /// <summary>Prompt + output token limit of the engines.</summary>
    public int MaxModelLen => _fleet.Options.Engine.MaxModelLen;

    /// <summary>Starts a fleet from fastepp-sim flags (<c>--replicas 4 --port 0 ...</c>).</summary>
    public static async Task<SimHost> StartAsync(string[] simArgs, CancellationToken cancellationToken = default)
    {
        SimOptions? options = SimOptions.Parse(simArgs, out string? error);
        if (options is null)
            throw new ArgumentException("fastepp-sim flags: " + error, nameof(simArgs));
        SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync(cancellationToken).ConfigureAwait(false);
        var endpoints = new string[fleet.Replicas.Length];
        for (int i = 0; i < endpoints.Length; i++)
            endpoints[i] = fleet.Replicas[i].Endpoint;
        return new SimHost(fleet, endpoints);
    }

    /// <summary>
    /// The oracle over this fleet as a gateway picker: (body, path) → the host:port of the replica with the lowest
    /// predicted TTFT (<see cref="FleetOracle"/>); null when the oracle cannot decide (the gateway falls back).
    /// </summary>
    public Func<System.Buffers.ReadOnlySequence<byte>, string, string?> OraclePicker()
    {
        var oracle = new FleetOracle(_fleet);
        string[] endpoints = Endpoints;
        return (body, path) =>
        {
            int i = oracle.Pick(body, chat: path.EndsWith("/chat/completions", StringComparison.Ordinal));
            return i >= 0 ? endpoints[i] : null;
        };
    }

    /// <summary>Starts sampling every replica's engine state at <paramref name="period"/> (the report's timelines).</summary>
    public FleetSampler StartSampler(TimeSpan period) => new(_fleet.Replicas, period);

    public ValueTask DisposeAsync() => _fleet.DisposeAsync();
}
