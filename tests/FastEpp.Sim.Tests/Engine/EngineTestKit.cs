using System.Text;
using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Tests.Engine;

/// <summary>Builds prompts and requests for engine tests (real tokenizer, simulated time only).</summary>
internal static class EngineTestKit
{
    private static long s_id;

    /// <summary>A small profile with the 8B physics and the given limits.</summary>
    public static EngineProfile Profile(int blocks = 28_600, int maxSeqs = 1024, int budget = 8192, int maxLoras = 1) =>
        EngineProfile.H100Llama8B with { NumGpuBlocks = blocks, MaxNumSeqs = maxSeqs, MaxNumBatchedTokens = budget, MaxLoras = maxLoras };

    /// <summary>Text of exactly <paramref name="tokens"/> simulated tokens, deterministic for a seed.</summary>
    public static string Text(int tokens, int seed)
    {
        var sb = new StringBuilder(tokens * 4);
        var rng = new Random(seed);
        for (int i = 0; i < tokens; i++)
        {
            sb.Append((char)('a' + rng.Next(26))).Append((char)('a' + rng.Next(26))).Append((char)('a' + rng.Next(26))).Append(' ');
        }
        return sb.ToString();
    }

    /// <summary>A request whose prompt is <paramref name="prefix"/> + <paramref name="suffix"/>.</summary>
    public static SimRequest Request(string prefix, string suffix, int maxTokens, int adapter = -1, string? adapterName = null)
    {
        var t = new PromptTokenizer(16);
        t.Feed(Encoding.UTF8.GetBytes(prefix));
        t.Feed(Encoding.UTF8.GetBytes(suffix));
        return new SimRequest(Interlocked.Increment(ref s_id), t.TokenCount, t.ToHashArray(adapterName), maxTokens, adapter);
    }

    /// <summary>A request with a unique prompt of <paramref name="promptTokens"/> tokens.</summary>
    public static SimRequest Unique(int promptTokens, int maxTokens, int adapter = -1) =>
        Request("", Text(promptTokens, (int)Interlocked.Increment(ref s_id) * 31 + 7), maxTokens, adapter, adapter >= 0 ? "adapter-" + adapter : null);

    /// <summary>Time to first token, s.</summary>
    public static double Ttft(SimRequest r) => r.FirstTokenTime - r.ArrivalTime;
}
