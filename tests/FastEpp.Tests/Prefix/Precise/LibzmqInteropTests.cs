using System.Diagnostics;
using FastEpp.Prefix.Precise;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// The wire vLLM actually uses: a pyzmq (libzmq 4.3) PUB — vLLM's <c>ZmqEventPublisher</c> shape — sending
/// <c>[topic][seq u64 BE][payload]</c> with <c>send_multipart</c>, received by FastEpp's own ZMTP SUB and decoded.
/// Needs Debian's python3-zmq (<c>./build.sh setup</c> installs it); without it the test fails saying so.
/// </summary>
public sealed class LibzmqInteropTests
{
    [Fact]
    public async Task PyzmqPublisher_ToOurSubscriber_ConsecutiveSequenceNumbers_GoldenPayloadDecodes()
    {
        PyZmq.RequireInstalled();
        byte[] golden = MsgPackTestWriter.Hex(KvEventDecoderTests.StoredMapHex);
        var psi = PyZmq.Publisher("bind", golden);
        psi.RedirectStandardOutput = true;
        using var publisher = Process.Start(psi)!;
        try
        {
            int port = int.Parse((await publisher.StandardOutput.ReadLineAsync())!, System.Globalization.CultureInfo.InvariantCulture);
            var capture = new ZmtpSubscriberTests.Capture();
            await using var sub = new ZmtpSubscriber("127.0.0.1", port, "kv@"u8, capture, NullLogger.Instance);
            sub.Start();
            await Wait.UntilAsync(() => capture.Messages.Count >= 5, "five messages from the libzmq publisher");
            var got = capture.Messages.ToArray();
            for (int i = 1; i < got.Length; i++)
                Assert.Equal(got[i - 1].Seq + 1, got[i].Seq);
            Assert.All(got, m => Assert.Equal("kv@10.0.0.5:8000@Qwen/Qwen3-8B", m.Topic));
            Assert.All(got, m => Assert.Equal(golden, m.Payload));
            var sink = new KvEventDecoderTests.RecordingSink();
            Assert.Equal(1, new KvEventDecoder().Decode(got[0].Payload, sink));
            Assert.Equal(["stored"], sink.Log);
            Assert.Equal(0, capture.Malformed);
        }
        finally
        {
            publisher.Kill();
            await publisher.WaitForExitAsync();
        }
    }
}

/// <summary>vLLM's own wire: a pyzmq (libzmq) PUB sending one llm-d topic with consecutive sequence numbers, 50 per second.</summary>
internal static class PyZmq
{
    private const string Python = "/usr/bin/python3";

    // argv: "bind" (bind a random loopback port and print it) or the port to connect to; the payload in hex.
    private const string Script = """
        import struct, sys, time, zmq
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        if sys.argv[1] == "bind":
            print(pub.bind_to_random_port("tcp://127.0.0.1"), flush=True)
        else:
            pub.connect("tcp://127.0.0.1:" + sys.argv[1])
        payload = bytes.fromhex(sys.argv[2])
        seq = 0
        deadline = time.time() + 60
        while time.time() < deadline:
            pub.send_multipart([b"kv@10.0.0.5:8000@Qwen/Qwen3-8B", struct.pack(">Q", seq), payload])
            seq += 1
            time.sleep(0.02)
        """;

    /// <summary>Fails the test with the fix when python3-zmq is not installed.</summary>
    public static void RequireInstalled()
    {
        using var check = Process.Start(new ProcessStartInfo(Python, ["-c", "import zmq"]) { RedirectStandardError = true });
        Assert.True(check is not null && check.WaitForExit(30_000) && check.ExitCode == 0,
            "python3-zmq is missing: run ./build.sh setup (it installs Debian's python3-zmq for this test)");
    }

    /// <summary>The publisher process: <paramref name="bindOrPort"/> "bind", or the port to connect to.</summary>
    public static ProcessStartInfo Publisher(string bindOrPort, byte[] payload) =>
        new(Python, ["-c", Script, bindOrPort, Convert.ToHexString(payload)]);
}
