using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using FastEpp.Prefix;

namespace FastEpp.Tests.Prefix;

public sealed class BlockHasherTests
{
    // Spec scheduling.md §3.3 step 6 (B = 16 tokens → C = 64 bytes, no salt unless stated).
    [Fact]
    public void SeedHash_SpecVectors_Match()
    {
        Assert.Equal(0xba2e567083a2b2e8UL, BlockHasher.SeedHash("m"u8, default));
        Assert.Equal(0x49401bbda64194caUL, BlockHasher.SeedHash("qwen"u8, default));
        Assert.Equal(0x0b16e7fb8fe890e5UL, BlockHasher.SeedHash("qwen"u8, "salt1"u8));
    }

    [Fact]
    public void XxHash64_SanityVectors_Match()
    {
        Assert.Equal(0xef46db3751d8e999UL, XxHash64.HashToUInt64(""u8));
        Assert.Equal(0xd24ec4f1a98c6e5bUL, XxHash64.HashToUInt64("a"u8));
        Assert.Equal(0x44bc2cf5ad770999UL, XxHash64.HashToUInt64("abc"u8));
    }

    [Fact]
    public void ComputeChain_ModelM128Bytes_MatchesSpecVector()
    {
        ulong[] hashes = Chain("m", "", new string('a', 128), 16, 256);
        Assert.Equal([0x48f3bb46e2d80a01UL, 0xf760c4557fb31a91UL], hashes);
    }

    [Fact]
    public void ComputeChain_Qwen150Bytes_HashesTrailingPartialBlock()
    {
        ulong[] hashes = Chain("qwen", "", new string('a', 150), 16, 256);
        Assert.Equal([0xfa783c618cab09cfUL, 0xc1817cd252befca9UL, 0xf35e55565ea98ef9UL], hashes);
    }

    [Fact]
    public void ComputeChain_WithCacheSalt_MatchesSpecVector()
    {
        ulong[] hashes = Chain("qwen", "salt1", new string('a', 150), 16, 256);
        Assert.Equal([0xa99281e7120360f0UL, 0xaadf80497cbf9f48UL, 0xb1a53a2a0db1dfbeUL], hashes);
    }

    [Fact]
    public void ComputeChain_InputShorterThanOneBlock_ProducesNothing()
    {
        Assert.Empty(Chain("m", "", new string('a', 63), 16, 256));
        Assert.Empty(Chain("m", "", "", 16, 256));
        // Exactly one block is enough.
        Assert.Single(Chain("m", "", new string('a', 64), 16, 256));
    }

    [Fact]
    public void ComputeChain_NonPositiveBlockSizeOrMaxBlocks_ProducesNothing()
    {
        Assert.Empty(Chain("m", "", new string('a', 500), 0, 256));
        Assert.Empty(Chain("m", "", new string('a', 500), -3, 256));
        Assert.Empty(Chain("m", "", new string('a', 500), 16, 0));
        Assert.Empty(Chain("m", "", new string('a', 500), 16, -1));
    }

    [Fact]
    public void ComputeChain_LongerThanMaxBlocks_TruncatesToWholeBlocksWithoutPartial()
    {
        // 150 bytes with maxBlocks 2: truncated to 128 bytes, so no partial third block.
        ulong[] truncated = Chain("qwen", "", new string('a', 150), 16, 2);
        Assert.Equal([0xfa783c618cab09cfUL, 0xc1817cd252befca9UL], truncated);

        // 128 bytes with maxBlocks 1: the first block only.
        Assert.Equal([0x48f3bb46e2d80a01UL], Chain("m", "", new string('a', 128), 16, 1));
    }

    [Fact]
    public void ComputeChain_DestinationShorterThanMaxBlocks_BehavesAsSmallerMaxBlocks()
    {
        byte[] input = RandomBytes(1000, seed: 1);
        var full = new ulong[64];
        int n = BlockHasher.ComputeChain("model"u8, default, input, 16, 64, full);
        Assert.Equal(16, n); // ceil(1000 / 64)

        var shortDestination = new ulong[5];
        Assert.Equal(5, BlockHasher.ComputeChain("model"u8, default, input, 16, 64, shortDestination));
        Assert.Equal(full.AsSpan(0, 5).ToArray(), shortDestination);
    }

