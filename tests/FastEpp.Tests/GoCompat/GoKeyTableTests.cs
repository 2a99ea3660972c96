using System.Text;
using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Tests.GoCompat;

public class GoKeyTableTests
{
    private static readonly GoKeyTable<int> s_table = new(
        0,
        ("model", GoKeyMatch.Exact, 1),
        ("messages", GoKeyMatch.Fold, 2),
        ("model", GoKeyMatch.Fold, 3));

    // Map keys match exactly, struct fields like Go's foldName; the first matching row wins.
    [Theory]
    [InlineData("{\"model\":0}", 1)]
    [InlineData("{\"MODEL\":0}", 3)]
    [InlineData("{\"Messages\":0}", 2)]
    [InlineData("{\"me\\u017Fsages\":0}", 2)]
    [InlineData("{\"m\\u006fdel\":0}", 1)]
    [InlineData("{\"modelx\":0}", 0)]
    public void Classify_GoMatching(string json, int expected)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read();
        reader.Read();
        Assert.Equal(expected, s_table.Classify(ref reader));
    }

    [Fact]
    public void Classify_EscapedNameLongerThanLimit_IsOther()
    {
        var small = new GoKeyTable<int>(0, 10, ("model", GoKeyMatch.Exact, 1));
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes("{\"\\u006d\\u006fdel\":0}"));
        reader.Read();
        reader.Read();
        Assert.Equal(0, small.Classify(ref reader));
        Assert.Equal(1, s_table.Classify(ref reader));
    }
}
