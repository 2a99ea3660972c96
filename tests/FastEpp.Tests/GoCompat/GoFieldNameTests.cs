using System.Text;
using FastEpp.GoCompat;

namespace FastEpp.Tests.GoCompat;

public class GoFieldNameTests
{
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
}
