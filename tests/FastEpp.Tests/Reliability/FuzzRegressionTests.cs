using System.Buffers;
using System.Text;
using FastEpp.Body;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// Inputs the fuzzer (perf/FastEpp.Fuzz, docs/reliability.md) found, minimised: each pins the fixed behaviour.
/// </summary>
public sealed class FuzzRegressionTests
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long index)
        {
            Memory = data;
            RunningIndex = index;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>The body as one-byte segments: every token is split across segments.</summary>
    internal static ReadOnlySequence<byte> Bytewise(string text)
    {
        byte[] data = Encoding.UTF8.GetBytes(text);
        var first = new Segment([data[0]], 0);
        var last = first;
        for (int i = 1; i < data.Length; i++)
            last = last.Append([data[i]]);
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    [Theory]
    [InlineData("{\"e\":-1e400,\"usage\":{\"input_tokens\":7,\"output_tokens\":3,\"total_tokens\":10}}")]
    [InlineData("{\"object\":\"ion\",\"usage\":{\"prompt_tokens\":10,\"cons\":1e309,\"total_tokens\":15}}")]
    [InlineData("{\"usage\":{\"input_tokens\":7,\"output_tokens\":3,\"\":1e08888}}")]
    public void UsageParser_NumberOverflowingFloat64_NoUsage_WholeOrSplit(string body)
    {
        var whole = default(Usage);
        var split = default(Usage);
        Assert.False(UsageParser.ParseJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), ref whole));
        Assert.False(UsageParser.ParseJson(Bytewise(body), ref split));
        Assert.False(split.Present);
    }

    [Fact]
    public void ConfigLoader_YamlScannerInvalidOperation_IsConfigException()
    {
        var ex = Assert.Throws<FastEpp.Configuration.ConfigException>(() => FastEpp.Configuration.ConfigLoader.Load(": {\nc"));
        Assert.StartsWith("failed to decode configuration JSON/YAML: error converting YAML to JSON: yaml: ", ex.Message);
    }

    [Theory]
    [InlineData(": {\nc")]
    [InlineData(" : x")]
    public void KubeConfig_YamlLibraryExceptions_AreKubeConfigException(string text)
    {
        string path = Path.Combine(Path.GetTempPath(), $"fastepp-kubeconfig-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        try
        {
            var ex = Assert.Throws<FastEpp.Kubernetes.KubeConfigException>(() => FastEpp.Kubernetes.KubeConfigFile.Load([path]));
            Assert.Contains("invalid YAML", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Watch lines with JSON nulls where Go decodes zero values, and invalid surrogate escapes.</summary>
    [Theory]
    [InlineData("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":null,\"labels\":{\"app\":\"vllm\"}},\"status\":{\"podIP\":\"10.0.0.1\",\"conditions\":[null,{\"type\":\"Ready\",\"status\":\"True\"}]}}}")]
    [InlineData("{\"type\":\"ADDED\",\"object\":{\"metadata\":null}}")]
    [InlineData("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"vllm\"},\"annotations\":{\"inference.networking.k8s.io/active-ports\":null}},\"status\":{\"podIP\":\"10.0.0.1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}}")]
    public void KubeWatch_NullsDecodeAsGoZeroValues_AndEveryConsumerCopes(string line)
    {
        var pool = new FastEpp.Kubernetes.EndpointPool("ns", "pool", new Dictionary<string, string> { ["app"] = "vllm" }, [8000], null);
        FastEpp.Kubernetes.Pod? pod = null;
        FastEpp.Kubernetes.KubeApiClient.Dispatch(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line)),
            FastEpp.Kubernetes.KubeJsonContext.Default.WatchEventPod, ev => pod = ev.Object);
        Assert.NotNull(pod);
        Assert.NotNull(pod!.Metadata);
        Assert.NotNull(pod.Metadata.Name);
        var endpoints = new List<FastEpp.Endpoints.Endpoint>();
        FastEpp.Kubernetes.PodEndpoints.Build(pool, [pod], 0, endpoints, []);
        Assert.True(endpoints.Count <= 1);
    }

    [Theory]
    [InlineData("{\"type\":\"\\ud800\"")]
    [InlineData("{\"\\ud800\\u0000\":")]
    [InlineData("{\"\\\\\\ude00\":")]
    public void KubeWatch_InvalidSurrogateEscapes_AreInvalidData(string line) =>
        Assert.Throws<InvalidDataException>(() => FastEpp.Kubernetes.KubeApiClient.Dispatch(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line)),
            FastEpp.Kubernetes.KubeJsonContext.Default.WatchEventPod, _ => { }));
}
