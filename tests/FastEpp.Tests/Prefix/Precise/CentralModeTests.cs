using System.Diagnostics;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.Prefix.Precise;
using Microsoft.Extensions.Logging.Abstractions;
using NetMQ;
using NetMQ.Sockets;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// llm-d's central mode (<c>kvEventsConfig.zmqEndpoint</c>, <c>discoverPods: false</c>): FastEpp BINDS one ZMTP SUB
/// endpoint and real ZeroMQ PUBs CONNECT to it (NetMQ here, libzmq via pyzmq below, fastepp-sim in
/// <see cref="PreciseWithSimulatorTests"/>). Each connection's topic pod-id names the endpoint; unknown pods are counted
/// and not indexed; sequence tracking and clear-on-disconnect are per connection.
/// </summary>
public sealed class CentralModeTests
{
    private const int B = 4;
    private static readonly ulong s_root = TokenBlockKeys.Root(""u8);
    private static long s_version = 1000;

    private static uint[] Tokens(int blocks, uint seed) => Enumerable.Range(0, blocks * B).Select(i => (uint)(seed * 1000 + i)).ToArray();

    private static ulong[] RequestKeys(uint[] tokens, string model = "m")
    {
        var keys = new ulong[tokens.Length / B];
        int n = TokenBlockKeys.Chain(TokenBlockKeys.ChainStart(s_root, Encoding.UTF8.GetBytes(model)), tokens, B, default, keys);
        return keys[..n];
    }

    private static EndpointSnapshot Pool(params (string Address, int Port)[] endpoints) =>
        new(endpoints.Select((e, i) => new Endpoint($"ns/pod{i}", $"pod{i}", e.Address, e.Port, e.Port)).ToArray(), Interlocked.Increment(ref s_version));

    private static byte[] Stored(ulong[] hashes, ulong? parent, uint[] tokens) =>
        new MsgPackTestWriter().Batch(1).BlockStored(hashes, parent, tokens, B).EndBatch().ToArray();

    private static byte[] Empty() => new MsgPackTestWriter().Batch(0).EndBatch().ToArray();

    private sealed class Rig : IAsyncDisposable
    {
        public readonly PreciseIndex Index = new(1 << 16);
        public readonly PreciseCounters Counters = new();
        public readonly KvEventSubscriptions Subs;

        public Rig(int maxConnections = ZmtpListener.DefaultMaxConnections, string host = "127.0.0.1") =>
            Subs = new KvEventSubscriptions(Index, B, s_root, 2, 5557, "kv@"u8, Counters, discoverPods: false,
                centralHost: host, centralPort: 0, maxCentralConnections: maxConnections);

        public async Task<int> StartAsync(EndpointSnapshot pool)
        {
            Subs.Reconcile(pool);
            await Wait.UntilAsync(() => Subs.Listener!.BoundPort != 0, "the central SUB is bound");
            return Subs.Listener!.BoundPort;
        }

        public int Held(ulong[] keys, int endpoint)
        {
            int n = 0;
            while (n < keys.Length && Index.Holds(keys[n], endpoint))
                n++;
            return n;
        }

        public ValueTask DisposeAsync() => Subs.DisposeAsync();
    }

    /// <summary>A PUB that connects to the EPP (vLLM with a non-wildcard endpoint) and publishes with its own sequence numbers.</summary>
    private sealed class ConnectingPub : IDisposable
    {
        private readonly PublisherSocket _pub = new();
        public readonly string Topic;
        public ulong Seq;

        public ConnectingPub(int port, string topic)
        {
            Topic = topic;
            _pub.Options.Linger = TimeSpan.Zero;
            _pub.Connect($"tcp://127.0.0.1:{port}");
        }

        public void Send(byte[] payload, ulong? seq = null)
        {
            ulong s = seq ?? Seq;
            Seq = s + 1;
            _pub.SendMoreFrame(Topic).SendMoreFrame(MsgPackTestWriter.SeqFrame(s)).SendFrame(payload);
        }

