using FastEpp.Kubernetes;
using FastEpp.Observability;

namespace FastEpp.Hosting;

/// <summary>The metrics port's routes: <c>GET /metrics</c> (Prometheus text) behind the optional access check.</summary>
internal static class MetricsServer
{
    /// <summary>Bearer token → TokenReview → SubjectAccessReview on the path, as controller-runtime's filter.</summary>
    public static void UseEndpointAuth(WebApplication app, MetricsEndpointAuth auth) =>
        app.Use(async (HttpContext ctx, RequestDelegate next) =>
        {
            var (status, body) = await auth.CheckAsync(ctx.Request.Headers.Authorization.ToString(), ctx.Request.Path.Value ?? "/",
                ctx.Request.Method.ToLowerInvariant(), ctx.RequestAborted).ConfigureAwait(false);
            if (status != StatusCodes.Status200OK)
            {
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = "text/plain; charset=utf-8";
                await ctx.Response.WriteAsync(body + "\n").ConfigureAwait(false);
                return;
            }
            await next(ctx).ConfigureAwait(false);
        });

    public static void MapPage(WebApplication app, MetricsPage page) =>
        app.MapGet("/metrics", (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return ctx.Response.WriteAsync(page.Render());
        });
}
