using System.Diagnostics;
using System.Globalization;
using System.Text;
using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Tokenization;

/// <summary>
/// <c>fastepp-sim --tokenize-bench N</c>: the CPU cost per request of tokenizing in-process, what an EPP pays when it
/// knows the model's tokenizer and template instead of asking the model server's render route. Renders and encodes
/// N chat requests (a shared ~2,000-word system prompt plus a unique ~40-word question) through the o200k_base ChatML
/// template, hashing their 16-token blocks as the engine does, on one thread.
/// </summary>
internal static class TokenizeBench
{
    public static int Run(int requests, TextWriter output)
    {
        SimTokenizer tokenizer = SimTokenizer.Find(SimTokenizer.O200kName)!;
        var rng = new Random(1);
        string[] words = ["routing", "prefix", "cache", "token", "block", "engine", "scheduler", "latency", "queue", "model",
            "the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "gateway", "endpoint", "picker", "score"];
        var sb = new StringBuilder();
        for (int i = 0; i < 2000; i++)
        {
            sb.Append(words[rng.Next(words.Length)]).Append(i % 17 == 16 ? ". " : " ");
        }
        byte[] system = Encoding.UTF8.GetBytes(sb.ToString());
        byte[][] questions = new byte[256][];
        for (int q = 0; q < questions.Length; q++)
        {
            sb.Clear();
            for (int i = 0; i < 40; i++)
            {
                sb.Append(words[rng.Next(words.Length)]).Append(' ');
            }
            sb.Append(q.ToString(CultureInfo.InvariantCulture)).Append('?');
            questions[q] = Encoding.UTF8.GetBytes(sb.ToString());
        }

        long tokens = 0;
        Tokenize(tokenizer, system, questions[0]);   // warm-up (tokenizer load, JIT)
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        for (int r = 0; r < requests; r++)
        {
            tokens += Tokenize(tokenizer, system, questions[r % questions.Length]);
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"tokenize-bench: {requests} chat requests, o200k_base + ChatML template, {tokens / (double)requests:F0} tokens each"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {seconds * 1e6 / requests:F0} us per request ({tokens / seconds / 1e6:F2} M tokens/s), {allocated / (double)requests / 1024:F0} KiB allocated per request"));
        return 0;
    }

    private static int Tokenize(SimTokenizer tokenizer, byte[] system, byte[] question)
    {
        var t = new PromptTokenizer(16, tokenizer, collectIds: true);
        t.Feed(tokenizer.RoleOpen);
        t.Feed("system"u8);
        t.Feed(tokenizer.RoleClose);
        t.Feed(system);
        t.Feed(tokenizer.MessageEnd);
        t.Feed(tokenizer.RoleOpen);
        t.Feed("user"u8);
        t.Feed(tokenizer.RoleClose);
        t.Feed(question);
        t.Feed(tokenizer.MessageEnd);
        t.Feed(tokenizer.GenerationPrompt);
        t.Finish();
        return t.TokenCount;
    }
}
