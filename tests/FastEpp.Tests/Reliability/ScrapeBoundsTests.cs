using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FastEpp.Endpoints;
using FastEpp.Metrics;
using FastEpp.Tests.Common;
using FastEpp.Tests.Metrics;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// A model server whose /metrics never ends its body (issue 11, hostile input), and the buffers such a scrape leaves
/// behind (found by <c>./build.sh chaos --scenario metrics-endless</c>: +127 MiB RSS, 16 MiB arrays parked in the shared pool).
/// </summary>
public class ScrapeBoundsTests
{
    private const string Page = """
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="m"} 1.0
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{model_name="m"} 7.0
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{model_name="m"} 0.25

        """;

    [Fact]
    public void LargeScrapeBuffers_AreNotParkedInTheSharedPool()
    {
        byte[] large = ScrapeBuffers.Rent(4 << 20);
        ScrapeBuffers.Return(large);
        byte[] again = ArrayPool<byte>.Shared.Rent(4 << 20);
        try
        {
            Assert.NotSame(large, again);
            Assert.NotSame(large, ScrapeBuffers.Rent(4 << 20));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(again);
        }

        byte[] small = ScrapeBuffers.Rent(64 * 1024);
        Assert.True(small.Length >= 64 * 1024);
        ScrapeBuffers.Return(small); // pooled: no allocation per scrape for a normal page
        Assert.True(ScrapeBuffers.PooledMaxBytes >= 1 << 20, "a normal vLLM page (≤ 300 KB) must stay pooled");
    }

    [Fact]
    public async Task EndlessMetricsBody_ScrapeFailsAtTheCap_LastMetricsKept_OthersScraped()
    {
        await using var endless = await EndlessMetricsServer.StartAsync();
        await using var healthy = await EndlessMetricsServer.StartAsync();
        var e = new Endpoint("default/endless-rank-0", "endless", "127.0.0.1", endless.Port, endless.Port, null);
        var h = new Endpoint("default/healthy-rank-0", "healthy", "127.0.0.1", healthy.Port, healthy.Port, null);
        var registry = new EndpointRegistry();
        registry.Publish([e, h]);
        var options = new MetricsPollerOptions { RequestTimeout = TimeSpan.FromSeconds(5), MaxBackoff = TimeSpan.FromMilliseconds(200), MaxBodyBytes = 1 << 20 };
        await using var poller = new MetricsPoller(registry, EngineConfigs.CreateDefaultSelector(), options, new TestLogger<MetricsPoller>());
        poller.Start();
        await Wait.UntilAsync(() => e.State.Metrics.WaitingQueueSize == 7, "the endpoint scraped while it behaves");

        endless.Endless = true;
        await Wait.UntilAsync(() => poller.TryGetStatus(e.State, out var s) && s.LastError?.Contains("exceeds the 1048576-byte limit", StringComparison.Ordinal) == true,
            "an endless body stopped at the cap");
        long sentAtFirstFailure = endless.EndlessBytes;
        int scrapes = endless.Scrapes;
        await Wait.UntilAsync(() => endless.Scrapes >= scrapes + 3, "three more endless scrapes");
        // Each endless scrape is cut at the cap: the server manages to send the cap plus what the loopback socket buffers hold.
        Assert.True(endless.EndlessBytes / Math.Max(1, endless.Scrapes - 1) < (1 << 20) + (16 << 20), $"{endless.EndlessBytes} bytes over {endless.Scrapes} scrapes");
        Assert.True(sentAtFirstFailure > 0);
        Assert.Equal(7, e.State.Metrics.WaitingQueueSize); // last values kept (they age)
        int healthyScrapes = healthy.Scrapes;
        await Wait.UntilAsync(() => healthy.Scrapes >= healthyScrapes + 3 && h.State.Metrics.IsFresh, "the other endpoint keeps being scraped");

        endless.Endless = false;
        await Wait.UntilAsync(() => poller.TryGetStatus(e.State, out var s) && s.LastError is null && e.State.Metrics.IsFresh, "recovered once the body ends again");
    }

    /// <summary>HTTP/1.1 on a raw socket: GET /metrics answered with <see cref="Page"/>, or with a chunked body that never ends.</summary>
    private sealed class EndlessMetricsServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private long _endlessBytes;
        private int _scrapes;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public volatile bool Endless;
        public long EndlessBytes => Interlocked.Read(ref _endlessBytes);
        public int Scrapes => Volatile.Read(ref _scrapes);

        public static Task<EndlessMetricsServer> StartAsync()
        {
            var s = new EndlessMetricsServer();
            s._listener.Start();
            _ = s.AcceptAsync();
            return Task.FromResult(s);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket c;
                try
                {
                    c = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = ServeAsync(c);
            }
        }

        private async Task ServeAsync(Socket c)
        {
            using var _ = c;
            var buf = new byte[8192];
            int have = 0;
            byte[] chunk = Encoding.ASCII.GetBytes("10000\r\n" + string.Concat(Enumerable.Repeat("vllm:decoy{a=\"b\"} 1\n", 65536 / 20)).PadRight(65536, '#') + "\r\n");
            try
            {
                while (true)
                {
                    int end;
                    while ((end = buf.AsSpan(0, have).IndexOf("\r\n\r\n"u8)) < 0)
                    {
                        int n = await c.ReceiveAsync(buf.AsMemory(have), SocketFlags.None);
                        if (n == 0)
                            return;
                        have += n;
                    }
                    Buffer.BlockCopy(buf, end + 4, buf, 0, have - end - 4);
                    have -= end + 4;
                    Interlocked.Increment(ref _scrapes);
                    if (!Endless)
                    {
                        byte[] body = Encoding.ASCII.GetBytes(Page);
                        await c.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n"), SocketFlags.None);
                        await c.SendAsync(body, SocketFlags.None);
                        continue;
                    }
                    await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray(), SocketFlags.None);
                    while (!_stop.IsCancellationRequested)
                    {
                        await c.SendAsync(chunk, SocketFlags.None);
                        Interlocked.Add(ref _endlessBytes, 65536);
                    }
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            return ValueTask.CompletedTask;
        }
    }
}
