using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace FastEpp.Gateway.Tests;

/// <summary>Small loopback helpers for the gateway tests.</summary>
internal static class TestUpstreams
{
    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    public static int ClosedPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}

/// <summary>
/// An SSE upstream that writes one event, then waits for <see cref="Release"/> before writing the rest: a client
/// that sees the first event before the release proves the gateway streams instead of buffering.
/// </summary>
internal sealed class HeldSseUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldSseUpstream(WebApplication app, int port)
    {
        _app = app;
        Endpoint = "127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Endpoint { get; }

    public void Release() => _release.TrySetResult();

    public static async Task<HeldSseUpstream> StartAsync()
    {
        WebApplicationBuilder b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        ListenOptions? listen = null;
        b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = HttpProtocols.Http1;
            listen = lo;
        }));
        WebApplication app = b.Build();
        HeldSseUpstream? self = null;
        app.Run(async ctx =>
        {
            await ctx.Request.Body.CopyToAsync(Stream.Null);
            ctx.Response.ContentType = "text/event-stream";
            await ctx.Response.WriteAsync("data: first\n\n");
            await ctx.Response.Body.FlushAsync();
            await self!._release.Task.WaitAsync(ctx.RequestAborted);
            await ctx.Response.WriteAsync("data: second\n\ndata: [DONE]\n\n");
        });
        await app.StartAsync();
        self = new HeldSseUpstream(app, listen!.IPEndPoint!.Port);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
