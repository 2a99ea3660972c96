using System.IO.Hashing;
using System.Net;
using System.Text;

namespace FastEpp.Endpoints;

/// <summary>
/// One schedulable target: a (pod, target port) pair. Immutable identity plus a reference to its
/// long-lived <see cref="EndpointState"/>. The header value bytes are precomputed so the hot path
/// never formats strings.
/// </summary>
public sealed class Endpoint
{
    public Endpoint(string name, string podName, string address, int port, int metricsPort,
        IReadOnlyDictionary<string, string>? labels = null, EndpointState? state = null)
    {
        Name = name;
        PodName = podName;
        Address = address;
        Port = port;
        Labels = labels ?? EmptyLabels;
        State = state ?? new EndpointState();
        IsIPv6 = address.Contains(':');
        HostPort = FormatHostPort(address, port);
        HostPortUtf8 = Encoding.UTF8.GetBytes(HostPort);
        AddressHash = XxHash3.HashToUInt64(HostPortUtf8);
        MetricsPort = metricsPort;
        MetricsHost = FormatHostPort(address, metricsPort);
    }

    private static readonly IReadOnlyDictionary<string, string> EmptyLabels = new Dictionary<string, string>();

    /// <summary>NamespacedName as the reference keys endpoints: <c>&lt;namespace&gt;/&lt;pod&gt;-rank-&lt;i&gt;</c>.</summary>
    public string Name { get; }
    public string PodName { get; }
    /// <summary>Pod IP (or host name for static endpoints), without brackets.</summary>
    public string Address { get; }
    public int Port { get; }
    public bool IsIPv6 { get; }
    /// <summary><c>ip:port</c>, IPv6 bracketed (<c>[fd00::1]:8000</c>): the destination header form.</summary>
    public string HostPort { get; }
    public byte[] HostPortUtf8 { get; }
    /// <summary>A hash of <see cref="HostPort"/>: the same in every EPP replica that sees this endpoint (rendezvous hashing).</summary>
    public ulong AddressHash { get; }
    public int MetricsPort { get; }
    /// <summary>Where /metrics is scraped: <c>ip:metricsPort</c> (IPv6 bracketed).</summary>
    public string MetricsHost { get; }
    public IReadOnlyDictionary<string, string> Labels { get; }
    public EndpointState State { get; }

    /// <summary>The same endpoint identity carrying an existing state (used when labels change).</summary>
    public Endpoint WithState(EndpointState state) =>
        new(Name, PodName, Address, Port, MetricsPort, Labels, state);

    public override string ToString() => $"{Name} ({HostPort})";

    public static string FormatHostPort(string address, int port) =>
        address.Contains(':') ? $"[{address}]:{port}" : $"{address}:{port}";

    /// <summary>Parses <c>host:port</c>, <c>[v6]:port</c>; false on anything else.</summary>
    public static bool TryParseHostPort(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        text = text.Trim();
        if (text.Length == 0)
            return false;
        int colon;
        if (text[0] == '[')
        {
            int close = text.IndexOf(']');
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
                return false;
            host = text[1..close];
            colon = close + 1;
            if (!IPAddress.TryParse(host, out _))
                return false;
        }
        else
        {
            colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':') != colon)
                return false;
            host = text[..colon];
        }
        return int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out port)
            && port is > 0 and <= 65535;
    }
}
