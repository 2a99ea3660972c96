using System.Buffers;
using System.Text;
using FastEpp.GoCompat;

namespace FastEpp.Tests.GoCompat;

public class GoJsonSyntaxTests
{
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
