using System.Globalization;
using FastEpp.Body;

namespace FastEpp.Requests.Cel;

/// <summary>The runtime types of the CEL subset (spec: cel-spec types; maps are the usage Struct and its sub-Struct).</summary>
internal enum CelKind : byte
{
    Error,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    /// <summary>The <c>usage</c> google.protobuf.Struct (JSON of the response usage).</summary>
    UsageMap,
    /// <summary><c>usage.prompt_token_details</c>.</summary>
    DetailsMap,
}

/// <summary>One CEL value, a struct so evaluation allocates nothing (strings aside). An error carries its message.</summary>
internal readonly struct CelValue
{
    public readonly CelKind Kind;
    public readonly long Int;
    public readonly double Double;
    public readonly string? Text;

    private CelValue(CelKind kind, long i = 0, double d = 0, string? text = null)
    {
        Kind = kind;
        Int = i;
        Double = d;
        Text = text;
    }

    public static readonly CelValue Null = new(CelKind.Null);
    public static readonly CelValue True = new(CelKind.Bool, 1);
    public static readonly CelValue False = new(CelKind.Bool, 0);
    public static readonly CelValue Usage = new(CelKind.UsageMap);
    public static readonly CelValue Details = new(CelKind.DetailsMap);

    public static CelValue Of(bool b) => b ? True : False;
    public static CelValue OfInt(long v) => new(CelKind.Int, v);
    public static CelValue OfUint(ulong v) => new(CelKind.Uint, unchecked((long)v));
    public static CelValue OfDouble(double v) => new(CelKind.Double, d: v);
    public static CelValue OfString(string s) => new(CelKind.String, text: s);
    public static CelValue Fail(string message) => new(CelKind.Error, text: message);

    public bool IsError => Kind == CelKind.Error;
    public bool Bool => Int != 0;
    public ulong Uint => unchecked((ulong)Int);

    public string TypeName => Kind switch
    {
        CelKind.Null => "null_type",
        CelKind.Bool => "bool",
        CelKind.Int => "int",
        CelKind.Uint => "uint",
        CelKind.Double => "double",
        CelKind.String => "string",
        CelKind.UsageMap or CelKind.DetailsMap => "map",
        _ => "error",
    };

    /// <summary>Field of a map value: the usage Struct as Go's json.Marshal of the reference's Usage writes it (numbers are doubles).</summary>
    public static CelValue Field(CelValue map, string key, in Usage usage, bool testOnly)
    {
        if (map.Kind == CelKind.UsageMap)
        {
            switch (key)
            {
                case "prompt_tokens": return testOnly ? True : OfDouble(usage.PromptTokens);
                case "completion_tokens": return testOnly ? True : OfDouble(usage.CompletionTokens);
                case "total_tokens": return testOnly ? True : OfDouble(usage.TotalTokens);
                case "prompt_token_details" when usage.HasCachedTokens: return testOnly ? True : Details;
            }
        }
        else if (map.Kind == CelKind.DetailsMap)
        {
            if (key == "cached_tokens")
                return testOnly ? True : OfDouble(usage.CachedTokens);
        }
        else if (map.IsError)
        {
            return map;
        }
        else
        {
            return Fail($"type '{map.TypeName}' does not support field selection");
        }
        return testOnly ? False : Fail("no such key: " + key);
    }

    public override string ToString() => Kind switch
    {
        CelKind.Bool => Bool ? "true" : "false",
        CelKind.Int => Int.ToString(CultureInfo.InvariantCulture),
        CelKind.Uint => Uint.ToString(CultureInfo.InvariantCulture) + "u",
        CelKind.Double => Double.ToString("R", CultureInfo.InvariantCulture),
        CelKind.String => Text!,
        _ => Kind.ToString(),
    };
}
