using Envoy.Config.Core.V3;
using FastEpp.Endpoints;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.Requests;

/// <summary>
/// The gateway's candidate subset (spec extproc.md §2.7): filter metadata
/// <c>envoy.lb.subset_hint</c> / <c>x-gateway-destination-endpoint-subset</c>, a list of "ip:port" strings.
/// </summary>
internal static class SubsetHint
{
    /// <summary>
    /// Writes into <paramref name="into"/> (≥ snapshot count) the indices of the candidates: every endpoint, or,
    /// with a hint, those whose IP is in it (port ignored, IPv6 brackets stripped). Returns their count.
    /// </summary>
    public static int SelectCandidates(EndpointSnapshot snapshot, Metadata? metadata, bool ignoreHint, int[] into)
    {
        var endpoints = snapshot.Endpoints;
        ListValue? subset = null;
        if (!ignoreHint
            && metadata?.FilterMetadata is { } fm
            && fm.TryGetValue(HeaderNames.SubsetHintNamespace, out var ns)
            && ns.Fields.TryGetValue(HeaderNames.DestinationEndpointSubset, out var value)
            && value.KindCase == Value.KindOneofCase.ListValue)
            subset = value.ListValue;
        if (subset is null)
        {
            for (int i = 0; i < endpoints.Length; i++)
                into[i] = i;
            return endpoints.Length;
        }
        var addresses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in subset.Values)
        {
            if (entry.KindCase != Value.KindOneofCase.StringValue)
                continue;
            string s = entry.StringValue;
            int colon = s.LastIndexOf(':');
            string address = colon >= 0 ? s[..colon] : s;
            addresses.Add(address.Length > 1 && address[0] == '[' && address[^1] == ']' ? address[1..^1] : address);
        }
        int n = 0;
        for (int i = 0; i < endpoints.Length; i++)
            if (addresses.Contains(endpoints[i].Address))
                into[n++] = i;
        return n;
    }
}
