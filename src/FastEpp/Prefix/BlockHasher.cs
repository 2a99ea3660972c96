using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace FastEpp.Prefix;

/// <summary>
/// Turns a prompt into its chained block-hash list exactly as the reference does (spec scheduling.md §3.3
/// steps 4–5): XXH64 with seed 0; h0 = XXH64(model ‖ cache_salt); block k of C = blockSizeTokens × 4 bytes is
/// hashed as XXH64(U[kC..(k+1)C] ‖ LE64(h(k−1))); a trailing partial block is hashed the same way; the input
/// is truncated to maxBlocks × C bytes; nothing is produced when it is shorter than one block.
/// Zero allocation: each block is copied with its 8-byte link into a small stack buffer (pooled when a block
/// is larger than <see cref="StackBlockLimit"/>), so the prompt itself is never copied as a whole.
/// </summary>
internal static class BlockHasher
{
    /// <summary>Largest block (plus link) hashed from a stack buffer; bigger blocks use a pooled array.</summary>
    private const int StackBlockLimit = 1024;

    private const int LinkBytes = sizeof(ulong);

    /// <summary>
    /// Number of hashes <see cref="ComputeChain"/> produces for an input of <paramref name="inputLength"/> bytes
    /// (use it to size the destination).
    /// </summary>
    public static int BlockCount(int inputLength, int blockSizeTokens, int maxBlocks)
    {
        long blockBytes = BlockBytes(blockSizeTokens);
        if (blockBytes <= 0 || maxBlocks <= 0 || inputLength < blockBytes)
            return 0;
        long blocks = (inputLength + blockBytes - 1) / blockBytes;
        return (int)Math.Min(blocks, maxBlocks);
    }

    /// <summary>
    /// Writes the chain h1..hn into <paramref name="hashes"/> and returns n. At most
    /// min(<paramref name="maxBlocks"/>, hashes.Length) hashes are written; a short destination behaves exactly
    /// like a smaller maxBlocks (truncation keeps whole blocks, so the result is a prefix of the full chain).
    /// </summary>
    /// <param name="modelUtf8">UTF-8 of the target (post-rewrite) model name.</param>
    /// <param name="cacheSaltUtf8">UTF-8 of the body's <c>cache_salt</c>; empty when absent.</param>
    /// <param name="userInput">The user-input bytes U of §3.3 step 3.</param>
    /// <param name="blockSizeTokens">Effective block size B in tokens (C = B × 4 bytes).</param>
    /// <param name="maxBlocks">Cap on hashed blocks (see <see cref="PrefixCacheParameters.MaxBlocks"/>).</param>
    [SkipLocalsInit]
    public static int ComputeChain(
        ReadOnlySpan<byte> modelUtf8,
        ReadOnlySpan<byte> cacheSaltUtf8,
        ReadOnlySpan<byte> userInput,
        int blockSizeTokens,
        int maxBlocks,
        Span<ulong> hashes)
    {
        long blockBytesLong = BlockBytes(blockSizeTokens);
        int limit = Math.Min(maxBlocks, hashes.Length);
        if (blockBytesLong <= 0 || userInput.Length < blockBytesLong || limit <= 0)
            return 0;

        // userInput.Length >= blockBytesLong, so the block size fits an int.
        int blockBytes = (int)blockBytesLong;
        long maxBytes = blockBytesLong * limit;
        if (userInput.Length > maxBytes)
            userInput = userInput[..(int)maxBytes];

        ulong previous = SeedHash(modelUtf8, cacheSaltUtf8);

        byte[]? rented = null;
        int bufferLength = blockBytes + LinkBytes;
        Span<byte> buffer = bufferLength <= StackBlockLimit
            ? stackalloc byte[StackBlockLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(bufferLength));

        int count = 0;
        for (int offset = 0; offset < userInput.Length; offset += blockBytes)
        {
            ReadOnlySpan<byte> block = userInput.Slice(offset, Math.Min(blockBytes, userInput.Length - offset));
            block.CopyTo(buffer);
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.Slice(block.Length, LinkBytes), previous);
            previous = XxHash64.HashToUInt64(buffer[..(block.Length + LinkBytes)]);
            hashes[count++] = previous;
        }

        if (rented is not null)
            ArrayPool<byte>.Shared.Return(rented);
        return count;
    }

    /// <summary>h0 = XXH64(model ‖ salt), the salt only when non-empty (an empty salt appends nothing anyway).</summary>
    [SkipLocalsInit]
    public static ulong SeedHash(ReadOnlySpan<byte> modelUtf8, ReadOnlySpan<byte> cacheSaltUtf8)
    {
        if (cacheSaltUtf8.IsEmpty)
            return XxHash64.HashToUInt64(modelUtf8);

        int length = modelUtf8.Length + cacheSaltUtf8.Length;
        if (length <= StackBlockLimit)
        {
            Span<byte> buffer = stackalloc byte[StackBlockLimit];
            return HashConcatenated(modelUtf8, cacheSaltUtf8, buffer);
        }
        return SeedHashLarge(modelUtf8, cacheSaltUtf8, length);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SeedHashLarge(ReadOnlySpan<byte> modelUtf8, ReadOnlySpan<byte> cacheSaltUtf8, int length)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        ulong hash = HashConcatenated(modelUtf8, cacheSaltUtf8, rented);
        ArrayPool<byte>.Shared.Return(rented);
        return hash;
    }

    private static ulong HashConcatenated(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, Span<byte> buffer)
    {
        first.CopyTo(buffer);
        second.CopyTo(buffer[first.Length..]);
        return XxHash64.HashToUInt64(buffer[..(first.Length + second.Length)]);
    }

    private static long BlockBytes(int blockSizeTokens) => (long)blockSizeTokens * PrefixCacheParameters.CharactersPerToken;
}
