using FastEpp.Hosting.Logging;
using Microsoft.Extensions.Logging;

namespace FastEpp.Metrics;

/// <summary>Source-generated log messages of the metrics area (event ids 5xxx, style.md §6).</summary>
internal static partial class MetricsLog
{
    // Scrape and extraction failures carry the reference data layer's constant messages and keys (its collector logs
    // only the transitions: "poll failed" / "poll recovered", "extract failed" / "extract recovered", keyed by the
    // endpoint's IP and the plugin's "<name>/<type>"); pod and url are extra fields. Pinned by ReferenceLogTextTests.
    public const string SourceName = "metrics-data-source/metrics-data-source";
    public const string ExtractorName = "core-metrics-extractor/core-metrics-extractor";

    public static void ScrapeFailed(ILogger logger, string address, string pod, Uri url, string reason) =>
        logger.Zap(LogLevel.Error, new EventId(5001, "poll failed"), null, "poll failed", ZapEntry.Field("endpoint", address), ZapEntry.Field("source", SourceName),
            ZapEntry.Field("pod", pod), ZapEntry.Field("url", url.ToString()), ZapEntry.Field("error", reason));

    public static void ScrapeRecovered(ILogger logger, string address, string pod, int failures) =>
        logger.Zap(LogLevel.Information, new EventId(5002, "poll recovered"), null, "poll recovered", ZapEntry.Field("endpoint", address), ZapEntry.Field("source", SourceName),
            ZapEntry.Field("pod", pod), ZapEntry.Field("failures", failures));

    public static void ExtractIncomplete(ILogger logger, string address, string pod, string engine, string details) =>
        logger.Zap(LogLevel.Error, new EventId(5003, "extract failed"), null, "extract failed", ZapEntry.Field("endpoint", address), ZapEntry.Field("extractor", ExtractorName),
            ZapEntry.Field("pod", pod), ZapEntry.Field("engine", engine), ZapEntry.Field("error", details));

    public static void ExtractRecovered(ILogger logger, string address, string pod, string engine) =>
        logger.Zap(LogLevel.Information, new EventId(5004, "extract recovered"), null, "extract recovered", ZapEntry.Field("endpoint", address), ZapEntry.Field("extractor", ExtractorName),
            ZapEntry.Field("pod", pod), ZapEntry.Field("engine", engine));

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
