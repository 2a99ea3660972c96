using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using FastEpp.Sim.Tokenization;

namespace FastEpp.Sim.Engine;

/// <summary>
/// Turns a prompt into tokens and the chained hashes of its full KV blocks, with the <see cref="SimTokenizer"/>
/// of the fleet.
/// <para>
/// Stand-in (default): every 4 bytes of (unescaped UTF-8) prompt text are one token, so ASCII text gives the ~4
/// characters per token that approximate routing assumes; the token id is those 4 bytes as a little-endian uint32.
/// The prompt is streamed: hashes are computed as bytes arrive (BlockSize tokens = 4·BlockSize bytes) and token ids
/// are materialised only when asked for (<c>collectIds</c>: KV events, /tokenize, render).
/// Real tokenizer (o200k_base): the prompt text is gathered and encoded with BPE when it ends (or when a token id
/// of a pre-tokenised prompt interrupts it); blocks are hashed over the ids.
/// </para>
/// Both hash a block as XXH3 over its token ids as 4-byte little-endian values, seeded with the previous block's
/// hash, so for the stand-in hashing ids or hashing the raw bytes is the same thing. An adapter's hashes are mixed
/// with its key (as vLLM's LoRA extra key) so adapters and the base model never share blocks. Prefix-stable: two
/// prompts that share their first k full blocks of tokens share their first k block hashes.
/// Feeding after <see cref="Finish"/> (or after reading the results of a real tokenizer) is not allowed.
/// </summary>
internal sealed class PromptTokenizer
{
    /// <summary>Bytes per simulated token (stand-in).</summary>
    public const int BytesPerToken = 4;

    private readonly SimTokenizer _tokenizer;
    private readonly int _blockSize;
    private readonly int _blockBytes;
    private readonly bool _collectIds;
    private readonly byte[] _pending;
    private int _pendingLength;
    private long _totalBytes;
    private ulong _parent;
    private ulong[] _hashes;
    private int _hashCount;
    private uint[] _ids = [];
    private int _idCount;
    private uint _acc;
    private int _accBytes;
    private byte[] _text = [];
    private int _textLength;
    private bool _finished;

    /// <summary>Starts a prompt for the given block size with the stand-in tokenizer, without materialised ids.</summary>
    public PromptTokenizer(int blockSize)
        : this(blockSize, SimTokenizer.StandIn, collectIds: false)
    {
    }

    /// <summary>Starts a prompt; <paramref name="collectIds"/> keeps the token ids (always for a real tokenizer).</summary>
    public PromptTokenizer(int blockSize, SimTokenizer tokenizer, bool collectIds)
    {
        _tokenizer = tokenizer;
        _blockSize = blockSize;
        _blockBytes = blockSize * BytesPerToken;
        _collectIds = collectIds || tokenizer.IsReal;
        _pending = tokenizer.IsReal ? [] : new byte[_blockBytes];
        _hashes = new ulong[16];
        if (_collectIds)
        {
            _ids = new uint[64];
        }
    }

    /// <summary>Tokens per KV block.</summary>
    public int BlockSize => _blockSize;

    /// <summary>The tokenizer (and chat template) in use.</summary>
    public SimTokenizer Tokenizer => _tokenizer;

    /// <summary>Tokens fed so far (a started token counts; an empty prompt is one token, like a BOS).</summary>
    public int TokenCount
    {
        get
        {
            if (_tokenizer.IsReal)
            {
                Finish();
                return _idCount;
            }
            return (int)Math.Max(1, (_totalBytes + BytesPerToken - 1) / BytesPerToken);
        }
    }

    /// <summary>Hashes of the full blocks fed so far, in order.</summary>
    public ReadOnlySpan<ulong> BlockHashes
    {
        get
        {
            if (_tokenizer.IsReal)
            {
                Finish();
            }
            return _hashes.AsSpan(0, _hashCount);
        }
    }

