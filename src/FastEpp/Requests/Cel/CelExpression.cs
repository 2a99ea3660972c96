using System.Globalization;
using FastEpp.Body;

namespace FastEpp.Requests.Cel;

/// <summary>A CEL compile error: the 1-based line and column of the offending token, as cel-go reports them.</summary>
internal sealed class CelCompileException(string message, int line, int column)
    : Exception($"ERROR: <input>:{line}:{column}: {message}")
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

/// <summary>
/// A compiled expression of the CEL subset the request-attribute-reporter needs (the reference's examples and
/// tests): the variable <c>usage</c> (a google.protobuf.Struct: numbers are doubles), field selection and
/// <c>["key"]</c>, <c>has()</c>, int / uint / double / string / bool / null literals, <c>+ - * / %</c>, unary
/// <c>-</c> and <c>!</c>, comparisons (numeric ones across int/uint/double, as cel-go), <c>&amp;&amp;</c> and
/// <c>||</c> with CEL's error absorption, <c>? :</c>, and <c>int() uint() double() string() size() dyn()</c>.
/// Arithmetic follows CEL's strict overloads: no implicit conversion (<c>usage.x * 2</c> is an error, write
/// <c>2.0</c> or <c>int(usage.x) * 2</c>), integer overflow and division by zero are errors.
/// Compiled once (a syntax error, an unknown identifier or function fails with its position); evaluation
/// allocates nothing unless strings are built.
/// </summary>
internal sealed class CelExpression
{
    private readonly Node _root;

    private CelExpression(Node root, string source)
    {
        _root = root;
        Source = source;
    }

    public string Source { get; }

    public static CelExpression Compile(string source) => new(new Parser(source).ParseAll(), source);

    public CelValue Evaluate(in Usage usage) => _root.Eval(usage);

    // ---- tree -----------------------------------------------------------------------------------------------

    private abstract class Node
    {
        public abstract CelValue Eval(in Usage u);
    }

    private sealed class Literal(CelValue value) : Node
    {
        public override CelValue Eval(in Usage u) => value;
    }

    private sealed class UsageVariable : Node
    {
        public override CelValue Eval(in Usage u) => CelValue.Usage;
    }

    private sealed class Select(Node operand, string field, bool testOnly) : Node
    {
        public override CelValue Eval(in Usage u) => CelValue.Field(operand.Eval(u), field, u, testOnly);

        /// <summary><c>has(x.f)</c>: x is evaluated, then f's presence tested.</summary>
        public Select AsPresenceTest() => new(operand, field, testOnly: true);
    }