    [Theory]
    [InlineData(1, 100, 4)]       // 4-byte blocks
    [InlineData(16, 4096, 256)]
    [InlineData(16, 4000, 256)]   // trailing partial block of 32 bytes
    [InlineData(16, 400_000, 256)]
    [InlineData(16, 400_000, 10_000)]
    [InlineData(300, 5000, 256)]  // 1200-byte blocks: pooled buffer path
    [InlineData(5, 777, 3)]
    public void ComputeChain_RandomInput_MatchesIncrementalReferenceConstruction(int blockSizeTokens, int length, int maxBlocks)
    {
        byte[] input = RandomBytes(length, seed: length);
        byte[] model = "meta-llama/Llama-3.1-8B-Instruct"u8.ToArray();
        byte[] salt = "tenant-42"u8.ToArray();

        ulong[] expected = ReferenceChain(model, salt, input, blockSizeTokens, maxBlocks);
        var actual = new ulong[BlockHasher.BlockCount(input.Length, blockSizeTokens, maxBlocks)];
        int n = BlockHasher.ComputeChain(model, salt, input, blockSizeTokens, maxBlocks, actual);

        Assert.Equal(expected.Length, n);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SeedHash_LongModelAndSalt_UsesWholeConcatenation()
    {
        byte[] model = RandomBytes(900, seed: 7);
        byte[] salt = RandomBytes(900, seed: 8);
        ulong expected = XxHash64.HashToUInt64([.. model, .. salt]);
        Assert.Equal(expected, BlockHasher.SeedHash(model, salt));
    }

    [Fact]
    public void ComputeChain_DifferentSaltOrModel_ChangesEveryHash()
    {
        byte[] input = RandomBytes(640, seed: 3);
        ulong[] a = ReferenceChain("m"u8.ToArray(), [], input, 16, 256);
        ulong[] b = ReferenceChain("m"u8.ToArray(), "s"u8.ToArray(), input, 16, 256);
        ulong[] c = ReferenceChain("n"u8.ToArray(), [], input, 16, 256);
        Assert.Equal(10, a.Length);
        Assert.Empty(a.Intersect(b));
        Assert.Empty(a.Intersect(c));
    }

    [Theory]
    [InlineData(0, 16, 0)]
    [InlineData(63, 16, 0)]
    [InlineData(64, 16, 1)]
    [InlineData(65, 16, 2)]
    [InlineData(400_000, 16, 256)]
    [InlineData(400_000, 0, 0)]
    public void BlockCount_DefaultCap_CountsBlocks(int length, int blockSizeTokens, int expected) =>
        Assert.Equal(expected, BlockHasher.BlockCount(length, blockSizeTokens, 256));

    [Fact]
    public void BlockCount_Uncapped100kTokens_Is6250()
    {
        Assert.Equal(6250, BlockHasher.BlockCount(400_000, 16, int.MaxValue));
    }

    [Fact]
    public void ComputeChain_HugeBlockSize_DoesNotOverflow()
    {
        Assert.Empty(Chain("m", "", new string('a', 100), int.MaxValue, 256));
        Assert.Equal(0, BlockHasher.BlockCount(100, int.MaxValue, 256));
    }

    private static ulong[] Chain(string model, string salt, string prompt, int blockSizeTokens, int maxBlocks)
    {
        byte[] input = Encoding.UTF8.GetBytes(prompt);
        var hashes = new ulong[Math.Max(0, Math.Min(maxBlocks, 1 + input.Length))];
        int n = BlockHasher.ComputeChain(Encoding.UTF8.GetBytes(model), Encoding.UTF8.GetBytes(salt), input, blockSizeTokens, maxBlocks, hashes);
        return hashes[..n];
    }

    /// <summary>Straightforward streamed construction (what the Go code does), independent of BlockHasher.</summary>
    private static ulong[] ReferenceChain(byte[] model, byte[] salt, byte[] input, int blockSizeTokens, int maxBlocks)
    {
        int c = blockSizeTokens * 4;
        if (c <= 0 || input.Length < c || maxBlocks <= 0)
            return [];
        if ((long)input.Length > (long)c * maxBlocks)
            input = input[..(c * maxBlocks)];
        var seed = new XxHash64();
        seed.Append(model);
        seed.Append(salt);
        ulong previous = seed.GetCurrentHashAsUInt64();
        var result = new List<ulong>();
        for (int offset = 0; offset < input.Length; offset += c)
        {
            var h = new XxHash64();
            h.Append(input.AsSpan(offset, Math.Min(c, input.Length - offset)));
            var link = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(link, previous);
            h.Append(link);
            previous = h.GetCurrentHashAsUInt64();
            result.Add(previous);
        }
        return [.. result];
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
