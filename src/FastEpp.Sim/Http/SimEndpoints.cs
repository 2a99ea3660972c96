using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace FastEpp.Sim.Http;

/// <summary>
/// The HTTP surface of every replica (one terminal handler for all ports; the replica comes from the connection).
/// OpenAI-compatible: POST /v1/completions and /v1/chat/completions (SSE streaming with the final usage chunk, or
/// one JSON body), GET /v1/models, /health, /metrics; vLLM's POST /tokenize, /detokenize, /v1/completions/render,
/// /v1/chat/completions/render and /reset_prefix_cache (SimEndpoints.Tokenize.cs); admin: POST /admin/kill,
/// /admin/revive, /admin/faults.
/// Every answer carries <c>x-sim-replica</c> and <c>x-sim-endpoint</c> so tests can verify routing.
/// </summary>
internal sealed partial class SimEndpoints
{
    /// <summary>Connection item key holding the <see cref="Replica"/> the connection was accepted for.</summary>
    public const string ReplicaItemKey = "fastepp-sim.replica";

    private readonly SimOptions _options;
    private readonly Replica[] _replicas;
    private readonly SimClock _clock;
    private readonly FleetDriver _driver;
    private readonly MetricsWriter[] _metrics;
    private readonly Dictionary<string, int> _adapterIndex;
    private readonly Dictionary<string, byte[]> _encodedModels = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    /// <summary>Creates the handler for a fleet.</summary>
    public SimEndpoints(SimOptions options, Replica[] replicas, SimClock clock, FleetDriver driver, ILogger logger)
    {
        _options = options;
        _replicas = replicas;
        _clock = clock;
        _driver = driver;
        _logger = logger;
        _metrics = new MetricsWriter[replicas.Length];
        for (int i = 0; i < replicas.Length; i++)
        {
            _metrics[i] = new MetricsWriter(options.Dialect, options.Model, options.LoraModules, options.Engine);
        }
        _adapterIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < options.LoraModules.Count; i++)
        {
            _adapterIndex[options.LoraModules[i]] = i;
        }
        _encodedModels[options.Model] = JsonEncodedText.Encode(options.Model).EncodedUtf8Bytes.ToArray();
        foreach (string a in options.LoraModules)
        {
            _encodedModels[a] = JsonEncodedText.Encode(a).EncodedUtf8Bytes.ToArray();
        }
    }

    /// <summary>The terminal request delegate.</summary>
    public async Task HandleAsync(HttpContext ctx)
    {
        Replica? replica = FindReplica(ctx);
        if (replica is null)
        {
            ctx.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }
        string path = ctx.Request.Path.Value ?? "/";
        bool admin = path.StartsWith("/admin/", StringComparison.Ordinal);
        if (replica.Killed && !admin)
        {
            ctx.Abort();   // a dead pod: the connection is reset
            return;
        }
        ctx.Response.Headers["x-sim-replica"] = replica.Index.ToString(CultureInfo.InvariantCulture);
        ctx.Response.Headers["x-sim-endpoint"] = replica.Endpoint;
        string method = ctx.Request.Method;
        try
        {
            switch (path)
            {
                case "/v1/completions" when HttpMethods.IsPost(method):
                    await InferAsync(ctx, replica, chat: false);
                    break;
                case "/v1/chat/completions" when HttpMethods.IsPost(method):
                    await InferAsync(ctx, replica, chat: true);
                    break;
                case "/tokenize" when HttpMethods.IsPost(method):
                    await TokenizeAsync(ctx);
                    break;
                case "/detokenize" when HttpMethods.IsPost(method):
                    await DetokenizeAsync(ctx);
                    break;
                case "/v1/completions/render" when HttpMethods.IsPost(method):
                    await RenderAsync(ctx, replica, chat: false);
                    break;
                case "/v1/chat/completions/render" when HttpMethods.IsPost(method):
                    await RenderAsync(ctx, replica, chat: true);
                    break;
                case "/reset_prefix_cache" when HttpMethods.IsPost(method):
                    await ResetPrefixCacheAsync(ctx, replica);
                    break;
                case "/v1/models" when HttpMethods.IsGet(method):
                    await ModelsAsync(ctx);
                    break;
                case "/health" or "/health/ready" or "/ping":
                    ctx.Response.StatusCode = StatusCodes.Status200OK;
                    break;
                case "/metrics" when HttpMethods.IsGet(method):
                    await MetricsAsync(ctx, replica);
                    break;
                case "/admin/kill" when HttpMethods.IsPost(method):
                    Replica? victim = AdminTarget(ctx, replica);
                    if (victim is not null)
                    {
                        victim.Kill();
                        Log.ReplicaKilled(_logger, victim.Index, victim.Endpoint);
                    }
                    break;
                case "/admin/revive" when HttpMethods.IsPost(method):
                    Replica? target = AdminTarget(ctx, replica);
                    if (target is not null)
                    {
                        target.Revive();
                        _driver.Wake();
                        Log.ReplicaRevived(_logger, target.Index, target.Endpoint);
                    }
                    break;
                case "/admin/faults" when HttpMethods.IsPost(method):
                    await FaultsAsync(ctx, replica);
                    break;
                default:
                    await ErrorAsync(ctx, StatusCodes.Status404NotFound, "NotFoundError", $"no route for {method} {path}");
                    break;
            }
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // Client went away; nothing to answer.
        }
        catch (BadHttpRequestException ex)
        {
            if (!ctx.Response.HasStarted)
            {
                await ErrorAsync(ctx, ex.StatusCode, "BadRequestError", ex.Message);
            }
        }
    }

    private static Replica? FindReplica(HttpContext ctx)
    {
        IConnectionItemsFeature? items = ctx.Features.Get<IConnectionItemsFeature>();
        return items is not null && items.Items.TryGetValue(ReplicaItemKey, out object? r) ? r as Replica : null;
    }

    private Replica? AdminTarget(HttpContext ctx, Replica self)
    {
        string? q = ctx.Request.Query["replica"];
        if (q is null)
        {
            return self;
        }
        if (int.TryParse(q, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) && i >= 0 && i < _replicas.Length)
        {
            return _replicas[i];
        }
        ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
        return null;
    }

    private async Task InferAsync(HttpContext ctx, Replica replica, bool chat)
    {
        ReadResult read = await ReadBodyAsync(ctx);
        OpenAiRequest? req;
        string? error;
        try
        {
            req = OpenAiRequest.Parse(read.Buffer, chat, _options.Engine.BlockSize, _options.Tokenizer, _options.KvEventsEnabled,
                ParseMode.Inference, out error);
        }
        finally
        {
            ctx.Request.BodyReader.AdvanceTo(read.Buffer.End);
        }
        if (req is null)
        {
            await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError", error ?? "bad request");
            return;
        }
        int adapter = -1;
        if (req.Model != _options.Model && !_adapterIndex.TryGetValue(req.Model!, out adapter))
        {
            await ErrorAsync(ctx, StatusCodes.Status404NotFound, "NotFoundError", $"The model `{req.Model}` does not exist.");
            return;
        }

        FaultOptions faults = replica.Faults;
        if (faults.FailRate > 0 && replica.NextDouble() < faults.FailRate)
        {
            await ErrorAsync(ctx, StatusCodes.Status500InternalServerError, "InternalServerError", "injected failure (--fail-rate)");
            return;
        }
        if (faults.HangRate > 0 && replica.NextDouble() < faults.HangRate)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(faults.HangMs), ctx.RequestAborted);
        }

        bool endsWithStop = req.MaxTokens is null;
        int maxTokens = req.MaxTokens ?? replica.NextLength(_options.DefaultMaxTokens);
        long id = replica.NextRequestId();
        var sim = new SimRequest(id, req.PromptTokens, req.Tokens.ToHashArray(adapter >= 0 ? req.Model : null), maxTokens, adapter, observable: true)
        {
            EndsWithStop = endsWithStop,
            TokenIds = _options.KvEventsEnabled ? req.Tokens.ToTokenIdArray() : null,
            AdapterName = adapter >= 0 ? req.Model : null,
        };
        SubmitResult submitted;
        bool wake;
        lock (replica.Lock)
        {
            if (replica.Killed)
            {
                ctx.Abort();
                return;
            }
            submitted = replica.Engine.Submit(sim, _clock.Now);
            wake = !replica.Engine.StepInFlight;
        }
        switch (submitted)
        {
            case SubmitResult.QueueFull:
                await ErrorAsync(ctx, StatusCodes.Status429TooManyRequests, "RateLimitError", "the waiting queue is full (--max-waiting)");
                return;
            case SubmitResult.TooLong:
                await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError",
                    $"This model's maximum context length is {_options.Engine.MaxModelLen} tokens (and {_options.Engine.NumGpuBlocks * _options.Engine.BlockSize} KV tokens). However, you requested {req.PromptTokens + maxTokens} tokens ({req.PromptTokens} in the messages, {maxTokens} in the completion).");
                return;
            case SubmitResult.NoLoraSlots:
                await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError", "LoRA adapters need --max-loras >= 1");
                return;
        }
        if (wake)
        {
            _driver.Wake();
        }

        try
        {
            var response = new ResponseFormat(chat, id, _clock.UnixNow, _encodedModels[req.Model!], replica.Index, _options.Seed);
            if (req.Stream)
            {
                await StreamAsync(ctx, sim, response, req.IncludeUsage);
            }
            else
            {
                await CompleteAsync(ctx, sim, response);
            }
        }
        finally
        {
            if (sim.State is not (RequestState.Finished or RequestState.Aborted))
            {
                lock (replica.Lock)
                {
                    replica.Engine.Abort(sim);
                }
            }
        }
    }

    private async Task StreamAsync(HttpContext ctx, SimRequest sim, ResponseFormat format, bool includeUsage)
    {
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "text/event-stream; charset=utf-8";
        ctx.Response.Headers.CacheControl = "no-cache";
        await ctx.Response.StartAsync(ctx.RequestAborted);
        PipeWriter body = ctx.Response.BodyWriter;
        int chunk = _options.StreamChunkTokens;
        int sent = 0;
        bool roleSent = false;
        while (true)
        {
            await sim.WaitForProgressAsync(ctx.RequestAborted);
            int generated = sim.Generated;
            RequestState state = sim.State;
            if (state == RequestState.Aborted)
            {
                ctx.Abort();
                return;
            }
            bool finished = state == RequestState.Finished;
            if (!roleSent && generated > 0)
            {
                format.WriteRoleChunk(body);
                roleSent = true;
            }
            // The first token goes out alone, as soon as it exists (TTFT is measured on it); then chunk tokens per event.
            while (generated - sent >= (sent == 0 ? 1 : chunk) || (finished && sent < generated))
            {
                int n = Math.Min(sent == 0 ? 1 : chunk, generated - sent);
                bool last = finished && sent + n == generated;
                format.WriteTokenChunk(body, sent, n, last ? (sim.EndsWithStop ? "stop"u8 : "length"u8) : default);
                sent += n;
            }
            if (finished)
            {
                if (includeUsage)
                {
                    format.WriteUsageChunk(body, sim.PromptTokens, generated, sim.CachedTokens);
                }
                body.Write("data: [DONE]\n\n"u8);
                await body.FlushAsync(ctx.RequestAborted);
                return;
            }
            await body.FlushAsync(ctx.RequestAborted);
        }
    }

    private static async Task CompleteAsync(HttpContext ctx, SimRequest sim, ResponseFormat format)
    {
        RequestState state;
        while ((state = sim.State) is not (RequestState.Finished or RequestState.Aborted))
        {
            await sim.WaitForProgressAsync(ctx.RequestAborted);
        }
        if (state == RequestState.Aborted)
        {
            ctx.Abort();
            return;
        }
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        format.WriteCompletion(ctx.Response.BodyWriter, sim.Generated, sim.EndsWithStop, sim.PromptTokens, sim.CachedTokens);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }

    private async Task ModelsAsync(HttpContext ctx)
    {
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        long created = (long)_clock.UnixStartSeconds;
        w.WriteStartObject();
        w.WriteString("object"u8, "list"u8);
        w.WriteStartArray("data"u8);
        WriteModel(w, _options.Model, null, created);
        foreach (string a in _options.LoraModules)
        {
            WriteModel(w, a, _options.Model, created);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);

        void WriteModel(Utf8JsonWriter w, string id, string? parent, long created)
        {
            w.WriteStartObject();
            w.WriteString("id"u8, id);
            w.WriteString("object"u8, "model"u8);
            w.WriteNumber("created"u8, created);
            w.WriteString("owned_by"u8, "vllm"u8);
            w.WriteString("root"u8, id);
            if (parent is null)
            {
                w.WriteNull("parent"u8);
            }
            else
            {
                w.WriteString("parent"u8, parent);
            }
            w.WriteNumber("max_model_len"u8, _options.Engine.MaxModelLen);
            w.WriteEndObject();
        }
    }

    private async Task MetricsAsync(HttpContext ctx, Replica replica)
    {
        double delay = replica.Faults.MetricsDelayMs;
        if (delay > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(delay), ctx.RequestAborted);
        }
        using var w = new ByteWriter(16 * 1024);
        double unixNow = _clock.UnixStartSeconds + _clock.Now;
        lock (replica.Lock)
        {
            _metrics[replica.Index].Write(w, replica.Engine, unixNow);
        }
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        ctx.Response.ContentLength = w.WrittenSpan.Length;
        await ctx.Response.Body.WriteAsync(w.WrittenMemory, ctx.RequestAborted);
    }

    private static async Task FaultsAsync(HttpContext ctx, Replica self)
    {
        FaultOptions f = self.Faults;
        IQueryCollection q = ctx.Request.Query;
        if (!TryRate(q, "fail-rate", v => f.FailRate = v, 1) || !TryRate(q, "hang-rate", v => f.HangRate = v, 1)
            || !TryRate(q, "hang-ms", v => f.HangMs = v, double.MaxValue) || !TryRate(q, "metrics-delay-ms", v => f.MetricsDelayMs = v, double.MaxValue))
        {
            await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError", "bad fault parameter");
            return;
        }
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture,
            $"{{\"fail_rate\":{f.FailRate},\"hang_rate\":{f.HangRate},\"hang_ms\":{f.HangMs},\"metrics_delay_ms\":{f.MetricsDelayMs}}}"));

        static bool TryRate(IQueryCollection q, string key, Action<double> set, double max)
        {
            string? s = q[key];
            if (s is null)
            {
                return true;
            }
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 0 || v > max)
            {
                return false;
            }
            set(v);
            return true;
        }
    }

    private async Task<ReadResult> ReadBodyAsync(HttpContext ctx)
    {
        PipeReader reader = ctx.Request.BodyReader;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(ctx.RequestAborted);
            if (result.IsCompleted || result.IsCanceled)
            {
                return result;
            }
            if (result.Buffer.Length > _options.MaxBodyBytes)
            {
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                throw new BadHttpRequestException("request body too large", StatusCodes.Status413PayloadTooLarge);
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Writes an OpenAI-style error: {"error":{"message","type","param":null,"code"}}.</summary>
    internal static async Task ErrorAsync(HttpContext ctx, int status, string type, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteStartObject("error"u8);
        w.WriteString("message"u8, message);
        w.WriteString("type"u8, type);
        w.WriteNull("param"u8);
        w.WriteNumber("code"u8, status);
        w.WriteEndObject();
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }
}
