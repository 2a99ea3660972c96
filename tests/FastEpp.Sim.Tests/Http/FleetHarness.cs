using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;

namespace FastEpp.Sim.Tests.Http;

/// <summary>A real fleet on loopback with ephemeral ports, plus a client.</summary>
internal sealed class FleetHarness : IAsyncDisposable
{
    private FleetHarness(SimFleet fleet)
    {
        Fleet = fleet;
        Client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
    }

    public SimFleet Fleet { get; }

    public HttpClient Client { get; }

    public static async Task<FleetHarness> StartAsync(params string[] args)
    {
        string[] all = ["--port", "0", "--host", "127.0.0.1", "--time-scale", "0.05", .. args];
        SimOptions options = SimOptions.Parse(all, out string? error) ?? throw new InvalidOperationException(error);
        SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();
        return new FleetHarness(fleet);
    }

    public Uri Url(int replica, string path) => new($"http://127.0.0.1:{Fleet.Replicas[replica].Port}{path}");

    public Task<HttpResponseMessage> PostJsonAsync(int replica, string path, string json) =>
        Client.PostAsync(Url(replica, path), new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Fleet.DisposeAsync();
    }
}
