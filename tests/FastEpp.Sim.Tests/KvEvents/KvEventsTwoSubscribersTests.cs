using System.Buffers.Binary;
using System.Net;
using FastEpp.Sim.Tests.Http;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>
/// One replica's KV-event PUB socket and TWO subscribers (two EPP replicas, active-active, each SUBscribing to every
/// engine): the PUB fans every batch out to both, the same sequence numbers and payloads.
/// </summary>
public sealed class KvEventsTwoSubscribersTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    private static SubscriberSocket Subscribe(int port)
    {
        var sub = new SubscriberSocket();
        sub.Options.Linger = TimeSpan.Zero;
        sub.Connect($"tcp://127.0.0.1:{port}");
        sub.SubscribeToAnyTopic();
        return sub;
    }

    private static void Drain(SubscriberSocket sub, List<(ulong Seq, byte[] Payload)> into)
    {
        NetMQMessage? m = null;
        while (sub.TryReceiveMultipartMessage(TimeSpan.Zero, ref m))
        {
            Assert.Equal(3, m.FrameCount);
            into.Add((BinaryPrimitives.ReadUInt64BigEndian(m[1].ToByteArray()), m[2].ToByteArray()));
            m = null;
        }
    }

    [Fact]
    public async Task TwoSubscribers_BothReceiveEveryBatch()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--replicas", "1", "--kv-events-config",
            """{"enable_kv_cache_events":true,"endpoint":"tcp://*:0","topic":"kv@$(POD_IP):$(POD_PORT)@sim"}""");
        int port = h.Fleet.Replicas[0].KvEvents!.Port;
        using SubscriberSocket first = Subscribe(port);
        using SubscriberSocket second = Subscribe(port);
        var got1 = new List<(ulong Seq, byte[] Payload)>();
        var got2 = new List<(ulong Seq, byte[] Payload)>();

        // Slow joiner: reset the cache (each reset publishes an AllBlocksCleared batch) until both subscribers got one.
        await Wait.UntilAsync(async () =>
        {
            using HttpResponseMessage r = await h.PostJsonAsync(0, "/reset_prefix_cache", "");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            await Task.Delay(20);
            Drain(first, got1);
            Drain(second, got2);
            return got1.Count > 0 && got2.Count > 0;
        }, "a batch on both SUB sockets");
        ulong from = Math.Max(got1[^1].Seq, got2[^1].Seq);

        // A request stores blocks: both subscribers get the same batches after the join point.
        string system = string.Join(' ', Enumerable.Range(0, 200).Select(i => "word" + (i * 7919 % 1000)));
        using (HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"system","content":"{{system}}"},{"role":"user","content":"hi"}],"max_tokens":2}"""))
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        using (HttpResponseMessage r = await h.PostJsonAsync(0, "/reset_prefix_cache", ""))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode); // a last batch after the request's: both must see up to it
        await Wait.UntilAsync(() =>
        {
            Drain(first, got1);
            Drain(second, got2);
            return got1.Count(x => x.Seq > from) >= 2 && got1[^1].Seq == got2[^1].Seq;
        }, "the request's batches and the reset's on both SUB sockets");

        var after1 = got1.Where(x => x.Seq > from).Select(x => (x.Seq, Convert.ToHexString(x.Payload))).ToList();
        var after2 = got2.Where(x => x.Seq > from).Select(x => (x.Seq, Convert.ToHexString(x.Payload))).ToList();
        Assert.Equal(after1, after2);
        for (int i = 1; i < after1.Count; i++)
            Assert.Equal(after1[i - 1].Seq + 1, after1[i].Seq);
    }
}
