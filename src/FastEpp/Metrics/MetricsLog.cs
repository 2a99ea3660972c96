using Microsoft.Extensions.Logging;

namespace FastEpp.Metrics;

/// <summary>Source-generated log messages of the metrics area (event ids 5xxx, style.md §6).</summary>
internal static partial class MetricsLog
{
    [LoggerMessage(EventId = 5001, EventName = "MetricsScrapeFailed", Level = LogLevel.Warning,
        Message = "Metrics scrape of {Endpoint} ({Url}) failed: {Reason}. Last values are kept (they age) until it recovers.")]
    public static partial void ScrapeFailed(ILogger logger, string endpoint, Uri url, string reason);

    [LoggerMessage(EventId = 5002, EventName = "MetricsScrapeRecovered", Level = LogLevel.Information,
        Message = "Metrics scrape of {Endpoint} recovered after {Failures} failed attempt(s).")]
    public static partial void ScrapeRecovered(ILogger logger, string endpoint, int failures);

    [LoggerMessage(EventId = 5003, EventName = "MetricsExtractIncomplete", Level = LogLevel.Warning,
        Message = "Metrics of {Endpoint} (engine {Engine}) are incomplete: {Details}")]
    public static partial void ExtractIncomplete(ILogger logger, string endpoint, string engine, string details);

    [LoggerMessage(EventId = 5004, EventName = "MetricsExtractRecovered", Level = LogLevel.Information,
        Message = "Metrics of {Endpoint} (engine {Engine}) are complete again.")]
    public static partial void ExtractRecovered(ILogger logger, string endpoint, string engine);

    [LoggerMessage(EventId = 5005, EventName = "MetricsPollerIterationFailed", Level = LogLevel.Error,
        Message = "Metrics poller iteration failed; the loop continues.")]
    public static partial void PollerIterationFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5006, EventName = "MetricsPollerStarted", Level = LogLevel.Information,
        Message = "Metrics poller started: {Scheme}://<endpoint>{Path} every {IntervalMs} ms, timeout {TimeoutMs} ms, concurrency {Concurrency}.")]
    public static partial void PollerStarted(ILogger logger, string scheme, string path, double intervalMs, double timeoutMs, int concurrency);

    [LoggerMessage(EventId = 5007, EventName = "MetricsPollerSaturated", Level = LogLevel.Warning,
        Message = "Metrics poller reached its concurrency limit ({Limit}); scrapes are delayed. Raise the limit or the interval.")]
    public static partial void PollerSaturated(ILogger logger, int limit);

    [LoggerMessage(EventId = 5008, EventName = "MetricsPollerUnsaturated", Level = LogLevel.Information,
        Message = "Metrics poller is below its concurrency limit again.")]
    public static partial void PollerUnsaturated(ILogger logger);

    [LoggerMessage(EventId = 5009, EventName = "PoolMetricsIterationFailed", Level = LogLevel.Error,
        Message = "Pool metrics aggregation failed; the loop continues.")]
    public static partial void PoolIterationFailed(ILogger logger, Exception exception);
}
