using System.Text;
using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Tests.Engine;

public sealed class PromptTokenizerTests
{
    [Theory]
    [InlineData("", 1)]
    [InlineData("abcd", 1)]
    [InlineData("abcde", 2)]
    [InlineData("hello world, how are you?", 7)]
    public void TokenCount_IsFourBytesPerToken(string text, int tokens)
    {
        var t = new PromptTokenizer(16);
        t.Feed(Encoding.UTF8.GetBytes(text));
        Assert.Equal(tokens, t.TokenCount);
    }

    [Fact]
    public void Hashes_ArePrefixStable_AndIndependentOfFeedSplits()
    {
        byte[] shared = Encoding.UTF8.GetBytes(EngineTestKit.Text(100, 1));   // 6 full blocks + 4 tokens
        var a = new PromptTokenizer(16);
        a.Feed(shared);
        a.Feed("tail A is here and it is long enough to fill one more block"u8);
        var b = new PromptTokenizer(16);
        foreach (byte x in shared)
        {
            b.Feed([x]);
        }
        b.Feed("tail B differs"u8);
        Assert.True(a.BlockHashes[..6].SequenceEqual(b.BlockHashes[..6]));
        Assert.Equal(6, b.BlockHashes.Length);
        Assert.Equal(7, a.BlockHashes.Length);
    }

    [Fact]
    public void AdapterKey_SeparatesCaches()
    {
        var t = new PromptTokenizer(16);
        t.Feed(Encoding.UTF8.GetBytes(EngineTestKit.Text(64, 9)));
        ulong[] baseHashes = t.ToHashArray();
        ulong[] adapterHashes = t.ToHashArray("adapter-a");
        Assert.Equal(4, baseHashes.Length);
        Assert.DoesNotContain(adapterHashes[0], baseHashes);
        Assert.Equal(adapterHashes, t.ToHashArray("adapter-a"));
    }

    [Fact]
    public void TokenIds_AreFourBytesEach()
    {
        var t = new PromptTokenizer(16);
        for (int i = 0; i < 33; i++)
        {
            t.FeedToken(i);
        }
        Assert.Equal(33, t.TokenCount);
        Assert.Equal(2, t.BlockHashes.Length);
    }
}
