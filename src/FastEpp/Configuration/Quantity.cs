using System.Globalization;

namespace FastEpp.Configuration;

/// <summary>Kubernetes resource-quantity syntax (<c>1Gi</c>, <c>500M</c>, <c>100</c>, <c>1k</c>, <c>1e3</c>); the integer value, rounded up.</summary>
internal static class Quantity
{
    public static bool TryParse(string text, out long value)
    {
        value = 0;
        ReadOnlySpan<char> s = text.Trim();
        if (s.IsEmpty)
            return false;
        int i = 0;
        if (s[0] is '+' or '-')
            i++;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            i++;
        if (!decimal.TryParse(s[..i], NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            return false;
        ReadOnlySpan<char> suffix = s[i..];
        decimal multiplier;
        switch (suffix)
        {
            case "": multiplier = 1; break;
            case "Ki": multiplier = 1024m; break;
            case "Mi": multiplier = 1024m * 1024; break;
            case "Gi": multiplier = 1024m * 1024 * 1024; break;
            case "Ti": multiplier = 1024m * 1024 * 1024 * 1024; break;
            case "Pi": multiplier = 1024m * 1024 * 1024 * 1024 * 1024; break;
            case "Ei": multiplier = 1024m * 1024 * 1024 * 1024 * 1024 * 1024; break;
            case "n": multiplier = 0.000000001m; break;
            case "u": multiplier = 0.000001m; break;
            case "m": multiplier = 0.001m; break;
            case "k": multiplier = 1_000m; break;
            case "M": multiplier = 1_000_000m; break;
            case "G": multiplier = 1_000_000_000m; break;
            case "T": multiplier = 1_000_000_000_000m; break;
            case "P": multiplier = 1_000_000_000_000_000m; break;
            case "E": multiplier = 1_000_000_000_000_000_000m; break;
            default:
                if (suffix.Length >= 2 && suffix[0] is 'e' or 'E' &&
                    int.TryParse(suffix[1..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int exp) && exp is >= -18 and <= 18)
                {
                    multiplier = 1;
                    for (int k = 0; k < Math.Abs(exp); k++)
                        multiplier = exp > 0 ? multiplier * 10 : multiplier / 10;
                    break;
                }
                return false;
        }
        try
        {
            decimal v = decimal.Ceiling(number * multiplier);
            if (v > long.MaxValue || v < long.MinValue)
                return false;
            value = (long)v;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }
}