        /// <summary>Empty batches until one was applied (a PUB drops what it sends before the subscription reached it).</summary>
        public Task UntilApplied(Func<bool> applied) => Wait.UntilAsync(() =>
        {
            if (applied())
                return true;
            Send(Empty());
            return false;
        }, $"a batch from {Topic} was applied");

        public void Dispose() => _pub.Dispose();
    }

    [Fact]
    public async Task PublishersConnectToTheBoundSub_EventsGoToTheEndpointTheirTopicNames_UnknownPodsAreCountedNotIndexed()
    {
        await using var rig = new Rig();
        EndpointSnapshot pool = Pool(("10.0.0.5", 8000), ("10.0.0.6", 8000), ("10.0.0.7", 8000), ("10.0.0.7", 8001));
        int a = pool.Endpoints[0].State.Id, b = pool.Endpoints[1].State.Id;
        int port = await rig.StartAsync(pool);
        Assert.False(rig.Subs.HasStream(a));

        using var pubA = new ConnectingPub(port, "kv@10.0.0.5:8000@m");   // address:port, as llm-d's guides set it
        using var pubB = new ConnectingPub(port, "kv@10.0.0.6@m");        // address only: unique in the pool
        using var ghost = new ConnectingPub(port, "kv@10.9.9.9:8000@m");  // not in the pool
        using var twin = new ConnectingPub(port, "kv@10.0.0.7@m");        // address shared by two endpoints: ambiguous
        await pubA.UntilApplied(() => rig.Subs.TryGetLastSeq(a, out _));
        await pubB.UntilApplied(() => rig.Subs.TryGetLastSeq(b, out _));
        Assert.True(rig.Subs.HasStream(a) && rig.Subs.HasStream(b));
        Assert.False(rig.Subs.HasStream(pool.Endpoints[2].State.Id) || rig.Subs.HasStream(pool.Endpoints[3].State.Id));

        uint[] ta = Tokens(3, 1), tb = Tokens(2, 2);
        pubA.Send(Stored([11, 12, 13], null, ta));
        pubB.Send(Stored([21, 22], null, tb));
        await Wait.UntilAsync(() => rig.Held(RequestKeys(ta), a) == 3 && rig.Held(RequestKeys(tb), b) == 2, "both pods' blocks are indexed");
        Assert.Equal(0, rig.Held(RequestKeys(ta), b));

        long keys = rig.Index.KeyCount;
        await Wait.UntilAsync(() =>
        {
            ghost.Send(Stored([31], null, Tokens(1, 3)));
            twin.Send(Stored([41], null, Tokens(1, 4)));
            return rig.Counters[PreciseEvent.UnknownPod] >= 4;
        }, "the unknown pods' batches are counted");
        Assert.Equal(keys, rig.Index.KeyCount);
        Assert.Equal(4, rig.Subs.CentralConnections);

        // A sequence gap on one connection clears that pod only.
        pubA.Send(Empty(), pubA.Seq + 5);
        await Wait.UntilAsync(() => rig.Counters[PreciseEvent.SequenceGaps] == 1, "the gap is seen");
        Assert.Equal(0, rig.Held(RequestKeys(ta), a));
        Assert.Equal(2, rig.Held(RequestKeys(tb), b));

        // A disconnect clears that pod's entries and takes its stream down.
        pubB.Send(Stored([23], 22, Tokens(1, 5)));
        await Wait.UntilAsync(() => rig.Index.Holds(RequestKeys([.. tb, .. Tokens(1, 5)])[2], b), "the child block is indexed");
        pubB.Dispose();
        await Wait.UntilAsync(() => !rig.Subs.HasStream(b), "pod b's stream is down");
        Assert.Equal(0, rig.Held(RequestKeys(tb), b));
        Assert.True(rig.Counters[PreciseEvent.Disconnects] >= 1);
        Assert.True(rig.Subs.HasStream(a));
    }

