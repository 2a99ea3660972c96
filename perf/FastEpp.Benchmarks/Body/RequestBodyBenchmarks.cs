using System.Buffers;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;

namespace FastEpp.Benchmarks.Body;

/// <summary>
/// Request-body hot path on chat bodies held as Envoy-like 31 KB chunks: parse + validation + prefix-hash
/// input extraction (target: 0 B allocated per op once warm), against a naive baseline that concatenates
/// the chunks and builds a JsonDocument.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class RequestBodyBenchmarks
{
    private const int ChunkSize = 31 * 1024;

    private ReadOnlySequence<byte> _body;
    private readonly ParsedRequest _parsed = new();
    private readonly ArrayPoolBufferWriter<byte> _output = new(64 * 1024);

    [Params(1024, 32 * 1024, 220 * 1024, 400 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Chunk(Encoding.UTF8.GetBytes(ChatBody(Size)), ChunkSize);
        if (OpenAiRequestParser.Parse(_body, ApiKind.ChatCompletions, _parsed, out string? error) != ParseStatus.Ok)
        {
            throw new InvalidOperationException(error);
        }
    }

    [Benchmark(Baseline = true)]
    public int NaiveJsonDocument()
    {
        byte[] copy = _body.ToArray();
        using JsonDocument doc = JsonDocument.Parse(copy);
        return doc.RootElement.GetProperty("messages").GetArrayLength();
    }

    [Benchmark]
    public int Parse() => (int)OpenAiRequestParser.Parse(_body, ApiKind.ChatCompletions, _parsed, out _);

    [Benchmark]
    public int ParseAndPrefixInput()
    {
        OpenAiRequestParser.Parse(_body, ApiKind.ChatCompletions, _parsed, out _);
        _output.Clear();
        RequestBodyWriter.WritePrefixInput(_body, _parsed, _output);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int ModelSplice()
    {
        _output.Clear();
        RequestBodyWriter.WriteWithModel(_body, _parsed, "meta-llama/Llama-3.1-8B-Instruct", _output);
        return _output.WrittenCount;
    }

    /// <summary>A realistic chat body: system + user turns, some content-part arrays, non-ASCII and escapes.</summary>
    internal static string ChatBody(int approxBytes)
    {
        const string sentence = "The quick brown fox jumps over the lazy dog — naïve café, 東京, \\\"quoted\\\" text\\n";
        int messages = Math.Max(2, approxBytes / 8192);
        int perMessage = Math.Max(16, (approxBytes / messages) - 96);
        var sb = new StringBuilder(approxBytes + 1024);
        sb.Append("{\"model\":\"food-review\",\"stream\":true,\"max_tokens\":128,\"messages\":[");
        for (int i = 0; i < messages; i++)
        {
            var text = new StringBuilder();
            while (text.Length < perMessage)
            {
                text.Append(sentence);
            }

            sb.Append(i > 0 ? "," : string.Empty);
            if (i % 3 == 2)
            {
                sb.Append("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"").Append(text).Append("\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a.png\"}}]}");
            }
            else
            {
                sb.Append("{\"role\":\"").Append(i == 0 ? "system" : "user").Append("\",\"content\":\"").Append(text).Append("\"}");
            }
        }

        return sb.Append("],\"temperature\":0.7}").ToString();
    }

    internal static ReadOnlySequence<byte> Chunk(byte[] data, int size)
    {
        Segment? first = null;
        Segment? last = null;
        for (int i = 0; i < data.Length; i += size)
        {
            var seg = new Segment(data.AsMemory(i, Math.Min(size, data.Length - i)).ToArray());
            if (last is null)
            {
                first = seg;
            }
            else
            {
                last.SetNext(seg);
            }

            last = seg;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data) => Memory = data;

        public void SetNext(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
        }
    }
}
