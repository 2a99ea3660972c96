using System.Text.Json.Nodes;

namespace FastEpp.Tests.Kubernetes;

/// <summary>Builders for the JSON objects the fake API server stores.</summary>
internal static class KubeTestObjects
{
    public static JsonObject Pod(string name, string? ip, bool ready = true, string ns = "ns1",
        Dictionary<string, string>? labels = null, Dictionary<string, string>? annotations = null, bool deleting = false)
    {
        var meta = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = ns,
            ["uid"] = Guid.NewGuid().ToString(),
            ["labels"] = ToJson(labels ?? new() { ["app"] = "vllm" }),
        };
        if (annotations is not null)
            meta["annotations"] = ToJson(annotations);
        if (deleting)
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z";
        var status = new JsonObject
        {
            ["phase"] = "Running",
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "Initialized", ["status"] = "True" },
                new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False" },
                new JsonObject { ["type"] = "ContainersReady", ["status"] = ready ? "True" : "False" }),
        };
        if (ip is not null)
        {
            status["podIP"] = ip;
            status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip });
        }
        return new JsonObject
        {
            ["kind"] = "Pod",
            ["apiVersion"] = "v1",
            ["metadata"] = meta,
            ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "vllm", ["image"] = "vllm" }) },
            ["status"] = status,
        };
    }

    public static JsonObject Pool(string name, Dictionary<string, string> selector, int[] ports, string ns = "ns1", string? appProtocol = null)
    {
        var portArray = new JsonArray();
        foreach (int p in ports)
            portArray.Add(new JsonObject { ["number"] = p });
        var spec = new JsonObject
        {
            ["selector"] = new JsonObject { ["matchLabels"] = ToJson(selector) },
            ["targetPorts"] = portArray,
            ["endpointPickerRef"] = new JsonObject { ["name"] = "epp", ["port"] = new JsonObject { ["number"] = 9002 } },
        };
        if (appProtocol is not null)
            spec["appProtocol"] = appProtocol;
        return new JsonObject
        {
            ["kind"] = "InferencePool",
            ["apiVersion"] = "inference.networking.k8s.io/v1",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["spec"] = spec,
            ["status"] = new JsonObject { ["parents"] = new JsonArray() },
        };
    }

    public static JsonObject Objective(string name, int? priority, string poolName, string? poolGroup = "inference.networking.k8s.io", string ns = "ns1")
    {
        var poolRef = new JsonObject { ["name"] = poolName, ["kind"] = "InferencePool" };
        if (poolGroup is not null)
            poolRef["group"] = poolGroup;
        var spec = new JsonObject { ["poolRef"] = poolRef };
        if (priority is not null)
            spec["priority"] = priority.Value;
        return new JsonObject
        {
            ["kind"] = "InferenceObjective",
            ["apiVersion"] = "inference.networking.x-k8s.io/v1alpha2",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["spec"] = spec,
        };
    }

    public static JsonObject Rewrite(string name, string poolName, string created, params (string[] Matches, (string Model, int Weight)[] Targets)[] rules)
    {
        var ruleArray = new JsonArray();
        foreach (var (matches, targets) in rules)
        {
            var m = new JsonArray();
            foreach (string model in matches)
                m.Add(new JsonObject { ["model"] = new JsonObject { ["type"] = "Exact", ["value"] = model } });
            var t = new JsonArray();
            foreach (var (model, weight) in targets)
                t.Add(new JsonObject { ["modelRewrite"] = model, ["weight"] = weight });
            ruleArray.Add(new JsonObject { ["matches"] = m, ["targets"] = t });
        }
        return new JsonObject
        {
            ["kind"] = "InferenceModelRewrite",
            ["apiVersion"] = "inference.networking.x-k8s.io/v1alpha2",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "ns1", ["creationTimestamp"] = created },
            ["spec"] = new JsonObject
            {
                ["poolRef"] = new JsonObject { ["group"] = "inference.networking.k8s.io", ["name"] = poolName },
                ["rules"] = ruleArray,
            },
        };
    }

    private static JsonObject ToJson(Dictionary<string, string> map)
    {
        var o = new JsonObject();
        foreach (var (k, v) in map)
            o[k] = v;
        return o;
    }
}
