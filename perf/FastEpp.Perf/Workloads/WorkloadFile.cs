using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Perf.Workloads;

/// <summary>
/// A workload written in inference-perf's config schema (../../shared/spec/routing.md §5) plus FastEpp's
/// top-level <c>fleet:</c> section (replicas, profile, sim_args, description, epp_replicas, bypass_fraction). What the suite can run is mapped onto
/// a <see cref="WorkloadSpec"/>; a value it cannot honour (another load or data type, a distribution it cannot
/// draw, non-streaming) is an error; sections that describe the real deployment (server, tokenizer, metrics,
/// report, storage...) are listed as ignored; any other key is reported as unknown. Nothing is dropped silently:
/// <see cref="Notes"/> holds every ignored and unknown key with its line.
/// </summary>
internal sealed class WorkloadFile
{
    private readonly List<string> _notes = new();
    private readonly string _origin;

    private WorkloadFile(string origin) => _origin = origin;

    /// <summary>The mapped workload (reference size; <see cref="WorkloadSpec.Scale"/> shrinks it).</summary>
    public WorkloadSpec Spec { get; private set; } = null!;

    /// <summary>Ignored and unknown keys, one line each ("unknown key data.foo (line 12)").</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Reads a workload file; the workload is named after the file. Throws <see cref="FormatException"/> on bad input.</summary>
    public static WorkloadFile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException("workload file " + path + ": " + ex.Message);
        }
        return Parse(text, Path.GetFileNameWithoutExtension(path), path);
    }

    /// <summary>Parses workload YAML. Throws <see cref="FormatException"/> (with the origin and line) on bad input.</summary>
    public static WorkloadFile Parse(string yaml, string name, string origin)
    {
        var file = new WorkloadFile(origin);
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode m)
                throw new FormatException(origin + ": a workload file is a YAML mapping (load:, api:, data:, fleet:)");
            root = m;
        }
        catch (YamlException ex)
        {
            throw new FormatException(origin + ": " + ex.Message);
        }
        file.Spec = file.Map(root, name);
        return file;
    }

    private WorkloadSpec Map(YamlMappingNode root, string name)
    {
        var spec = new WorkloadSpec
        {
            Name = name,
            Source = _origin,
            Question = LengthDist.Fixed(50),
            Output = LengthDist.Fixed(50),
            Stages = [],
            MaxConcurrency = 100,   // inference-perf's worker_max_concurrency default
            StageGap = 1.0,         // inference-perf's load.interval default
            Arrivals = ArrivalKind.Constant, // and its load.type default
        };
        foreach ((string key, YamlNode node) in Entries(root, ""))
        {
            switch (key)
            {
                case "load": spec = MapLoad(Mapping(node, "load"), spec); break;
                case "api": spec = MapApi(Mapping(node, "api"), spec); break;
                case "data": spec = MapData(Mapping(node, "data"), spec); break;
                case "fleet": spec = MapFleet(Mapping(node, "fleet"), spec); break;
                case "server" or "tokenizer" or "metrics" or "report" or "storage" or "circuit_breakers":
                    Note(key, node, "ignored: describes the real deployment or its reporting; the suite runs its own simulated fleet and report");
                    break;
                default: Unknown(key, node); break;
            }
        }
        if (spec.Stages.Length == 0)
            throw new FormatException(_origin + ": load.stages is required (a list of {rate, duration})");
        return spec;
    }

    private WorkloadSpec MapLoad(YamlMappingNode load, WorkloadSpec spec)
    {
        foreach ((string key, YamlNode node) in Entries(load, "load."))
        {
            switch (key)
            {
                case "type":
                    spec = spec with
                    {
                        Arrivals = Scalar(node, "load.type") switch
                        {
                            "poisson" => ArrivalKind.Poisson,
                            "constant" => ArrivalKind.Constant,
                            string other => throw Error(node, "load.type '" + other + "' is not supported (poisson or constant)"),
                        },
                    };
                    break;
                case "stages":
                    if (node is not YamlSequenceNode seq)
                        throw Error(node, "load.stages must be a list of {rate, duration}");
                    var stages = new List<Stage>();
                    foreach (YamlNode item in seq)
                    {
                        double rate = double.NaN, duration = double.NaN;
                        foreach ((string k, YamlNode v) in Entries(Mapping(item, "load.stages[]"), "load.stages[]."))
                        {
                            switch (k)
                            {
                                case "rate": rate = Positive(v, "load.stages[].rate"); break;
                                case "duration": duration = Positive(v, "load.stages[].duration"); break;
                                default: throw Error(v, "load.stages[]." + k + " is not supported (rate and duration stages only)");
                            }
                        }
                        if (double.IsNaN(rate) || double.IsNaN(duration))
                            throw Error(item, "every load stage needs rate and duration");
                        stages.Add(new Stage(rate, duration));
                    }
                    spec = spec with { Stages = stages.ToArray() };
                    break;
                case "interval": spec = spec with { StageGap = NonNegative(node, "load.interval") }; break;
                case "worker_max_concurrency": spec = spec with { MaxConcurrency = (int)Positive(node, "load.worker_max_concurrency") }; break;
                case "lora_traffic_split":
                    if (node is not YamlSequenceNode split)
                        throw Error(node, "load.lora_traffic_split must be a list of {name, split}");
                    var names = new List<string>();
                    var weights = new List<double>();
                    foreach (YamlNode item in split)
                    {
                        string? n = null;
                        double w = double.NaN;
                        foreach ((string k, YamlNode v) in Entries(Mapping(item, "load.lora_traffic_split[]"), "load.lora_traffic_split[]."))
                        {
                            switch (k)
                            {
                                case "name": n = Scalar(v, "name"); break;
                                case "split": w = Positive(v, "load.lora_traffic_split[].split"); break;
                                default: Unknown("load.lora_traffic_split[]." + k, v); break;
                            }
                        }
                        if (n is null || double.IsNaN(w))
                            throw Error(item, "every lora_traffic_split entry needs name and split");
                        names.Add(n);
                        weights.Add(w);
                    }
                    spec = spec with { Adapters = names.ToArray(), AdapterWeights = weights.ToArray() };
                    break;
                case "num_workers" or "worker_max_tcp_connections" or "request_timeout" or "base_seed":
                    Note("load." + key, node, key == "base_seed"
                        ? "ignored: arrivals are seeded by --seed (the same for every mode)"
                        : "ignored: the suite sends from one process; worker_max_concurrency is the in-flight cap");
                    break;
                case "sweep" or "trace" or "circuit_breakers":
                    throw Error(node, "load." + key + " is not supported by the suite (stages of rate/duration only)");
                default: Unknown("load." + key, node); break;
            }
        }
        return spec;
    }

    private WorkloadSpec MapApi(YamlMappingNode api, WorkloadSpec spec)
    {
        foreach ((string key, YamlNode node) in Entries(api, "api."))
        {
            switch (key)
            {
                case "type":
                    spec = spec with
                    {
                        Chat = Scalar(node, "api.type") switch
                        {
                            "chat" => true,
                            "completion" => false,
                            string other => throw Error(node, "api.type '" + other + "' is not supported (completion or chat)"),
                        },
                    };
                    break;
                case "streaming":
                    if (!Bool(node, "api.streaming"))
                        throw Error(node, "api.streaming: false is not supported: TTFT is measured from the SSE stream");
                    break;
                case "headers":
                    throw Error(node, "api.headers is not supported by the suite");
                default: Unknown("api." + key, node); break;
            }
        }
        return spec;
    }

    private WorkloadSpec MapData(YamlMappingNode data, WorkloadSpec spec)
    {
        string type = "mock";
        YamlMappingNode? shared = null;
        YamlNode? input = null, output = null;
        foreach ((string key, YamlNode node) in Entries(data, "data."))
        {
            switch (key)
            {
                case "type": type = Scalar(node, "data.type"); break;
                case "shared_prefix": shared = Mapping(node, "data.shared_prefix"); break;
                case "input_distribution": input = node; break;
                case "output_distribution": output = node; break;
                case "seed": spec = spec with { DataSeed = Int(node, "data.seed") }; break;
                default: Unknown("data." + key, node); break;
            }
        }
        switch (type)
        {
            case "shared_prefix":
                if (shared is null)
                    throw new FormatException(_origin + ": data.type shared_prefix needs data.shared_prefix");
                if (input is not null || output is not null)
                    Note("data.input_distribution/output_distribution", input ?? output!, "ignored: shared_prefix uses its own lengths");
                return MapSharedPrefix(shared, spec);
            case "random" or "synthetic":
                if (input is null || output is null)
                    throw new FormatException(_origin + ": data.type " + type + " needs input_distribution and output_distribution");
                if (shared is not null)
                    Note("data.shared_prefix", shared, "ignored: data.type is " + type);
                return spec with
                {
                    Groups = 0,
                    Question = Distribution(input, "data.input_distribution"),
                    Output = Distribution(output, "data.output_distribution"),
                };
            default:
                throw new FormatException(_origin + ": data.type '" + type + "' is not supported (shared_prefix, random or synthetic; datasets are not available offline)");
        }
    }

    private WorkloadSpec MapSharedPrefix(YamlMappingNode sp, WorkloadSpec spec)
    {
        spec = spec with { Groups = 10, PromptsPerGroup = 10, SystemPrompt = LengthDist.Fixed(100) }; // inference-perf defaults
        foreach ((string key, YamlNode node) in Entries(sp, "data.shared_prefix."))
        {
            string path = "data.shared_prefix." + key;
            switch (key)
            {
                case "num_groups" or "num_unique_system_prompts": spec = spec with { Groups = (int)Positive(node, path) }; break;
                case "num_prompts_per_group" or "num_users_per_system_prompt": spec = spec with { PromptsPerGroup = (int)Positive(node, path) }; break;
                case "system_prompt_len": spec = spec with { SystemPrompt = Distribution(node, path) }; break;
                case "question_len" or "question_distribution": spec = spec with { Question = Distribution(node, path) }; break;
                case "output_len" or "output_distribution": spec = spec with { Output = Distribution(node, path) }; break;
                case "enable_multi_turn_chat": spec = spec with { MultiTurn = Bool(node, path) }; break;
                case "seed": spec = spec with { DataSeed = Int(node, path) }; break;
                case "multimodal": throw Error(node, path + " is not supported by the suite");
                default: Unknown(path, node); break;
            }
        }
        return spec;
    }

    private WorkloadSpec MapFleet(YamlMappingNode fleet, WorkloadSpec spec)
    {
        foreach ((string key, YamlNode node) in Entries(fleet, "fleet."))
        {
            switch (key)
            {
                case "replicas": spec = spec with { Replicas = (int)Positive(node, "fleet.replicas") }; break;
                case "profile": spec = spec with { SimProfile = Scalar(node, "fleet.profile") }; break;
                case "sim_args":
                    spec = spec with
                    {
                        SimArgs = node switch
                        {
                            YamlSequenceNode seq => [.. Strings(seq)],
                            YamlScalarNode s => [.. Fleet.EppProcess.SplitArgs(s.Value ?? "")],
                            _ => throw Error(node, "fleet.sim_args is a flag string or a list of flags"),
                        },
                    };
                    break;
                case "description": spec = spec with { Source = Scalar(node, "fleet.description") }; break;
                case "epp_replicas":
                    double n = Number(node, "fleet.epp_replicas");
                    if (n < 1 || n > 64 || n != Math.Floor(n))
                        throw Error(node, "fleet.epp_replicas must be an integer 1..64 (EPP processes per EPP mode), not " + Scalar(node, "fleet.epp_replicas"));
                    spec = spec with { EppReplicas = (int)n };
                    break;
                case "bypass_fraction":
                    double f = Number(node, "fleet.bypass_fraction");
                    if (f < 0 || f > 1)
                        throw Error(node, "fleet.bypass_fraction must be within 0..1 (the share of requests that skip the EPP), not " + Scalar(node, "fleet.bypass_fraction"));
                    spec = spec with { BypassFraction = f };
                    break;
                default: Unknown("fleet." + key, node); break;
            }
        }
        return spec;
    }

    /// <summary>An int (fixed length) or an inference-perf Distribution {min, max, mean, std_dev | variance, type, total_count}.</summary>
    private LengthDist Distribution(YamlNode node, string path)
    {
        if (node is YamlScalarNode)
        {
            int n = (int)Positive(node, path);
            return LengthDist.Fixed(n);
        }
        // inference-perf's Distribution defaults.
        double min = 10, max = 1024, mean = 512, sd = 200;
        string kind = "normal";
        foreach ((string key, YamlNode v) in Entries(Mapping(node, path), path + "."))
        {
            switch (key)
            {
                case "min": min = NonNegative(v, path + ".min"); break;
                case "max": max = Positive(v, path + ".max"); break;
                case "mean": mean = NonNegative(v, path + ".mean"); break;
                case "std_dev": sd = NonNegative(v, path + ".std_dev"); break;
                case "variance": sd = Math.Sqrt(NonNegative(v, path + ".variance")); break;
                case "type": kind = Scalar(v, path + ".type"); break;
                case "skew":
                    if (Number(v, path + ".skew") != 0)
                        throw Error(v, path + ".skew: skewed distributions are not supported");
                    break;
                case "total_count": Note(path + ".total_count", v, "ignored: lengths are drawn per request, not from a pre-generated list"); break;
                default: Unknown(path + "." + key, v); break;
            }
        }
        if (min > max)
            throw Error(node, path + ": min > max");
        int lo = Math.Max(1, (int)Math.Round(min)), hi = Math.Max(lo, (int)Math.Round(max));
        return kind switch
        {
            "normal" => LengthDist.Normal(mean, sd, lo, hi),
            "uniform" => LengthDist.Uniform(lo, hi),
            "fixed" => LengthDist.Fixed(Math.Clamp((int)Math.Round(mean), lo, hi)),
            _ => throw Error(node, path + ".type '" + kind + "' is not supported (normal, uniform or fixed)"),
        };
    }

    private static IEnumerable<(string Key, YamlNode Value)> Entries(YamlMappingNode m, string prefix)
    {
        foreach (KeyValuePair<YamlNode, YamlNode> e in m.Children)
        {
            if (e.Key is not YamlScalarNode { Value: { } k })
                throw new FormatException("line " + e.Key.Start.Line + ": non-scalar key under " + (prefix.Length > 0 ? prefix : "the top level"));
            yield return (k, e.Value);
        }
    }

    private void Unknown(string path, YamlNode node) => _notes.Add("unknown key " + path + " (line " + node.Start.Line + ")");

    private void Note(string path, YamlNode node, string why) => _notes.Add(path + " (line " + node.Start.Line + "): " + why);

    private FormatException Error(YamlNode node, string message) => new(_origin + ":" + node.Start.Line + ": " + message);

    private YamlMappingNode Mapping(YamlNode node, string path) =>
        node as YamlMappingNode ?? throw Error(node, path + " must be a mapping");

    private string Scalar(YamlNode node, string path) =>
        node is YamlScalarNode { Value: { } v } ? v : throw Error(node, path + " must be a scalar");

    private IEnumerable<string> Strings(YamlSequenceNode seq)
    {
        foreach (YamlNode n in seq)
            yield return Scalar(n, "list item");
    }

    private double Number(YamlNode node, string path)
    {
        string s = Scalar(node, path);
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
            throw Error(node, path + " must be a number, not '" + s + "'");
        return d;
    }

    private double Positive(YamlNode node, string path)
    {
        double d = Number(node, path);
        return d > 0 ? d : throw Error(node, path + " must be > 0");
    }

    private double NonNegative(YamlNode node, string path)
    {
        double d = Number(node, path);
        return d >= 0 ? d : throw Error(node, path + " must be >= 0");
    }

    private int Int(YamlNode node, string path)
    {
        string s = Scalar(node, path);
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw Error(node, path + " must be an integer");
    }

    private bool Bool(YamlNode node, string path) => Scalar(node, path) switch
    {
        "true" or "True" or "TRUE" => true,
        "false" or "False" or "FALSE" => false,
        string s => throw Error(node, path + " must be true or false, not '" + s + "'"),
    };
}
