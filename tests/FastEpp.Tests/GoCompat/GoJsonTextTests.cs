using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.GoCompat;
using FastEpp.Tests.Body;

namespace FastEpp.Tests.GoCompat;

public class GoJsonTextTests
{
    private static string Run(string rawContent, GoStringMode mode) => Run(Encoding.UTF8.GetBytes(rawContent), mode);

    private static string Run(byte[] rawContent, GoStringMode mode)
    {
        using var buffer = new ArrayPoolBufferWriter<byte>();
        var sink = new BufferWriterSink(buffer);
        GoJsonString.Transcode(new ReadOnlySequence<byte>(rawContent), mode, ref sink);
        sink.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    // Go unquoteBytes (decode.go): escapes, surrogate pairs, lone surrogates -> U+FFFD without eating the next escape.
    [Theory]
    [InlineData(@"plain", "plain")]
    [InlineData(@"a\nb\t\""\\\/", "a\nb\t\"\\/")]
    [InlineData(@"\u00e9\u00E9", "éé")]
    [InlineData(@"\ud83d\ude00", "😀")]
    [InlineData(@"\ud800x", "\uFFFDx")]
    [InlineData(@"\udc00", "\uFFFD")]
    [InlineData(@"\ud800\u0041", "\uFFFDA")]
    [InlineData(@"\ud800\ud800\udc00", "\uFFFD𐀀")]
    [InlineData(@"\u0000\b\f", "\0\b\f")]
    public void Transcode_Unquote_GoSemantics(string raw, string expected)
    {
        Assert.Equal(expected, Run(raw, GoStringMode.Unquote));
    }

    // Go utf8.DecodeRune: every invalid byte is its own U+FFFD (unlike .NET's maximal-subpart rule).
    [Theory]
    [InlineData(new byte[] { 0xFF }, "\uFFFD")]
    [InlineData(new byte[] { 0xE2, 0x82, 0x41 }, "\uFFFD\uFFFDA")]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "\uFFFD\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0xC0, 0xAF }, "\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "\uFFFD\uFFFD\uFFFD\uFFFD")]
    [InlineData(new byte[] { 0x61, 0xF0, 0x9F, 0x98 }, "a\uFFFD\uFFFD\uFFFD")]
    public void Transcode_InvalidUtf8_ReplacedPerByte(byte[] raw, string expected)
    {
        Assert.Equal(expected, Run(raw, GoStringMode.Unquote));
        // Quote mode: decoded U+FFFD is a valid rune, written raw (json.Marshal of the decoded string).
        Assert.Equal(expected, Run(raw, GoStringMode.Quote));
    }

    // Go appendString(escapeHTML=true) in encode.go.
    [Theory]
    [InlineData(@"<a href=""x"">&</a>", @"\u003ca href=\""x\""\u003e\u0026\u003c/a\u003e")]
    [InlineData(@"\u003c\/\u2028\u2029", @"\u003c/\u2028\u2029")]
    [InlineData("\u2028", @"\u2028")]
    [InlineData(@"\u0001\u001f\u007f", "\\u0001\\u001f\u007f")]
    [InlineData(@"\b\f\n\r\t", @"\b\f\n\r\t")]
    [InlineData(@"\u00e9日本", "é日本")]
    [InlineData(@"\\", @"\\")]
    public void Transcode_Quote_GoEscaping(string raw, string expected)
    {
        Assert.Equal(expected, Run(raw, GoStringMode.Quote));
    }

    [Fact]
    public void Transcode_Encode_EscapesDecodedBackslashAndInvalidUtf8()
    {
        Assert.Equal(@"a\\u0041", Run(@"a\u0041", GoStringMode.Encode));
        Assert.Equal(@"\ufffd", Run(new byte[] { 0xFF }, GoStringMode.Encode));
    }

    [Fact]
    public void Transcode_AnySegmentation_SameOutput()
    {
        string raw = @"héllo \ud83d\ude00 <tag> \u00e9\n" + "日本語テキスト" + @"\ud800\u0041 end\\" + "\u2028x";
        byte[] bytes = Encoding.UTF8.GetBytes(raw).Concat(new byte[] { 0xE2, 0x82, 0x41, 0xF0, 0x9F }).ToArray();
        var rng = new Random(1234);
        foreach (GoStringMode mode in new[] { GoStringMode.Unquote, GoStringMode.Quote })
        {
            string expected = Run(bytes, mode);
            for (int i = 0; i < 300; i++)
            {
                ReadOnlySequence<byte> seq = i == 0 ? SequenceFactory.Chunked(bytes, 1) : SequenceFactory.Random(bytes, rng, 1 + (i % 20));
                using var buffer = new ArrayPoolBufferWriter<byte>();
                var sink = new BufferWriterSink(buffer);
                GoJsonString.Transcode(seq, mode, ref sink);
                sink.Flush();
                Assert.Equal(expected, Encoding.UTF8.GetString(buffer.WrittenSpan));
                Assert.Equal(Encoding.UTF8.GetByteCount(Run(bytes, GoStringMode.Unquote)), GoJsonString.UnquotedLength(seq));
            }
        }
    }

    // Go floatEncoder (encode.go): 'f' for 1e-6 <= |x| < 1e21, else 'e' with e-0X cleaned to e-X.
    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(1.5, "1.5")]
    [InlineData(100.0, "100")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(123456789012345678.0, "123456789012345680")]
    [InlineData(12345678901234567890.0, "12345678901234567000")]
    [InlineData(1e-6, "0.000001")]
    [InlineData(2.5e-5, "0.000025")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(1.5e-7, "1.5e-7")]
    [InlineData(-1e-10, "-1e-10")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(-0.0, "-0")]
    [InlineData(0.0, "0")]
    [InlineData(-123.456, "-123.456")]
    [InlineData(4294967295.0, "4294967295")]
    public void FormatGoFloat_MatchesGo(double value, string expected)
    {
        Span<byte> buf = stackalloc byte[400];
        int n = GoFloat.FormatJson(value, buf);
        Assert.Equal(expected, Encoding.ASCII.GetString(buf[..n]));
    }

    // Go foldName: ToUpper(ToLower(r)); only ſ, K (Kelvin), İ, ı fold into ASCII letters.
    [Theory]
    [InlineData("messages", "messages", true)]
    [InlineData("MESSAGES", "messages", true)]
    [InlineData("Messages", "messages", true)]
    [InlineData("meſſages", "messages", true)]
    [InlineData("tool\u212A", "toolk", true)]
    [InlineData("\u0130nput", "input", true)]
    [InlineData("\u0131nput", "input", true)]
    [InlineData("message", "messages", false)]
    [InlineData("messagesx", "messages", false)]
    [InlineData("cache-salt", "cache_salt", false)]
    [InlineData("CACHE_SALT", "cache_salt", true)]
    [InlineData("mèssages", "messages", false)]
    public void FoldEquals_GoFoldName(string key, string name, bool expected)
    {
        Assert.Equal(expected, GoFieldName.FoldEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(name)));
    }

    // Go scanner.go error texts (quoteChar uses strconv.Quote on the byte read as a rune).
    [Theory]
    [InlineData("", "unexpected end of JSON input")]
    [InlineData("   ", "unexpected end of JSON input")]
    [InlineData("{\"a\":nol}", "invalid character 'o' in literal null (expecting 'u')")]
    [InlineData("{\"a\":nuul}", "invalid character 'u' in literal null (expecting 'l')")]
    [InlineData("{\"a\":tx}", "invalid character 'x' in literal true (expecting 'r')")]
    [InlineData("{\"a\":fals}", "invalid character '}' in literal false (expecting 'e')")]
    [InlineData("{\"a\" 1}", "invalid character '1' after object key")]
    [InlineData("{\"a\":1 \"b\"}", "invalid character '\"' after object key:value pair")]
    [InlineData("[1 2]", "invalid character '2' after array element")]
    [InlineData("{a}", "invalid character 'a' looking for beginning of object key string")]
    [InlineData("{\"a\":}", "invalid character '}' looking for beginning of value")]
    [InlineData("{\"a\":\"\t\"}", "invalid character '\\t' in string literal")]
    [InlineData("{\"a\":\"\\x\"}", "invalid character 'x' in string escape code")]
    [InlineData("{\"a\":\"\\u12g4\"}", "invalid character 'g' in \\u hexadecimal character escape")]
    [InlineData("{\"a\":-}", "invalid character '}' in numeric literal")]
    [InlineData("{\"a\":1.}", "invalid character '}' after decimal point in numeric literal")]
    [InlineData("{\"a\":1e}", "invalid character '}' in exponent of numeric literal")]
    [InlineData("{\"a\":01}", "invalid character '1' after object key:value pair")]
    [InlineData("{} x", "invalid character 'x' after top-level value")]
    [InlineData("{}}", "invalid character '}' after top-level value")]
    [InlineData("0x", "invalid character 'x' after top-level value")]
    [InlineData("{\"a\":[1,]}", "invalid character ']' looking for beginning of value")]
    [InlineData("{\"a\":1,}", "invalid character '}' looking for beginning of object key string")]
    [InlineData("'", "invalid character '\\'' looking for beginning of value")]
    [InlineData("\\", "invalid character '\\\\' looking for beginning of value")]
    [InlineData("\u0001", "invalid character '\\x01' looking for beginning of value")]
    [InlineData("\u007f", "invalid character '\\x7f' looking for beginning of value")]
    [InlineData("{\"a\":1", "unexpected end of JSON input")]
    [InlineData("{\"a\":\"x", "unexpected end of JSON input")]
    [InlineData("[1,2", "unexpected end of JSON input")]
    [InlineData("{}", null)]
    [InlineData(" [1, {\"a\": null}, \"x\", -0.5e+3, true, false] ", null)]
    public void GoSyntax_Describe_GoTexts(string input, string? expected)
    {
        Assert.Equal(expected, GoJsonSyntax.Describe(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(input))));
    }

    [Theory]
    [InlineData(new byte[] { 0xEF, 0xBB, 0xBF, 0x7B, 0x7D }, "invalid character 'ï' looking for beginning of value")]
    [InlineData(new byte[] { 0x80 }, "invalid character '\\u0080' looking for beginning of value")]
    [InlineData(new byte[] { 0xA0 }, "invalid character '\\u00a0' looking for beginning of value")]
    [InlineData(new byte[] { 0xAD }, "invalid character '\\u00ad' looking for beginning of value")]
    [InlineData(new byte[] { 0xC3 }, "invalid character 'Ã' looking for beginning of value")]
    [InlineData(new byte[] { 0x22, 0xFF, 0x22 }, null)]
    public void GoSyntax_Describe_NonAsciiBytes(byte[] input, string? expected)
    {
        Assert.Equal(expected, GoJsonSyntax.Describe(new ReadOnlySequence<byte>(input)));
    }

    [Fact]
    public void GoSyntax_Describe_MaxDepth10000()
    {
        string ok = new string('[', 10000) + new string(']', 10000);
        string tooDeep = new string('[', 10001) + new string(']', 10001);
        Assert.Null(GoJsonSyntax.Describe(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(ok))));
        Assert.Equal("invalid character '[' exceeded max depth", GoJsonSyntax.Describe(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(tooDeep))));
    }
}