    /// <summary>The token ids (finishes the prompt); empty unless ids are collected.</summary>
    public ReadOnlySpan<uint> TokenIds
    {
        get
        {
            Finish();
            return _ids.AsSpan(0, _idCount);
        }
    }

    /// <summary>True when token ids are kept.</summary>
    public bool CollectsIds => _collectIds;

    /// <summary>Feeds prompt text bytes (UTF-8).</summary>
    public void Feed(ReadOnlySpan<byte> bytes)
    {
        if (_finished)
        {
            throw new InvalidOperationException("the prompt is finished");
        }
        if (_tokenizer.IsReal)
        {
            if (_textLength + bytes.Length > _text.Length)
            {
                Array.Resize(ref _text, Math.Max(_textLength + bytes.Length, Math.Max(256, _text.Length * 2)));
            }
            bytes.CopyTo(_text.AsSpan(_textLength));
            _textLength += bytes.Length;
            return;
        }
        if (_collectIds)
        {
            CollectStandInIds(bytes);
        }
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

    /// <summary>Feeds one token id of a pre-tokenised prompt (stand-in: its 4 bytes, little endian).</summary>
    public void FeedToken(int token)
    {
        if (_tokenizer.IsReal)
        {
            FlushText();
            AddId(unchecked((uint)token));
            return;
        }
        Span<byte> b = stackalloc byte[BytesPerToken];
        BinaryPrimitives.WriteInt32LittleEndian(b, token);
        Feed(b);
    }

    /// <summary>Ends the prompt: encodes pending text (real tokenizer) or the last partial token (stand-in). Idempotent.</summary>
    public void Finish()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        if (_tokenizer.IsReal)
        {
            FlushText();
            if (_idCount == 0)
            {
                AddId(0);   // an empty prompt still costs one token, as with the stand-in
            }
            ReadOnlySpan<uint> ids = _ids.AsSpan(0, _idCount);
            for (int i = 0; i + _blockSize <= ids.Length; i += _blockSize)
            {
                AddBlock(MemoryMarshal.AsBytes(ids.Slice(i, _blockSize)));
            }
            return;
        }
        if (_collectIds)
        {
            if (_accBytes > 0)
            {
                AddId(_acc);
                _acc = 0;
                _accBytes = 0;
            }
            if (_idCount == 0)
            {
                AddId(0);
            }
        }
    }

    /// <summary>Copies the block hashes into a new array owned by the request; a non-empty <paramref name="extraKey"/> (adapter name) is mixed in.</summary>
    public ulong[] ToHashArray(string? extraKey = null)
    {
        ulong[] result = BlockHashes.ToArray();
        if (!string.IsNullOrEmpty(extraKey))
        {
            ulong key = XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(extraKey));
            for (int i = 0; i < result.Length; i++)
            {
                result[i] = System.Numerics.BitOperations.RotateLeft(result[i] ^ key, 17) * 0x9E3779B97F4A7C15UL;
            }
        }
        return result;
    }

    /// <summary>The token ids in a new array, or null when ids are not collected.</summary>
    public uint[]? ToTokenIdArray() => _collectIds ? TokenIds.ToArray() : null;

    private void CollectStandInIds(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            _acc |= (uint)b << (8 * _accBytes);
            if (++_accBytes == BytesPerToken)
            {
                AddId(_acc);
                _acc = 0;
                _accBytes = 0;
            }
        }
    }

    private void FlushText()
    {
        if (_textLength == 0)
        {
            return;
        }
        string text = Encoding.UTF8.GetString(_text, 0, _textLength);
        _textLength = 0;
        foreach (int id in _tokenizer.Tiktoken!.EncodeToIds(text))
        {
            AddId((uint)id);
        }
    }

    private void AddId(uint id)
    {
        if (_idCount == _ids.Length)
        {
            Array.Resize(ref _ids, Math.Max(64, _ids.Length * 2));
        }
        _ids[_idCount++] = id;
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
