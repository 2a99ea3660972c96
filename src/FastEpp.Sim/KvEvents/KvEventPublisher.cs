using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Sim.KvEvents;

/// <summary>Where the engine hands its per-step event batches.</summary>
internal interface IKvEventSink
{
    /// <summary>Queues one batch (may block when the queue is full, as vLLM's blocking put).</summary>
    void Publish(KvEventBatch batch);
}

/// <summary>
/// vLLM's <c>ZmqEventPublisher</c> for one replica: the engine queues batches (bounded, blocking put) and a
/// dedicated thread encodes each one and sends it on a PUB socket as three frames
/// <c>[topic][seq: 8 bytes big-endian][msgpack KVEventBatch]</c>, seq counting from 0 per publisher (a revived
/// replica starts again at 0, like a restarted engine). The last <c>buffer_steps</c> payloads are kept for replay:
/// a ROUTER socket takes <c>[identity][empty][start_seq 8 B BE]</c> (anything that is not exactly 3 frames is
/// ignored) and answers every buffered batch with seq ≥ start_seq, then an end marker —
/// <see cref="KvEventEncoding.Map"/> (vLLM v0.26+): <c>[topic][seq][payload]</c> … <c>[""][ff×8][""]</c>;
/// <see cref="KvEventEncoding.Array"/> (vLLM ≤ v0.25): <c>[seq][payload]</c> … <c>[ff×8][""]</c> (after the
/// identity and empty delimiter). All socket work happens on the publisher thread; the engine only enqueues.
/// </summary>
internal sealed class KvEventPublisher : IKvEventSink, IDisposable
{
    private static readonly byte[] EndSeq = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    private readonly BlockingCollection<KvEventBatch> _queue;
    private readonly Queue<(ulong Seq, byte[] Payload)> _buffer = new();
    private readonly int _bufferSteps;
    private readonly byte[] _topic;
    private readonly KvEventEncoding _encoding;
    private readonly bool _intHashes;
    private readonly PublisherSocket _pub;
    private readonly RouterSocket? _router;
    private readonly Thread _thread;
    private readonly MsgPackWriter _writer = new(64 * 1024);
    private ulong _nextSeq;
    private long _batches;
    private long _events;
    private volatile bool _running = true;
    private int _disposed;

    /// <summary>
    /// Creates the sockets (binding or connecting <paramref name="endpoint"/> by vLLM's rule, binding
    /// <paramref name="replayEndpoint"/> when given) and starts the publisher thread. Throws when a port is taken.
    /// </summary>
    public KvEventPublisher(string endpoint, string? replayEndpoint, string topic, int bufferSteps, int hwm, int maxQueueSize,
        KvEventEncoding encoding, bool intHashes)
    {
        _topic = Encoding.UTF8.GetBytes(topic);
        _bufferSteps = bufferSteps;
        _encoding = encoding;
        _intHashes = intHashes;
        _queue = new BlockingCollection<KvEventBatch>(new ConcurrentQueue<KvEventBatch>(), maxQueueSize);
        _pub = new PublisherSocket();
        _pub.Options.SendHighWatermark = hwm;
        _pub.Options.Linger = TimeSpan.Zero;
        try
        {
            if (KvEventsConfig.Binds(endpoint))
            {
                BindWithRetry(_pub, endpoint);
                Endpoint = _pub.Options.LastEndpoint ?? endpoint;
                Port = PortOf(Endpoint);
            }
            else
            {
                _pub.Connect(endpoint);
                Endpoint = endpoint;
            }
            if (replayEndpoint is not null)
            {
                _router = new RouterSocket();
                _router.Options.Linger = TimeSpan.Zero;
                BindWithRetry(_router, replayEndpoint);
                ReplayEndpoint = _router.Options.LastEndpoint ?? replayEndpoint;
                ReplayPort = PortOf(ReplayEndpoint);
            }
        }
        catch
        {
            _pub.Dispose();
            _router?.Dispose();
            throw;
        }
        Topic = topic;
        _thread = new Thread(Run) { IsBackground = true, Name = "fastepp-sim kv-events publisher" };
        _thread.Start();
    }

    /// <summary>The PUB endpoint actually bound (ephemeral port resolved) or connected.</summary>
    public string Endpoint { get; }

    /// <summary>Bound PUB port (0 when connecting or not tcp).</summary>
    public int Port { get; }

    /// <summary>The ROUTER endpoint bound, or null.</summary>
    public string? ReplayEndpoint { get; }