    private sealed class Index(Node operand, Node key) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var map = operand.Eval(u);
            if (map.IsError)
                return map;
            var k = key.Eval(u);
            if (k.IsError)
                return k;
            if (k.Kind != CelKind.String)
                return CelValue.Fail("no such overload: " + map.TypeName + "[" + k.TypeName + "]");
            return CelValue.Field(map, k.Text!, u, testOnly: false);
        }
    }

    private sealed class Not(Node x) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var v = x.Eval(u);
            return v.IsError ? v : v.Kind == CelKind.Bool ? CelValue.Of(!v.Bool) : NoOverload("!_", v);
        }
    }

    private sealed class Negate(Node x) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var v = x.Eval(u);
            return v.Kind switch
            {
                CelKind.Error => v,
                CelKind.Int => v.Int == long.MinValue ? CelValue.Fail("integer overflow") : CelValue.OfInt(-v.Int),
                CelKind.Double => CelValue.OfDouble(-v.Double),
                _ => NoOverload("-_", v),
            };
        }
    }

    private sealed class Logical(Node left, Node right, bool and) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            // CEL: a deciding operand wins over an error or a non-bool on the other side, in either order.
            var l = left.Eval(u);
            if (l.Kind == CelKind.Bool && l.Bool != and)
                return l;
            var r = right.Eval(u);
            if (r.Kind == CelKind.Bool && r.Bool != and)
                return r;
            if (l.IsError)
                return l;
            if (r.IsError)
                return r;
            if (l.Kind != CelKind.Bool || r.Kind != CelKind.Bool)
                return NoOverload(and ? "_&&_" : "_||_", l, r);
            return CelValue.Of(and);
        }
    }

    private sealed class Conditional(Node condition, Node then, Node otherwise) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var c = condition.Eval(u);
            if (c.IsError)
                return c;
            if (c.Kind != CelKind.Bool)
                return NoOverload("_?_:_", c);
            return c.Bool ? then.Eval(u) : otherwise.Eval(u);
        }
    }

    private sealed class Binary(string op, Node left, Node right) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var l = left.Eval(u);
            if (l.IsError)
                return l;
            var r = right.Eval(u);
            if (r.IsError)
                return r;
            return op switch
            {
                "+" or "-" or "*" or "/" or "%" => Arithmetic(op, l, r),
                "==" => CelValue.Of(Equal(l, r)),
                "!=" => CelValue.Of(!Equal(l, r)),
                _ => Order(op, l, r),
            };
        }
    }

    private sealed class Call(string function, Node argument) : Node
    {
        public override CelValue Eval(in Usage u)
        {
            var v = argument.Eval(u);
            return v.IsError ? v : function switch
            {
                "int" => ToInt(v),
                "uint" => ToUint(v),
                "double" => ToDouble(v),
                "string" => v.Kind is CelKind.Bool or CelKind.Int or CelKind.Uint or CelKind.Double or CelKind.String
                    ? (v.Kind == CelKind.String ? v : CelValue.OfString(v.Kind == CelKind.Uint ? v.Uint.ToString(CultureInfo.InvariantCulture) : v.ToString()))
                    : NoOverload("string", v),
                "size" => v.Kind == CelKind.String ? CelValue.OfInt(CountCodePoints(v.Text!)) : NoOverload("size", v),
                _ => v, // dyn
            };
        }
    }

    // ---- semantics ------------------------------------------------------------------------------------------

    private static CelValue NoOverload(string op, CelValue a) => CelValue.Fail($"no such overload: {op}({a.TypeName})");

    private static CelValue NoOverload(string op, CelValue a, CelValue b) => CelValue.Fail($"no such overload: {op}({a.TypeName}, {b.TypeName})");

    private static CelValue Arithmetic(string op, CelValue l, CelValue r)
    {
        if (l.Kind != r.Kind)
            return NoOverload("_" + op + "_", l, r);
        switch (l.Kind)
        {
            case CelKind.Int:
                long a = l.Int, b = r.Int;
                try
                {
                    return op switch
                    {
                        "+" => CelValue.OfInt(checked(a + b)),
                        "-" => CelValue.OfInt(checked(a - b)),
                        "*" => CelValue.OfInt(checked(a * b)),
                        "/" => b == 0 ? CelValue.Fail("division by zero") : a == long.MinValue && b == -1 ? CelValue.Fail("integer overflow") : CelValue.OfInt(a / b),
                        _ => b == 0 ? CelValue.Fail("modulus by zero") : a == long.MinValue && b == -1 ? CelValue.Fail("integer overflow") : CelValue.OfInt(a % b),
                    };
                }
                catch (OverflowException)
                {
                    return CelValue.Fail("integer overflow");
                }
            case CelKind.Uint:
                ulong x = l.Uint, y = r.Uint;
                try
                {
                    return op switch
                    {
                        "+" => CelValue.OfUint(checked(x + y)),
                        "-" => CelValue.OfUint(checked(x - y)),
                        "*" => CelValue.OfUint(checked(x * y)),
                        "/" => y == 0 ? CelValue.Fail("division by zero") : CelValue.OfUint(x / y),
                        _ => y == 0 ? CelValue.Fail("modulus by zero") : CelValue.OfUint(x % y),
                    };
                }
                catch (OverflowException)
                {
                    return CelValue.Fail("unsigned integer overflow");
                }
            case CelKind.Double:
                return op switch
                {
                    "+" => CelValue.OfDouble(l.Double + r.Double),
                    "-" => CelValue.OfDouble(l.Double - r.Double),
                    "*" => CelValue.OfDouble(l.Double * r.Double),
                    "/" => CelValue.OfDouble(l.Double / r.Double),
                    _ => NoOverload("_%_", l, r),
                };
            case CelKind.String when op == "+":
                return CelValue.OfString(l.Text + r.Text);
            default:
                return NoOverload("_" + op + "_", l, r);
        }
    }

    private static bool IsNumber(CelValue v) => v.Kind is CelKind.Int or CelKind.Uint or CelKind.Double;

    /// <summary>Numeric comparison across int/uint/double (cel-go's heterogeneous numbers); NaN compares unordered.</summary>
    private static int? CompareNumbers(CelValue l, CelValue r)
    {
        if (l.Kind == r.Kind)
        {
            return l.Kind switch
            {
                CelKind.Int => l.Int.CompareTo(r.Int),
                CelKind.Uint => l.Uint.CompareTo(r.Uint),
                _ => double.IsNaN(l.Double) || double.IsNaN(r.Double) ? null : l.Double.CompareTo(r.Double),
            };
        }
        if (l.Kind == CelKind.Double || r.Kind == CelKind.Double)
        {
            double a = AsDouble(l), b = AsDouble(r);
            if (double.IsNaN(a) || double.IsNaN(b))
                return null;
            // Exact where it matters: compare the double with the integer via decimal when both are in range.
            int c = a.CompareTo(b);
            if (c != 0)
                return c;
            return l.Kind == CelKind.Double ? -CompareIntegerWithDouble(r, a) : CompareIntegerWithDouble(l, b);
        }
        // int vs uint
        if (l.Kind == CelKind.Int)
            return l.Int < 0 ? -1 : ((ulong)l.Int).CompareTo(r.Uint);
        return r.Int < 0 ? 1 : l.Uint.CompareTo((ulong)r.Int);
    }

    private static int CompareIntegerWithDouble(CelValue integer, double d)
    {
        if (d >= 9.2233720368547758E+18 || d < -9.2233720368547758E+18)
            return integer.Kind == CelKind.Uint && d < 1.8446744073709552E+19 ? ((decimal)integer.Uint).CompareTo((decimal)d) : -Math.Sign(d);
        decimal value = integer.Kind == CelKind.Int ? integer.Int : integer.Uint;
        return value.CompareTo((decimal)d);
    }

    private static double AsDouble(CelValue v) => v.Kind switch
    {
        CelKind.Int => v.Int,
        CelKind.Uint => v.Uint,
        _ => v.Double,
    };

    private static bool Equal(CelValue l, CelValue r)
    {
        if (IsNumber(l) && IsNumber(r))
            return CompareNumbers(l, r) == 0;
        if (l.Kind != r.Kind)
            return false;
        return l.Kind switch
        {
            CelKind.Null or CelKind.UsageMap or CelKind.DetailsMap => true,
            CelKind.Bool => l.Bool == r.Bool,
            CelKind.String => string.Equals(l.Text, r.Text, StringComparison.Ordinal),
            _ => false,
        };
    }

    private static CelValue Order(string op, CelValue l, CelValue r)
    {
        int? c;
        if (IsNumber(l) && IsNumber(r))
            c = CompareNumbers(l, r);
        else if (l.Kind == r.Kind && l.Kind == CelKind.String)
            c = string.CompareOrdinal(l.Text, r.Text);
        else if (l.Kind == r.Kind && l.Kind == CelKind.Bool)
            c = l.Bool.CompareTo(r.Bool);
        else
            return NoOverload("_" + op + "_", l, r);
        if (c is null)
            return CelValue.False; // NaN
        return CelValue.Of(op switch
        {
            "<" => c < 0,
            "<=" => c <= 0,
            ">" => c > 0,
            _ => c >= 0,
        });
    }

    private static CelValue ToInt(CelValue v)
    {
        switch (v.Kind)
        {
            case CelKind.Int:
                return v;
            case CelKind.Uint:
                return v.Uint > long.MaxValue ? CelValue.Fail("range error converting " + v.Uint + " to int") : CelValue.OfInt((long)v.Uint);
            case CelKind.Double:
                double d = Math.Truncate(v.Double);
                // cel-go: the double must lie strictly inside the int64 range.
                return double.IsNaN(d) || d <= -9.2233720368547758E+18 || d >= 9.2233720368547758E+18
                    ? CelValue.Fail("range error converting " + v.Double.ToString("R", CultureInfo.InvariantCulture) + " to int")
                    : CelValue.OfInt((long)d);
            case CelKind.String:
                return long.TryParse(v.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed)
                    ? CelValue.OfInt(parsed) : CelValue.Fail("cannot convert string '" + v.Text + "' to int");
            default:
                return NoOverload("int", v);
        }
    }

    private static CelValue ToUint(CelValue v)
    {
        switch (v.Kind)
        {
            case CelKind.Uint:
                return v;
            case CelKind.Int:
                return v.Int < 0 ? CelValue.Fail("range error converting " + v.Int + " to uint") : CelValue.OfUint((ulong)v.Int);
            case CelKind.Double:
                double d = Math.Truncate(v.Double);
                return double.IsNaN(d) || d < 0 || d >= 1.8446744073709552E+19
                    ? CelValue.Fail("range error converting " + v.Double.ToString("R", CultureInfo.InvariantCulture) + " to uint")
                    : CelValue.OfUint((ulong)d);
            case CelKind.String:
                return ulong.TryParse(v.Text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsed)
                    ? CelValue.OfUint(parsed) : CelValue.Fail("cannot convert string '" + v.Text + "' to uint");
            default:
                return NoOverload("uint", v);
        }
    }

    private static CelValue ToDouble(CelValue v) => v.Kind switch
    {
        CelKind.Double => v,
        CelKind.Int => CelValue.OfDouble(v.Int),
        CelKind.Uint => CelValue.OfDouble(v.Uint),
        CelKind.String => double.TryParse(v.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            ? CelValue.OfDouble(d) : CelValue.Fail("cannot convert string '" + v.Text + "' to double"),
        _ => NoOverload("double", v),
    };

    private static int CountCodePoints(string s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++, n++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                i++;
        return n;
    }

    // ---- parser (CEL grammar, the subset above) ----------------------------------------------------------

    private sealed class Parser(string text)
    {
        private int _pos;

        public Node ParseAll()
        {
            Skip();
            if (_pos >= text.Length)
                throw Error("Syntax error: mismatched input '<EOF>' expecting an expression", _pos);
            var node = ParseExpr();
            Skip();
            if (_pos < text.Length)
                throw Error($"Syntax error: extraneous input '{text[_pos]}'", _pos);
            return node;
        }

        private CelCompileException Error(string message, int at)
        {
            int line = 1, column = 1;
            for (int i = 0; i < at && i < text.Length; i++)
            {
                if (text[i] == '\n')
                {
                    line++;
                    column = 1;
                }
                else
                {
                    column++;
                }
            }
            return new CelCompileException(message, line, column);
        }

        private void Skip()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos]))
                _pos++;
            if (_pos + 1 < text.Length && text[_pos] == '/' && text[_pos + 1] == '/')
            {
                while (_pos < text.Length && text[_pos] != '\n')
                    _pos++;
                Skip();
            }
        }

        private bool Accept(string token)
        {
            Skip();
            if (string.CompareOrdinal(text, _pos, token, 0, token.Length) != 0)
                return false;
            // '!' must not eat '!=', '<' not '<=', etc.
            if (token is "!" or "<" or ">" or "=" && _pos + 1 < text.Length && text[_pos + 1] == '=')
                return false;
            _pos += token.Length;
            return true;
        }

        private void Expect(string token)
        {
            if (!Accept(token))
                throw Error(_pos < text.Length ? $"Syntax error: mismatched input '{text[_pos]}' expecting '{token}'" : $"Syntax error: missing '{token}' at '<EOF>'", _pos);
        }

        private Node ParseExpr()
        {
            var condition = ParseOr();
            if (!Accept("?"))
                return condition;
            var then = ParseOr();
            Expect(":");
            var otherwise = ParseExpr();
            return new Conditional(condition, then, otherwise);
        }

        private Node ParseOr()
        {
            var left = ParseAnd();
            while (Accept("||"))
                left = new Logical(left, ParseAnd(), and: false);
            return left;
        }

        private Node ParseAnd()
        {
            var left = ParseRelation();
            while (Accept("&&"))
                left = new Logical(left, ParseRelation(), and: true);
            return left;
        }

        private Node ParseRelation()
        {
            var left = ParseAddition();
            while (true)
            {
                string? op = Accept("==") ? "==" : Accept("!=") ? "!=" : Accept("<=") ? "<=" : Accept(">=") ? ">=" : Accept("<") ? "<" : Accept(">") ? ">" : null;
                if (op is null)
                    return left;
                left = new Binary(op, left, ParseAddition());
            }
        }

        private Node ParseAddition()
        {
            var left = ParseMultiplication();
            while (true)
            {
                string? op = Accept("+") ? "+" : Accept("-") ? "-" : null;
                if (op is null)
                    return left;
                left = new Binary(op, left, ParseMultiplication());
            }
        }

        private Node ParseMultiplication()
        {
            var left = ParseUnary();
            while (true)
            {
                string? op = Accept("*") ? "*" : Accept("/") ? "/" : Accept("%") ? "%" : null;
                if (op is null)
                    return left;
                left = new Binary(op, left, ParseUnary());
            }
        }

        private Node ParseUnary()
        {
            if (Accept("!"))
                return new Not(ParseUnary());
            Skip();
            if (Accept("-"))
            {
                // A negative numeric literal is one literal (so -9223372036854775808 is valid).
                Skip();
                if (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                    return ParseMember(ParseNumber(negative: true));
                return new Negate(ParseUnary());
            }
            return ParseMember(ParsePrimary());
        }

        private Node ParseMember(Node operand)
        {
            while (true)
            {
                if (Accept("."))
                {
                    operand = new Select(operand, ParseIdentifier(), testOnly: false);
                }
                else if (Accept("["))
                {
                    var key = ParseExpr();
                    Expect("]");
                    operand = new Index(operand, key);
                }
                else
                {
                    return operand;
                }
            }
        }

        private string ParseIdentifier()
        {
            Skip();
            int start = _pos;
            if (_pos < text.Length && (char.IsAsciiLetter(text[_pos]) || text[_pos] == '_'))
            {
                _pos++;
                while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '_'))
                    _pos++;
                return text[start.._pos];
            }
            throw Error(_pos < text.Length ? $"Syntax error: mismatched input '{text[_pos]}' expecting IDENTIFIER" : "Syntax error: missing IDENTIFIER at '<EOF>'", _pos);
        }

        private Node ParsePrimary()
        {
            Skip();
            if (_pos >= text.Length)
                throw Error("Syntax error: mismatched input '<EOF>' expecting an expression", _pos);
            char c = text[_pos];
            if (Accept("("))
            {
                var inner = ParseExpr();
                Expect(")");
                return inner;
            }
            if (char.IsAsciiDigit(c) || (c == '.' && _pos + 1 < text.Length && char.IsAsciiDigit(text[_pos + 1])))
                return ParseNumber(negative: false);
            if (c is '"' or '\'')
                return new Literal(CelValue.OfString(ParseString()));
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = _pos;
                string name = ParseIdentifier();
                switch (name)
                {
                    case "true": return new Literal(CelValue.True);
                    case "false": return new Literal(CelValue.False);
                    case "null": return new Literal(CelValue.Null);
                    case "usage": return new UsageVariable();
                }
                if (!Accept("("))
                    throw Error($"undeclared reference to '{name}' (in container '')", start);
                if (name == "has")
                {
                    var arg = ParseExpr();
                    Expect(")");
                    if (arg is not Select select)
                        throw Error("invalid argument to has() macro", start);
                    return select.AsPresenceTest();
                }
                if (name is not ("int" or "uint" or "double" or "string" or "size" or "dyn"))
                    throw Error($"undeclared reference to '{name}' (in container '')", start);
                var argument = ParseExpr();
                if (Accept(","))
                    throw Error($"found no matching overload for '{name}' applied to more than one argument", start);
                Expect(")");
                return new Call(name, argument);
            }
            throw Error($"Syntax error: token recognition error at: '{c}'", _pos);
        }

        private Node ParseNumber(bool negative)
        {
            int start = _pos;
            bool hex = _pos + 1 < text.Length && text[_pos] == '0' && (text[_pos + 1] is 'x' or 'X');
            if (hex)
            {
                _pos += 2;
                while (_pos < text.Length && char.IsAsciiHexDigit(text[_pos]))
                    _pos++;
            }
            else
            {
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                    _pos++;
            }
            bool isDouble = false;
            if (!hex && _pos + 1 < text.Length && text[_pos] == '.' && char.IsAsciiDigit(text[_pos + 1]))
            {
                isDouble = true;
                _pos++;
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                    _pos++;
            }
            if (!hex && _pos < text.Length && text[_pos] is 'e' or 'E')
            {
                int save = _pos++;
                if (_pos < text.Length && text[_pos] is '+' or '-')
                    _pos++;
                if (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                {
                    isDouble = true;
                    while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                        _pos++;
                }
                else
                {
                    _pos = save;
                }
            }
            string digits = text[start.._pos];
            if (isDouble)
            {
                double d = double.Parse(digits, NumberStyles.Float, CultureInfo.InvariantCulture);
                return new Literal(CelValue.OfDouble(negative ? -d : d));
            }
            bool unsigned = _pos < text.Length && text[_pos] is 'u' or 'U';
            if (unsigned)
            {
                _pos++;
                if (negative || !ulong.TryParse(hex ? digits[2..] : digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong u))
                    throw Error($"invalid uint literal", start);
                return new Literal(CelValue.OfUint(u));
            }
            if (!ulong.TryParse(hex ? digits[2..] : digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong magnitude)
                || magnitude > (negative ? 9223372036854775808UL : long.MaxValue))
                throw Error("invalid int literal", start);
            return new Literal(CelValue.OfInt(negative ? unchecked(-(long)magnitude) : (long)magnitude));
        }

        private string ParseString()
        {
            int start = _pos;
            char quote = text[_pos++];
            var sb = new System.Text.StringBuilder();
            while (_pos < text.Length && text[_pos] != quote)
            {
                char c = text[_pos++];
                if (c == '\n')
                    break;
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                if (_pos >= text.Length)
                    break;
                char e = text[_pos++];
                sb.Append(e switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    _ => throw Error($"Syntax error: token recognition error at: '\\{e}'", _pos - 2),
                });
            }
            if (_pos >= text.Length || text[_pos] != quote)
                throw Error("Syntax error: token recognition error at: unterminated string", start);
            _pos++;
            return sb.ToString();
        }
    }
}
