using System.Buffers.Binary;
using FastEpp.Sim.KvEvents;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>The publisher on its own: the replay ring keeps the last buffer_steps batches; malformed requests are ignored.</summary>
public sealed class KvEventPublisherTests
{
    private static KvEventBatch Batch(int i) => new() { Timestamp = i, Events = [new BlockRemoved { BlockHashes = [(ulong)i] }] };

    private static List<NetMQMessage> Replay(DealerSocket dealer, ulong start)
    {
        byte[] seq = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(seq, start);
        dealer.SendMoreFrameEmpty().SendFrame(seq);
        var replies = new List<NetMQMessage>();
        while (true)
        {
            NetMQMessage? m = null;
            Assert.True(dealer.TryReceiveMultipartMessage(Wait.DefaultTimeout, ref m), "replay answer");
            replies.Add(m!);
            if (m![m!.FrameCount - 1].BufferSize == 0)
            {
                return replies;
            }
        }
    }

    [Fact]
    public void ReplayRing_KeepsTheLastBufferSteps_AndIgnoresMalformedRequests()
    {
        using var publisher = new KvEventPublisher("tcp://*:0", "tcp://*:0", "t", bufferSteps: 2, hwm: 1000,
            maxQueueSize: 10, KvEventEncoding.Map, intHashes: true);
        for (int i = 0; i < 5; i++)
        {
            publisher.Publish(Batch(i));
        }
        Wait.Until(() => publisher.PublishedBatches == 5, "five batches sent");

        using var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        dealer.Connect($"tcp://127.0.0.1:{publisher.ReplayPort}");
        dealer.SendMoreFrameEmpty().SendMoreFrame("x"u8.ToArray()).SendFrame(new byte[8]);   // 4 frames at the ROUTER: ignored

        List<NetMQMessage> all = Replay(dealer, 0);
        Assert.Equal([3UL, 4UL], all.SkipLast(1).Select(m => BinaryPrimitives.ReadUInt64BigEndian(m[2].ToByteArray())));
        Assert.All(all.SkipLast(1), m => Assert.Equal("t", m[1].ConvertToString()));
        Assert.Equal("ffffffffffffffff", MsgPack.Hex(all[^1][2].ToByteArray()));

        List<NetMQMessage> tail = Replay(dealer, 4);
        Assert.Equal(2, tail.Count);
        Assert.Equal(4UL, BinaryPrimitives.ReadUInt64BigEndian(tail[0][2].ToByteArray()));
        Assert.Equal(ulong.MaxValue, BinaryPrimitives.ReadUInt64BigEndian(Replay(dealer, 9)[0][2].ToByteArray()));   // nothing newer: only the marker
    }
}
