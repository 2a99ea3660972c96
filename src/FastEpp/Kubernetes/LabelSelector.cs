using System.Text;
using System.Text.RegularExpressions;

namespace FastEpp.Kubernetes;

/// <summary>
/// Equality label selectors (<c>matchLabels</c>): parsing of <c>--endpoint-selector</c> with
/// apimachinery's <c>ConvertSelectorToLabelsMap</c> rules, matching, and the query-string form.
/// </summary>
internal static partial class LabelSelector
{
    /// <summary>
    /// Parses <c>k=v,k2=v2</c>: split on ',', each part must split on '=' into exactly two pieces,
    /// key and value are trimmed and validated as a qualified name / label value. Empty → empty map.
    /// </summary>
    public static bool TryParse(string text, out Dictionary<string, string> labels, out string error)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        error = "";
        if (text.Length == 0)
            return true;
        foreach (string part in text.Split(','))
        {
            string[] kv = part.Split('=');
            if (kv.Length != 2)
            {
                error = $"invalid selector: [{string.Join(' ', kv)}]";
                return false;
            }
            string key = kv[0].Trim();
            string value = kv[1].Trim();
            if (!IsQualifiedName(key))
            {
                error = $"invalid label key \"{key}\": must be a qualified name ([prefix/]name, name ≤63 alphanumeric, '-', '_' or '.')";
                return false;
            }
            if (!IsLabelValue(value))
            {
                error = $"invalid label value \"{value}\" for key \"{key}\": ≤63 alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
                return false;
            }
            labels[key] = value;
        }
        return true;
    }

    /// <summary>True when every selector entry is present in <paramref name="labels"/> with the same value.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string>? labels)
    {
        foreach (var (key, value) in selector)
        {
            if (labels is null || !labels.TryGetValue(key, out var actual) || actual != value)
                return false;
        }
        return true;
    }

    /// <summary>The <c>labelSelector</c> query form, keys sorted (stable across restarts).</summary>
    public static string Format(IReadOnlyDictionary<string, string> selector)
    {
        var keys = new List<string>(selector.Keys);
        keys.Sort(StringComparer.Ordinal);
        var sb = new StringBuilder();
        foreach (string key in keys)
        {
            if (sb.Length > 0)
                sb.Append(',');
            sb.Append(key).Append('=').Append(selector[key]);
        }
        return sb.ToString();
    }

    public static bool AreEqual(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        Endpoints.EndpointRegistry.LabelsEqual(a, b);

    public static bool IsQualifiedName(string key)
    {
        string name = key;
        int slash = key.IndexOf('/');
        if (slash >= 0)
        {
            string prefix = key[..slash];
            name = key[(slash + 1)..];
            if (prefix.Length is 0 or > 253 || !DnsSubdomain().IsMatch(prefix))
                return false;
        }
        return name.Length is > 0 and <= 63 && QualifiedNamePart().IsMatch(name);
    }

    public static bool IsLabelValue(string value) => value.Length <= 63 && (value.Length == 0 || QualifiedNamePart().IsMatch(value));

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex QualifiedNamePart();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsSubdomain();
}
