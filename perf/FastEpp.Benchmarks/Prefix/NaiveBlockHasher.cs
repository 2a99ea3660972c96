using System.Buffers.Binary;
using System.IO.Hashing;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>Baseline hasher written like the Go code: a streaming hasher object per block, results in a new list.</summary>
internal static class NaiveBlockHasher
{
    public static List<ulong> ComputeChain(byte[] model, byte[] salt, byte[] input, int blockSizeTokens, int maxBlocks)
    {
        var result = new List<ulong>();
        int c = blockSizeTokens * 4;
        if (c <= 0 || input.Length < c)
            return result;
        ReadOnlySpan<byte> u = input;
        if ((long)u.Length > (long)c * maxBlocks)
            u = u[..(c * maxBlocks)];
        var seed = new XxHash64();
        seed.Append(model);
        seed.Append(salt);
        ulong previous = seed.GetCurrentHashAsUInt64();
        var link = new byte[8];
        for (int offset = 0; offset < u.Length; offset += c)
        {
            var h = new XxHash64();
            h.Append(u.Slice(offset, Math.Min(c, u.Length - offset)));
            BinaryPrimitives.WriteUInt64LittleEndian(link, previous);
            h.Append(link);
            previous = h.GetCurrentHashAsUInt64();
            result.Add(previous);
        }
        return result;
    }
}
