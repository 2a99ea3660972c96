using System.Collections.Concurrent;
using System.Text;
using FastEpp.Prefix.Precise;
using Microsoft.Extensions.Logging.Abstractions;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>FastEpp's lean ZMTP SUB against a real ZeroMQ PUB (NetMQ): handshake, topic filter, multipart frames, reconnect.</summary>
public sealed class ZmtpSubscriberTests
{
    internal sealed class Capture : IKvMessageHandler
    {
        public readonly ConcurrentQueue<(string Topic, ulong Seq, byte[] Payload)> Messages = new();
        public int Connected, Disconnected, Malformed;

        public void OnConnected(ZmtpSubscriber source) => Interlocked.Increment(ref Connected);

        public void OnMessage(ZmtpSubscriber source, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload) =>
            Messages.Enqueue((Encoding.UTF8.GetString(topic), seq, payload.ToArray()));

        public void OnMalformed(ZmtpSubscriber source, string reason) => Interlocked.Increment(ref Malformed);

        public void OnDisconnected(ZmtpSubscriber source, string reason) => Interlocked.Increment(ref Disconnected);
    }

    /// <summary>Publishes until the subscriber has seen one message (a PUB drops what it sends before the subscription arrives).</summary>
    internal static async Task PublishUntilSeen(PublisherSocket pub, string topic, Func<bool> seen)
    {
        byte[] empty = new MsgPackTestWriter().Batch(0).EndBatch().ToArray();
        ulong seq = 1_000_000;
        await Wait.UntilAsync(() =>
        {
            if (seen())
                return true;
            pub.SendMoreFrame(topic).SendMoreFrame(MsgPackTestWriter.SeqFrame(seq++)).SendFrame(empty);
            return false;
        }, "the subscriber received a message");
    }

    [Fact]
    public async Task RealPub_MultipartMessages_AreDeliveredInOrder_FilteredByTopic_LargeOnesToo()
    {
        using var pub = new PublisherSocket();
        int port = pub.BindRandomPort("tcp://127.0.0.1");
        var capture = new Capture();
        await using var sub = new ZmtpSubscriber("127.0.0.1", port, "kv@"u8, capture, NullLogger.Instance);
        sub.Start();
        await Wait.UntilAsync(() => sub.Connected, "the handshake completed");
        await PublishUntilSeen(pub, "kv@warm@m", () => !capture.Messages.IsEmpty);
        while (capture.Messages.TryDequeue(out _)) { }

        byte[] big = new byte[300_000];
        new Random(1).NextBytes(big);
        pub.SendMoreFrame("other@x").SendMoreFrame(MsgPackTestWriter.SeqFrame(1)).SendFrame([1]); // filtered by the PUB
        pub.SendMoreFrame("kv@a@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(7)).SendFrame([1, 2, 3]);
        pub.SendMoreFrame("kv@a@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(8)).SendFrame(big);
        pub.SendMoreFrame("kv@a@m").SendFrame([9]); // two frames: malformed, skipped
        pub.SendMoreFrame("kv@a@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(9)).SendFrame(Array.Empty<byte>());
        await Wait.UntilAsync(() => capture.Messages.Count >= 3, "three messages arrived");
        var got = capture.Messages.ToArray();
        Assert.Equal([7UL, 8UL, 9UL], got.Select(m => m.Seq));
        Assert.All(got, m => Assert.Equal("kv@a@m", m.Topic));
        Assert.Equal(new byte[] { 1, 2, 3 }, got[0].Payload);
        Assert.Equal(big, got[1].Payload);
        Assert.Empty(got[2].Payload);
        Assert.Equal(1, capture.Malformed);
    }

    [Fact]
    public async Task PublisherGoesAway_SubscriberReportsIt_AndReconnectsToTheNextOne()
    {
        var pub = new PublisherSocket();
        int port = pub.BindRandomPort("tcp://127.0.0.1");
        var capture = new Capture();
        await using var sub = new ZmtpSubscriber("127.0.0.1", port, "kv@"u8, capture, NullLogger.Instance);
        sub.Start();
        await Wait.UntilAsync(() => sub.Connected, "the first handshake");
        pub.Dispose();
        await Wait.UntilAsync(() => capture.Disconnected > 0 && !sub.Connected, "the disconnect was reported");

        using var again = new PublisherSocket();
        again.Bind($"tcp://127.0.0.1:{port}");
        await Wait.UntilAsync(() => sub.Connections >= 2 && sub.Connected, "the subscriber reconnected");
        await PublishUntilSeen(again, "kv@b@m", () => !capture.Messages.IsEmpty);
    }
}
