using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using FastEpp.Prefix.Precise;
using Microsoft.ML.Tokenizers;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// The alternative to the render call (issue 10 §3: "an in-process tokenizer where the model's tokenizer and template
/// are known — measure it"): Microsoft.ML.Tokenizers' o200k_base (the tokenizer fastepp-sim uses) in this process. Per
/// request: read the chat body's messages, apply a ChatML template, encode to ids, then FastEpp's block keys and one
/// index match over 8 endpoints — the same tail as <see cref="PreciseTokenizeBenchmarks"/>, whose render-call rows are
/// the comparison. Prompts are English words, ≈ <see cref="PromptTokens"/> tokens.
/// </summary>
[MemoryDiagnoser]
public class InProcessTokenizeBenchmarks
{
    [Params(1024, 8192)]
    public int PromptTokens { get; set; }

    private static readonly Dictionary<string, int> Specials = new()
    {
        ["<|im_start|>"] = 200264, ["<|im_end|>"] = 200265, ["<|im_sep|>"] = 200266,
    };

    private TiktokenTokenizer _tokenizer = null!;
    private byte[] _body = [];
    private readonly StringBuilder _text = new();
    private uint[] _tokens = new uint[256];
    private ulong[] _keys = new ulong[1024];
    private readonly int[] _ids = [1, 2, 3, 4, 5, 6, 7, 8];
    private readonly int[] _counts = new int[8];
    private PreciseIndex _index = null!;
    private ulong _start;

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base", Specials);
        string[] words = ["routing", "prefix", "cache", "token", "block", "engine", "scheduler", "latency", "queue", "model",
            "the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "gateway", "endpoint", "picker", "score"];
        var rng = new Random(1);
        var sb = new StringBuilder();
        while (_tokenizer.CountTokens(sb.ToString()) < PromptTokens)
            for (int i = 0; i < 200; i++)
                sb.Append(words[rng.Next(words.Length)]).Append(i % 17 == 16 ? ". " : " ");
        _body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["model"] = "m",
            ["messages"] = new object[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = sb.ToString() } },
        });
        _index = new PreciseIndex(1 << 20);
        _start = TokenBlockKeys.ChainStart(TokenBlockKeys.Root(""u8), "m"u8);
        int n = Tokenize();
        _keys = new ulong[n / 16 + 1];
        int blocks = TokenBlockKeys.Chain(_start, _tokens.AsSpan(0, n), 16, default, _keys);
        for (int e = 1; e <= 8; e++)
            foreach (ulong k in _keys.AsSpan(0, blocks / e))
                _index.Add(k, e);
    }

    // Body → ChatML text → ids (what a model server's render route does for a known template).
    private int Tokenize()
    {
        _text.Clear();
        using (JsonDocument doc = JsonDocument.Parse(_body))
            foreach (JsonElement m in doc.RootElement.GetProperty("messages").EnumerateArray())
                _text.Append("<|im_start|>").Append(m.GetProperty("role").GetString()).Append("<|im_sep|>")
                    .Append(m.GetProperty("content").GetString()).Append("<|im_end|>");
        _text.Append("<|im_start|>assistant<|im_sep|>");
        IReadOnlyList<int> ids = _tokenizer.EncodeToIds(_text.ToString());
        if (_tokens.Length < ids.Count)
            _tokens = new uint[ids.Count * 2];
        for (int i = 0; i < ids.Count; i++)
            _tokens[i] = (uint)ids[i];
        return ids.Count;
    }

    [Benchmark(Description = "in-process o200k (parse + ChatML + encode) + keys + match (8 endpoints)")]
    public int TokenizeKeysMatch()
    {
        int n = Tokenize();
        int blocks = TokenBlockKeys.Chain(_start, _tokens.AsSpan(0, n), 16, default, _keys);
        _index.Match(_keys.AsSpan(0, blocks), _ids, _counts);
        return _counts[0];
    }
}
