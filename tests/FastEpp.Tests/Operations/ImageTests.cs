using System.Text.RegularExpressions;

namespace FastEpp.Tests.Operations;

/// <summary>
/// The two ways to build the image agree (issue 12 §1): Dockerfile.aot (online) and deploy/image/build-image.sh
/// (offline, `./build.sh image`) give the same user, entrypoint, environment and ports. Running the image itself
/// needs root and the network for the Debian packages: `./build.sh image test` (deploy/image/run-image-test.sh).
/// </summary>
public sealed partial class ImageTests
{
    private static string Read(string relative) => File.ReadAllText(Path.Combine(DeployTests.RepoRoot, relative));

    [GeneratedRegex(@"^ENV\s+((?:.|\\\n)*?)(?<!\\)$", RegexOptions.Multiline)]
    private static partial Regex DockerEnv();

    [GeneratedRegex(@"(\w+)=(\S+)")]
    private static partial Regex Assignment();

    [Fact]
    public void DockerfileAndOfflineBuild_SameUserEntrypointEnvPorts()
    {
        string dockerfile = Read("Dockerfile.aot");
        string script = Read("deploy/image/build-image.sh");

        Assert.Contains("USER 65532:65532", dockerfile);
        Assert.Contains("\"User\":\"65532:65532\"", script);
        Assert.Contains("ENTRYPOINT [\"/epp\"]", dockerfile);
        Assert.Contains("\"Entrypoint\":[\"/epp\"]", script);
        Assert.Contains("COPY --from=build /out/fastepp /epp", dockerfile);
        Assert.Contains("cp \"$BIN\" \"$ROOTFS/epp\"", script);
        Assert.Contains("EXPOSE 9002 9003 9090", dockerfile);
        Assert.Contains("\"ExposedPorts\":{\"9002/tcp\":{},\"9003/tcp\":{},\"9090/tcp\":{}}", script);

        var dockerEnv = DockerEnv().Matches(dockerfile).SelectMany(m => Assignment().Matches(m.Groups[1].Value))
            .ToDictionary(a => a.Groups[1].Value, a => a.Groups[2].Value);
        var scriptEnvLine = script[(script.IndexOf("ENV_VARS=(", StringComparison.Ordinal) + "ENV_VARS=(".Length)..];
        scriptEnvLine = scriptEnvLine[..scriptEnvLine.IndexOf(')')];
        var scriptEnv = Assignment().Matches(scriptEnvLine).ToDictionary(a => a.Groups[1].Value, a => a.Groups[2].Value);
        scriptEnv.Remove("PATH"); // the base image's PATH in the Dockerfile
        Assert.Equal(dockerEnv.OrderBy(e => e.Key), scriptEnv.OrderBy(e => e.Key));
        Assert.Equal("/etc/ssl/certs/ca-certificates.crt", dockerEnv["SSL_CERT_FILE"]);
    }

    [Fact]
    public void OfflineBuild_HasNoShell_AndTheDistrolessPackages()
    {
        string script = Read("deploy/image/build-image.sh");
        Assert.Contains("PACKAGES=(libc6 libgcc-s1 libssl3 ca-certificates tzdata)", script);
        Assert.DoesNotContain("bash", script[script.IndexOf("PACKAGES=(", StringComparison.Ordinal)..script.IndexOf('\n', script.IndexOf("PACKAGES=(", StringComparison.Ordinal))]);
        // The run test refuses an image with a shell.
        Assert.Contains("the image has a shell", Read("deploy/image/run-image-test.sh"));
    }
}
