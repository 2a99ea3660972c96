using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using FastEpp.Sim.Tests.Http;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>
/// A running fleet publishing KV events, read by a real NetMQ SUB (and a DEALER for replay) over TCP loopback:
/// the frames, the msgpack payloads, the token ids (equal to /tokenize's), contiguous sequence numbers, replay,
/// AllBlocksCleared on a cache reset, and renumbering from 0 after a restart.
/// </summary>
public sealed class KvEventsWireTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    private sealed record Message(string Topic, ulong Seq, byte[] Payload)
    {
        public List<object?> Batch => (List<object?>)MsgPack.Decode(Payload)!;

        public IEnumerable<MsgPack.Map> Events => ((List<object?>)Batch[1]!).Cast<MsgPack.Map>();
    }

    private static async Task<FleetHarness> StartAsync(string encodingFlag = "map", string tokenizer = "o200k_base") =>
        await FleetHarness.StartAsync("--replicas", "2", "--tokenizer", tokenizer, "--kv-events-encoding", encodingFlag, "--kv-events-config",
            """{"enable_kv_cache_events":true,"endpoint":"tcp://*:0","replay_endpoint":"tcp://*:0","topic":"kv@$(POD_IP):$(POD_PORT)@sim"}""");

    private static SubscriberSocket Subscribe(Replica replica)
    {
        var sub = new SubscriberSocket();
        sub.Options.Linger = TimeSpan.Zero;
        sub.Connect($"tcp://127.0.0.1:{replica.KvEvents!.Port}");
        sub.SubscribeToAnyTopic();
        return sub;
    }

    private static void Drain(SubscriberSocket sub, List<Message> into)
    {
        NetMQMessage? m = null;
        while (sub.TryReceiveMultipartMessage(TimeSpan.Zero, ref m))
        {
            Assert.Equal(3, m.FrameCount);
            Assert.Equal(8, m[1].BufferSize);
            into.Add(new Message(m[0].ConvertToString(Encoding.UTF8), BinaryPrimitives.ReadUInt64BigEndian(m[1].ToByteArray()), m[2].ToByteArray()));
            m = null;
        }
    }

    // A SUB only sees what is published after its subscription reached the PUB (ZeroMQ's slow joiner): reset the idle
    // replica's cache (each success publishes an AllBlocksCleared batch) until one arrives.
    private static async Task JoinAsync(FleetHarness h, int replica, SubscriberSocket sub, List<Message> received)
    {
        await Wait.UntilAsync(async () =>
        {
            using HttpResponseMessage r = await h.PostJsonAsync(replica, "/reset_prefix_cache", "");
            Assert.Equal("""{"success":true}""", await r.Content.ReadAsStringAsync());
            await Task.Delay(20);
            Drain(sub, received);
            return received.Count > 0;
        }, "the first KV-event batch on the SUB socket");
    }

    private static async Task<uint[]> TokenizeAsync(FleetHarness h, int replica, string body)
    {
        using HttpResponseMessage resp = await h.PostJsonAsync(replica, "/tokenize", body);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        using JsonDocument doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetUInt32()).ToArray();
    }

    private static IEnumerable<MsgPack.Map> Stored(IEnumerable<Message> messages) =>
        messages.SelectMany(m => m.Events).Where(e => (string?)e["type"] == "BlockStored");

    [Fact]
    public async Task Subscriber_SeesTheRequestsBlocks_WithTokenizeIds_ContiguousSeqs_AndReplay()
    {
        await using FleetHarness h = await StartAsync();
        Replica replica = h.Fleet.Replicas[1];
        using SubscriberSocket sub = Subscribe(replica);
        var received = new List<Message>();
        await JoinAsync(h, 1, sub, received);

        string system = string.Join(' ', Enumerable.Range(0, 300).Select(i => "word" + (i * 7919 % 1000)));
        string messages = $$"""[{"role":"system","content":"{{system}}"},{"role":"user","content":"What is routing?"}]""";
        uint[] ids = await TokenizeAsync(h, 1, $$"""{"model":"{{Model}}","messages":{{messages}}}""");
        Assert.True(ids.Length > 64);
        using (HttpResponseMessage resp = await h.PostJsonAsync(1, "/v1/chat/completions", $$"""{"model":"{{Model}}","messages":{{messages}},"max_tokens":3}"""))
        {
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            using JsonDocument doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
            Assert.Equal(ids.Length, doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
        int fullBlocks = ids.Length / 16;
        await Wait.UntilAsync(() =>
        {
            Drain(sub, received);
            return Stored(received).Sum(e => ((List<object?>)e["block_hashes"]!).Count) >= fullBlocks;
        }, "BlockStored events covering the prompt's full blocks");

        // Frames: the topic with the replica's host:port, contiguous sequence numbers.
        Assert.All(received, m => Assert.Equal($"kv@127.0.0.1:{replica.Port}@sim", m.Topic));
        for (int i = 1; i < received.Count; i++)
        {
            Assert.Equal(received[i - 1].Seq + 1, received[i].Seq);
        }
        // The stored blocks chain from the first block and carry exactly /tokenize's ids.
        var stored = Stored(received).ToList();
        Assert.Null(stored[0]["parent_block_hash"]);
        var tokens = stored.SelectMany(e => ((List<object?>)e["token_ids"]!).Select(t => (uint)(ulong)t!)).ToArray();
        Assert.Equal(ids[..(fullBlocks * 16)], tokens);
        var hashes = stored.SelectMany(e => (List<object?>)e["block_hashes"]!).Select(x => (ulong)x!).ToList();
        for (int i = 1; i < stored.Count; i++)
        {
            Assert.Equal(hashes[((List<object?>)stored[i - 1]["block_hashes"]!).Count - 1 + stored.Take(i - 1).Sum(e => ((List<object?>)e["block_hashes"]!).Count)],
                (ulong)stored[i]["parent_block_hash"]!);
        }
        Assert.All(stored, e => Assert.Equal(16UL, e["block_size"]));
        Assert.Equal(0UL, received[0].Batch[2]);   // data_parallel_rank

        // Replay from the first seq this subscriber saw: the same payloads, then the end marker (vLLM v0.26+ frames).
        using var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        dealer.Connect($"tcp://127.0.0.1:{replica.KvEvents!.ReplayPort}");
        byte[] start = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(start, received[0].Seq);
        dealer.SendMoreFrameEmpty().SendFrame(start);
        var replayed = new List<Message>();
        while (true)
        {
            NetMQMessage? m = null;
            Assert.True(dealer.TryReceiveMultipartMessage(Wait.DefaultTimeout, ref m), "replay answer");
            Assert.Equal(4, m!.FrameCount);
            Assert.Equal(0, m[0].BufferSize);
            if (m[3].BufferSize == 0)
            {
                Assert.Equal(0, m[1].BufferSize);
                Assert.Equal("ffffffffffffffff", MsgPack.Hex(m[2].ToByteArray()));
                break;
            }
            replayed.Add(new Message(m[1].ConvertToString(Encoding.UTF8), BinaryPrimitives.ReadUInt64BigEndian(m[2].ToByteArray()), m[3].ToByteArray()));
        }
        Drain(sub, received);
        Assert.Equal(received.Select(m => (m.Topic, m.Seq, MsgPack.Hex(m.Payload))), replayed.Select(m => (m.Topic, m.Seq, MsgPack.Hex(m.Payload))));
    }

    [Fact]
    public async Task CacheReset_PublishesAllBlocksCleared_AndARestartRenumbersFromZero()
    {
        await using FleetHarness h = await StartAsync(encodingFlag: "array", tokenizer: "stand-in");
        Replica replica = h.Fleet.Replicas[0];
        using SubscriberSocket sub = Subscribe(replica);
        var received = new List<Message>();
        await JoinAsync(h, 0, sub, received);
        // Legacy (array) events: ["AllBlocksCleared"].
        Assert.Equal(["AllBlocksCleared"], (List<object?>)((List<object?>)received[0].Batch[1]!)[0]!);

        string prompt = new('x', 4 * 40);
        using (HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"{{prompt}}","max_tokens":2}"""))
        {
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        }
        await Wait.UntilAsync(() =>
        {
            Drain(sub, received);
            return received.Any(m => ((List<object?>)m.Batch[1]!).Any(e => (string?)((List<object?>)e!)[0] == "BlockStored"));
        }, "a BlockStored event");
        int count = received.Count;
        using (HttpResponseMessage reset = await h.PostJsonAsync(0, "/reset_prefix_cache", ""))
        {
            Assert.Equal("""{"success":true}""", await reset.Content.ReadAsStringAsync());
        }
        await Wait.UntilAsync(() =>
        {
            Drain(sub, received);
            return received.Count > count;
        }, "the AllBlocksCleared batch");
        Assert.Equal(["AllBlocksCleared"], (List<object?>)((List<object?>)received[count].Batch[1]!)[0]!);
        Assert.Equal(received[count - 1].Seq + 1, received[count].Seq);

        // A killed and revived replica is a restarted engine: a new publisher on the same port, seq from 0 again.
        (await h.PostJsonAsync(0, "/admin/kill", "")).Dispose();
        (await h.PostJsonAsync(0, "/admin/revive", "")).Dispose();
        Assert.Equal(received[0].Topic, $"kv@127.0.0.1:{replica.Port}@sim");
        using (HttpResponseMessage again = await h.PostJsonAsync(0, "/reset_prefix_cache", ""))
        {
            Assert.Equal("""{"success":true}""", await again.Content.ReadAsStringAsync());
        }
        using var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        dealer.Connect($"tcp://127.0.0.1:{replica.KvEvents!.ReplayPort}");
        dealer.SendMoreFrameEmpty().SendFrame(new byte[8]);
        NetMQMessage? first = null;
        Assert.True(dealer.TryReceiveMultipartMessage(Wait.DefaultTimeout, ref first), "replay answer");
        // Legacy replay frames: [empty][seq][payload].
        Assert.Equal(3, first!.FrameCount);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(first[1].ToByteArray()));
        NetMQMessage? end = null;
        Assert.True(dealer.TryReceiveMultipartMessage(Wait.DefaultTimeout, ref end), "replay end marker");
        Assert.Equal(3, end!.FrameCount);
        Assert.Equal("ffffffffffffffff", MsgPack.Hex(end[1].ToByteArray()));
        Assert.Equal(0, end[2].BufferSize);
    }

    [Fact]
    public async Task Replicas_PublishOnConsecutivePorts_EachWithItsOwnTopic()
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int basePort = 20000 + Random.Shared.Next(20000);
            string config = $$"""{"enable_kv_cache_events":true,"endpoint":"tcp://*:{{basePort}}","replay_endpoint":"tcp://*:{{basePort + 10}}","topic":"kv@$(POD_IP):$(POD_PORT)@m"}""";
            SimOptions options = SimOptions.Parse(["--replicas", "3", "--port", "0", "--time-scale", "0.05", "--kv-events-config", config], out string? error)
                ?? throw new InvalidOperationException(error);
            SimFleet fleet = SimFleet.Create(options);
            try
            {
                await fleet.StartAsync();
            }
            catch (InvalidOperationException)
            {
                await fleet.DisposeAsync();
                continue;   // someone holds a port of the range; try another
            }
            await using (fleet)
            {
                Assert.Equal([basePort, basePort + 1, basePort + 2], fleet.Replicas.Select(r => r.KvEvents!.Port).ToArray());
                Assert.Equal([basePort + 10, basePort + 11, basePort + 12], fleet.Replicas.Select(r => r.KvEvents!.ReplayPort).ToArray());
                Assert.Equal(fleet.Replicas.Select(r => $"kv@127.0.0.1:{r.Port}@m"), fleet.Replicas.Select(r => r.KvEvents!.Topic));
            }
            return;
        }
        Assert.Fail("no free port range found");
    }

    [Fact]
    public async Task ConnectingEndpoint_AllReplicasPushIntoOneCentralSub_ToldApartByTopic()
    {
        using var central = new SubscriberSocket();
        central.Options.Linger = TimeSpan.Zero;
        int port = central.BindRandomPort("tcp://127.0.0.1");
        central.SubscribeToAnyTopic();
        await using FleetHarness h = await FleetHarness.StartAsync("--replicas", "2", "--kv-events-config",
            $$"""{"enable_kv_cache_events":true,"endpoint":"tcp://127.0.0.1:{{port}}","topic":"kv@$(POD_IP):$(POD_PORT)@m"}""");
        var received = new List<Message>();
        var topics = h.Fleet.Replicas.Select(r => $"kv@127.0.0.1:{r.Port}@m").ToHashSet();
        await Wait.UntilAsync(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                (await h.PostJsonAsync(i, "/reset_prefix_cache", "")).Dispose();
            }
            await Task.Delay(20);
            NetMQMessage? m = null;
            while (central.TryReceiveMultipartMessage(TimeSpan.Zero, ref m))
            {
                received.Add(new Message(m[0].ConvertToString(Encoding.UTF8), BinaryPrimitives.ReadUInt64BigEndian(m[1].ToByteArray()), m[2].ToByteArray()));
                m = null;
            }
            return topics.All(t => received.Any(r => r.Topic == t));
        }, "batches from both replicas on the central SUB");
        Assert.All(received, m => Assert.Contains(m.Topic, topics));
        foreach (string topic in topics)
        {
            var seqs = received.Where(m => m.Topic == topic).Select(m => m.Seq).ToList();
            for (int i = 1; i < seqs.Count; i++)
            {
                Assert.Equal(seqs[i - 1] + 1, seqs[i]);   // each replica numbers its own batches
            }
        }
    }

    [Fact]
    public async Task ResetPrefixCache_FailsWhileARequestHoldsBlocks()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--kv-events-config", """{"enable_kv_cache_events":true,"endpoint":"tcp://*:0"}""");
        // A long request (~15 s of wall time at the harness's time scale). On a starved CI box the engine driver can run
        // a whole request in one catch-up step without it ever being seen running: then try again with a new one.
        for (int attempt = 1; ; attempt++)
        {
            Task<HttpResponseMessage> running = h.PostJsonAsync(0, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"{{new string('y', 400)}}","max_tokens":15000}""");
            await Wait.UntilAsync(() =>
            {
                lock (h.Fleet.Replicas[0].Lock)
                {
                    return h.Fleet.Replicas[0].Engine.RunningCount > 0 || running.IsCompleted;
                }
            }, "the request to run");
            bool held;
            lock (h.Fleet.Replicas[0].Lock)
            {
                held = h.Fleet.Replicas[0].Engine.RunningCount > 0;
            }
            if (held)
            {
                using (HttpResponseMessage reset = await h.PostJsonAsync(0, "/reset_prefix_cache", ""))
                {
                    Assert.Equal("""{"success":false}""", await reset.Content.ReadAsStringAsync());
                }
                (await running).Dispose();
                return;
            }
            using HttpResponseMessage done = await running;
            Assert.True(done.IsSuccessStatusCode, $"the long request failed: {(int)done.StatusCode}");
            Assert.True(attempt < 5, "the long request was never seen running in 5 attempts");
        }
    }
}
