using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>
/// What <see cref="OpenAiRequestParser"/> extracts from one OpenAI request body. Owned by one ext_proc
/// stream and reused for each of its requests (<see cref="Reset"/>): after warm-up the only per-request
/// objects are interned strings from <see cref="Utf8InternCache"/>, which repeated names hit.
/// Offsets are absolute byte positions in the body sequence the parser was given; later steps
/// (<see cref="RequestBodyWriter"/>) re-walk those ranges over the same sequence.
/// </summary>
internal sealed class ParsedRequest
{
    private GoGenericValueEncoder? _goValueEncoder;

    public ApiKind Api { get; internal set; }

    /// <summary>What kind of body the parser saw: OpenAI JSON (model handling, splicing) or bytes it only forwards.</summary>
    public BodyFormat Format { get; internal set; }

    // Non-JSON parsers (vllmgrpc-parser) write the approximate-prefix input here, as the reference derives it
    // from the request they decoded; JSON bodies are re-walked from their ranges instead (RequestBodyWriter).
    private byte[] _prefixInput = [];

    /// <summary>The prefix-hash input a non-JSON parser recorded (empty for passthrough).</summary>
    internal ReadOnlySpan<byte> RecordedPrefixInput => _prefixInput.AsSpan(0, RecordedPrefixInputLength);

    internal int RecordedPrefixInputLength { get; private set; }

    /// <summary>A buffer of at least <paramref name="length"/> bytes for the recorded prefix input (grows, never shrinks).</summary>
    internal Span<byte> RecordPrefixInput(int length)
    {
        if (_prefixInput.Length < length)
            _prefixInput = new byte[Math.Max(length, Math.Min(int.MaxValue / 2, _prefixInput.Length * 2))];
        RecordedPrefixInputLength = length;
        return _prefixInput.AsSpan(0, length);
    }

    /// <summary>Token ids of a tokenized request (vLLM gRPC <c>TokenizedInput.input_ids</c>); empty otherwise.</summary>
    internal ReadOnlySpan<uint> TokenIds => _tokenIds.AsSpan(0, TokenIdCount);

    private uint[] _tokenIds = [];

    internal int TokenIdCount { get; private set; }

    internal Span<uint> RecordTokenIds(int count)
    {
        if (_tokenIds.Length < count)
            _tokenIds = new uint[Math.Max(count, _tokenIds.Length * 2)];
        TokenIdCount = count;
        return _tokenIds.AsSpan(0, count);
    }

    /// <summary>The body has top-level key <c>model</c> (exact, last wins) whose value is a JSON string.</summary>
    public bool HasModel { get; internal set; }

    /// <summary>The unescaped model name (Go semantics: bad UTF-8 as U+FFFD); empty when <see cref="HasModel"/> is false.</summary>
    public string Model { get; internal set; } = string.Empty;

    /// <summary>UTF-8 bytes of <see cref="Model"/> (shared, read-only).</summary>
    public ReadOnlyMemory<byte> ModelUtf8 { get; internal set; }

    /// <summary>Offset of the raw model string token, opening quote included (for splicing).</summary>
    public long ModelValueOffset { get; internal set; }

    /// <summary>Length of the raw model string token, both quotes included.</summary>
    public int ModelValueLength { get; internal set; }

    /// <summary>Top-level <c>stream</c> (exact key, last wins) is JSON <c>true</c>.</summary>
    public bool Stream { get; internal set; }

    /// <summary>The typed <c>cache_salt</c> (case-insensitive key, last non-null string wins); null when absent or empty.</summary>
    public string? CacheSalt { get; internal set; }

    /// <summary>UTF-8 bytes of <see cref="CacheSalt"/> (empty when absent).</summary>
    public ReadOnlyMemory<byte> CacheSaltUtf8 { get; internal set; }

    /// <summary><c>stream_options.include_usage</c> is JSON <c>true</c> (informational; the reference never reads it).</summary>
    public bool HasStreamOptionsIncludeUsage { get; internal set; }

    /// <summary>Last of <c>max_tokens</c> / <c>max_completion_tokens</c> / <c>max_output_tokens</c> as an int (informational).</summary>
    public int? MaxTokens { get; internal set; }

    /// <summary>
    /// Byte length of the reference's <c>PromptText()</c>: exact for completions, embeddings, chat and a
    /// string responses input; for JSON-encoded inputs (responses non-string input, conversations) the raw
    /// byte length of the value. Token estimate ≈ this / 4.
    /// </summary>
    public long PromptCharsEstimate { get; internal set; }

    /// <summary>Last top-level <c>prompt</c> (completions).</summary>
    public ValueRange Prompt { get; internal set; }

    /// <summary>Last top-level <c>messages</c> (chat).</summary>
    public ValueRange Messages { get; internal set; }

    /// <summary>Last top-level <c>input</c> (responses, embeddings).</summary>
    public ValueRange Input { get; internal set; }

    /// <summary>Last top-level <c>instructions</c> (responses).</summary>
    public ValueRange Instructions { get; internal set; }

    /// <summary>Last top-level <c>tools</c> (chat, responses).</summary>
    public ValueRange Tools { get; internal set; }

