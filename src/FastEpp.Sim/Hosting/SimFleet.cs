using System.Net;
using FastEpp.Sim.Http;
using FastEpp.Sim.KvEvents;
using FastEpp.Sim.Options;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastEpp.Sim.Hosting;

/// <summary>
/// The whole simulator: N replicas, one engine driver thread, and one Kestrel server listening on one port per
/// replica (HTTP/1.1 and h2c are not mixed: HTTP/1.1 only, what vLLM serves). A connection middleware tags each
/// connection with its replica, so one terminal handler serves every port.
/// </summary>
internal sealed class SimFleet : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FleetDriver _driver;
    private readonly ListenOptions?[] _listen;

    private SimFleet(SimOptions options)
    {
        Options = options;
        Clock = new SimClock(options.TimeScale);
        Replicas = new Replica[options.Replicas];
        for (int i = 0; i < Replicas.Length; i++)
        {
            Replicas[i] = new Replica(i, options.Engine, options.Faults.Clone(), options.Seed);
        }
        _driver = new FleetDriver(Replicas, Clock);
        _listen = new ListenOptions?[Replicas.Length];

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            IPAddress address = options.Host switch
            {
                "*" or "0.0.0.0" or "" => IPAddress.Any,
                "localhost" => IPAddress.Loopback,
                _ => IPAddress.Parse(options.Host),
            };
            for (int i = 0; i < Replicas.Length; i++)
            {
                Replica replica = Replicas[i];
                int port = options.Port == 0 ? 0 : options.Port + i;
                int index = i;
                k.Listen(address, port, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    _listen[index] = lo;
                    lo.Use(next => connection =>
                    {
                        connection.Items[SimEndpoints.ReplicaItemKey] = replica;
                        return next(connection);
                    });
                });
            }
        });
        _app = builder.Build();
        var endpoints = new SimEndpoints(options, Replicas, Clock, _driver, _app.Logger);
        _app.Run(endpoints.HandleAsync);
    }

    /// <summary>Options in force.</summary>
    public SimOptions Options { get; }

    /// <summary>The shared virtual clock.</summary>
    public SimClock Clock { get; }

    /// <summary>The replicas, by index.</summary>
    public Replica[] Replicas { get; }

    /// <summary>Builds a fleet (not started).</summary>
    public static SimFleet Create(SimOptions options) => new(options);

    /// <summary>Binds every port and starts the engines.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        _driver.Start();
        await _app.StartAsync(cancellationToken);
        string host = Options.Host is "*" or "0.0.0.0" or "" ? Environment.MachineName : Options.Host;
        for (int i = 0; i < Replicas.Length; i++)
        {
            // Kestrel writes the bound endpoint back into ListenOptions (port 0 becomes the real port).
            int port = (_listen[i]?.IPEndPoint?.Port) ?? 0;
            Replicas[i].Port = port;
            Replicas[i].Endpoint = host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (Options.KvEvents is { PublishesZmq: true } kv)
        {
            StartKvEvents(kv, host);
        }
    }

    /// <summary>
    /// One publisher per replica, on vLLM's data-parallel endpoint rule when binding (replica i: the endpoint's port + i,
    /// likewise the replay port); a connecting endpoint is shared by all replicas (one central SUB). The topic may use <c>$(POD_IP)</c> and <c>$(POD_PORT)</c> (what Kubernetes expands in a pod's
    /// args, llm-d's <c>kv@$(POD_IP):$(POD_PORT)@model</c>): here the replica's host and HTTP port.
    /// Hashes are uint64 ints unless VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0 (then 8-byte bin), as vLLM.
    /// </summary>
    private void StartKvEvents(KvEventsConfig kv, string host)
    {
        bool intHashes = Environment.GetEnvironmentVariable("VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES") != "0";
        KvEventEncoding encoding = Options.KvEventsEncoding;
        foreach (Replica replica in Replicas)
        {
            try
            {
                replica.StartKvEvents(r => new KvEventPublisher(
                    KvEventsConfig.PubEndpointFor(kv.Endpoint, r.Index),
                    kv.ReplayEndpoint is null ? null : KvEventsConfig.OffsetEndpoint(kv.ReplayEndpoint, r.Index),
                    kv.Topic.Replace("$(POD_IP)", host, StringComparison.Ordinal)
                        .Replace("$(POD_PORT)", r.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal),
                    kv.BufferSteps, kv.Hwm, kv.MaxQueueSize, encoding, intHashes), Clock.UnixStartSeconds);
            }
            catch (NetMQ.NetMQException ex)
            {
                string why = ex is NetMQ.AddressAlreadyInUseException ? "address already in use" : ex.Message;
                string sockets = KvEventsConfig.PubEndpointFor(kv.Endpoint, replica.Index)
                    + (kv.ReplayEndpoint is null ? "" : ", replay " + KvEventsConfig.OffsetEndpoint(kv.ReplayEndpoint, replica.Index));
                throw new InvalidOperationException($"--kv-events-config: replica {replica.Index} cannot open its KV-event sockets ({sockets}): {why}", ex);
            }
        }
    }

    /// <summary>Completes when the host shuts down (Ctrl+C / SIGTERM).</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _driver.Dispose();
        foreach (Replica replica in Replicas)
        {
            replica.StopKvEvents();
        }
    }
}