    /// <summary>Bound replay port (0 when none).</summary>
    public int ReplayPort { get; }

    /// <summary>The topic frame.</summary>
    public string Topic { get; }

    /// <summary>Batches sent so far.</summary>
    public long PublishedBatches => Interlocked.Read(ref _batches);

    /// <summary>Events sent so far.</summary>
    public long PublishedEvents => Interlocked.Read(ref _events);

    /// <summary>Batches queued and not yet sent.</summary>
    public int Pending => _queue.Count;

    /// <inheritdoc />
    public void Publish(KvEventBatch batch)
    {
        if (!_running)
        {
            return;   // a killed replica's engine may finish a step while it is being torn down
        }
        try
        {
            _queue.Add(batch);
        }
        catch (InvalidOperationException)
        {
            // Disposed concurrently: the batch is dropped, as a stopping vLLM publisher drops it.
        }
    }

    /// <summary>Sends what is queued (up to about a second), stops the thread and closes the sockets.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _running = false;
        _queue.CompleteAdding();
        _thread.Join();   // the thread sends what is queued (a PUB send never blocks), then ends
        _pub.Dispose();
        _router?.Dispose();
    }

    private void Run()
    {
        Span<byte> seqBytes = stackalloc byte[8];
        while (true)
        {
            if (_router is not null)
            {
                ServiceReplay();
            }
            if (!_queue.TryTake(out KvEventBatch? batch, 100))
            {
                if (_queue.IsCompleted)
                {
                    return;
                }
                continue;
            }
            try
            {
                ulong seq = _nextSeq++;
                _writer.Reset();
                KvEventEncoder.Encode(_writer, batch, _encoding, _intHashes);
                byte[] payload = _writer.ToArray();
                BinaryPrimitives.WriteUInt64BigEndian(seqBytes, seq);
                byte[] seqFrame = seqBytes.ToArray();
                _pub.SendMoreFrame(_topic).SendMoreFrame(seqFrame).SendFrame(payload);
                if (_router is not null)
                {
                    _buffer.Enqueue((seq, payload));
                    if (_buffer.Count > _bufferSteps)
                    {
                        _buffer.Dequeue();
                    }
                }
                Interlocked.Increment(ref _batches);
                Interlocked.Add(ref _events, batch.Events.Count);
            }
            catch (Exception ex) when (ex is NetMQException or ObjectDisposedException)
            {
                Console.Error.WriteLine("fastepp-sim: kv-events publisher: " + ex.Message);
            }
        }
    }

    private void ServiceReplay()
    {
        RouterSocket router = _router!;
        NetMQMessage? request = null;
        byte[] seqBytes = new byte[8];
        while (router.TryReceiveMultipartMessage(TimeSpan.Zero, ref request))
        {
            if (request.FrameCount != 3 || request[2].BufferSize > 8)
            {
                continue;   // vLLM: "Invalid replay request", ignored
            }
            byte[] identity = request[0].ToByteArray();
            ulong start = 0;
            foreach (byte b in request[2].ToByteArray())
            {
                start = (start << 8) | b;
            }
            foreach ((ulong seq, byte[] payload) in _buffer)
            {
                if (seq < start)
                {
                    continue;
                }
                BinaryPrimitives.WriteUInt64BigEndian(seqBytes, seq);
                router.SendMoreFrame(identity).SendMoreFrameEmpty();
                if (_encoding == KvEventEncoding.Map)
                {
                    router.SendMoreFrame(_topic);
                }
                router.SendMoreFrame(seqBytes).SendFrame(payload);
            }
            router.SendMoreFrame(identity).SendMoreFrameEmpty();
            if (_encoding == KvEventEncoding.Map)
            {
                router.SendMoreFrameEmpty();
            }
            router.SendMoreFrame(EndSeq).SendFrameEmpty();
            request = null;
        }
    }

    // A revived replica rebinds the port its predecessor just closed; NetMQ releases it asynchronously.
    private static void BindWithRetry(NetMQSocket socket, string endpoint)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                socket.Bind(endpoint);
                return;
            }
            catch (AddressAlreadyInUseException) when (attempt < 50)
            {
                Thread.Sleep(40);
            }
        }
    }

    private static int PortOf(string endpoint)
    {
        if (!endpoint.StartsWith("tcp://", StringComparison.Ordinal))
        {
            return 0;
        }
        int colon = endpoint.LastIndexOf(':');
        return int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int p) ? p : 0;
    }
}
