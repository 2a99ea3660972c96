using System.Net;
using System.Net.Http.Headers;
using FastEpp.Hosting;
using FastEpp.Tests.Kubernetes;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Hosting;

/// <summary>--metrics-endpoint-auth against the fake API server's TokenReview and SubjectAccessReview.</summary>
public sealed class MetricsEndpointAuthTests
{
    private static async Task<EppHost> StartPoolMode(KubeTestHarness h, params string[] extra)
    {
        var options = EppOptions.Parse(["--pool-name", "pool1", "--pool-namespace", "ns1", "--secure-serving=false", "--tracing=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0", .. extra]);
        Assert.Null(options.Validate());
        return await EppHost.StartAsync(options, NullLoggerFactory.Instance, kubeConfig: h.Config);
    }

    private static async Task<(HttpStatusCode Status, string Body)> Scrape(EppHost host, string? token, string path = "/metrics")
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{host.MetricsPort}{path}");
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ByDefault_TokenAndAccessReviewsGuardMetrics_AndAreCached()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.TokenUsers["prom-token"] = "system:serviceaccount:monitoring:prometheus";
        h.Server.TokenUsers["other-token"] = "system:serviceaccount:default:nosy";
        h.Server.NonResourceGrants[("system:serviceaccount:monitoring:prometheus", "/metrics", "get")] = true;
        await using var host = await StartPoolMode(h);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Scrape(host, null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Scrape(host, "forged")).Status);
        var denied = await Scrape(host, "other-token");
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
        Assert.Contains("system:serviceaccount:default:nosy", denied.Body);

        var ok = await Scrape(host, "prom-token");
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Contains("inference_extension_info", ok.Body);

        // Prometheus scrapes again and again: the reviews are cached.
        int tokenReviews = h.Server.TokenReviews, accessReviews = h.Server.AccessReviews;
        for (int i = 0; i < 5; i++)
            Assert.Equal(HttpStatusCode.OK, (await Scrape(host, "prom-token")).Status);
        Assert.Equal((tokenReviews, accessReviews), (h.Server.TokenReviews, h.Server.AccessReviews));

        // The grant is per path.
        Assert.Equal(HttpStatusCode.Forbidden, (await Scrape(host, "prom-token", "/debug/pprof/heap")).Status);
    }

    [Fact]
    public async Task AuthOff_MetricsOpen()
    {
        await using var h = await KubeTestHarness.StartAsync();
        await using var host = await StartPoolMode(h, "--metrics-endpoint-auth=false");
        Assert.Equal(HttpStatusCode.OK, (await Scrape(host, null)).Status);
        Assert.Null(host.MetricsAuth);
        Assert.Equal(0, h.Server.TokenReviews);
    }

    [Fact]
    public async Task ApiServerDown_Answers500_NotOpen()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.TokenUsers["prom-token"] = "prometheus";
        await using var host = await StartPoolMode(h);
        await h.Server.DisposeAsync(); // the API server goes away
        var (status, _) = await Scrape(host, "prom-token");
        Assert.Equal(HttpStatusCode.InternalServerError, status);
    }
}
