using System.Collections;
using System.Text.Json;

namespace FastEpp.Hosting.Logging;

/// <summary>
/// A log message in the reference's shape: a constant <c>msg</c> (what an operator's query or alert matches, e.g.
/// "Flags processed") and separate key/value fields, where a .NET message template would splice the values into the
/// message. For start-up and state-change lines, not the request path.
/// </summary>
internal sealed class ZapEntry(string message, params KeyValuePair<string, object?>[] fields)
    : IReadOnlyList<KeyValuePair<string, object?>>
{
    public static readonly Func<ZapEntry, Exception?, string> Format = static (e, _) => e.Message;

    public string Message { get; } = message;

    public KeyValuePair<string, object?> this[int index] =>
        index < fields.Length ? fields[index] : new("{OriginalFormat}", Message);

    public int Count => fields.Length + 1;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
            yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Message;

    public static KeyValuePair<string, object?> Field(string key, object? value) => new(key, value);
}

/// <summary>Extension methods that write a <see cref="ZapEntry"/>.</summary>
internal static class ZapLoggerExtensions
{
    public static void Zap(this ILogger logger, LogLevel level, string message, params KeyValuePair<string, object?>[] fields) =>
        logger.Zap(level, null, message, fields);

    public static void Zap(this ILogger logger, LogLevel level, Exception? exception, string message, params KeyValuePair<string, object?>[] fields) =>
        logger.Zap(level, default, exception, message, fields);

    /// <param name="eventId">The line's event id (the caller field shows it; tests count lines by it).</param>
    public static void Zap(this ILogger logger, LogLevel level, EventId eventId, Exception? exception, string message, params KeyValuePair<string, object?>[] fields)
    {
        if (logger.IsEnabled(level))
            logger.Log(level, eventId, new ZapEntry(message, fields), exception, ZapEntry.Format);
    }
}

/// <summary>The flags as one JSON object of typed values (the reference logs pflag's map of flag name → value).</summary>
internal sealed class FlagsValue(IReadOnlyList<FlagSet.Flag> flags) : IZapValue
{
    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        foreach (var flag in flags)
        {
            writer.WritePropertyName(flag.Name);
            flag.WriteJson(writer);
        }
        writer.WriteEndObject();
    }

    public override string ToString() => string.Join(" ", flags.Select(f => f.Name + "=" + f.ValueText));
}
