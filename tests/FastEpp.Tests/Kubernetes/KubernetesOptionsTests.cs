using FastEpp.Kubernetes;

namespace FastEpp.Tests.Kubernetes;

public sealed class KubernetesOptionsTests
{
    [Theory]
    [InlineData("vllm-epp-5d8f9c7b6-abcde", "vllm-epp")]
    [InlineData("a-b-c", "a")]
    [InlineData("my-deploy-x-y", "my-deploy")]
    public void TryParseDeploymentName_ReplicaSetPodName_StripsTwoSegments(string pod, string expected)
    {
        Assert.True(KubernetesOptions.TryParseDeploymentName(pod, out string name));
        Assert.Equal(expected, name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("single")]
    [InlineData("two-parts")]
    [InlineData("upper-ABC-def")]
    [InlineData("a-b_c-d")]
    public void TryParseDeploymentName_OtherShapes_Fail(string pod) =>
        Assert.False(KubernetesOptions.TryParseDeploymentName(pod, out _));

    [Fact]
    public void LeaseName_FollowsTheReference() =>
        Assert.Equal("epp-ns1-pool.gateway-api-inference-extension.sigs.k8s.io", KubernetesOptions.LeaseName("ns1", "pool"));

    [Fact]
    public void ResolveNamespace_FlagThenEnvThenDefault()
    {
        Assert.Equal("flag", new KubernetesOptions { PoolNamespace = "flag" }.ResolveNamespace(_ => "env"));
        Assert.Equal("env", new KubernetesOptions().ResolveNamespace(n => n == "NAMESPACE" ? "env" : null));
        Assert.Equal("default", new KubernetesOptions().ResolveNamespace(_ => ""));
    }

    [Fact]
    public void Validate_ReferenceRules()
    {
        Assert.Contains("either pool-name or endpoint-selector must be set", new KubernetesOptions().Validate());
        Assert.Contains("either pool-name or endpoint-selector must be set",
            new KubernetesOptions { PoolName = "p", EndpointSelector = "a=b", EndpointTargetPorts = [1] }.Validate());
        Assert.Empty(new KubernetesOptions { PoolName = "p" }.Validate());
        Assert.Empty(new KubernetesOptions { EndpointSelector = "app=vllm", EndpointTargetPorts = [0, 8000] }.Validate());
        Assert.NotEmpty(new KubernetesOptions { EndpointSelector = "app=vllm" }.Validate());
        Assert.NotEmpty(new KubernetesOptions { EndpointSelector = "app=vllm", EndpointTargetPorts = [1, 2, 3, 4, 5, 6, 7, 8, 9] }.Validate());
        Assert.NotEmpty(new KubernetesOptions { EndpointSelector = "app=vllm", EndpointTargetPorts = [70000] }.Validate());
        Assert.NotEmpty(new KubernetesOptions { EndpointSelector = "app", EndpointTargetPorts = [8000] }.Validate());
        // Duplicates are removed before the 1..8 count check.
        Assert.Empty(new KubernetesOptions { EndpointSelector = "a=b", EndpointTargetPorts = [1, 1, 1, 1, 1, 1, 1, 1, 1, 2] }.Validate());
        Assert.Equal([8000, 8001], new KubernetesOptions { EndpointTargetPorts = [8000, 8001, 8000] }.DistinctTargetPorts());
    }
}
