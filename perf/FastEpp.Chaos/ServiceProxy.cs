using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace FastEpp.Chaos;

/// <summary>
/// The EPP's Kubernetes Service as the gateway sees it: one address; each new connection goes to an EPP replica whose
/// readiness probe (gRPC health of the ext_proc service, as the reference's deployment probes it) last said SERVING. Only
/// the leader is ready under leader election. Probed every <see cref="ProbePeriod"/>; no ready replica → the connection
/// is closed at once (no endpoints: the gateway's failure mode decides).
/// </summary>
internal sealed class ServiceProxy : IAsyncDisposable
{
    public static readonly TimeSpan ProbePeriod = TimeSpan.FromMilliseconds(200);
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, int> _sockets = new();
    private readonly Func<IReadOnlyList<(int GrpcPort, int HealthPort)>> _replicas;
    private volatile int _ready;

    public ServiceProxy(Func<IReadOnlyList<(int GrpcPort, int HealthPort)>> replicas)
    {
        _replicas = replicas;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptLoopAsync();
        _ = ProbeLoopAsync();
    }

    public int Port { get; }

    /// <summary>gRPC port of the ready replica; 0 when none is.</summary>
    public int ReadyPort => _ready;

    private async Task ProbeLoopAsync()
    {
        var channels = new Dictionary<int, GrpcChannel>();
        while (!_stop.IsCancellationRequested)
        {
            int ready = 0;
            foreach (var (grpc, health) in _replicas())
            {
                if (!channels.TryGetValue(health, out var ch))
                    channels[health] = ch = GrpcChannel.ForAddress($"http://127.0.0.1:{health}");
                try
                {
                    var r = await new Health.HealthClient(ch).CheckAsync(new HealthCheckRequest { Service = "envoy.service.ext_proc.v3.ExternalProcessor" },
                        deadline: DateTime.UtcNow.AddMilliseconds(500)).ConfigureAwait(false);
                    if (r.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                    {
                        ready = grpc;
                        break;
                    }
                }
                catch (Grpc.Core.RpcException)
                {
                }
            }
            if (ready != _ready)
            {
                _ready = ready;
                foreach (var kv in _sockets) // the Service's endpoints changed: connections to a replica that left are cut
                {
                    if (kv.Value != ready)
                        FaultFront.Reset(kv.Key);
                }
            }
            try
            {
                await Task.Delay(ProbePeriod, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        foreach (var ch in channels.Values)
            ch.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = HandleAsync(client);
        }
    }

    private async Task HandleAsync(Socket client)
    {
        int target = _ready;
        if (target == 0)
        {
            FaultFront.Reset(client);
            return;
        }
        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        _sockets[client] = target;
        _sockets[upstream] = target;
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, target).ConfigureAwait(false);
            await Task.WhenAll(FaultFront.PipeAsync(client, upstream), FaultFront.PipeAsync(upstream, client)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            FaultFront.Reset(client);
            FaultFront.Reset(upstream);
        }
        finally
        {
            _sockets.TryRemove(client, out _);
            _sockets.TryRemove(upstream, out _);
            client.Dispose();
            upstream.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var s in _sockets.Keys)
            FaultFront.Reset(s);
        return ValueTask.CompletedTask;
    }
}
