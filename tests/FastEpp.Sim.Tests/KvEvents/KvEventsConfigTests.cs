using FastEpp.Sim.KvEvents;
using FastEpp.Sim.Options;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>--kv-events-config is vLLM's JSON, parsed strictly.</summary>
public sealed class KvEventsConfigTests
{
    [Fact]
    public void AllKeys_Parse()
    {
        KvEventsConfig c = KvEventsConfig.Parse("""
            {"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5556","replay_endpoint":"tcp://*:5657",
             "buffer_steps":50,"hwm":10,"max_queue_size":20,"topic":"kv@10.0.0.5:8000@m"}
            """, out string? error)!;
        Assert.Null(error);
        Assert.True(c.PublishesZmq);
        Assert.Equal("tcp://*:5556", c.Endpoint);
        Assert.Equal("tcp://*:5657", c.ReplayEndpoint);
        Assert.Equal((50, 10, 20), (c.BufferSteps, c.Hwm, c.MaxQueueSize));
        Assert.Equal("kv@10.0.0.5:8000@m", c.Topic);
    }

    [Fact]
    public void Defaults_AreVllms()
    {
        KvEventsConfig on = KvEventsConfig.Parse("""{"enable_kv_cache_events":true}""", out _)!;
        Assert.Equal(("zmq", "tcp://*:5557", null, 10_000, 100_000, 100_000, ""),
            (on.Publisher, on.Endpoint, on.ReplayEndpoint, on.BufferSteps, on.Hwm, on.MaxQueueSize, on.Topic));
        KvEventsConfig off = KvEventsConfig.Parse("""{"publisher":"zmq"}""", out _)!;
        Assert.False(off.PublishesZmq);   // enable_kv_cache_events false ⇒ the null publisher, as vLLM
        Assert.False(KvEventsConfig.Parse("""{"enable_kv_cache_events":true,"publisher":"null"}""", out _)!.PublishesZmq);
    }

    [Theory]
    [InlineData("""{"enable_kv_cache_events":true,"endpont":"tcp://*:1"}""", "unknown key 'endpont'")]
    [InlineData("""{"publisher":"kafka"}""", "'publisher' must be")]
    [InlineData("""{"enable_kv_cache_events":"yes"}""", "'enable_kv_cache_events' must be a boolean")]
    [InlineData("""{"endpoint":"http://x:1"}""", "is not a ZeroMQ endpoint")]
    [InlineData("""{"endpoint":"tcp://host"}""", "needs a port")]
    [InlineData("""{"buffer_steps":0}""", "'buffer_steps' must be an integer >= 1")]
    [InlineData("""{"hwm":-1}""", "'hwm' must be an integer >= 0")]
    [InlineData("""{"topic":5}""", "'topic' must be a string")]
    [InlineData("""[1]""", "must be a JSON object")]
    [InlineData("""{"enable_kv_cache_events":true""", "not valid JSON")]
    public void BadConfig_IsRefused(string json, string message)
    {
        Assert.Null(KvEventsConfig.Parse(json, out string? error));
        Assert.Contains(message, error);
    }

    [Theory]
    [InlineData("tcp://*:5557", 0, "tcp://*:5557")]
    [InlineData("tcp://*:5557", 3, "tcp://*:5560")]
    [InlineData("tcp://127.0.0.1:0", 3, "tcp://127.0.0.1:0")]
    [InlineData("inproc://kv", 2, "inproc://kv_dp2")]
    public void Replicas_TakeVllmsDataParallelOffsets(string endpoint, int replica, string expected) =>
        Assert.Equal(expected, KvEventsConfig.OffsetEndpoint(endpoint, replica));

    [Theory]
    [InlineData("tcp://*:5557", 2, "tcp://*:5559")]
    [InlineData("tcp://10.0.0.1:5557", 2, "tcp://10.0.0.1:5557")]
    public void ConnectingPubs_ShareTheEndpoint(string endpoint, int replica, string expected) =>
        Assert.Equal(expected, KvEventsConfig.PubEndpointFor(endpoint, replica));

    [Theory]
    [InlineData("tcp://*:5557", true)]
    [InlineData("tcp://[::]:5557", true)]
    [InlineData("ipc:///tmp/kv", true)]
    [InlineData("tcp://10.0.0.1:5557", false)]
    public void PubBindsOrConnects_ByVllmsRule(string endpoint, bool binds) => Assert.Equal(binds, KvEventsConfig.Binds(endpoint));

    [Theory]
    [InlineData(new[] { "--kv-events-config", """{"enable_kv_cache_events":true}""", "--no-enable-prefix-caching" }, "need prefix caching")]
    [InlineData(new[] { "--kv-events-config", """{"enable_kv_cache_events":true,"endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5558"}""", "--replicas", "2" }, "overlap")]
    [InlineData(new[] { "--kv-events-config", """{"enable_kv_cache_events":true,"endpoint":"tcp://*:65535"}""", "--replicas", "2" }, "exceeds port 65535")]
    [InlineData(new[] { "--kv-events-config", """{"bogus":1}""" }, "unknown key 'bogus'")]
    [InlineData(new[] { "--kv-events-encoding", "cbor" }, "unknown --kv-events-encoding")]
    [InlineData(new[] { "--tokenizer", "llama3" }, "unknown --tokenizer 'llama3'")]
    public void SimOptions_RefuseWhatCannotWork(string[] args, string message)
    {
        Assert.Null(SimOptions.Parse(args, out string? error));
        Assert.Contains(message, error);
    }
}
