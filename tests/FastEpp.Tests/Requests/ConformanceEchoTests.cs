using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
using FastEpp.Tests.ExtProc;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.Tests.Requests;

/// <summary>
/// The gateway-conformance configuration (spec extproc.md §5: header-based-testing-filter +
/// destination-endpoint-served-verifier, one profile) over real gRPC: GatewayDestinationEndpointServed reads
/// <c>x-conformance-test-served-endpoint</c> back from the response headers.
/// </summary>
public sealed class ConformanceEchoTests : IAsyncLifetime
{
    private const string ConformanceConfig = """
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: header-based-testing-filter
        - type: destination-endpoint-served-verifier
        schedulingProfiles:
        - name: conformance-profile
          plugins:
          - pluginRef: header-based-testing-filter
        """;

    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync("10.0.0.1:3000,10.0.0.2:3000,10.0.0.3:3000", "--config-text", ConformanceConfig);

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    private async Task<Dictionary<string, string>> RoundTrip(string selection, Metadata? responseMetadata)
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions", ("test-epp-endpoint-selection", selection)));
        await s.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"p\"}"), 4096);
        var headers = await s.Next();
        Assert.Equal(selection, EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        await s.ReadRequestBody();
        await s.Send(EnvoyMessages.ResponseHeaders(EnvoyStream.Headers((":status", "200"), ("content-type", "application/json")), responseMetadata));
        var reply = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseHeaders, reply.ResponseCase);
        return EnvoyStream.SetHeaders(reply.ResponseHeaders.Response);
    }

    [Fact]
    public async Task ServedEndpoint_IsEchoedFromTheLbMetadata()
    {
        var set = await RoundTrip("10.0.0.2:3000", EnvoyMessages.DestinationServed("10.0.0.2:3000"));
        Assert.Equal("10.0.0.2:3000", set["x-conformance-test-served-endpoint"]);
        Assert.Equal("true", set["x-went-into-resp-headers"]);
    }

    [Fact]
    public async Task MissingMetadata_SaysWhatIsMissing()
    {
        Assert.Equal("fail: missing envoy lb metadata", (await RoundTrip("10.0.0.1:3000", null))["x-conformance-test-served-endpoint"]);

        var otherKey = new Metadata();
        otherKey.FilterMetadata["envoy.lb"] = new Struct { Fields = { ["something-else"] = Value.ForString("x") } };
        Assert.Equal("fail: missing destination endpoint served metadata", (await RoundTrip("10.0.0.3:3000", otherKey))["x-conformance-test-served-endpoint"]);

        var notString = new Metadata();
        notString.FilterMetadata["envoy.lb"] = new Struct { Fields = { ["x-gateway-destination-endpoint-served"] = Value.ForNumber(1) } };
        Assert.Equal("fail: missing destination endpoint served metadata", (await RoundTrip("10.0.0.3:3000", notString))["x-conformance-test-served-endpoint"]);
    }

    [Fact]
    public async Task WithoutTheVerifier_NoEchoHeader()
    {
        await using var plain = await EppServer.StartAsync("10.0.0.1:3000");
        using var s = plain.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        await s.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"p\"}"), 4096);
        await s.Next();
        await s.ReadRequestBody();
        await s.Send(EnvoyMessages.ResponseHeaders(EnvoyStream.Headers((":status", "200")), EnvoyMessages.DestinationServed("10.0.0.1:3000")));
        Assert.False(EnvoyStream.SetHeaders((await s.Next()).ResponseHeaders.Response).ContainsKey("x-conformance-test-served-endpoint"));
    }
}
