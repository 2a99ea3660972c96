using System.IO.Hashing;

namespace FastEpp.Sim.Engine;

/// <summary>
/// Deterministic stand-in for a tokenizer: every 4 bytes of (unescaped UTF-8) prompt text are one token, so ASCII
/// text gives the ~4 characters per token that approximate routing assumes. Tokens are never materialised; the
/// tokenizer only counts them and computes the chained hash of every full KV block (BlockSize tokens =
/// 4·BlockSize bytes). An adapter's hashes are mixed with its key (as vLLM's LoRA extra key) so adapters and the base
/// model never share blocks. Prefix-stable: two prompts that share their first k full blocks of bytes share their
/// first k block hashes.
/// </summary>
internal sealed class PromptTokenizer
{
    /// <summary>Bytes per simulated token.</summary>
    public const int BytesPerToken = 4;

    private readonly int _blockBytes;
    private readonly byte[] _pending;
    private int _pendingLength;
    private long _totalBytes;
    private ulong _parent;
    private ulong[] _hashes;
    private int _hashCount;

    /// <summary>Starts a prompt for the given block size.</summary>
    public PromptTokenizer(int blockSize)
    {
        _blockBytes = blockSize * BytesPerToken;
        _pending = new byte[_blockBytes];
        _hashes = new ulong[16];
    }

    /// <summary>Tokens fed so far (a started token counts; an empty prompt is one token, like a BOS).</summary>
    public int TokenCount => (int)Math.Max(1, (_totalBytes + BytesPerToken - 1) / BytesPerToken);

    /// <summary>Hashes of the full blocks fed so far, in order.</summary>
    public ReadOnlySpan<ulong> BlockHashes => _hashes.AsSpan(0, _hashCount);

    /// <summary>Feeds prompt bytes.</summary>
    public void Feed(ReadOnlySpan<byte> bytes)
    {
        _totalBytes += bytes.Length;
        if (_pendingLength > 0)
        {
            int take = Math.Min(bytes.Length, _blockBytes - _pendingLength);
            bytes[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            bytes = bytes[take..];
            if (_pendingLength < _blockBytes)
            {
                return;
            }
            AddBlock(_pending);
            _pendingLength = 0;
        }
        while (bytes.Length >= _blockBytes)
        {
            AddBlock(bytes[.._blockBytes]);
            bytes = bytes[_blockBytes..];
        }
        bytes.CopyTo(_pending);
        _pendingLength = bytes.Length;
    }

    /// <summary>Feeds one token id (a pre-tokenised prompt): 4 bytes, little endian.</summary>
    public void FeedToken(int token)
    {
        Span<byte> b = stackalloc byte[BytesPerToken];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, token);
        Feed(b);
    }

    /// <summary>Copies the block hashes into a new array owned by the request; a non-empty <paramref name="extraKey"/> (adapter name) is mixed in.</summary>
    public ulong[] ToHashArray(string? extraKey = null)
    {
        ulong[] result = _hashes.AsSpan(0, _hashCount).ToArray();
        if (!string.IsNullOrEmpty(extraKey))
        {
            ulong key = XxHash3.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(extraKey));
            for (int i = 0; i < result.Length; i++)
            {
                result[i] = System.Numerics.BitOperations.RotateLeft(result[i] ^ key, 17) * 0x9E3779B97F4A7C15UL;
            }
        }
        return result;
    }

    private void AddBlock(ReadOnlySpan<byte> block)
    {
        _parent = XxHash3.HashToUInt64(block, unchecked((long)_parent));
        if (_hashCount == _hashes.Length)
        {
            Array.Resize(ref _hashes, _hashes.Length * 2);
        }
        _hashes[_hashCount++] = _parent;
    }
}
