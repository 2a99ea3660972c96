using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FastEpp.Prefix.Precise;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using FastEpp.Tests.ExtProc;
using NetMQ;
using NetMQ.Sockets;
using Endpoint = FastEpp.Endpoints.Endpoint;
using static FastEpp.Tests.Prefix.Precise.PreciseWithSimulatorTests;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// <c>podDiscoveryConfig.replaySocketPort</c> against fastepp-sim's replay ROUTER (vLLM's protocol): a sequence gap asks
/// for the missed batches instead of clearing; a (re)connect rebuilds from the engine's buffer; a replay that cannot
/// be served clears, as without replay. The gap is forced by a ZMTP-aware TCP proxy between the engine's PUB and the
/// EPP's SUB that swallows whole messages on demand.
/// </summary>
public sealed class ReplayTests
{
    /// <summary>Forwards one ZMTP connection each way; PUB → SUB messages are dropped whole while <see cref="Dropping"/>.</summary>
    private sealed class DropProxy : IAsyncDisposable
    {
        private readonly Socket _listen = new(SocketType.Stream, ProtocolType.Tcp);
        private readonly int _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _open = [];
        public volatile bool Dropping;
        public long Dropped;
        public long LastSeq = -1;
        public int Connections;

        public DropProxy(int target)
        {
            _target = target;
            _listen.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listen.Listen(4);
            Port = ((IPEndPoint)_listen.LocalEndPoint!).Port;
            _ = AcceptAsync();
        }

