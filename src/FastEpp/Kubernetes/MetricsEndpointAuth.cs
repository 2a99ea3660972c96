using System.Collections.Concurrent;

namespace FastEpp.Kubernetes;

/// <summary>
/// <c>--metrics-endpoint-auth</c> (spec runtime.md §6.1): every request to the metrics server needs a bearer token
/// that passes a TokenReview, and the token's user needs a SubjectAccessReview allowing the request's verb on the
/// non-resource URL (the path) — what controller-runtime's authentication/authorization filter does. Answers 401
/// without a valid token, 403 when the user is not allowed. Results are cached (tokens 2 min; allowed 5 min,
/// denied 30 s) so a Prometheus scraping every few seconds costs the API server two calls per cache period.
/// </summary>
internal sealed class MetricsEndpointAuth
{
    private static readonly TimeSpan TokenTtl = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan AllowedTtl = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan DeniedTtl = TimeSpan.FromSeconds(30);

    private readonly KubeApiClient _client;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (ReviewUser? User, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string User, string Path, string Verb), (bool Allowed, DateTimeOffset Expires)> _decisions = new();

    public MetricsEndpointAuth(KubeApiClient client, ILogger logger, TimeProvider? time = null)
    {
        _client = client;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Reviews calls to the API server (for tests and the log).</summary>
    public int ApiCalls => Volatile.Read(ref _apiCalls);
    private int _apiCalls;

    /// <summary>Returns 200 when the request may proceed, else the status and the body to answer with.</summary>
    public async Task<(int Status, string Body)> CheckAsync(string? authorization, string path, string verb, CancellationToken ct)
    {
        const string Bearer = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            || authorization.Length == Bearer.Length)
            return (401, "Unauthorized");
        string token = authorization[Bearer.Length..].Trim();
        DateTimeOffset now = _time.GetUtcNow();
        try
        {
            ReviewUser? user;
            if (_tokens.TryGetValue(token, out var cached) && cached.Expires > now)
                user = cached.User;
            else
            {
                user = await AuthenticateAsync(token, ct).ConfigureAwait(false);
                _tokens[token] = (user, now + (user is null ? DeniedTtl : TokenTtl));
            }
            if (user is null)
                return (401, "Unauthorized");

            string name = user.Username ?? "";
            var key = (name, path, verb);
            bool allowed;
            if (_decisions.TryGetValue(key, out var decision) && decision.Expires > now)
                allowed = decision.Allowed;
            else
            {
                allowed = await AuthorizeAsync(user, path, verb, ct).ConfigureAwait(false);
                _decisions[key] = (allowed, now + (allowed ? AllowedTtl : DeniedTtl));
            }
            return allowed ? (200, "") : (403, $"Authorization denied for user {name}");
        }
        catch (Exception ex) when (ex is KubeApiException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            _logger.LogError("Metrics endpoint authentication/authorization failed: {Error}", ex.Message);
            return (500, "Internal Server Error");
        }
    }

    private async Task<ReviewUser?> AuthenticateAsync(string token, CancellationToken ct)
    {
        Interlocked.Increment(ref _apiCalls);
        var review = await _client.SendAsync(HttpMethod.Post, "/apis/authentication.k8s.io/v1/tokenreviews",
            new TokenReview { Spec = { Token = token } }, KubeJsonContext.Default.TokenReview, ct).ConfigureAwait(false);
        return review.Status is { Authenticated: true, User: { } user } ? user : null;
    }

    private async Task<bool> AuthorizeAsync(ReviewUser user, string path, string verb, CancellationToken ct)
    {
        Interlocked.Increment(ref _apiCalls);
        var review = await _client.SendAsync(HttpMethod.Post, "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            new SubjectAccessReview
            {
                Spec =
                {
                    User = user.Username, Uid = user.Uid, Groups = user.Groups, Extra = user.Extra,
                    NonResourceAttributes = new NonResourceAttributes { Path = path, Verb = verb },
                },
            }, KubeJsonContext.Default.SubjectAccessReview, ct).ConfigureAwait(false);
        return review.Status is { Allowed: true };
    }
}
