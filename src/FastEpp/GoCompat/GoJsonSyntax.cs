using System.Buffers;
using System.Text;

namespace FastEpp.GoCompat;

/// <summary>
/// A byte-for-byte model of Go's <c>encoding/json</c> scanner (<c>scanner.go</c>, Go 1.25, used by
/// <c>checkValid</c> before any decoding) that only produces the error text, plus the other texts of Go's
/// generic decode (top level not an object, float64 overflow).
/// ERROR PATH only (a client sees these texts in the 400 body): the fast path validates with
/// <see cref="System.Text.Json.Utf8JsonReader"/>, which accepts and rejects the same documents (same four
/// whitespace bytes, same number/literal/escape grammar, no UTF-8 validation inside strings, depth limit
/// <see cref="MaxDepth"/>, the one member the fast path uses).
/// </summary>
internal static class GoJsonSyntax
{
    /// <summary>Go's maxNestingDepth.</summary>
    public const int MaxDepth = 10000;

    private enum State : byte
    {
        BeginValue,
        BeginValueOrEmpty,
        BeginStringOrEmpty,
        BeginString,
        EndValue,
        EndTop,
        InString,
        InStringEsc,
        InStringEscU,
        InStringEscU1,
        InStringEscU12,
        InStringEscU123,
        Neg,
        One,
        Zero,
        Dot,
        Dot0,
        E,
        ESign,
        E0,
        T,
        Tr,
        Tru,
        F,
        Fa,
        Fal,
        Fals,
        N,
        Nu,
        Nul,
        Error,
    }

    private const byte ParseObjectKey = 0;
    private const byte ParseObjectValue = 1;
    private const byte ParseArrayValue = 2;

    /// <summary>Returns Go's SyntaxError text for the input, or null when Go would accept it.</summary>
    public static string? Describe(in ReadOnlySequence<byte> data)
    {
        var scanner = new Scanner();
        foreach (ReadOnlyMemory<byte> segment in data)
        {
            foreach (byte c in segment.Span)
            {
                if (scanner.Step(c))
                {
                    return scanner.Error;
                }
            }
        }

        return scanner.Eof();
    }

    /// <summary>Go's quoteChar: the byte as a rune, quoted with strconv.Quote rules inside single quotes.</summary>
    public static string QuoteChar(byte c)
    {
        if (c == (byte)'\'')
        {
            return "'\\''";
        }

        if (c == (byte)'"')
        {
            return "'\"'";
        }

        // string(c) in Go turns the byte into the rune U+00XX.
        switch (c)
        {
            case 0x07: return "'\\a'";
            case 0x08: return "'\\b'";
            case 0x0C: return "'\\f'";
            case 0x0A: return "'\\n'";
            case 0x0D: return "'\\r'";
            case 0x09: return "'\\t'";
            case 0x0B: return "'\\v'";
            case (byte)'\\': return "'\\\\'";
        }

        if (c < 0x20 || c == 0x7F)
        {
            return "'\\x" + c.ToString("x2") + "'";
        }

        // strconv.IsPrint: U+0080..U+00A0 and U+00AD are not printable.
        if (c >= 0x80 && (c <= 0xA0 || c == 0xAD))
        {
            return "'\\u00" + c.ToString("x2") + "'";
        }

        return "'" + (char)c + "'";
    }

    private sealed class Scanner
    {
        private State _step = State.BeginValue;
        private readonly List<byte> _parseState = new();
        private bool _endTop;

        public string? Error { get; private set; }

        /// <summary>Feeds one byte; true when the scan has failed (Go's scanError).</summary>
        public bool Step(byte c)
        {
            if (_step == State.Error)
            {
                return true;
            }

            // stateEndTop records its error but reports scanEnd for that byte; checkValid fails on the next
            // byte or at eof with the same message, so stopping at once gives the same text.
            Run(c);
            return Error is not null;
        }

        public string? Eof()
        {
            if (Error is not null)
            {
                return Error;
            }

            if (_endTop)
            {
                return null;
            }

            Run((byte)' ');
            if (_endTop)
            {
                return null;
            }

            return Error ?? "unexpected end of JSON input";
        }

        private static bool IsSpace(byte c) => c == ' ' || c == '\t' || c == '\r' || c == '\n';

