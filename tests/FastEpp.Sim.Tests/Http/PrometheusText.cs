using System.Globalization;
using System.Text.RegularExpressions;

namespace FastEpp.Sim.Tests.Http;

/// <summary>A strict reader of Prometheus text exposition 0.0.4 (what the EPP's scraper parses), for assertions.</summary>
internal sealed partial class PrometheusText
{
    public Dictionary<string, string> Types { get; } = new();

    public List<(string Name, Dictionary<string, string> Labels, double Value)> Samples { get; } = new();

    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    /// <summary>Parses or throws FormatException naming the bad line.</summary>
    public static PrometheusText Parse(string text)
    {
        var result = new PrometheusText();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ');
                if (parts.Length != 4 || !MetricName().IsMatch(parts[2]) || parts[3] is not ("gauge" or "counter" or "histogram" or "summary" or "untyped"))
                {
                    throw new FormatException("bad TYPE line: " + line);
                }
                if (!result.Types.TryAdd(parts[2], parts[3]))
                {
                    throw new FormatException("duplicate TYPE: " + line);
                }
                continue;
            }
            if (line.StartsWith('#'))
            {
                throw new FormatException("unknown comment: " + line);
            }
            result.Samples.Add(ParseSample(line));
        }
        foreach ((string name, _, _) in result.Samples)
        {
            if (result.FamilyOf(name) is null)
            {
                throw new FormatException("sample without TYPE: " + name);
            }
        }
        return result;
    }

    public string? FamilyOf(string sample)
    {
        if (Types.ContainsKey(sample))
        {
            return sample;
        }
        foreach (string suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && Types.TryGetValue(sample[..^suffix.Length], out string? t) && t == "histogram")
            {
                return sample[..^suffix.Length];
            }
        }
        return null;
    }

    public double Value(string name, params (string Key, string Value)[] labels)
    {
        foreach ((string n, Dictionary<string, string> l, double v) in Samples)
        {
            if (n == name && labels.All(x => l.TryGetValue(x.Key, out string? s) && s == x.Value))
            {
                return v;
            }
        }
        throw new KeyNotFoundException(name);
    }

    public Dictionary<string, string> Labels(string name) => Samples.First(s => s.Name == name).Labels;

    private static (string, Dictionary<string, string>, double) ParseSample(string line)
    {
        int brace = line.IndexOf('{');
        int space = line.LastIndexOf(' ');
        string name = brace >= 0 ? line[..brace] : line[..space];
        if (!MetricName().IsMatch(name))
        {
            throw new FormatException("bad metric name: " + line);
        }
        var labels = new Dictionary<string, string>();
        int i = brace >= 0 ? brace + 1 : -1;
        if (brace >= 0)
        {
            while (line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                string key = line[i..eq];
                if (!LabelName().IsMatch(key) || line[eq + 1] != '"')
                {
                    throw new FormatException("bad label: " + line);
                }
                var value = new System.Text.StringBuilder();
                int j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] switch { 'n' => '\n', _ => line[j] });
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }
                if (!labels.TryAdd(key, value.ToString()))
                {
                    throw new FormatException("duplicate label: " + line);
                }
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
            }
            if (i + 1 != space)
            {
                throw new FormatException("junk after labels: " + line);
            }
        }
        string v = line[(space + 1)..];
        double value2 = v switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            _ => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return (name, labels, value2);
    }
}
