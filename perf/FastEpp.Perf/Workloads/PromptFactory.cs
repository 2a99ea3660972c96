using System.Buffers;
using System.Text.Json;

namespace FastEpp.Perf.Workloads;

/// <summary>One request to send: its body and what it is.</summary>
internal readonly record struct PlannedRequest(byte[] Body, int InputTokens, int OutputTokens, string Model);

/// <summary>
/// Builds deterministic streaming chat requests for a workload (seeded: the same seed gives the same request sequence). Text is 4-byte words ("abc "), one token each
/// under the simulator's 4-bytes-per-token rule, so token counts are exact; group g's system prompt is the same
/// bytes every time (a shared prefix), and so is the question of each (group, prompt) in single-turn workloads. Multi-turn conversations grow their
/// history (question + a synthesized answer of the requested length) and restart when they would exceed
/// <paramref name="maxContextTokens"/>.
/// </summary>
internal sealed class PromptFactory
{
    private const string Letters = "abcdefghijklmnopqrstuvwxyz";
    private readonly WorkloadSpec _spec;
    private readonly string _model;
    private readonly Random _random;
    private readonly int _seed;
    private readonly List<(string Role, string Content)> _parts = new();
    private readonly int _maxContextTokens;
    private readonly string?[] _systemPrompts;
    private readonly List<(string Question, string Answer)>?[] _conversations;
    private readonly double[] _adapterCdf;

    public PromptFactory(WorkloadSpec spec, string baseModel, int seed, int maxContextTokens)
    {
        _spec = spec;
        _seed = spec.DataSeed ?? seed;
        _model = baseModel;
        _random = new Random(seed);
        _maxContextTokens = maxContextTokens;
        _systemPrompts = new string?[Math.Max(spec.Groups, 1)];
        _conversations = spec.MultiTurn ? new List<(string, string)>?[Math.Max(spec.Groups, 1) * spec.PromptsPerGroup] : [];
        _adapterCdf = new double[spec.Adapters.Length];
        double sum = 0;
        foreach (double w in spec.AdapterWeights)
            sum += w;
        double acc = 0;
        for (int i = 0; i < _adapterCdf.Length; i++)
        {
            acc += spec.AdapterWeights[i] / sum;
            _adapterCdf[i] = acc;
        }
    }

    /// <summary>Deterministic text of <paramref name="tokens"/> 4-byte words from <paramref name="seed"/>.</summary>
    public static string Words(int tokens, int seed)
    {
        var r = new Random(seed);
        return string.Create(tokens * 4, r, static (span, rng) =>
        {
            for (int i = 0; i < span.Length; i += 4)
            {
                span[i] = Letters[rng.Next(26)];
                span[i + 1] = Letters[rng.Next(26)];
                span[i + 2] = Letters[rng.Next(26)];
                span[i + 3] = ' ';
            }
        });
    }

    /// <summary>The next request of the workload (not thread-safe: called by the single arrival loop).</summary>
    public PlannedRequest Next()
    {
        int output = _spec.Output.Sample(_random);
        string model = _model;
        if (_adapterCdf.Length > 0)
        {
            double u = _random.NextDouble();
            int a = 0;
            while (a < _adapterCdf.Length - 1 && u > _adapterCdf[a])
                a++;
            model = _spec.Adapters[a];
        }

        _parts.Clear();
        int input;
        if (_spec.Groups == 0)
        {
            int q = _spec.Question.Sample(_random);
            _parts.Add(("user", Words(q, _random.Next())));
            input = q;
        }
        else
        {
            int group = _random.Next(_spec.Groups);
            int prompt = _random.Next(_spec.PromptsPerGroup);
            // A distribution of system-prompt lengths is drawn once per group, from the group's own seed.
            string system = _systemPrompts[group] ??= Words(_spec.SystemPrompt.Sample(new Random(_seed ^ (7919 * (group + 1)))), _seed * 31 + 7919 * (group + 1));
            _parts.Add(("system", system));
            input = system.Length / 4;
            int q = _spec.Question.Sample(_random);
            // Single-turn shared prefix: inference-perf's shared_prefix dataset fixes each (group, prompt)'s question,
            // so a repeated prompt can hit the cache in full; multi-turn draws a fresh question per turn.
            string question = _spec.MultiTurn ? Words(q, _random.Next()) : Words(q, _seed * 17 + 104729 * (group + 1) + 31 * prompt);
            if (_spec.MultiTurn)
            {
                int slot = group * _spec.PromptsPerGroup + prompt;
                List<(string Question, string Answer)> history = _conversations[slot] ??= new();
                int historyTokens = 0;
                foreach ((string hq, string ha) in history)
                    historyTokens += (hq.Length + ha.Length) / 4;
                if (input + historyTokens + q + output > _maxContextTokens)
                {
                    history.Clear(); // the conversation would not fit the model: start a new one
                    historyTokens = 0;
                }
                foreach ((string hq, string ha) in history)
                {
                    _parts.Add(("user", hq));
                    _parts.Add(("assistant", ha));
                }
                input += historyTokens;
                history.Add((question, Words(output, _random.Next())));
            }
            _parts.Add(("user", question));
            input += q;
        }

        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using var w = new Utf8JsonWriter(buffer);
        w.WriteStartObject();
        w.WriteString("model", model);
        if (_spec.Chat)
        {
            w.WriteStartArray("messages");
            foreach ((string role, string content) in _parts)
                WriteMessage(w, role, content);
            w.WriteEndArray();
        }
        else
        {
            // Completions API: the turns concatenated into one prompt (each part is whole 4-byte words).
            var sb = new System.Text.StringBuilder(input * 4);
            foreach ((_, string content) in _parts)
                sb.Append(content);
            w.WriteString("prompt", sb.ToString());
        }
        w.WriteNumber("max_tokens", output);
        w.WriteBoolean("stream", true);
        w.WriteStartObject("stream_options");
        w.WriteBoolean("include_usage", true);
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        return new PlannedRequest(buffer.WrittenSpan.ToArray(), input, output, model);
    }

    private static void WriteMessage(Utf8JsonWriter w, string role, string content)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
