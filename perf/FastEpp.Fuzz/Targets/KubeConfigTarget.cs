using System.Text;
using FastEpp.Kubernetes;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// Kubernetes/KubeConfigFile.Load over a mutated kubeconfig written to a temporary file. Property: it returns
/// a config or throws KubeConfigException (a clear start-up error), never anything else.
/// </summary>
internal sealed class KubeConfigTarget : FuzzTarget
{
    // In memory (/dev/shm) where there is one: the file write per input was most of this target's time.
    private readonly string _path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(),
        $"fastepp-fuzz-kubeconfig-{Environment.ProcessId}.yaml");

    public override string Name => "kubeconfig";

    public override string Property => "loads or throws KubeConfigException, nothing else";

    public override IEnumerable<byte[]> ExtraSeeds()
    {
        yield return Encoding.UTF8.GetBytes("""
            apiVersion: v1
            kind: Config
            current-context: c
            clusters:
            - name: k
              cluster:
                server: https://127.0.0.1:6443
                insecure-skip-tls-verify: true
            users:
            - name: u
              user:
                token: abc
            contexts:
            - name: c
              context:
                cluster: k
                user: u
                namespace: ns
            """);
    }

    public override int Run(byte[] input)
    {
        File.WriteAllBytes(_path, input);
        try
        {
            KubeConfigFile.Load([_path]);
            return 1;
        }
        catch (KubeConfigException ex)
        {
            return 2 + (ex.Message.Length & 63);
        }
    }
}
