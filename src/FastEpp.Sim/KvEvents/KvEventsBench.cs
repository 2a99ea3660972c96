using System.Diagnostics;
using System.Globalization;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Sim.KvEvents;

/// <summary>
/// <c>fastepp-sim --kv-events-bench N</c>: how many events per second one replica's publisher sustains on this
/// machine. Queues N batches of 4 BlockStored events (4 blocks × 16 tokens each, token ids in o200k's range, uint64
/// hashes, map encoding) into a publisher bound on loopback with one NetMQ SUB reading them, and reports the rate at
/// which the publisher thread encoded and sent them and the rate the subscriber received them.
/// </summary>
internal static class KvEventsBench
{
    public static int Run(int batches, TextWriter output)
    {
        const int eventsPerBatch = 4, blocks = 4, blockSize = 16;
        var rng = new Random(1);
        var prepared = new KvEventBatch[Math.Min(batches, 1024)];
        for (int b = 0; b < prepared.Length; b++)
        {
            var events = new List<KvCacheEvent>(eventsPerBatch);
            for (int e = 0; e < eventsPerBatch; e++)
            {
                var hashes = new ulong[blocks];
                var tokens = new uint[blocks * blockSize];
                for (int i = 0; i < hashes.Length; i++)
                {
                    hashes[i] = (ulong)rng.NextInt64();
                }
                for (int i = 0; i < tokens.Length; i++)
                {
                    tokens[i] = (uint)rng.Next(200_000);
                }
                events.Add(new BlockStored { BlockHashes = hashes, ParentBlockHash = (ulong)rng.NextInt64(), TokenIds = tokens, BlockSize = blockSize });
            }
            prepared[b] = new KvEventBatch { Timestamp = 1.789e9 + b, Events = events };
        }

        using var publisher = new KvEventPublisher("tcp://*:0", null, "kv@127.0.0.1:8000@bench", 16, 0, 100_000, KvEventEncoding.Map, intHashes: true);
        using var sub = new SubscriberSocket();
        sub.Options.ReceiveHighWatermark = 0;
        sub.Connect("tcp://127.0.0.1:" + publisher.Port.ToString(CultureInfo.InvariantCulture));
        sub.SubscribeToAnyTopic();
        long received = 0;
        var reader = new Thread(() =>
        {
            NetMQMessage? m = null;
            while (sub.TryReceiveMultipartMessage(TimeSpan.FromSeconds(2), ref m))
            {
                received++;
                m = null;
            }
        }) { IsBackground = true };

        // Slow joiner: publish warm-up batches until the subscriber sees one.
        long warm = 0;
        NetMQMessage? first = null;
        do
        {
            publisher.Publish(prepared[0]);
            warm++;
        }
        while (!sub.TryReceiveMultipartMessage(TimeSpan.FromMilliseconds(50), ref first));
        while (publisher.PublishedBatches < warm)
        {
            Thread.Sleep(1);
        }
        Thread.Sleep(100);
        NetMQMessage? drain = null;
        while (sub.TryReceiveMultipartMessage(TimeSpan.Zero, ref drain))
        {
            drain = null;
        }
        reader.Start();

        long start = Stopwatch.GetTimestamp();
        double cpuStart = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        for (int i = 0; i < batches; i++)
        {
            publisher.Publish(prepared[i % prepared.Length]);
        }
        while (publisher.PublishedBatches < warm + batches)
        {
            Thread.Sleep(1);
        }
        double sendSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        reader.Join();
        double cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - cpuStart;
        long sent = (long)batches * eventsPerBatch;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"kv-events-bench: {batches} batches x {eventsPerBatch} BlockStored ({blocks} blocks x {blockSize} tokens), map encoding"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  publisher: {sent / sendSeconds:F0} events/s ({batches / sendSeconds:F0} batches/s) in {sendSeconds:F2} s"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  subscriber received {received} of {batches} batches; process CPU {cpu:F2} s (publisher + subscriber + this loop)"));
        return 0;
    }
}
