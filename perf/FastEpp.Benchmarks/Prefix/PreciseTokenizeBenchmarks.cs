using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastEpp.Prefix.Precise;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// The per-request cost of precise prefix routing on the request path: one render call to a model server on loopback
/// (a Kestrel stand-in answering vLLM's /v1/chat/completions/render shape with a fixed token list — the server's own
/// templating time is not included), then FastEpp's block keys over the tokens and one index match over 8 endpoints.
/// </summary>
[MemoryDiagnoser]
public class PreciseTokenizeBenchmarks
{
    [Params(1024, 8192)]
    public int PromptTokens { get; set; }

    private WebApplication _app = null!;
    private VllmTokenizer _tokenizer = null!;
    private string _baseUri = "";
    private byte[] _body = [];
    private readonly FastEpp.Scheduling.PromptTokens _tokens = new();
    private ulong[] _keys = new ulong[1024];
    private readonly int[] _ids = [1, 2, 3, 4, 5, 6, 7, 8];
    private readonly int[] _counts = new int[8];
    private PreciseIndex _index = null!;
    private ulong _start;

    [GlobalSetup]
    public void Setup()
    {
        byte[] answer = Encoding.UTF8.GetBytes("{\"request_id\":\"x\",\"token_ids\":[" +
            string.Join(',', Enumerable.Range(0, PromptTokens).Select(i => 100 + i * 37 % 150_000)) + "],\"features\":null,\"model\":\"m\"}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.Run(async ctx =>
        {
            await ctx.Request.Body.CopyToAsync(Stream.Null);
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength = answer.Length;
            await ctx.Response.Body.WriteAsync(answer);
        });
        _app.StartAsync().GetAwaiter().GetResult();
        _baseUri = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        _tokenizer = new VllmTokenizer(TimeSpan.FromSeconds(5));
        _body = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', PromptTokens * 4) + "\"}]}");
        _index = new PreciseIndex(1 << 20);
        _start = TokenBlockKeys.ChainStart(TokenBlockKeys.Root(""u8), "m"u8);
        int n = _tokenizer.TokenizeAsync(_baseUri, "/v1/chat/completions/render", _body, _tokens).GetAwaiter().GetResult().Count;
        int blocks = TokenBlockKeys.Chain(_start, _tokens.Ids.AsSpan(0, n), 16, default, _keys);
        for (int e = 1; e <= 8; e++)
            foreach (ulong k in _keys.AsSpan(0, blocks / e))
                _index.Add(k, e);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tokenizer.Dispose();
        _app.StopAsync().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "render call + keys + match (8 endpoints)")]
    public async Task<int> TokenizeKeysMatch()
    {
        int n = (await _tokenizer.TokenizeAsync(_baseUri, "/v1/chat/completions/render", _body, _tokens)).Count;
        int blocks = TokenBlockKeys.Chain(_start, _tokens.Ids.AsSpan(0, n), 16, default, _keys);
        _index.Match(_keys.AsSpan(0, blocks), _ids, _counts);
        return _counts[0];
    }

    [Benchmark(Description = "keys + match only (8 endpoints)")]
    public int KeysMatch()
    {
        int blocks = TokenBlockKeys.Chain(_start, _tokens.Ids.AsSpan(0, PromptTokens), 16, default, _keys);
        _index.Match(_keys.AsSpan(0, blocks), _ids, _counts);
        return _counts[0];
    }
}
