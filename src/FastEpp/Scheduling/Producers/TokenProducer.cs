using FastEpp.Configuration;
using FastEpp.Prefix.Precise;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Scheduling.Producers;

/// <summary>
/// llm-d's <c>token-producer</c> (alias <c>tokenizer</c>), <c>vllm</c> backend only (routing.md §3–§4): where the
/// <c>precise-prefix-cache-producer</c> gets a request's tokens — a fixed render server (<c>vllm.url</c>, e.g. a
/// <c>vllm launch render</c> sidecar) with the body's model replaced by <c>modelName</c>, bounded by
/// <c>vllm.timeout</c>. Without it the precise producer renders at the candidate endpoint itself. It feeds only that
/// producer: configured without one it would do nothing, so the loader refuses it. The tokenizer-free
/// <c>estimate</c> backend (no <c>vllm</c> section) and the UDS sidecar are refused: their tokens never match an
/// engine's (llm-d's own README warns of silent zero scores).
/// </summary>
internal sealed class TokenProducer(string name, string typeName, string modelName, string url, TimeSpan timeout) : IPlugin, IDisposable
{
    public static readonly PluginType Type = new("token-producer", static (n, p, _) => Create(n, p, "token-producer"));

    /// <summary>The deprecated alias llm-d still accepts.</summary>
    public static readonly PluginType Alias = new("tokenizer", static (n, p, _) => Create(n, p, "tokenizer"));

    public string TypeName { get; } = typeName;

    public string Name { get; } = name;

    /// <summary>The model name the render server serves (replaces the request's).</summary>
    public string ModelName { get; } = modelName;

    /// <summary>Base URI of the render server, without a trailing slash.</summary>
    public string Url { get; } = url;

    public VllmTokenizer Tokenizer { get; } = new(timeout);

    private static TokenProducer Create(string name, PluginParameters p, string typeName)
    {
        if (p.Get("udsTokenizerConfig") is not null)
            throw new ConfigException($"{typeName}: udsTokenizerConfig (the deprecated UDS sidecar) is not supported: use vllm.url");
        if (p.Get("vllm") is not YamlMappingNode vllmMap)
            throw new ConfigException($"{typeName}: only the vllm backend is supported (set vllm.url); the estimate backend's tokens never match an engine's");
        var vllm = new PluginParameters(vllmMap);
        string model = p.GetString("modelName", "");
        if (model.Length == 0)
            throw new ConfigException($"{typeName}: modelName is required for the vllm backend");
        string url = vllm.GetString("url", "http://localhost:8000").TrimEnd('/');
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme != "http")
            throw new ConfigException($"{typeName}: vllm.url \"{url}\" is not an http:// URL (llm-d speaks HTTP/1.1 without TLS)");
        TimeSpan timeout = vllm.GetDuration("timeout", TimeSpan.FromSeconds(5));
        if (timeout <= TimeSpan.Zero)
            throw new ConfigException($"{typeName}: vllm.timeout must be > 0");
        if (vllm.Get("mmTimeout") is not null)
            throw new ConfigException($"{typeName}: vllm.mmTimeout is not supported: FastEpp renders text requests only (multimodal requests take vllm.timeout)");
        return new TokenProducer(name, typeName, model, url, timeout);
    }

    public void Dispose() => Tokenizer.Dispose();
}
