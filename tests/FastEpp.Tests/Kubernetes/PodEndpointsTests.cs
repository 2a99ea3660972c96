using FastEpp.Kubernetes;

namespace FastEpp.Tests.Kubernetes;

public sealed class PodEndpointsTests
{
    private static Pod NewPod(string? activePorts = null, params (string Type, string Status)[] conditions)
    {
        var pod = new Pod { Metadata = new ObjectMeta { Name = "p", Namespace = "ns" }, Status = new PodStatus { PodIP = "fd00::5" } };
        if (activePorts is not null)
            pod.Metadata.Annotations = new() { [PodEndpoints.ActivePortsAnnotation] = activePorts };
        pod.Status.Conditions = conditions.Select(c => new PodCondition { Type = c.Type, Status = c.Status }).ToList();
        return pod;
    }

    [Fact]
    public void IsReady_FirstReadyConditionDecides()
    {
        Assert.True(PodEndpoints.IsReady(NewPod(null, ("PodScheduled", "True"), ("Ready", "True"))));
        Assert.False(PodEndpoints.IsReady(NewPod(null, ("Ready", "False"), ("Ready", "True"))));
        Assert.False(PodEndpoints.IsReady(NewPod(null, ("ContainersReady", "True"))));
        var deleting = NewPod(null, ("Ready", "True"));
        deleting.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
        Assert.False(PodEndpoints.IsReady(deleting));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", "")]
    [InlineData("8000", "8000")]
    [InlineData(" 8001 ,8000,0,-3,x,8002abc", "8000,8001,8002")]
    public void ActivePorts_ParsesLikeTheReference(string? annotation, string? expected)
    {
        var ports = PodEndpoints.ActivePorts(NewPod(annotation));
        Assert.Equal(expected, ports is null ? null : string.Join(',', ports.Order()));
    }

    [Fact]
    public void Build_Ipv6Pod_BracketsHostPortAndUsesRankNames()
    {
        var pool = new EndpointPool("ns", "pool", new Dictionary<string, string>(), [8000, 8001], null);
        var list = new List<FastEpp.Endpoints.Endpoint>();
        PodEndpoints.Build(pool, [NewPod(null, ("Ready", "True"))], 0, list, null);
        Assert.Equal(["ns/p-rank-0", "ns/p-rank-1"], list.Select(e => e.Name));
        Assert.Equal("[fd00::5]:8001", list[1].HostPort);
    }
}