        public int Port { get; }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    Socket sub = await _listen.AcceptAsync(_stop.Token);
                    var pub = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await pub.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                    lock (_open)
                        _open.AddRange([sub, pub]);
                    Interlocked.Increment(ref Connections);
                    _ = CopyAsync(sub, pub);
                    _ = FilterAsync(pub, sub);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task CopyAsync(Socket from, Socket to)
        {
            try
            {
                using var input = new NetworkStream(from, ownsSocket: false);
                using var output = new NetworkStream(to, ownsSocket: false);
                await input.CopyToAsync(output, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task FilterAsync(Socket from, Socket to)
        {
            try
            {
                using var input = new NetworkStream(from, ownsSocket: false);
                using var output = new NetworkStream(to, ownsSocket: false);
                byte[] greeting = new byte[64];
                await input.ReadExactlyAsync(greeting, _stop.Token);
                await output.WriteAsync(greeting, _stop.Token);
                byte[] head = new byte[9];
                bool inMessage = false, dropping = false;
                int frame = 0;
                while (true)
                {
                    await input.ReadExactlyAsync(head.AsMemory(0, 2), _stop.Token);
                    int headLength = 2;
                    long size = head[1];
                    if ((head[0] & 0x02) != 0)
                    {
                        await input.ReadExactlyAsync(head.AsMemory(2, 7), _stop.Token);
                        size = (long)BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(1, 8));
                        headLength = 9;
                    }
                    byte[] body = new byte[size];
                    await input.ReadExactlyAsync(body, _stop.Token);
                    bool command = (head[0] & 0x04) != 0;
                    if (!command && !inMessage)
                    {
                        inMessage = true;
                        dropping = Dropping;
                        frame = 0;
                    }
                    if (!command && frame == 1 && size == 8)
                        Interlocked.Exchange(ref LastSeq, (long)BinaryPrimitives.ReadUInt64BigEndian(body));
                    if (command || !dropping)
                    {
                        await output.WriteAsync(head.AsMemory(0, headLength), _stop.Token);
                        await output.WriteAsync(body, _stop.Token);
                    }
                    if (!command)
                    {
                        frame++;
                        if ((head[0] & 0x01) == 0)
                        {
                            if (dropping)
                                Interlocked.Increment(ref Dropped);
                            inMessage = dropping = false;
                        }
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or EndOfStreamException)
            {
            }
            finally
            {
                to.Dispose();
                from.Dispose();
            }
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listen.Dispose();
            lock (_open)
                foreach (Socket s in _open)
                    s.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static string Config(int socketPort, int replayPort) => $$"""
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: precise-prefix-cache-producer
          parameters:
            tokenProcessorConfig: {blockSizeTokens: 16}
            kvEventsConfig:
              podDiscoveryConfig:
                socketPort: {{socketPort}}
                replaySocketPort: {{replayPort}}
            tokenizeTimeout: 5s
        - type: prefix-cache-scorer
          parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
        - type: max-score-picker
        schedulingProfiles:
        - name: default
          plugins:
          - {pluginRef: prefix-cache-scorer, weight: 1}
        """;

    // The publisher and replay sockets bind port 0 (ephemeral, read back from the fleet): a port picked free beforehand can
    // be taken by a parallel test before the simulator binds it.
    private static async Task<SimFleet> OneReplicaAsync(int httpPort, int bufferSteps = 10_000, string encoding = "map")
    {
        string kv = "{\"enable_kv_cache_events\":true,\"publisher\":\"zmq\",\"endpoint\":\"tcp://*:0\",\"replay_endpoint\":\"tcp://*:0" +
                    "\",\"buffer_steps\":" + bufferSteps.ToString(CultureInfo.InvariantCulture) +
                    ",\"topic\":\"kv@$(POD_IP):$(POD_PORT)@" + Model + "\"}";
        SimOptions options = SimOptions.Parse(
            ["--replicas", "1", "--port", httpPort.ToString(CultureInfo.InvariantCulture), "--time-scale", "0.02", "--model", Model,
             "--block-size", "16", "--kv-events-encoding", encoding, "--kv-events-config", kv], out string? error) ?? throw new InvalidOperationException(error);
        SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();
        return fleet;
    }

    /// <summary><see cref="Wait.UntilAsync(Func{bool}, string, TimeSpan?)"/> whose failure says what the state was then.</summary>
    private static async Task UntilAsync(Func<bool> condition, Func<string> what)
    {
        try
        {
            await Wait.UntilAsync(condition, "the condition");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException(e.Message + ": " + what());
        }
    }

    private static PrecisePrefixCacheProducer Producer(EppServer epp) =>
        ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();

    /// <summary>
    /// Serves small requests directly until a live batch passed the proxy (the PUB has the subscription; the replay on
    /// connect alone would not show that) and the EPP applied everything the engine published.
    /// </summary>
    private static Task WarmUp(HttpClient http, int httpPort, PrecisePrefixCacheProducer producer, int id, FastEpp.Sim.KvEvents.KvEventPublisher publisher, DropProxy proxy)
    {
        int round = 0;
        return Wait.UntilAsync(async () =>
        {
            if (producer.Subscriptions.HasStream(id) && proxy.LastSeq >= 0 && publisher.Pending == 0
                && producer.Subscriptions.TryGetLastSeq(id, out ulong seq) && (long)seq == publisher.PublishedBatches - 1)
                return true;
            await Direct(http, httpPort, $"Warm-up {round++}: a short system prompt of a few blocks, nothing more to it.", "hi");
            return false;
        }, "the replica's live events reach the EPP through the proxy");
    }

    [Fact]
    public async Task SequenceGap_MissedBatchesAreReplayed_NotCleared()
    {
        int httpPort = FreeConsecutivePorts(1);
        await using SimFleet fleet = await OneReplicaAsync(httpPort);
        int pubPort = fleet.Replicas[0].KvEvents!.Port, replayPort = fleet.Replicas[0].KvEvents!.ReplayPort;
        await using var proxy = new DropProxy(pubPort);
        await using var epp = await EppServer.StartAsync($"127.0.0.1:{httpPort}", "--refresh-metrics-interval", "20ms", "--config-text", Config(proxy.Port, replayPort));
        PrecisePrefixCacheProducer producer = Producer(epp);
        int id = epp.Endpoints.Endpoints.Single().State.Id;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await WarmUp(http, httpPort, producer, id, fleet.Replicas[0].KvEvents!, proxy);

        // Every batch of this request is lost on the way (the PUB's high-water mark, a network hiccup…).
        var publisher = fleet.Replicas[0].KvEvents!;
        long before = publisher.PublishedBatches;
        long keys = producer.Index.KeyCount;
        long unknownParents = producer.Counters[PreciseEvent.UnknownParent];
        proxy.Dropping = true;
        int promptTokens = await Direct(http, httpPort, PreciseWithSimulatorTests.System("replayed"), "first question");
        await UntilAsync(() => publisher.PublishedBatches > before && publisher.Pending == 0 && proxy.LastSeq == publisher.PublishedBatches - 1, () => $"the request's batches passed the proxy (proxy last seq {proxy.LastSeq}, dropped {proxy.Dropped}, connections {proxy.Connections}; published {publisher.PublishedBatches}, pending {publisher.Pending})");
        proxy.Dropping = false;
        Assert.True(proxy.Dropped >= 1);
        Assert.True(producer.Index.KeyCount < keys + promptTokens / 16 - 2, "the dropped blocks are not indexed yet");

        // The next batch reveals the gap: the EPP asks the replay socket for the missed ones.
        await Direct(http, httpPort, "Next: a short system prompt of a few blocks, nothing more to it.", "next");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "the dropped BlockStored events were replayed and indexed");
        Assert.True(producer.Counters[PreciseEvent.ReplayedBatches] >= proxy.Dropped);
        Assert.Equal(0, producer.Counters[PreciseEvent.SequenceGaps]);
        Assert.Equal(0, producer.Counters[PreciseEvent.ReplayFailures]);
        Assert.Equal(unknownParents, producer.Counters[PreciseEvent.UnknownParent]);
        Assert.True(producer.Subscriptions.HasStream(id));
    }

    [Fact]
    public async Task GapOlderThanTheEngineBuffer_ClearsThenRebuildsFromWhatTheBufferHolds()
    {
        int httpPort = FreeConsecutivePorts(1);
        await using SimFleet fleet = await OneReplicaAsync(httpPort, bufferSteps: 1);
        int pubPort = fleet.Replicas[0].KvEvents!.Port, replayPort = fleet.Replicas[0].KvEvents!.ReplayPort;
        await using var proxy = new DropProxy(pubPort);
        await using var epp = await EppServer.StartAsync($"127.0.0.1:{httpPort}", "--refresh-metrics-interval", "20ms", "--config-text", Config(proxy.Port, replayPort));
        PrecisePrefixCacheProducer producer = Producer(epp);
        int id = epp.Endpoints.Endpoints.Single().State.Id;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await WarmUp(http, httpPort, producer, id, fleet.Replicas[0].KvEvents!, proxy);

        var publisher = fleet.Replicas[0].KvEvents!;
        long before = publisher.PublishedBatches;
        proxy.Dropping = true;
        for (int i = 0; i < 3; i++)
            await Direct(http, httpPort, PreciseWithSimulatorTests.System("lost " + i), "q");
        await UntilAsync(() => publisher.PublishedBatches >= before + 3 && publisher.Pending == 0 && proxy.LastSeq == publisher.PublishedBatches - 1, () => $"the batches passed the proxy (proxy last seq {proxy.LastSeq}, dropped {proxy.Dropped}, connections {proxy.Connections}; published {publisher.PublishedBatches}, pending {publisher.Pending})");
        proxy.Dropping = false;
        Assert.True(proxy.Dropped >= 3);

        long gaps = producer.Counters[PreciseEvent.SequenceGaps];
        await Direct(http, httpPort, "Next: a short system prompt of a few blocks, nothing more to it.", "next");
        // The buffer (1 batch) starts after the requested sequence: cleared (removals may be lost), then rebuilt from it.
        await Wait.UntilAsync(() => producer.Counters[PreciseEvent.SequenceGaps] > gaps, "the too-old gap cleared the endpoint");
        Assert.Equal(0, producer.Counters[PreciseEvent.ReplayFailures]);
        Assert.True(producer.Subscriptions.HasStream(id));
    }

    [Fact]
    public async Task EppStartsAfterTheEngineStoredBlocks_ConnectReplaysTheEngineBuffer()
    {
        int httpPort = FreeConsecutivePorts(1);
        await using SimFleet fleet = await OneReplicaAsync(httpPort);
        int pubPort = fleet.Replicas[0].KvEvents!.Port, replayPort = fleet.Replicas[0].KvEvents!.ReplayPort;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        int promptTokens = await Direct(http, httpPort, PreciseWithSimulatorTests.System("before"), "asked before the EPP existed");
        var publisher = fleet.Replicas[0].KvEvents!;
        await Wait.UntilAsync(() => publisher.Pending == 0 && publisher.PublishedBatches > 0, "the engine published its batches");

        await using var epp = await EppServer.StartAsync($"127.0.0.1:{httpPort}", "--refresh-metrics-interval", "20ms", "--config-text", Config(pubPort, replayPort));
        PrecisePrefixCacheProducer producer = Producer(epp);
        // No new traffic: only the replay on connect can bring these blocks.
        await Wait.UntilAsync(() => producer.Index.KeyCount >= promptTokens / 16 - 2, "the engine's buffered BlockStored events are indexed");
        Assert.True(producer.Counters[PreciseEvent.ReplayedBatches] >= 1);
        Assert.Equal(0, producer.Counters[PreciseEvent.ReplayFailures]);
    }

    [Fact]
    public async Task ReplaySocketUnreachable_ClearsAsWithoutReplay_AndCoolsDown()
    {
        using var pub = new PublisherSocket();
        int port = pub.BindRandomPort("tcp://127.0.0.1");
        int deadPort = FreeConsecutivePorts(1);
        var index = new PreciseIndex(1 << 16);
        var counters = new PreciseCounters();
        ulong root = TokenBlockKeys.Root(""u8);
        await using var subs = new KvEventSubscriptions(index, 4, root, 1, port, "kv@"u8, counters, replaySocketPort: deadPort);
        var pool = new FastEpp.Endpoints.EndpointSnapshot([new Endpoint("ns/a", "a", "127.0.0.1", 8000, 8000)], 1);
        int id = pool.Endpoints[0].State.Id;
        subs.Reconcile(pool);
        // The replay on connect fails (nothing listens there): counted, cooled down.
        await Wait.UntilAsync(() => counters[PreciseEvent.ReplayFailures] == 1, "the replay on connect failed");

        uint[] tokens = Enumerable.Range(0, 8).Select(i => (uint)(100 + i)).ToArray();
        byte[] stored = new MsgPackTestWriter().Batch(1).BlockStored([1, 2], null, tokens, 4).EndBatch().ToArray();
        ulong seq = 0;
        await Wait.UntilAsync(() =>
        {
            pub.SendMoreFrame("kv@a@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(seq++)).SendFrame(stored);
            return index.KeyCount >= 2;
        }, "the stored blocks are indexed");
        var held = new ulong[2];
        TokenBlockKeys.Chain(TokenBlockKeys.ChainStart(root, "m"u8), tokens, 4, default, held);
        Assert.True(index.Holds(held[0], id) && index.Holds(held[1], id));
        pub.SendMoreFrame("kv@a@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(seq + 10)).SendFrame(new MsgPackTestWriter().Batch(0).EndBatch().ToArray());
        await Wait.UntilAsync(() => counters[PreciseEvent.SequenceGaps] >= 1, "the gap cleared the endpoint (no replay during the cool-down)");
        Assert.Equal(1, counters[PreciseEvent.ReplayFailures]);
        var keys = new ulong[2];
        TokenBlockKeys.Chain(TokenBlockKeys.ChainStart(root, "m"u8), tokens, 4, default, keys);
        Assert.False(index.Holds(keys[0], id) || index.Holds(keys[1], id));
        Assert.True(subs.HasStream(id));
    }

    /// <summary>vLLM ≤ v0.25 answers replays with 2-frame replies (<c>[seq][payload]</c>): a failed replay, as in llm-d; live events still flow.</summary>
    [Fact]
    public async Task LegacyReplayFrames_FailTheReplay_TheLiveStreamStillIndexes()
    {
        int httpPort = FreeConsecutivePorts(1);
        await using SimFleet fleet = await OneReplicaAsync(httpPort, encoding: "array");
        int pubPort = fleet.Replicas[0].KvEvents!.Port, replayPort = fleet.Replicas[0].KvEvents!.ReplayPort;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await Direct(http, httpPort, PreciseWithSimulatorTests.System("legacy"), "before the EPP");
        var publisher = fleet.Replicas[0].KvEvents!;
        await Wait.UntilAsync(() => publisher.Pending == 0 && publisher.PublishedBatches > 0, "the engine published its batches");

        await using var epp = await EppServer.StartAsync($"127.0.0.1:{httpPort}", "--refresh-metrics-interval", "20ms", "--config-text", Config(pubPort, replayPort));
        PrecisePrefixCacheProducer producer = Producer(epp);
        int id = epp.Endpoints.Endpoints.Single().State.Id;
        await Wait.UntilAsync(() => producer.Counters[PreciseEvent.ReplayFailures] == 1, "the replay on connect failed on the 2-frame replies");
        Assert.Equal(0, producer.Counters[PreciseEvent.ReplayedBatches]);
        long keys = producer.Index.KeyCount;
        int round = 0;
        await Wait.UntilAsync(async () =>
        {
            if (producer.Index.KeyCount > keys)
                return true;
            await Direct(http, httpPort, $"Live {round++}: a short system prompt of a few blocks, nothing more to it.", "hi");
            return false;
        }, "live BlockStored events are indexed after the failed replay");
        Assert.True(producer.Subscriptions.HasStream(id));
    }

    /// <summary>
    /// A replay ROUTER (NetMQ) that answers the first request with two batches and then goes silent, and the second —
    /// from where the first stopped — with the rest and the end marker: the stalled attempt is retried (llm-d's rule), the
    /// replay completes, nothing is cleared.
    /// </summary>
    [Fact]
    public async Task StalledReplayAttempt_IsRetriedFromWhereItStopped()
    {
        const int B = 4;
        ulong root = TokenBlockKeys.Root(""u8);
        uint[] tokens = Enumerable.Range(0, 3 * B).Select(i => (uint)(500 + i)).ToArray();
        byte[][] batches =
        [
            new MsgPackTestWriter().Batch(1).BlockStored([1], null, tokens[..B], B).EndBatch().ToArray(),
            new MsgPackTestWriter().Batch(1).BlockStored([2], 1, tokens[B..(2 * B)], B).EndBatch().ToArray(),
            new MsgPackTestWriter().Batch(1).BlockStored([3], 2, tokens[(2 * B)..], B).EndBatch().ToArray(),
        ];
        byte[] topic = "kv@127.0.0.1:8000@m"u8.ToArray();
        var requests = new ConcurrentQueue<ulong>();
        using var stop = new CancellationTokenSource();
        int replayPort = 0;
        var bound = new TaskCompletionSource();
        var router = new Thread(() =>
        {
            using var r = new RouterSocket();
            r.Options.Linger = TimeSpan.Zero;
            replayPort = r.BindRandomPort("tcp://127.0.0.1");
            bound.SetResult();
            NetMQMessage? m = null;
            while (!stop.IsCancellationRequested)
            {
                if (!r.TryReceiveMultipartMessage(TimeSpan.FromMilliseconds(50), ref m) || m.FrameCount != 3)
                    continue;
                byte[] identity = m[0].ToByteArray();
                ulong start = BinaryPrimitives.ReadUInt64BigEndian(m[2].ToByteArray());
                requests.Enqueue(start);
                ulong last = requests.Count == 1 ? Math.Min(1, (ulong)batches.Length - 1) : (ulong)batches.Length - 1;
                for (ulong seq = start; seq <= last; seq++)
                    r.SendMoreFrame(identity).SendMoreFrameEmpty().SendMoreFrame(topic).SendMoreFrame(MsgPackTestWriter.SeqFrame(seq)).SendFrame(batches[seq]);
                if (requests.Count > 1)
                    r.SendMoreFrame(identity).SendMoreFrameEmpty().SendMoreFrameEmpty().SendMoreFrame(MsgPackTestWriter.SeqFrame(ulong.MaxValue)).SendFrameEmpty();
                m = null;
            }
        }) { IsBackground = true };
        router.Start();
        await bound.Task;
        try
        {
            using var pub = new PublisherSocket();
            int port = pub.BindRandomPort("tcp://127.0.0.1");
            var index = new PreciseIndex(1 << 16);
            var counters = new PreciseCounters();
            await using var subs = new KvEventSubscriptions(index, B, root, 1, port, "kv@"u8, counters, replaySocketPort: replayPort);
            var pool = new FastEpp.Endpoints.EndpointSnapshot([new Endpoint("ns/a", "a", "127.0.0.1", 8000, 8000)], 1);
            int id = pool.Endpoints[0].State.Id;
            subs.Reconcile(pool);

            await Wait.UntilAsync(() => counters[PreciseEvent.ReplayedBatches] == 3, "the replay on connect completed on its second attempt");
            Assert.Equal([0UL, 2UL], requests.ToArray());
            Assert.Equal(0, counters[PreciseEvent.ReplayFailures]);
            Assert.Equal(0, counters[PreciseEvent.SequenceGaps]);
            var keys = new ulong[3];
            TokenBlockKeys.Chain(TokenBlockKeys.ChainStart(root, "m"u8), tokens, B, default, keys);
            Assert.All(keys, k => Assert.True(index.Holds(k, id)));
            Assert.True(subs.TryGetLastSeq(id, out ulong lastSeq) && lastSeq == 2);
        }
        finally
        {
            stop.Cancel();
            router.Join();
        }
    }
}
