using System.Collections.Concurrent;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Prefix.Precise;

/// <summary>llm-d's central mode (<c>zmqEndpoint</c>): which endpoint each connected publisher's events belong to.</summary>
internal sealed partial class KvEventSubscriptions
{
    private readonly ConcurrentDictionary<int, CentralConnection> _centralByEndpoint = new();
    private readonly ConcurrentDictionary<CentralConnection, byte> _central = new();
    private readonly ConcurrentDictionary<string, byte> _warnedUnknownPods = new(StringComparer.Ordinal);
    private Directory _directory = Directory.Empty;

    /// <summary>At most this many distinct unknown pod-ids are logged (each once); all are counted.</summary>
    private const int MaxLoggedUnknownPods = 1024;

    /// <summary>
    /// One publisher connected to the central listener. Which endpoint it is comes from its topic's pod-id, resolved
    /// against the pool (<see cref="Directory"/>) when the pod-id or the pool changes; its <see cref="Stream"/>
    /// (sequence tracking, engine-hash map) lives as long as that attribution. <see cref="Gate"/> orders the receive
    /// loop against <see cref="Reconcile"/> (always taken before a lane lock).
    /// </summary>
    private sealed class CentralConnection(ZmtpSubscriber subscriber)
    {
        public readonly ZmtpSubscriber Subscriber = subscriber;
        public readonly Lock Gate = new();
        public byte[] PodId = new byte[64];
        public int PodIdLength = -1;
        public long DirectoryVersion = -1;
        public EndpointStream? Stream;
        public Lane? Lane;
        public string? Name;
    }

    /// <summary>The pool's endpoints by <c>address:port</c> and by address (when only one endpoint has it), for topic pod-ids.</summary>
    private sealed class Directory(long version, Dictionary<string, Endpoint> byHostPort, Dictionary<string, Endpoint?> byAddress)
    {
        public static readonly Directory Empty = new(-1, [], []);

        public long Version { get; } = version;

        /// <summary>The endpoint a topic pod-id names: exactly its <c>address:port</c>, or its address alone if that is unique in the pool.</summary>
        public Endpoint? Find(string podId) =>
            byHostPort.TryGetValue(podId, out Endpoint? e) ? e : byAddress.TryGetValue(podId, out e) ? e : null;
    }

    private static Directory BuildDirectory(EndpointSnapshot snapshot)
    {
        var byHostPort = new Dictionary<string, Endpoint>(StringComparer.Ordinal);
        var byAddress = new Dictionary<string, Endpoint?>(StringComparer.Ordinal);
        foreach (Endpoint e in snapshot.Endpoints)
        {
            byHostPort[e.HostPort] = e;
            byAddress[e.Address] = byAddress.ContainsKey(e.Address) ? null : e; // shared address: ambiguous without a port
        }
        foreach (var (address, e) in byAddress)
            if (e is null)
                byAddress.Remove(address);
        return new Directory(snapshot.Version, byHostPort, byAddress);
    }

    /// <summary>The state of one publisher connected to the central listener (its <see cref="ZmtpSubscriber.Tag"/>; benchmarks drive <see cref="OnMessage"/> with one).</summary>
    internal object NewCentralConnection(ZmtpSubscriber subscriber) => new CentralConnection(subscriber);

    /// <summary>The pod-id of an llm-d topic <c>kv@&lt;pod-id&gt;@&lt;model&gt;</c>; any other topic is its own pod-id (as llm-d).</summary>
    private static ReadOnlySpan<byte> PodIdOf(ReadOnlySpan<byte> topic)
    {
        int first = topic.IndexOf((byte)'@');
        if (first < 0)
            return topic;
        ReadOnlySpan<byte> rest = topic[(first + 1)..];
        int second = rest.IndexOf((byte)'@');
        return second < 0 ? topic : rest[..second];
    }

    /// <summary>Under <c>c.Gate</c>: which endpoint the connection's pod-id names now; a change clears what it indexed before.</summary>
    private void Resolve(CentralConnection c, ReadOnlySpan<byte> podId, Directory directory)
    {
        if (c.PodId.Length < podId.Length)
            c.PodId = new byte[podId.Length];
        podId.CopyTo(c.PodId);
        c.PodIdLength = podId.Length;
        c.DirectoryVersion = directory.Version;
        string pod = System.Text.Encoding.UTF8.GetString(podId);
        Endpoint? e = directory.Find(pod);
        if (c.Stream is { } old && (e is null || old.EndpointId != e.State.Id))
            Detach(c, e is null ? $"its topic pod-id \"{pod}\" names no endpoint of the pool" : $"its topic now names {e.Name}");
        if (e is null)
        {
            if (_warnedUnknownPods.Count < MaxLoggedUnknownPods && _warnedUnknownPods.TryAdd(pod, 0))
                Logger.LogWarning("KV events from {Remote} (on {Listen}) name pod \"{Pod}\", which is not an endpoint of the InferencePool (address:port, or an address only one endpoint has): not indexed (counted in fastepp_precise_prefix_total{{event=\"unknown_pod\"}})",
                    c.Subscriber.Address, _listener!.Address, pod);
            return;
        }
        if (c.Stream is not null)
            return;
        string key = e.HostPort;
        c.Lane = _lanes[(int)(Fnv1a32(key) % (uint)_lanes.Length)];
        c.Stream = new EndpointStream(e.State.Id, key);
        c.Name = e.Name;
        _centralByEndpoint[e.State.Id] = c;
        _warnedNoStream.TryRemove(e.State.Id, out _);
        _warnedUnknownPods.TryRemove(pod, out _);
        Logger.LogInformation("KV events from {Remote} (topic pod-id \"{Pod}\") are indexed for endpoint {Endpoint}", c.Subscriber.Address, pod, e.Name);
    }

    /// <summary>Under <c>c.Gate</c>: forget the connection's endpoint and clear what it indexed there.</summary>
    private void Detach(CentralConnection c, string why)
    {
        if (c.Stream is not { } stream)
            return;
        lock (c.Lane!.Lock)
            c.Lane.Ingestor.Clear(stream);
        _centralByEndpoint.TryRemove(new KeyValuePair<int, CentralConnection>(stream.EndpointId, c));
        c.Stream = null;
        c.DirectoryVersion = -1;
        Logger.LogInformation("KV events from {Remote} are no longer indexed for {Endpoint}: {Why}; its entries are cleared", c.Subscriber.Address, c.Name, why);
    }
}
