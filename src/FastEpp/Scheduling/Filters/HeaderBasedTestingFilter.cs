using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using FastEpp.Configuration;

namespace FastEpp.Scheduling.Filters;

/// <summary>
/// <c>header-based-testing-filter</c> (test only, no parameters), spec §2.7: header
/// <c>test-epp-endpoint-selection</c> is a comma list of <c>IP</c> or <c>IP:port</c> (IPv6 with or without
/// brackets). Missing/blank header → no candidates. Returns the matching candidates in header order,
/// de-duplicated by IP; an entry with a port needs the exact ip:port.
/// </summary>
internal sealed class HeaderBasedTestingFilter(string name) : Plugin(name), IFilter
{
    public const string HeaderName = "test-epp-endpoint-selection";

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("header-based-testing-filter", static (n, _, _) => new HeaderBasedTestingFilter(n));

    public override string TypeName => Type.Name;

    public int Filter(in SchedulingContext ctx, Span<int> candidates)
    {
        if (!ctx.Request.Headers.TryGetValue(HeaderName, out string? header) || string.IsNullOrWhiteSpace(header))
            return 0;
        Endpoint[] endpoints = ctx.Snapshot.Endpoints;
        Span<int> output = ctx.Scratch.Temp(candidates.Length);
        int n = 0;
        ReadOnlySpan<char> rest = header;
        while (!rest.IsEmpty)
        {
            int comma = rest.IndexOf(',');
            ReadOnlySpan<char> entry = (comma < 0 ? rest : rest[..comma]).Trim();
            rest = comma < 0 ? default : rest[(comma + 1)..];
            if (entry.IsEmpty || !TrySplit(entry, out ReadOnlySpan<char> ip, out int port))
                continue;
            bool ipTaken = false;
            for (int j = 0; j < n; j++)
            {
                if (ip.SequenceEqual(endpoints[output[j]].Address))
                {
                    ipTaken = true;
                    break;
                }
            }
            if (ipTaken)
                continue;
            foreach (int c in candidates)
            {
                Endpoint e = endpoints[c];
                if (ip.SequenceEqual(e.Address) && (port < 0 || port == e.Port))
                {
                    output[n++] = c;
                    break;
                }
            }
            if (n == candidates.Length)
                break;
        }
        output[..n].CopyTo(candidates);
        return n;
    }

    /// <summary>Splits <c>ip</c>, <c>ip:port</c>, <c>[v6]</c>, <c>[v6]:port</c> or bare <c>v6</c>; port −1 when absent.</summary>
    private static bool TrySplit(ReadOnlySpan<char> entry, out ReadOnlySpan<char> ip, out int port)
    {
        port = -1;
        ip = entry;
        if (entry[0] == '[')
        {
            int close = entry.IndexOf(']');
            if (close < 0)
                return false;
            ip = entry[1..close];
            ReadOnlySpan<char> tail = entry[(close + 1)..];
            if (tail.IsEmpty)
                return true;
            return tail[0] == ':' && int.TryParse(tail[1..], out port);
        }
        int first = entry.IndexOf(':');
        if (first < 0 || entry.LastIndexOf(':') != first)
            return true; // IPv4 without port, or a bare IPv6 address
        ip = entry[..first];
        return int.TryParse(entry[(first + 1)..], out port);
    }
}