    /// <summary>Last top-level <c>items</c> (conversations).</summary>
    public ValueRange Items { get; internal set; }

    /// <summary>Number of elements of the last <c>messages</c> / <c>items</c> array.</summary>
    public int ElementCount { get; internal set; }

    // Completions prompt / embeddings input as Go's Prompt/EmbeddingsInput hold them: Raw comes from
    // the last string occurrence, Strings/TokenIDs from the last array occurrence (duplicates merge).
    internal ValueRange PromptString { get; set; }

    internal long PromptStringLength { get; set; }

    internal ValueRange PromptArray { get; set; }

    internal PromptArrayKind PromptArrayKind { get; set; }

    internal int PromptArrayCount { get; set; }

    internal long PromptArrayTextLength { get; set; }

    // Chat structure of the last `messages` array, recorded during the parse so the prefix input is written
    // without a second reader pass (buffers only grow: no allocation once warm).
    private MessageEntry[] _messageEntries = [];
    private BlockEntry[] _blockEntries = [];

    internal int MessageEntryCount { get; set; }

    internal int BlockEntryCount { get; set; }

    internal Span<MessageEntry> MessageEntries => _messageEntries.AsSpan(0, MessageEntryCount);

    internal Span<BlockEntry> BlockEntries => _blockEntries.AsSpan(0, BlockEntryCount);

    internal ref MessageEntry AddMessage()
    {
        if (MessageEntryCount == _messageEntries.Length)
        {
            Array.Resize(ref _messageEntries, Math.Max(16, _messageEntries.Length * 2));
        }

        ref MessageEntry e = ref _messageEntries[MessageEntryCount++];
        e = default;
        return ref e;
    }

    internal int AddBlock()
    {
        if (BlockEntryCount == _blockEntries.Length)
        {
            Array.Resize(ref _blockEntries, Math.Max(16, _blockEntries.Length * 2));
        }

        _blockEntries[BlockEntryCount] = default;
        return BlockEntryCount++;
    }

    internal ref BlockEntry Block(int index) => ref _blockEntries[index];

    /// <summary>Per-stream buffers of the Go generic-value encoder (created on first use, then reused).</summary>
    internal GoGenericValueEncoder GoValueEncoder => _goValueEncoder ??= new GoGenericValueEncoder();

    /// <summary>Clears everything for the next request on the stream (keeps the scratch buffers).</summary>
    public void Reset()
    {
        Api = ApiKind.Completions;
        Format = BodyFormat.Json;
        RecordedPrefixInputLength = 0;
        TokenIdCount = 0;
        HasModel = false;
        Model = string.Empty;
        ModelUtf8 = default;
        ModelValueOffset = 0;
        ModelValueLength = 0;
        Stream = false;
        CacheSalt = null;
        CacheSaltUtf8 = default;
        HasStreamOptionsIncludeUsage = false;
        MaxTokens = null;
        PromptCharsEstimate = 0;
        Prompt = default;
        Messages = default;
        Input = default;
        Instructions = default;
        Tools = default;
        Items = default;
        ElementCount = 0;
        PromptString = default;
        PromptStringLength = 0;
        PromptArray = default;
        PromptArrayKind = PromptArrayKind.None;
        PromptArrayCount = 0;
        PromptArrayTextLength = 0;
        MessageEntryCount = 0;
        BlockEntryCount = 0;
        _goValueEncoder?.Clear();
    }
}

/// <summary>The body a parser was given, as far as what follows parsing is concerned.</summary>
internal enum BodyFormat
{
    /// <summary>OpenAI JSON (openai-parser): model extraction and rewrite, spliced on the way out.</summary>
    Json,

    /// <summary>A gRPC-framed protobuf message (vllmgrpc-parser): forwarded byte-identical, no model handling.</summary>
    Protobuf,

    /// <summary>Bytes of any kind (passthrough-parser): forwarded byte-identical, nothing extracted.</summary>
    Opaque,
}

/// <summary>Element type of a prompt / embeddings-input array (decided by its first element, as Go does).</summary>
internal enum PromptArrayKind
{
    None,
    Empty,
    Strings,
    TokenIds,
}

/// <summary>
/// One chat message as Go's Message holds it: Role = last non-null string; Content.Raw = last string/null;
/// Content.Structured = last array. Positions are string token starts (the quote); lengths are raw content
/// lengths without quotes.
/// </summary>
internal struct MessageEntry
{
    public long RoleStart;
    public long RoleLength;
    public long RawStart;
    public long RawLength;
    public bool HasBlocks;
    public int BlockFirst;
    public int BlockCount;
}

/// <summary>One ContentBlock (same conventions as <see cref="MessageEntry"/>); a zero length means "".</summary>
internal struct BlockEntry
{
    public long TypeStart;
    public long TypeLength;
    public long TextStart;
    public long TextLength;
    public long ImageStart;
    public long ImageLength;
    public long DataStart;
    public long DataLength;
    public long FormatStart;
    public long FormatLength;
    public long VideoStart;
    public long VideoLength;
}
