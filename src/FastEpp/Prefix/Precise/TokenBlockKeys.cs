using System.Buffers.Binary;
using System.IO.Hashing;

namespace FastEpp.Prefix.Precise;

/// <summary>
/// FastEpp's own request keys for token blocks (the "dual key" scheme of llm-d, routing.md §2): engine block hashes
/// are opaque (per-process random seed, pickled tuples), so both the event path and the request path recompute one
/// chain from token ids. Shape of llm-d's <c>xxh64</c> algorithm: root = XXH64(hashSeed); chain start =
/// XXH64(root ‖ len ‖ model) where model is the LoRA adapter name when set, else the topic's / request's model;
/// block key = XXH64(parent (8 B LE) ‖ tokens (4 B LE each) ‖ per extra: len (8 B LE) ‖ bytes). The cache salt is
/// block 0's extra. Allocation-free: a block of up to 512 tokens is staged on the stack.
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
internal static class TokenBlockKeys
{
    /// <summary>The largest block size the stack staging takes; larger blocks use a pooled buffer.</summary>
    public const int MaxStackBlockTokens = 512;

    public static ulong Root(ReadOnlySpan<byte> hashSeedUtf8) => XxHash64.HashToUInt64(hashSeedUtf8);

    /// <summary>The chain start for <paramref name="modelUtf8"/> (the parent of block 0).</summary>
    public static ulong ChainStart(ulong root, ReadOnlySpan<byte> modelUtf8)
    {
        Span<byte> head = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(head, root);
        BinaryPrimitives.WriteUInt64LittleEndian(head[8..], (ulong)modelUtf8.Length);
        var h = new XxHash64();
        h.Append(head);
        h.Append(modelUtf8);
        return h.GetCurrentHashAsUInt64();
    }

    /// <summary>One block's key from its parent, its tokens and its extras (the concatenated "len ‖ bytes" pieces, may be empty).</summary>
    public static ulong Block(ulong parent, ReadOnlySpan<uint> tokens, ReadOnlySpan<byte> encodedExtras)
    {
        int size = 8 + tokens.Length * 4 + encodedExtras.Length;
        byte[]? rented = null;
        Span<byte> buf = size <= 8 + MaxStackBlockTokens * 4 + 256
            ? stackalloc byte[size]
            : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(size));
        BinaryPrimitives.WriteUInt64LittleEndian(buf, parent);
        int at = 8;
        if (BitConverter.IsLittleEndian)
        {
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens).CopyTo(buf[at..]);
            at += tokens.Length * 4;
        }
        else
        {
            foreach (uint t in tokens)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(buf[at..], t);
                at += 4;
            }
        }
        encodedExtras.CopyTo(buf[at..]);
        ulong key = XxHash64.HashToUInt64(buf[..size]);
        if (rented is not null)
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        return key;
    }

    /// <summary>Writes one extra as "len (8 B LE) ‖ bytes" into <paramref name="destination"/>; returns bytes written.</summary>
    public static int EncodeExtra(ReadOnlySpan<byte> extra, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, (ulong)extra.Length);
        extra.CopyTo(destination[8..]);
        return 8 + extra.Length;
    }

    /// <summary>
    /// The request side: keys for every full block of <paramref name="tokens"/> (at most <paramref name="keys"/>.Length),
    /// the cache salt folded into block 0. Returns the number of keys.
    /// </summary>
    public static int Chain(ulong chainStart, ReadOnlySpan<uint> tokens, int blockSize, ReadOnlySpan<byte> cacheSaltUtf8, Span<ulong> keys)
    {
        int n = Math.Min(tokens.Length / blockSize, keys.Length);
        if (n == 0)
            return 0;
        Span<byte> salt = cacheSaltUtf8.IsEmpty || cacheSaltUtf8.Length > 248 ? default : stackalloc byte[8 + cacheSaltUtf8.Length];
        if (!cacheSaltUtf8.IsEmpty && salt.IsEmpty)
            salt = new byte[8 + cacheSaltUtf8.Length]; // a salt longer than 248 bytes: rare, one small array
        if (!cacheSaltUtf8.IsEmpty)
            EncodeExtra(cacheSaltUtf8, salt);
        ulong parent = chainStart;
        for (int i = 0; i < n; i++)
        {
            parent = Block(parent, tokens.Slice(i * blockSize, blockSize), i == 0 ? salt : default);
            keys[i] = parent;
        }
        return n;
    }
}
