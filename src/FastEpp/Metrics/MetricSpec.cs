using System.Text;

namespace FastEpp.Metrics;

/// <summary>
/// One parsed metric specification (scheduling.md §4.3): a PromQL instant-vector selector
/// <c>name{label="value",label2=value2}</c>. Unquoted label values are accepted (the reference adds
/// quotes with a regex before handing the text to the PromQL parser); only <c>=</c> matchers are
/// kept, other matcher types (<c>!=</c>, <c>=~</c>, <c>!~</c>) and labels starting with <c>__</c>
/// are parsed and ignored. Immutable; built at configuration load, read by the scanner.
/// </summary>
internal sealed class MetricSpec
{
    private MetricSpec(string name, MetricSpecLabel[] labels)
    {
        Name = name;
        NameUtf8 = Encoding.UTF8.GetBytes(name);
        Labels = labels;
    }

    public string Name { get; }
    public byte[] NameUtf8 { get; }
    /// <summary>Equality matchers a series must carry (all of them) to be selected.</summary>
    public MetricSpecLabel[] Labels { get; }

    /// <summary>
    /// Parses <paramref name="text"/>. An empty or blank text is valid and means "metric disabled":
    /// the result is <c>true</c> with a null <paramref name="spec"/>.
    /// </summary>
    public static bool TryParse(string? text, out MetricSpec? spec, out string? error)
    {
        spec = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
            return true;

        var s = text.AsSpan().Trim();
        int i = 0;
        if (!IsNameStart(s[0]))
        {
            error = s[0] == '{'
                ? $"empty metric name in specification: \"{text}\""
                : $"invalid metric specification \"{text}\": metric name cannot start with '{s[0]}'";
            return false;
        }
        while (i < s.Length && IsNameChar(s[i]))
            i++;
        string name = s[..i].ToString();
        SkipSpaces(s, ref i);

        var labels = new List<MetricSpecLabel>();
        if (i < s.Length)
        {
            if (s[i] != '{')
            {
                error = $"invalid metric specification \"{text}\": unexpected '{s[i]}' at position {i} (expected '{{' or end)";
                return false;
            }
            i++;
            if (!TryParseLabels(s, ref i, labels, text, out error))
                return false;
            SkipSpaces(s, ref i);
            if (i < s.Length)
            {
                error = $"invalid metric specification \"{text}\": unexpected '{s[i]}' at position {i} after '}}'";
                return false;
            }
        }
        spec = new MetricSpec(name, labels.ToArray());
        return true;
    }

    /// <summary>Like <see cref="TryParse"/> but throws <see cref="FormatException"/> with the error text.</summary>
    public static MetricSpec? Parse(string? text) =>
        TryParse(text, out var spec, out var error) ? spec : throw new FormatException(error);

    private static bool TryParseLabels(ReadOnlySpan<char> s, ref int i, List<MetricSpecLabel> labels, string text, out string? error)
    {
        error = null;
        var value = new StringBuilder();
        while (true)
        {
            SkipSpaces(s, ref i);
            if (i >= s.Length)
            {
                error = $"invalid metric specification \"{text}\": missing '}}'";
                return false;
            }
            if (s[i] == '}')
            {
                i++;
                return true;
            }

            int nameStart = i;
            if (!IsLabelStart(s[i]))
            {
                error = $"invalid metric specification \"{text}\": expected a label name at position {i}, found '{s[i]}'";
                return false;
            }
            while (i < s.Length && IsLabelChar(s[i]))
                i++;
            string labelName = s[nameStart..i].ToString();
            SkipSpaces(s, ref i);

            bool equality;
            if (i < s.Length && s[i] == '=')
            {
                i++;
                equality = true;
                if (i < s.Length && s[i] == '~')
                {
                    i++;
                    equality = false;
                }
            }
            else if (i + 1 < s.Length && s[i] == '!' && (s[i + 1] == '=' || s[i + 1] == '~'))
            {
                i += 2;
                equality = false;
            }
            else
            {
                error = $"invalid metric specification \"{text}\": expected '=', '!=', '=~' or '!~' after label \"{labelName}\"";
                return false;
            }
            SkipSpaces(s, ref i);

            value.Clear();
            if (i < s.Length && s[i] is '"' or '\'' or '`')
            {
                char quote = s[i++];
                bool closed = false;
                while (i < s.Length)
                {
                    char c = s[i++];
                    if (c == quote)
                    {
                        closed = true;
                        break;
                    }
                    if (c == '\\' && quote != '`')
                    {
                        if (i >= s.Length)
                            break;
                        char e = s[i++];
                        switch (e)
                        {
                            case '\\': value.Append('\\'); break;
                            case '"': value.Append('"'); break;
                            case '\'': value.Append('\''); break;
                            case 'n': value.Append('\n'); break;
                            case 't': value.Append('\t'); break;
                            case 'r': value.Append('\r'); break;
                            default:
                                error = $"invalid metric specification \"{text}\": unsupported escape '\\{e}' in the value of label \"{labelName}\"";
                                return false;
                        }
                        continue;
                    }
                    value.Append(c);
                }
                if (!closed)
                {
                    error = $"invalid metric specification \"{text}\": unterminated quoted value of label \"{labelName}\"";
                    return false;
                }
            }
            else
            {
                // Unquoted value: what the reference's regex `[^",}\s]+` would have quoted.
                int valueStart = i;
                while (i < s.Length && s[i] is not (',' or '}' or '"') && !char.IsWhiteSpace(s[i]))
                    i++;
                if (i == valueStart)
                {
                    error = $"invalid metric specification \"{text}\": missing value for label \"{labelName}\"";
                    return false;
                }
                value.Append(s[valueStart..i]);
            }

            if (equality && !labelName.StartsWith("__", StringComparison.Ordinal))
            {
                // A repeated label keeps the last value (the reference stores matchers in a map).
                labels.RemoveAll(l => l.Name == labelName);
                labels.Add(new MetricSpecLabel(labelName, value.ToString()));
            }

            SkipSpaces(s, ref i);
            if (i < s.Length && s[i] == ',')
            {
                i++;
                continue;
            }
            if (i < s.Length && s[i] == '}')
                continue;
            error = i < s.Length
                ? $"invalid metric specification \"{text}\": expected ',' or '}}' at position {i}, found '{s[i]}'"
                : $"invalid metric specification \"{text}\": missing '}}'";
            return false;
        }
    }

    private static void SkipSpaces(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i]))
            i++;
    }

    private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c is '_' or ':';
    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or ':';
    private static bool IsLabelStart(char c) => char.IsAsciiLetter(c) || c == '_';
    private static bool IsLabelChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    public override string ToString()
    {
        if (Labels.Length == 0)
            return Name;
        var sb = new StringBuilder(Name).Append('{');
        for (int i = 0; i < Labels.Length; i++)
        {
            if (i > 0)
                sb.Append(',');
            sb.Append(Labels[i].Name).Append("=\"").Append(Labels[i].Value.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
        }
        return sb.Append('}').ToString();
    }
}

/// <summary>One equality matcher of a <see cref="MetricSpec"/>, with its UTF-8 forms for the scanner.</summary>
internal sealed class MetricSpecLabel
{
    public MetricSpecLabel(string name, string value)
    {
        Name = name;
        Value = value;
        NameUtf8 = Encoding.UTF8.GetBytes(name);
        ValueUtf8 = Encoding.UTF8.GetBytes(value);
    }

    public string Name { get; }
    public string Value { get; }
    public byte[] NameUtf8 { get; }
    /// <summary>The unescaped value; compared with the unescaped exposition value.</summary>
    public byte[] ValueUtf8 { get; }
}
