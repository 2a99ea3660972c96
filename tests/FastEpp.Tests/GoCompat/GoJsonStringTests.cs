using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.GoCompat;
using FastEpp.Tests.Body;

namespace FastEpp.Tests.GoCompat;

public class GoJsonStringTests
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
}
