using System.Buffers;
using System.Text.Json;
using FastEpp.Kubernetes;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// One WATCH line through KubeApiClient.Dispatch (Pod and InferencePool events), then what the informer and
/// discovery do with a decoded object (resource version, name, readiness, endpoints, pool conversion).
/// Property: a line is either rejected with an exception the informer expects from decoding (JsonException,
/// InvalidDataException, KubeApiException for ERROR events) or yields an object every consumer can use.
/// A decoded object that throws in a consumer would fail the informer on every replay of the same event.
/// </summary>
internal sealed class KubeWatchTarget : FuzzTarget
{
    private static readonly EndpointPool s_pool = new("ns", "pool", new Dictionary<string, string> { ["app"] = "vllm" }, [8000, 8001], null);

    public override string Name => "kube-watch";

    public override string Property =>
        "a WATCH line is rejected (JsonException/InvalidDataException/KubeApiException) or its Pod/InferencePool is usable by the informer and discovery";

    public override bool JsonAware => true;

    public override int Run(byte[] input)
    {
        int sig = 0;
        var line = new ReadOnlySequence<byte>(input);
        sig |= Decode(line, KubeJsonContext.Default.WatchEventPod, ev =>
        {
            var pod = ev.Object;
            _ = pod?.Metadata.ResourceVersion;
            if (pod is null)
                return;
            _ = pod.Metadata.Name.Length;
            var into = new List<Endpoint>();
            PodEndpoints.Build(s_pool, [pod], 0, into, []);
            _ = PodEndpoints.IsReady(pod);
            _ = PodEndpoints.ActivePorts(pod);
        });
        sig |= Decode(line, KubeJsonContext.Default.WatchEventInferencePool, ev =>
        {
            var pool = ev.Object;
            _ = pool?.Metadata.ResourceVersion;
            if (pool is null)
                return;
            _ = pool.Metadata.Name.Length;
            EndpointPool.TryFromInferencePool(pool, out _, out _);
        }) << 3;
        return sig;
    }

    private static int Decode<T>(ReadOnlySequence<byte> line, System.Text.Json.Serialization.Metadata.JsonTypeInfo<WatchEvent<T>> info, Action<WatchEvent<T>> use)
    {
        try
        {
            int got = 1;
            KubeApiClient.Dispatch(line, info, ev =>
            {
                got = 2;
                use(ev);
            });
            return got;
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or KubeApiException)
        {
            return ex is KubeApiException ? 4 : 0;
        }
    }
}
