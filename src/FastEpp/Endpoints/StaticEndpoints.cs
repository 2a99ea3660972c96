namespace FastEpp.Endpoints;

/// <summary>
/// The static endpoint source (<c>--endpoints host:port,...</c> or a file with one per line, <c>#</c>
/// comments): FastEpp's embedded default, no Kubernetes needed. Names follow the reference's
/// NamespacedName shape: <c>&lt;namespace&gt;/static-&lt;i&gt;-rank-0</c>.
/// </summary>
internal static class StaticEndpoints
{
    /// <summary>Parses the flag value; a value starting with <c>@</c> names a file. Throws <see cref="FormatException"/>.</summary>
    public static List<Endpoint> Parse(string spec, string @namespace)
    {
        string text = spec.StartsWith('@') ? File.ReadAllText(spec[1..]) : spec;
        var result = new List<Endpoint>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rawLine in text.Split('\n'))
        {
            string line = rawLine;
            int hash = line.IndexOf('#');
            if (hash >= 0)
                line = line[..hash];
            foreach (var item in line.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Endpoint.TryParseHostPort(item, out var host, out var port))
                    throw new FormatException($"invalid endpoint \"{item}\": expected host:port or [ipv6]:port");
                var hostPort = Endpoint.FormatHostPort(host, port);
                if (!seen.Add(hostPort))
                    continue; // duplicate: one endpoint
                int i = result.Count;
                result.Add(new Endpoint($"{@namespace}/static-{i}-rank-0", $"static-{i}", host, port, port));
            }
        }
        if (result.Count == 0)
            throw new FormatException("no endpoints given");
        return result;
    }
}
