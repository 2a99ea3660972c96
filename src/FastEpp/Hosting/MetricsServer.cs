using FastEpp.Kubernetes;
using FastEpp.Observability;

namespace FastEpp.Hosting;

/// <summary>The metrics port's routes: <c>GET /metrics</c> (Prometheus text) behind the optional access check.</summary>
internal static class MetricsServer
{
    public const string Path = "/metrics";

    /// <summary>Bearer token → TokenReview → SubjectAccessReview on the path, as controller-runtime's filter; answers
    /// the request and returns false when access is denied.</summary>
    public static async Task<bool> AuthorizeAsync(HttpContext ctx, MetricsEndpointAuth auth)
    {
        var (status, body) = await auth.CheckAsync(ctx.Request.Headers.Authorization.ToString(), ctx.Request.Path.Value ?? "/",
            ctx.Request.Method.ToLowerInvariant(), ctx.RequestAborted).ConfigureAwait(false);
        if (status == StatusCodes.Status200OK)
            return true;
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync(body + "\n").ConfigureAwait(false);
        return false;
    }

    public static void MapPage(WebApplication app, MetricsPage page) =>
        app.MapGet(Path, (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return ctx.Response.WriteAsync(page.Render());
        });
}