    [Fact]
    public async Task AnUnknownPodThatJoinsThePool_IsIndexedFromThen_OneThatLeaves_IsCleared()
    {
        await using var rig = new Rig();
        EndpointSnapshot pool = Pool(("10.0.0.5", 8000));
        int port = await rig.StartAsync(pool);
        using var pub = new ConnectingPub(port, "kv@10.0.0.8:8000@m");
        await Wait.UntilAsync(() =>
        {
            pub.Send(Empty());
            return rig.Counters[PreciseEvent.UnknownPod] > 0;
        }, "the pod is unknown");

        EndpointSnapshot grown = Pool(("10.0.0.5", 8000), ("10.0.0.8", 8000));
        rig.Subs.Reconcile(grown);
        int id = grown.Endpoints[1].State.Id;
        uint[] t = Tokens(2, 7);
        await Wait.UntilAsync(() =>
        {
            pub.Send(Stored([71, 72], null, t));
            return rig.Held(RequestKeys(t), id) == 2;
        }, "the joined pod's blocks are indexed");
        Assert.True(rig.Subs.HasStream(id));

        rig.Subs.Reconcile(Pool(("10.0.0.5", 8000)));
        Assert.Equal(0, rig.Held(RequestKeys(t), id));
        Assert.False(rig.Subs.HasStream(id));
    }

    [Fact]
    public async Task WildcardHost_BindsAllInterfaces_IPv4PublishersConnect()
    {
        await using var rig = new Rig(host: "*");
        EndpointSnapshot pool = Pool(("10.0.0.5", 8000));
        int port = await rig.StartAsync(pool);
        using var pub = new ConnectingPub(port, "kv@10.0.0.5:8000@m");
        await pub.UntilApplied(() => rig.Subs.TryGetLastSeq(pool.Endpoints[0].State.Id, out _));
        Assert.Equal("tcp://*:0", rig.Subs.Listener!.Address);
    }

    [Fact]
    public async Task ConnectionsBeyondTheLimit_AreClosed_AndCounted()
    {
        await using var rig = new Rig(maxConnections: 1);
        EndpointSnapshot pool = Pool(("10.0.0.5", 8000), ("10.0.0.6", 8000));
        int port = await rig.StartAsync(pool);
        using var first = new ConnectingPub(port, "kv@10.0.0.5:8000@m");
        await first.UntilApplied(() => rig.Subs.TryGetLastSeq(pool.Endpoints[0].State.Id, out _));
        using var second = new ConnectingPub(port, "kv@10.0.0.6:8000@m");
        await Wait.UntilAsync(() => rig.Subs.Listener!.Refused > 0, "the second publisher is refused");
        Assert.False(rig.Subs.HasStream(pool.Endpoints[1].State.Id));
        Assert.Equal(1, rig.Subs.Listener!.LiveConnections);
    }

    /// <summary>vLLM's own wire (pyzmq/libzmq PUB) in its connect mode, into FastEpp's bound SUB.</summary>
    [Fact]
    public async Task PyzmqPublisherConnecting_ToOurBoundSub_IsIndexedForItsPod()
    {
        PyZmq.RequireInstalled();

        await using var rig = new Rig();
        EndpointSnapshot pool = Pool(("10.0.0.5", 8000));
        int id = pool.Endpoints[0].State.Id;
        int port = await rig.StartAsync(pool);
        byte[] empty = Empty();
        var psi = PyZmq.Publisher(port.ToString(System.Globalization.CultureInfo.InvariantCulture), empty);
        using var publisher = Process.Start(psi)!;
        try
        {
            await Wait.UntilAsync(() => rig.Subs.TryGetLastSeq(id, out ulong s) && s >= 5, "five batches from the libzmq publisher");
            Assert.True(rig.Subs.HasStream(id));
            Assert.Equal(0, rig.Counters[PreciseEvent.SequenceGaps]);
            Assert.Equal(0, rig.Counters[PreciseEvent.Malformed]);
            Assert.Equal(0, rig.Counters[PreciseEvent.UnknownPod]);
        }
        finally
        {
            publisher.Kill();
            await publisher.WaitForExitAsync();
        }
        await Wait.UntilAsync(() => !rig.Subs.HasStream(id), "the killed publisher's stream is down");
    }
}
