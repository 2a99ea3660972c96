using Microsoft.Extensions.Logging;

namespace FastEpp.Endpoints;

/// <summary>
/// The static endpoint source (<c>--endpoints host:port,...</c> or a file with one per line, <c>#</c>
/// comments): FastEpp's embedded default, no Kubernetes needed. Names follow the reference's
/// NamespacedName shape: <c>&lt;namespace&gt;/static-&lt;i&gt;-rank-0</c>, <c>i</c> in order of first sight.
/// An empty list is valid (the reference's empty pool: every request is answered 503 until endpoints appear).
/// </summary>
internal static class StaticEndpoints
{
    /// <summary>Parses the flag value; a value starting with <c>@</c> names a file. Throws <see cref="FormatException"/> on a malformed entry.</summary>
    public static List<Endpoint> Parse(string spec, string @namespace)
    {
        string text = spec.StartsWith('@') ? File.ReadAllText(spec[1..]) : spec;
        var parsed = ParseText(text, out var errors);
        if (errors.Count > 0)
            throw new FormatException(errors[0]);
        return new StaticEndpointNames(@namespace).Build(parsed);
    }

    /// <summary>
    /// Every <c>host:port</c> of <paramref name="text"/> in order, duplicates dropped; each malformed entry is one
    /// line of <paramref name="errors"/> (<c>line N: invalid endpoint "x": ...</c>; the first one without the line
    /// number prefix when the text is a single line, as the flag gives it).
    /// </summary>
    public static List<(string Host, int Port)> ParseText(string text, out List<string> errors)
    {
        errors = [];
        var result = new List<(string, int)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            int hash = line.IndexOf('#');
            if (hash >= 0)
                line = line[..hash];
            foreach (var item in line.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Endpoint.TryParseHostPort(item, out var host, out var port))
                {
                    string message = $"invalid endpoint \"{item}\": expected host:port or [ipv6]:port";
                    errors.Add(lines.Length > 1 ? $"line {n + 1}: {message}" : message);
                    continue;
                }
                if (seen.Add(Endpoint.FormatHostPort(host, port)))
                    result.Add((host, port));
            }
        }
        return result;
    }
}

/// <summary>Stable names for static endpoints: an address keeps the index it got when first seen, across reloads.</summary>
internal sealed class StaticEndpointNames(string @namespace)
{
    private readonly Dictionary<string, int> _indexes = new(StringComparer.Ordinal);

    public List<Endpoint> Build(List<(string Host, int Port)> entries)
    {
        var result = new List<Endpoint>(entries.Count);
        foreach (var (host, port) in entries)
        {
            string key = Endpoint.FormatHostPort(host, port);
            if (!_indexes.TryGetValue(key, out int i))
                _indexes[key] = i = _indexes.Count;
            result.Add(new Endpoint($"{@namespace}/static-{i}-rank-0", $"static-{i}", host, port, port));
        }
        return result;
    }
}

/// <summary>
/// <c>--endpoints @file</c>, watched (the llm-d <c>file-discovery</c> idea): the file is re-read when it changes
/// (a ConfigMap mount swaps a symlink, so the content is compared rather than trusting change events), and a
/// valid new list is published at once. A list with malformed lines is reported and not applied: the last good
/// list stays. A missing or unreadable file is reported likewise.
/// </summary>
internal sealed class StaticEndpointFile
{
    private readonly string _path;
    private readonly EndpointRegistry _registry;
    private readonly ILogger _logger;
    private readonly StaticEndpointNames _names;
    private string? _lastText;
    private string? _lastProblem;

    /// <summary>How often the file is compared (a change event wakes the loop earlier).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    public StaticEndpointFile(string path, string @namespace, EndpointRegistry registry, ILogger logger)
    {
        _path = Path.GetFullPath(path);
        _registry = registry;
        _logger = logger;
        _names = new StaticEndpointNames(@namespace);
    }

    /// <summary>First read, at start-up: a missing file or a malformed line stops start-up (<see cref="FormatException"/> / IO errors).</summary>
    public int LoadInitial()
    {
        string text = File.ReadAllText(_path);
        var parsed = StaticEndpoints.ParseText(text, out var errors);
        if (errors.Count > 0)
            throw new FormatException(errors[0]);
        _lastText = text;
        _registry.Publish(_names.Build(parsed));
        return parsed.Count;
    }

    /// <summary>Watches until <paramref name="stopping"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var wake = new SemaphoreSlim(0);
        using var watcher = CreateWatcher(wake);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await wake.WaitAsync(PollInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Reload();
        }
    }

    private FileSystemWatcher? CreateWatcher(SemaphoreSlim wake)
    {
        try
        {
            string? dir = Path.GetDirectoryName(_path);
            if (dir is null || !Directory.Exists(dir))
                return null;
            var watcher = new FileSystemWatcher(dir) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime };
            FileSystemEventHandler onChange = (_, _) => wake.Release();
            watcher.Changed += onChange;
            watcher.Created += onChange;
            watcher.Deleted += onChange;
            watcher.Renamed += (_, _) => wake.Release();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            return null; // polling alone still works
        }
    }

    /// <summary>One comparison: publishes a changed valid list; reports a problem once per distinct problem.</summary>
    internal void Reload()
    {
        string text;
        try
        {
            text = File.ReadAllText(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Report($"cannot read the endpoints file {_path}: {e.Message}; keeping the last good list of {_registry.Current.Count} endpoints");
            return;
        }
        if (string.Equals(text, _lastText, StringComparison.Ordinal))
            return;
        var parsed = StaticEndpoints.ParseText(text, out var errors);
        if (errors.Count > 0)
        {
            Report($"the endpoints file {_path} has malformed lines ({string.Join("; ", errors)}); keeping the last good list of {_registry.Current.Count} endpoints");
            return;
        }
        _lastText = text;
        _lastProblem = null;
        _registry.Publish(_names.Build(parsed));
        if (parsed.Count == 0)
            _logger.LogWarning("The endpoints file {Path} lists no endpoints: every request is answered 503 until endpoints appear", _path);
        else
            _logger.LogInformation("Endpoints reloaded from {Path}: {Count} endpoints", _path, parsed.Count);
    }

    private void Report(string problem)
    {
        if (string.Equals(problem, _lastProblem, StringComparison.Ordinal))
            return;
        _lastProblem = problem;
        _logger.LogWarning("{Problem}", problem);
    }
}
