using FastEpp.Prefix;

namespace FastEpp.Tests.Prefix;

public sealed class PrefixCacheParametersTests
{
    [Theory]
    [InlineData(256, 0, 16, 256)]     // default
    [InlineData(256, 1000, 16, 62)]   // tokens override, integer division
    [InlineData(10, 100_000, 16, 6250)]
    [InlineData(0, 0, 16, 0)]         // 0 ⇒ nothing is ever hashed
    [InlineData(256, 1000, 0, 0)]     // no usable block size
    [InlineData(-5, 0, 16, 0)]
    public void MaxBlocks_Parameters_FollowSpec(int maxBlocks, int maxTokens, int blockSize, int expected) =>
        Assert.Equal(expected, PrefixCacheParameters.MaxBlocks(maxBlocks, maxTokens, blockSize));

    [Theory]
    [InlineData(true, 16, 32, 32)]
    [InlineData(true, 16, 0, 16)]
    [InlineData(false, 16, 32, 16)]
    public void EffectiveBlockSizeTokens_AutoTune_PrefersServerValue(bool autoTune, int configured, int reported, int expected) =>
        Assert.Equal(expected, PrefixCacheParameters.EffectiveBlockSizeTokens(autoTune, configured, reported));

    [Theory]
    [InlineData(true, 5000, 5000)]
    [InlineData(true, 0, 31_250)]
    [InlineData(false, 5000, 31_250)]
    public void ServerCapacity_AutoTune_UsesCacheNumBlocks(bool autoTune, int reported, int expected) =>
        Assert.Equal(expected, PrefixCacheParameters.ServerCapacity(autoTune, reported));
}
