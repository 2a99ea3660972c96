using System.Text;
using Microsoft.ML.Tokenizers;

namespace FastEpp.Sim.Tokenization;

/// <summary>
/// The tokenizer and chat template of the simulated model (<c>--tokenizer</c>).
/// <list type="bullet">
/// <item><c>stand-in</c> (default): every 4 bytes of UTF-8 prompt text are one token whose id is those 4 bytes read
/// as a little-endian uint32 (the last partial token zero-padded); chat messages render as
/// <c>&lt;|role|&gt;\n</c> + content + <c>\n</c>, generation prompt <c>&lt;|assistant|&gt;\n</c>.</item>
/// <item><c>o200k_base</c>: OpenAI's o200k_base BPE (Microsoft.ML.Tokenizers + its data package) with GPT-4o's
/// ChatML-style template: each message <c>&lt;|im_start|&gt;{role}&lt;|im_sep|&gt;{content}&lt;|im_end|&gt;</c>,
/// generation prompt <c>&lt;|im_start|&gt;assistant&lt;|im_sep|&gt;</c>; the three markers are special tokens
/// 200264 (im_start), 200265 (im_end), 200266 (im_sep). Like a Hugging Face tokenizer, special tokens written in
/// the text are recognised. The tokenizer has no BOS/EOS, so <c>add_special_tokens</c> adds nothing.</item>
/// </list>
/// Thread-safe (the tiktoken tokenizer is immutable and caches internally with concurrent structures).
/// </summary>
internal sealed class SimTokenizer
{
    public const string StandInName = "stand-in";
    public const string O200kName = "o200k_base";
    public const int ImStart = 200264;
    public const int ImEnd = 200265;
    public const int ImSep = 200266;

    private static readonly Lazy<TiktokenTokenizer> s_o200k = new(() => TiktokenTokenizer.CreateForEncoding(O200kName,
        new Dictionary<string, int> { ["<|im_start|>"] = ImStart, ["<|im_end|>"] = ImEnd, ["<|im_sep|>"] = ImSep }));

    /// <summary>The default: 4 bytes per token.</summary>
    public static readonly SimTokenizer StandIn = new(StandInName, null);

    private SimTokenizer(string name, TiktokenTokenizer? tiktoken)
    {
        Name = name;
        Tiktoken = tiktoken;
    }

    /// <summary><c>stand-in</c> or <c>o200k_base</c>.</summary>
    public string Name { get; }

    /// <summary>The BPE tokenizer, or null for the stand-in.</summary>
    public TiktokenTokenizer? Tiktoken { get; }

    /// <summary>True for a real tokenizer.</summary>
    public bool IsReal => Tiktoken is not null;

    /// <summary>The tokenizer named <paramref name="name"/>, or null when unknown.</summary>
    public static SimTokenizer? Find(string name) => name switch
    {
        StandInName => StandIn,
        O200kName => new SimTokenizer(O200kName, s_o200k.Value),
        _ => null,
    };

    /// <summary>What opens a chat message, before the role.</summary>
    public ReadOnlySpan<byte> RoleOpen => IsReal ? "<|im_start|>"u8 : "<|"u8;

    /// <summary>What follows the role, before the content.</summary>
    public ReadOnlySpan<byte> RoleClose => IsReal ? "<|im_sep|>"u8 : "|>\n"u8;

    /// <summary>End of a chat message.</summary>
    public ReadOnlySpan<byte> MessageEnd => IsReal ? "<|im_end|>"u8 : "\n"u8;

    /// <summary>The generation prompt (add_generation_prompt).</summary>
    public ReadOnlySpan<byte> GenerationPrompt => IsReal ? "<|im_start|>assistant<|im_sep|>"u8 : "<|assistant|>\n"u8;

    /// <summary>The text of one token id (for return_token_strs): the BPE piece decoded, or the stand-in's 4 bytes.</summary>
    public string TokenString(uint id)
    {
        if (Tiktoken is not null)
        {
            return Tiktoken.Decode([(int)id]) ?? "";
        }
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, id);
        int n = 4;
        while (n > 0 && b[n - 1] == 0)
        {
            n--;
        }
        return Encoding.UTF8.GetString(b[..n]);
    }
}
