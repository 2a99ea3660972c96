using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastEpp.Tests.Metrics;

/// <summary>
/// Real model-server stand-ins on loopback: one Kestrel app listening on N ports (127.0.0.1:0),
/// each port a backend whose /metrics behaviour the test switches at run time.
/// </summary>
internal sealed class FakeModelServer : IAsyncDisposable
{
    public enum Mode { Ok, Status500, Hang, CloseMidBody, DeclaredHuge, StreamedHuge }

    public sealed class Backend
    {
        private string _body = "";
        private int _mode;
        private int _requests;

        public int Port { get; init; }
        public string Body { get => Volatile.Read(ref _body); set => Volatile.Write(ref _body, value); }
        public Mode Behaviour { get => (Mode)Volatile.Read(ref _mode); set => Volatile.Write(ref _mode, (int)value); }
        public byte[]? RawBody { get; set; }
        /// <summary>The path served (everything else is 404).</summary>
        public string MetricsPath { get; set; } = "/metrics";
        /// <summary>Requests received (counted when the handler starts).</summary>
        public int Requests => Volatile.Read(ref _requests);
        internal void Count() => Interlocked.Increment(ref _requests);
    }

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<int, Backend> _byPort = new();

    private FakeModelServer(WebApplication app) => _app = app;

    public List<Backend> Backends { get; } = [];

    public static async Task<FakeModelServer> StartAsync(int count, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o =>
        {
            for (int i = 0; i < count; i++)
            {
                o.Listen(IPAddress.Loopback, 0, listen =>
                {
                    if (certificate is not null)
                        listen.UseHttps(certificate);
                });
            }
        });
        var app = builder.Build();
        var server = new FakeModelServer(app);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            var backend = new Backend { Port = new Uri(address).Port };
            server._byPort[backend.Port] = backend;
            server.Backends.Add(backend);
        }
        return server;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        if (!_byPort.TryGetValue(ctx.Connection.LocalPort, out var backend) || ctx.Request.Path != backend.MetricsPath)
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        backend.Count();
        var aborted = ctx.RequestAborted;
        try
        {
            switch (backend.Behaviour)
            {
                case Mode.Ok:
                    byte[] bytes = backend.RawBody ?? Encoding.UTF8.GetBytes(backend.Body);
                    ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    ctx.Response.ContentLength = bytes.Length;
                    await ctx.Response.Body.WriteAsync(bytes, aborted);
                    break;
                case Mode.Status500:
                    ctx.Response.StatusCode = 500;
                    await ctx.Response.WriteAsync("engine dead", aborted);
                    break;
                case Mode.Hang:
                    await Task.Delay(Timeout.Infinite, aborted);
                    break;
                case Mode.CloseMidBody:
                    byte[] full = Encoding.UTF8.GetBytes(backend.Body);
                    ctx.Response.ContentLength = full.Length + 10_000;
                    await ctx.Response.Body.WriteAsync(full.AsMemory(0, Math.Min(200, full.Length)), aborted);
                    await ctx.Response.Body.FlushAsync(aborted);
                    ctx.Abort();
                    break;
                case Mode.DeclaredHuge:
                case Mode.StreamedHuge:
                    long size = backend.Behaviour == Mode.DeclaredHuge ? 50L * 1024 * 1024 : 4L * 1024 * 1024;
                    if (backend.Behaviour == Mode.DeclaredHuge)
                        ctx.Response.ContentLength = size;
                    var chunk = new byte[64 * 1024];
                    chunk.AsSpan().Fill((byte)'#');
                    for (long sent = 0; sent < size; sent += chunk.Length)
                        await ctx.Response.Body.WriteAsync(chunk, aborted);
                    break;
            }
        }
        catch (Exception) when (aborted.IsCancellationRequested)
        {
            // The poller gave up (timeout, size cap): expected.
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
