using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastEpp.Tests.Kubernetes;

/// <summary>
/// An in-process Kubernetes API server (Kestrel on 127.0.0.1:0) speaking the real wire format for
/// the subset FastEpp uses: LIST with label/field selectors and limit/continue, chunked WATCH streams
/// (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR, selector transitions as DELETED/ADDED), 410 Gone for
/// compacted resourceVersions, GET/POST/PUT with optimistic concurrency (409), group-version
/// discovery, bearer-token authentication. Test hooks drop or expire watches.
/// </summary>
internal sealed class FakeKubeApiServer : IAsyncDisposable
{
    public const string Token = "fake-token-7f3a";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    // collection path -> name -> object
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _store = new(StringComparer.Ordinal);
    private readonly List<StoredEvent> _history = new();
    private readonly List<ActiveWatch> _watches = new();
    private TaskCompletionSource _changed = NewSignal();
    private long _rv = 1000;
    private long _compactedRv;
    private int _requests;
    private int _unauthorized;
    private int _listRequests;
    private int _watchRequests;

    private FakeKubeApiServer(WebApplication app)
    {
        _app = app;
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Resources listed by /apis/inference.networking.x-k8s.io/v1alpha2; null → 404 (CRDs not installed).</summary>
    public string[]? ExperimentalResources { get; set; } = ["inferenceobjectives", "inferencemodelrewrites"];

    /// <summary>When a watch starts below the compaction point: true → HTTP 410, false → 200 + ERROR event.</summary>
    public bool GoneAsHttpStatus { get; set; } = true;

    /// <summary>LIST page size the server enforces (the client asks for 500).</summary>
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>When set, PUT/POST/GET on leases fail with 500 (an unreachable API server, for the elector).</summary>
    public bool FailLeases { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Every request as "METHOD /path?query", in arrival order (the RBAC test maps them to verbs and resources).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> RequestLog { get; } = new();
    public int UnauthorizedRequests => Volatile.Read(ref _unauthorized);
    public int ListRequests => Volatile.Read(ref _listRequests);
    public int WatchRequests => Volatile.Read(ref _watchRequests);
    public int ActiveWatchCount
    {
        get { lock (_lock) return _watches.Count; }
    }
    public string? LastAuthorization { get; private set; }

    /// <summary>TokenReview: bearer tokens the fake authenticates, and as which user.</summary>
    public ConcurrentDictionary<string, string> TokenUsers { get; } = new(StringComparer.Ordinal);

    /// <summary>SubjectAccessReview: (user, non-resource path, verb) triples the fake allows.</summary>
    public ConcurrentDictionary<(string User, string Path, string Verb), bool> NonResourceGrants { get; } = new();

    public int TokenReviews => Volatile.Read(ref _tokenReviews);
    public int AccessReviews => Volatile.Read(ref _accessReviews);
    private int _tokenReviews, _accessReviews;
    /// <summary>resourceVersion query value of the most recent WATCH request.</summary>
    public string? LastWatchFrom { get; private set; }
    /// <summary>The current (latest assigned) resourceVersion.</summary>
    public long ResourceVersion
    {
        get { lock (_lock) return _rv; }
    }

    public static async Task<FakeKubeApiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeKubeApiServer(app);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address);
        return server;
    }

