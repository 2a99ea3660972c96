namespace FastEpp.Metrics;

/// <summary>
/// Settings of the <see cref="MetricsPoller"/>: the <c>metrics-data-source</c> parameters
/// (scheduling.md §4.2) and <c>--refresh-metrics-interval</c> (runtime.md §1.2), plus FastEpp's own
/// bounds (per-request timeout, concurrency, body cap, back-off). A plain options type.
/// </summary>
internal sealed class MetricsPollerOptions
{
    public const string DefaultScheme = "http";
    public const string DefaultPath = "/metrics";

    /// <summary><c>http</c> or <c>https</c>.</summary>
    public string Scheme { get; set; } = DefaultScheme;
    public string Path { get; set; } = DefaultPath;
    /// <summary>Skip TLS certificate verification for https (the reference's default is true).</summary>
    public bool InsecureSkipVerify { get; set; } = true;
    /// <summary><c>--refresh-metrics-interval</c>: how often each endpoint is scraped.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Per-scrape timeout (connect + headers + body), the reference's per-poll 1 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Scrapes in flight at once across all endpoints.</summary>
    public int MaxConcurrency { get; set; } = 256;
    /// <summary>Bodies larger than this are rejected (the scrape fails, old values are kept).</summary>
    public int MaxBodyBytes { get; set; } = 16 * 1024 * 1024;
    /// <summary>Ceiling of the per-endpoint exponential back-off after failed scrapes.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Relative jitter applied to every next-scrape delay (0.1 = ±10 %).</summary>
    public double Jitter { get; set; } = 0.1;

    /// <summary>All problems, empty when valid.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (Scheme is not ("http" or "https"))
            errors.Add($"metrics scheme must be \"http\" or \"https\", got \"{Scheme}\"");
        if (string.IsNullOrEmpty(Path) || Path[0] != '/')
            errors.Add($"metrics path must start with '/', got \"{Path}\"");
        if (RefreshInterval <= TimeSpan.Zero)
            errors.Add("refresh-metrics-interval must be positive");
        if (RequestTimeout <= TimeSpan.Zero)
            errors.Add("metrics request timeout must be positive");
        if (MaxConcurrency < 1)
            errors.Add("metrics max concurrency must be at least 1");
        if (MaxBodyBytes < 1024)
            errors.Add("metrics max body size must be at least 1024 bytes");
        if (MaxBackoff < TimeSpan.Zero)
            errors.Add("metrics max back-off must not be negative");
        if (Jitter is < 0 or > 0.5 || double.IsNaN(Jitter))
            errors.Add("metrics jitter must be within [0, 0.5]");
        return errors;
    }

    /// <summary>
    /// Applies the <c>metrics-data-source</c> precedence (scheduling.md §4.2, runtime.md §1.2): plugin
    /// parameters win; otherwise an explicitly set deprecated flag
    /// (<c>--model-server-metrics-scheme/-path/-https-insecure-skip-verify</c>); otherwise the default.
    /// Pass null for "not given".
    /// </summary>
    public void ApplyDataSource(string? paramScheme, string? paramPath, bool? paramInsecureSkipVerify,
        string? flagScheme, string? flagPath, bool? flagInsecureSkipVerify)
    {
        Scheme = paramScheme ?? flagScheme ?? DefaultScheme;
        Path = paramPath ?? flagPath ?? DefaultPath;
        InsecureSkipVerify = paramInsecureSkipVerify ?? flagInsecureSkipVerify ?? true;
    }
}
