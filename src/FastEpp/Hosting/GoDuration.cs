using System.Globalization;
using System.Text;

namespace FastEpp.Hosting;

/// <summary>Go's time.ParseDuration / Duration.String, for flags and config values ("50ms", "1h2m3.5s").</summary>
internal static class GoDuration
{
    public static TimeSpan Parse(string s)
    {
        if (!TryParse(s, out var value))
            throw new FormatException($"time: invalid duration \"{s}\"");
        return value;
    }

    public static bool TryParse(string s, out TimeSpan value)
    {
        value = default;
        ReadOnlySpan<char> rest = s;
        bool negative = false;
        if (rest.Length > 0 && (rest[0] == '-' || rest[0] == '+'))
        {
            negative = rest[0] == '-';
            rest = rest[1..];
        }
        if (rest.SequenceEqual("0"))
            return true;
        if (rest.IsEmpty)
            return false;
        decimal totalNs = 0;
        while (!rest.IsEmpty)
        {
            int i = 0;
            while (i < rest.Length && (char.IsAsciiDigit(rest[i]) || rest[i] == '.'))
                i++;
            if (i == 0 || (i == 1 && rest[0] == '.'))
                return false;
            if (!decimal.TryParse(rest[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
                return false;
            rest = rest[i..];
            int u = 0;
            while (u < rest.Length && !char.IsAsciiDigit(rest[u]) && rest[u] != '.')
                u++;
            decimal unitNs = rest[..u] switch
            {
                "ns" => 1m,
                "us" or "µs" or "μs" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60_000_000_000m,
                "h" => 3_600_000_000_000m,
                _ => -1m,
            };
            if (unitNs < 0)
                return false;
            rest = rest[u..];
            totalNs += number * unitNs;
        }
        long ticks = (long)(totalNs / 100m);
        value = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }

    public static string Format(TimeSpan d)
    {
        if (d == TimeSpan.Zero)
            return "0s";
        var sb = new StringBuilder();
        if (d < TimeSpan.Zero)
        {
            sb.Append('-');
            d = d.Negate();
        }
        if (d < TimeSpan.FromSeconds(1))
        {
            double ms = d.TotalMilliseconds;
            if (ms >= 1)
                return sb.Append(ms.ToString("0.###", CultureInfo.InvariantCulture)).Append("ms").ToString();
            return sb.Append((d.Ticks / 10.0).ToString("0.#", CultureInfo.InvariantCulture)).Append("µs").ToString();
        }
        if (d.TotalHours >= 1)
            sb.Append((long)d.TotalHours).Append('h');
        if (d.TotalMinutes >= 1)
            sb.Append(d.Minutes).Append('m');
        double seconds = d.Seconds + d.Milliseconds / 1000.0 + (d.Ticks % TimeSpan.TicksPerMillisecond) / 1e7;
        sb.Append(seconds.ToString("0.#########", CultureInfo.InvariantCulture)).Append('s');
        return sb.ToString();
    }
}