        private static bool IsHex(byte c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

        private void Fail(byte c, string context)
        {
            _step = State.Error;
            Error = "invalid character " + QuoteChar(c) + " " + context;
        }

        private void Push(byte c, byte newState)
        {
            _parseState.Add(newState);
            if (_parseState.Count > MaxDepth)
            {
                Fail(c, "exceeded max depth");
            }
        }

        private void Pop()
        {
            _parseState.RemoveAt(_parseState.Count - 1);
            if (_parseState.Count == 0)
            {
                _step = State.EndTop;
                _endTop = true;
            }
            else
            {
                _step = State.EndValue;
            }
        }

        private void Run(byte c)
        {
            switch (_step)
            {
                case State.BeginValueOrEmpty:
                    if (IsSpace(c))
                    {
                        return;
                    }

                    if (c == ']')
                    {
                        EndValue(c);
                        return;
                    }

                    BeginValue(c);
                    return;
                case State.BeginValue:
                    BeginValue(c);
                    return;
                case State.BeginStringOrEmpty:
                    if (IsSpace(c))
                    {
                        return;
                    }

                    if (c == '}')
                    {
                        _parseState[^1] = ParseObjectValue;
                        EndValue(c);
                        return;
                    }

                    BeginString(c);
                    return;
                case State.BeginString:
                    BeginString(c);
                    return;
                case State.EndValue:
                    EndValue(c);
                    return;
                case State.EndTop:
                    EndTop(c);
                    return;
                case State.InString:
                    if (c == '"')
                    {
                        _step = State.EndValue;
                    }
                    else if (c == '\\')
                    {
                        _step = State.InStringEsc;
                    }
                    else if (c < 0x20)
                    {
                        Fail(c, "in string literal");
                    }

                    return;
                case State.InStringEsc:
                    switch (c)
                    {
                        case (byte)'b':
                        case (byte)'f':
                        case (byte)'n':
                        case (byte)'r':
                        case (byte)'t':
                        case (byte)'\\':
                        case (byte)'/':
                        case (byte)'"':
                            _step = State.InString;
                            return;
                        case (byte)'u':
                            _step = State.InStringEscU;
                            return;
                    }

                    Fail(c, "in string escape code");
                    return;
                case State.InStringEscU:
                case State.InStringEscU1:
                case State.InStringEscU12:
                case State.InStringEscU123:
                    if (IsHex(c))
                    {
                        _step = _step == State.InStringEscU123 ? State.InString : _step + 1;
                        return;
                    }

                    Fail(c, "in \\u hexadecimal character escape");
                    return;
                case State.Neg:
                    if (c == '0')
                    {
                        _step = State.Zero;
                    }
                    else if (c >= '1' && c <= '9')
                    {
                        _step = State.One;
                    }
                    else
                    {
                        Fail(c, "in numeric literal");
                    }

                    return;
                case State.One:
                    if (c >= '0' && c <= '9')
                    {
                        return;
                    }

                    Zero(c);
                    return;
                case State.Zero:
                    Zero(c);
                    return;
                case State.Dot:
                    if (c >= '0' && c <= '9')
                    {
                        _step = State.Dot0;
                        return;
                    }

                    Fail(c, "after decimal point in numeric literal");
                    return;
                case State.Dot0:
                    if (c >= '0' && c <= '9')
                    {
                        return;
                    }

                    if (c == 'e' || c == 'E')
                    {
                        _step = State.E;
                        return;
                    }

                    EndValue(c);
                    return;
                case State.E:
                    if (c == '+' || c == '-')
                    {
                        _step = State.ESign;
                        return;
                    }

                    ESign(c);
                    return;
                case State.ESign:
                    ESign(c);
                    return;
                case State.E0:
                    if (c >= '0' && c <= '9')
                    {
                        return;
                    }

                    EndValue(c);
                    return;
                case State.T:
                    Literal(c, 'r', State.Tr, "in literal true (expecting 'r')");
                    return;
                case State.Tr:
                    Literal(c, 'u', State.Tru, "in literal true (expecting 'u')");
                    return;
                case State.Tru:
                    Literal(c, 'e', State.EndValue, "in literal true (expecting 'e')");
                    return;
                case State.F:
                    Literal(c, 'a', State.Fa, "in literal false (expecting 'a')");
                    return;
                case State.Fa:
                    Literal(c, 'l', State.Fal, "in literal false (expecting 'l')");
                    return;
                case State.Fal:
                    Literal(c, 's', State.Fals, "in literal false (expecting 's')");
                    return;
                case State.Fals:
                    Literal(c, 'e', State.EndValue, "in literal false (expecting 'e')");
                    return;
                case State.N:
                    Literal(c, 'u', State.Nu, "in literal null (expecting 'u')");
                    return;
                case State.Nu:
                    Literal(c, 'l', State.Nul, "in literal null (expecting 'l')");
                    return;
                case State.Nul:
                    Literal(c, 'l', State.EndValue, "in literal null (expecting 'l')");
                    return;
            }
        }

        private void Literal(byte c, char expected, State next, string context)
        {
            if (c == expected)
            {
                _step = next;
                return;
            }

            Fail(c, context);
        }

        private void BeginValue(byte c)
        {
            if (IsSpace(c))
            {
                return;
            }

            switch (c)
            {
                case (byte)'{':
                    _step = State.BeginStringOrEmpty;
                    Push(c, ParseObjectKey);
                    return;
                case (byte)'[':
                    _step = State.BeginValueOrEmpty;
                    Push(c, ParseArrayValue);
                    return;
                case (byte)'"':
                    _step = State.InString;
                    return;
                case (byte)'-':
                    _step = State.Neg;
                    return;
                case (byte)'0':
                    _step = State.Zero;
                    return;
                case (byte)'t':
                    _step = State.T;
                    return;
                case (byte)'f':
                    _step = State.F;
                    return;
                case (byte)'n':
                    _step = State.N;
                    return;
            }

            if (c >= '1' && c <= '9')
            {
                _step = State.One;
                return;
            }

            Fail(c, "looking for beginning of value");
        }

        private void BeginString(byte c)
        {
            if (IsSpace(c))
            {
                return;
            }

            if (c == '"')
            {
                _step = State.InString;
                return;
            }

            Fail(c, "looking for beginning of object key string");
        }

        private void Zero(byte c)
        {
            if (c == '.')
            {
                _step = State.Dot;
                return;
            }

            if (c == 'e' || c == 'E')
            {
                _step = State.E;
                return;
            }

            EndValue(c);
        }

        private void ESign(byte c)
        {
            if (c >= '0' && c <= '9')
            {
                _step = State.E0;
                return;
            }

            Fail(c, "in exponent of numeric literal");
        }

        private void EndValue(byte c)
        {
            int n = _parseState.Count;
            if (n == 0)
            {
                _step = State.EndTop;
                _endTop = true;
                EndTop(c);
                return;
            }

            if (IsSpace(c))
            {
                _step = State.EndValue;
                return;
            }

            switch (_parseState[n - 1])
            {
                case ParseObjectKey:
                    if (c == ':')
                    {
                        _parseState[n - 1] = ParseObjectValue;
                        _step = State.BeginValue;
                        return;
                    }

                    Fail(c, "after object key");
                    return;
                case ParseObjectValue:
                    if (c == ',')
                    {
                        _parseState[n - 1] = ParseObjectKey;
                        _step = State.BeginString;
                        return;
                    }

                    if (c == '}')
                    {
                        Pop();
                        return;
                    }

                    Fail(c, "after object key:value pair");
                    return;
                default:
                    if (c == ',')
                    {
                        _step = State.BeginValue;
                        return;
                    }

                    if (c == ']')
                    {
                        Pop();
                        return;
                    }

                    Fail(c, "after array element");
                    return;
            }
        }

        private void EndTop(byte c)
        {
            if (!IsSpace(c))
            {
                Fail(c, "after top-level value");
            }
        }
    }

    /// <summary>Builds Go's UnmarshalTypeError text for a top-level value that is not an object.</summary>
    public static string TopLevelTypeError(string jsonKind) =>
        "json: cannot unmarshal " + jsonKind + " into Go value of type map[string]interface {}";

    /// <summary>Go's text for a number that does not fit a float64 (convertNumber).</summary>
    public static string NumberOverflowError(in ReadOnlySequence<byte> rawNumber)
    {
        var sb = new StringBuilder("json: cannot unmarshal number ");
        foreach (ReadOnlyMemory<byte> segment in rawNumber)
        {
            sb.Append(Encoding.ASCII.GetString(segment.Span));
        }

        return sb.Append(" into Go value of type float64").ToString();
    }
}
