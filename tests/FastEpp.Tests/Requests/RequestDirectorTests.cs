using System.Buffers;
using System.Text;
using FastEpp.Admission;
using FastEpp.Endpoints;
using FastEpp.Requests;
using FastEpp.Scheduling;

namespace FastEpp.Tests.Requests;

/// <summary>The director alone: a decision or an error from the catalogue, no ext_proc messages involved.</summary>
public sealed class RequestDirectorTests
{
    private sealed class FixedSaturation(double value) : ISaturationDetector
    {
        public string TypeName => "fixed";
        public string Name => "fixed";
        public double Saturation(EndpointSnapshot snapshot, ReadOnlySpan<int> candidates) => value;
    }

    private static (RequestDirector Director, InferenceRequest Request) Create(int? priority = null, double saturation = 0)
    {
        var registry = new EndpointRegistry();
        registry.Publish([new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000)]);
        var services = new RequestServices
        {
            Registry = registry,
            Scheduler = new RandomScheduler(),
            PriorityLookup = _ => priority,
            Admission = new AdmissionControl(new FixedSaturation(saturation), null),
        };
        var request = new InferenceRequest(services);
        request.Headers[HeaderNames.Path] = "/v1/completions";
        request.Headers[HeaderNames.InferenceObjective] = "objective";
        request.AcceptHeaders();
        return (new RequestDirector(services, request), request);
    }

    private static ReadOnlySequence<byte> Body(string json) => new(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Direct_ValidBody_RoutesWithTheBodyUnchanged()
    {
        var (director, request) = Create();
        var decision = director.Direct(Body("{\"model\":\"m\",\"prompt\":\"hi\"}"), null);
        Assert.Equal(RequestVerdict.Routed, decision.Verdict);
        Assert.Equal("10.0.0.1:8000", decision.Destination);
        Assert.Equal("{\"model\":\"m\",\"prompt\":\"hi\"}", Encoding.UTF8.GetString(decision.Body.ToArray()));
        var target = request.Target!;
        Assert.Equal(1, target.State.InFlight);
        request.End(); // the stream ends: in-flight released
        Assert.Equal(0, target.State.InFlight);
    }

    [Fact]
    public void Direct_NoModel_RejectsWithTheCatalogueError()
    {
        var (director, _) = Create();
        var decision = director.Direct(Body("{\"prompt\":\"hi\"}"), null);
        Assert.Equal(RequestVerdict.Rejected, decision.Verdict);
        Assert.Equal(InferenceErrors.ModelMissing, decision.Error);
        Assert.Equal("inference error: BadRequest - model not found in request body", decision.Error.ToString());
    }

    [Fact]
    public void Direct_SheddableWhenSaturated_IsShed_CriticalIsNot()
    {
        var (sheddable, _) = Create(priority: -1, saturation: 1.0);
        Assert.Equal(InferenceErrors.Shed, sheddable.Direct(Body("{\"model\":\"m\",\"prompt\":\"hi\"}"), null).Error);

        var (critical, _) = Create(priority: 0, saturation: 1.0);
        Assert.Equal(RequestVerdict.Routed, critical.Direct(Body("{\"model\":\"m\",\"prompt\":\"hi\"}"), null).Verdict);
    }
}