    /// <summary>Writes a kubeconfig for this server (bearer token auth) and returns its path.</summary>
    public string WriteKubeconfig(string directory)
    {
        string path = Path.Combine(directory, "kubeconfig");
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            current-context: fake
            clusters:
            - name: fake-cluster
              cluster:
                server: {BaseAddress.ToString().TrimEnd('/')}
            contexts:
            - name: fake
              context:
                cluster: fake-cluster
                user: fake-user
                namespace: ns1
            users:
            - name: fake-user
              user:
                token: {Token}
            """);
        return path;
    }

    // ---- store manipulation (tests) ----

    public static string Pods(string ns) => $"/api/v1/namespaces/{ns}/pods";
    public static string Pools(string ns) => $"/apis/inference.networking.k8s.io/v1/namespaces/{ns}/inferencepools";
    public static string Objectives(string ns) => $"/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{ns}/inferenceobjectives";
    public static string Rewrites(string ns) => $"/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{ns}/inferencemodelrewrites";
    public static string Leases(string ns) => $"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases";

    /// <summary>Creates or replaces an object (ADDED or MODIFIED event).</summary>
    public void Upsert(string collection, JsonObject obj)
    {
        lock (_lock)
        {
            var items = Collection(collection);
            string name = obj["metadata"]!["name"]!.GetValue<string>();
            items.TryGetValue(name, out var old);
            var stored = (JsonObject)obj.DeepClone();
            var meta = (JsonObject)stored["metadata"]!;
            meta["resourceVersion"] = (++_rv).ToString();
            meta["creationTimestamp"] ??= old?["metadata"]?["creationTimestamp"]?.DeepClone() ?? DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
            items[name] = stored;
            AddEventLocked(collection, old is null ? "ADDED" : "MODIFIED", old, stored);
        }
    }

    public void Delete(string collection, string name)
    {
        lock (_lock)
        {
            var items = Collection(collection);
            if (!items.Remove(name, out var old))
                return;
            var gone = (JsonObject)old.DeepClone();
            gone["metadata"]!["resourceVersion"] = (++_rv).ToString();
            AddEventLocked(collection, "DELETED", old, gone);
        }
    }

    public JsonObject? Get(string collection, string name)
    {
        lock (_lock)
            return Collection(collection).TryGetValue(name, out var o) ? (JsonObject)o.DeepClone() : null;
    }

    /// <summary>Aborts every open watch connection; with <paramref name="midLine"/> half an event is written first.</summary>
    public void DropWatches(bool midLine = false)
    {
        ActiveWatch[] watches;
        lock (_lock)
            watches = _watches.ToArray();
        foreach (var w in watches)
        {
            w.DropMidLine = midLine;
            w.Drop.Cancel(); // outside the lock: cancellation runs the watch's cleanup inline
        }
    }

    /// <summary>Forgets all history: any watch from an older resourceVersion gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _compactedRv = _rv;
            _history.Clear();
        }
    }

    /// <summary>Compacts and sends an ERROR 410 event to every open watch, which then ends.</summary>
    public void ExpireWatches()
    {
        ActiveWatch[] watches;
        lock (_lock)
        {
            _compactedRv = _rv;
            _history.Clear();
            watches = _watches.ToArray();
        }
        foreach (var w in watches)
        {
            w.SendGone = true;
            w.Drop.Cancel();
        }
    }

    /// <summary>Sends a BOOKMARK at the current resourceVersion to open watches of <paramref name="collection"/>.</summary>
    public void Bookmark(string collection)
    {
        lock (_lock)
        {
            _history.Add(new StoredEvent(++_rv, collection, "BOOKMARK", null, null));
            Signal();
        }
    }

    private SortedDictionary<string, JsonObject> Collection(string path)
    {
        if (!_store.TryGetValue(path, out var items))
            _store[path] = items = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        return items;
    }

    private void AddEventLocked(string collection, string type, JsonObject? old, JsonObject? now)
    {
        long rv = long.Parse(now?["metadata"]?["resourceVersion"]?.GetValue<string>() ?? _rv.ToString());
        _history.Add(new StoredEvent(rv, collection, type, old, now));
        Signal();
    }

    private void Signal()
    {
        var previous = _changed;
        _changed = NewSignal();
        previous.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    // ---- HTTP ----

    private async Task HandleAsync(HttpContext ctx)
    {
        Interlocked.Increment(ref _requests);
        RequestLog.Enqueue(ctx.Request.Method + " " + ctx.Request.Path + ctx.Request.QueryString);
        string auth = ctx.Request.Headers.Authorization.ToString();
        LastAuthorization = auth;
        if (auth != "Bearer " + Token)
        {
            Interlocked.Increment(ref _unauthorized);
            await WriteStatusAsync(ctx, 401, "Unauthorized", "Unauthorized");
            return;
        }

        string path = ctx.Request.Path.Value ?? "/";
        if (ctx.Request.Method == "POST" && path == "/apis/authentication.k8s.io/v1/tokenreviews")
        {
            Interlocked.Increment(ref _tokenReviews);
            var review = (await JsonNode.ParseAsync(ctx.Request.Body))!.AsObject();
            string token = review["spec"]?["token"]?.GetValue<string>() ?? "";
            review["status"] = TokenUsers.TryGetValue(token, out var user)
                ? new JsonObject { ["authenticated"] = true, ["user"] = new JsonObject { ["username"] = user, ["groups"] = new JsonArray("system:authenticated") } }
                : new JsonObject { ["authenticated"] = false, ["error"] = "invalid bearer token" };
            await WriteJsonAsync(ctx, 201, review);
            return;
        }
        if (ctx.Request.Method == "POST" && path == "/apis/authorization.k8s.io/v1/subjectaccessreviews")
        {
            Interlocked.Increment(ref _accessReviews);
            var review = (await JsonNode.ParseAsync(ctx.Request.Body))!.AsObject();
            var spec = review["spec"]!;
            string user = spec["user"]?.GetValue<string>() ?? "";
            string nrPath = spec["nonResourceAttributes"]?["path"]?.GetValue<string>() ?? "";
            string verb = spec["nonResourceAttributes"]?["verb"]?.GetValue<string>() ?? "";
            bool allowed = NonResourceGrants.ContainsKey((user, nrPath, verb));
            review["status"] = new JsonObject { ["allowed"] = allowed, ["reason"] = allowed ? "granted by test" : "" };
            await WriteJsonAsync(ctx, 201, review);
            return;
        }
        if (path == "/apis/inference.networking.x-k8s.io/v1alpha2" && ctx.Request.Method == "GET")
        {
            await DiscoveryAsync(ctx);
            return;
        }
        if (FailLeases && path.Contains("/leases", StringComparison.Ordinal))
        {
            await WriteStatusAsync(ctx, 500, "InternalError", "leases unavailable");
            return;
        }

        bool isCollection = IsCollectionPath(path);
        string collection = isCollection ? path : path[..path.LastIndexOf('/')];
        string? name = isCollection ? null : path[(path.LastIndexOf('/') + 1)..];

        switch (ctx.Request.Method)
        {
            case "GET" when isCollection && ctx.Request.Query["watch"] == "true":
                Interlocked.Increment(ref _watchRequests);
                await WatchAsync(ctx, collection);
                break;
            case "GET" when isCollection:
                Interlocked.Increment(ref _listRequests);
                await ListAsync(ctx, collection);
                break;
            case "GET":
                var obj = Get(collection, name!);
                if (obj is null)
                    await WriteStatusAsync(ctx, 404, "NotFound", $"\"{name}\" not found");
                else
                    await WriteJsonAsync(ctx, 200, obj);
                break;
            case "POST" when isCollection:
                await CreateAsync(ctx, collection);
                break;
            case "PUT" when !isCollection:
                await ReplaceAsync(ctx, collection, name!);
                break;
            default:
                await WriteStatusAsync(ctx, 405, "MethodNotAllowed", "method not allowed");
                break;
        }
    }

    private static bool IsCollectionPath(string path)
    {
        // /api/v1/namespaces/{ns}/{plural} = 5 segments; /apis/{g}/{v}/namespaces/{ns}/{plural} = 6.
        int segments = path.Trim('/').Split('/').Length;
        return path.StartsWith("/api/", StringComparison.Ordinal) ? segments == 5 : segments == 6;
    }

    private async Task DiscoveryAsync(HttpContext ctx)
    {
        if (ExperimentalResources is null)
        {
            await WriteStatusAsync(ctx, 404, "NotFound", "the server could not find the requested resource");
            return;
        }
        var resources = new JsonArray();
        foreach (string r in ExperimentalResources)
            resources.Add(new JsonObject { ["name"] = r, ["singularName"] = "", ["namespaced"] = true, ["kind"] = r, ["verbs"] = new JsonArray("get", "list", "watch") });
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = "inference.networking.x-k8s.io/v1alpha2",
            ["resources"] = resources,
        });
    }

    private async Task ListAsync(HttpContext ctx, string collection)
    {
        var (labels, fields) = Selectors(ctx);
        int limit = int.TryParse(ctx.Request.Query["limit"], out int l) && l > 0 ? Math.Min(l, MaxPageSize) : MaxPageSize;
        int offset = int.TryParse(ctx.Request.Query["continue"], out int c) ? c : 0;
        var items = new JsonArray();
        string rv;
        string? next = null;
        lock (_lock)
        {
            var matching = Collection(collection).Values.Where(o => Matches(o, labels, fields)).ToList();
            foreach (var o in matching.Skip(offset).Take(limit))
                items.Add(o.DeepClone());
            if (offset + limit < matching.Count)
                next = (offset + limit).ToString();
            rv = _rv.ToString();
        }
        var meta = new JsonObject { ["resourceVersion"] = rv };
        if (next is not null)
            meta["continue"] = next;
        await WriteJsonAsync(ctx, 200, new JsonObject { ["kind"] = "List", ["apiVersion"] = "v1", ["metadata"] = meta, ["items"] = items });
    }

    private async Task WatchAsync(HttpContext ctx, string collection)
    {
        var (labels, fields) = Selectors(ctx);
        LastWatchFrom = ctx.Request.Query["resourceVersion"];
        long from = long.TryParse(ctx.Request.Query["resourceVersion"], out long r) ? r : 0;
        bool bookmarks = ctx.Request.Query["allowWatchBookmarks"] == "true";
        var watch = new ActiveWatch();
        lock (_lock)
        {
            if (from < _compactedRv)
                watch.SendGone = true;
            else
                _watches.Add(watch);
        }
        if (watch.SendGone)
        {
            if (GoneAsHttpStatus)
            {
                await WriteStatusAsync(ctx, 410, "Expired", $"too old resource version: {from} ({_compactedRv})");
                return;
            }
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/json";
            await WriteLineAsync(ctx, GoneEvent(), CancellationToken.None);
            return;
        }

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.StartAsync();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, watch.Drop.Token);
        long sent = from;
        try
        {
            while (true)
            {
                var pending = new List<(long Rv, JsonObject Line)>();
                Task signal;
                lock (_lock)
                {
                    foreach (var e in _history)
                    {
                        if (e.Rv <= sent || e.Collection != collection)
                            continue;
                        var line = Translate(e, labels, fields, bookmarks);
                        if (line is not null)
                            pending.Add((e.Rv, line));
                        else
                            sent = e.Rv;
                    }
                    signal = _changed.Task;
                }
                foreach (var (rv, line) in pending)
                {
                    await WriteLineAsync(ctx, line, linked.Token);
                    sent = rv;
                }
                await signal.WaitAsync(linked.Token);
            }
        }
        catch (OperationCanceledException) when (watch.Drop.IsCancellationRequested)
        {
            if (watch.SendGone)
            {
                await WriteLineAsync(ctx, GoneEvent(), CancellationToken.None);
            }
            else
            {
                if (watch.DropMidLine)
                {
                    await ctx.Response.Body.WriteAsync("{\"type\":\"DELETED\",\"object\":{\"metadata\":"u8.ToArray());
                    await ctx.Response.Body.FlushAsync();
                }
                ctx.Abort();
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            lock (_lock)
                _watches.Remove(watch);
        }
    }

    private static JsonObject GoneEvent() => new()
    {
        ["type"] = "ERROR",
        ["object"] = new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
            ["message"] = "too old resource version", ["reason"] = "Expired", ["code"] = 410,
        },
    };

    private static JsonObject? Translate(StoredEvent e, Dictionary<string, string> labels, Dictionary<string, string> fields, bool bookmarks)
    {
        if (e.Type == "BOOKMARK")
        {
            return bookmarks
                ? new JsonObject { ["type"] = "BOOKMARK", ["object"] = new JsonObject { ["kind"] = "Bookmark", ["metadata"] = new JsonObject { ["resourceVersion"] = e.Rv.ToString() } } }
                : null;
        }
        bool oldMatch = e.Old is not null && Matches(e.Old, labels, fields);
        bool newMatch = e.New is not null && e.Type != "DELETED" && Matches(e.New, labels, fields);
        string? type = e.Type switch
        {
            "ADDED" => newMatch ? "ADDED" : null,
            "MODIFIED" => oldMatch && newMatch ? "MODIFIED" : newMatch ? "ADDED" : oldMatch ? "DELETED" : null,
            "DELETED" => oldMatch ? "DELETED" : null,
            _ => null,
        };
        return type is null ? null : new JsonObject { ["type"] = type, ["object"] = e.New!.DeepClone() };
    }

    private async Task CreateAsync(HttpContext ctx, string collection)
    {
        var obj = (JsonObject)(await JsonNode.ParseAsync(ctx.Request.Body))!;
        string name = obj["metadata"]!["name"]!.GetValue<string>();
        JsonObject created;
        lock (_lock)
        {
            if (Collection(collection).ContainsKey(name))
            {
                created = null!;
            }
            else
            {
                Upsert(collection, obj);
                created = Get(collection, name)!;
            }
        }
        if (created is null)
            await WriteStatusAsync(ctx, 409, "AlreadyExists", $"\"{name}\" already exists");
        else
            await WriteJsonAsync(ctx, 201, created);
    }

    private async Task ReplaceAsync(HttpContext ctx, string collection, string name)
    {
        var obj = (JsonObject)(await JsonNode.ParseAsync(ctx.Request.Body))!;
        string? rv = obj["metadata"]?["resourceVersion"]?.GetValue<string>();
        int status;
        JsonObject? result = null;
        lock (_lock)
        {
            var existing = Get(collection, name);
            if (existing is null)
                status = 404;
            else if (rv != existing["metadata"]!["resourceVersion"]!.GetValue<string>())
                status = 409;
            else
            {
                Upsert(collection, obj);
                result = Get(collection, name);
                status = 200;
            }
        }
        if (status == 200)
            await WriteJsonAsync(ctx, 200, result!);
        else if (status == 409)
            await WriteStatusAsync(ctx, 409, "Conflict", $"Operation cannot be fulfilled on \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
        else
            await WriteStatusAsync(ctx, 404, "NotFound", $"\"{name}\" not found");
    }

    private static (Dictionary<string, string> Labels, Dictionary<string, string> Fields) Selectors(HttpContext ctx) =>
        (ParseSelector(ctx.Request.Query["labelSelector"]), ParseSelector(ctx.Request.Query["fieldSelector"]));

    private static Dictionary<string, string> ParseSelector(string? text)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(text))
            return map;
        foreach (string part in text.Split(','))
        {
            string[] kv = part.Split('=', 2);
            map[kv[0]] = kv.Length > 1 ? kv[1] : "";
        }
        return map;
    }

    private static bool Matches(JsonObject obj, Dictionary<string, string> labels, Dictionary<string, string> fields)
    {
        var meta = obj["metadata"] as JsonObject;
        foreach (var (k, v) in labels)
            if (meta?["labels"]?[k]?.GetValue<string>() != v)
                return false;
        foreach (var (k, v) in fields)
        {
            string? actual = k switch
            {
                "metadata.name" => meta?["name"]?.GetValue<string>(),
                "metadata.namespace" => meta?["namespace"]?.GetValue<string>(),
                _ => null,
            };
            if (actual != v)
                return false;
        }
        return true;
    }

    private static async Task WriteLineAsync(HttpContext ctx, JsonObject line, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(line.ToJsonString() + "\n");
        await ctx.Response.Body.WriteAsync(bytes, ct);
        await ctx.Response.Body.FlushAsync(ct);
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, JsonObject body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body.ToJsonString());
    }

    private static Task WriteStatusAsync(HttpContext ctx, int code, string reason, string message) =>
        WriteJsonAsync(ctx, code, new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
            ["message"] = message, ["reason"] = reason, ["code"] = code,
        });

    public async ValueTask DisposeAsync()
    {
        DropWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record StoredEvent(long Rv, string Collection, string Type, JsonObject? Old, JsonObject? New);

    private sealed class ActiveWatch
    {
        public CancellationTokenSource Drop { get; } = new();
        public bool DropMidLine { get; set; }
        public bool SendGone { get; set; }
    }
}
