using System.Globalization;
using FastEpp.Sim.Engine;
using FastEpp.Sim.KvEvents;
using FastEpp.Sim.Tokenization;

namespace FastEpp.Sim.Options;

/// <summary>Metric names the replicas expose (../../shared/spec/scheduling.md §4.3).</summary>
internal enum MetricsDialect
{
    /// <summary><c>vllm:*</c>.</summary>
    Vllm,
    /// <summary><c>sglang:*</c>.</summary>
    Sglang,
    /// <summary><c>trtllm_*</c> (trtllm-serve).</summary>
    TrtllmServe,
}

/// <summary>
/// Command-line options of <c>fastepp-sim</c>. Flags take <c>--name value</c> or <c>--name=value</c>; boolean flags
/// may stand alone. Engine flags override the chosen <c>--profile</c>.
/// </summary>
internal sealed class SimOptions
{
    /// <summary>Number of replicas (one engine and one port each).</summary>
    public int Replicas { get; set; } = 1;

    /// <summary>Port of replica 0; replica i listens on Port + i. 0 = an ephemeral port per replica (tests).</summary>
    public int Port { get; set; } = 8000;

    /// <summary>Listen address: an IP, or "*" / "0.0.0.0" for all interfaces.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Served model name; empty = the profile's model.</summary>
    public string Model { get; set; } = "";

    /// <summary>LoRA adapters served besides the base model.</summary>
    public List<string> LoraModules { get; } = new();

    /// <summary>Engine physics and limits after overrides.</summary>
    public EngineProfile Engine { get; set; } = EngineProfile.H100Llama8B;

    /// <summary>Wall seconds per simulated second (0.1 = ten times faster than real time).</summary>
    public double TimeScale { get; set; } = 1.0;

    /// <summary>Seed of every random draw (faults, natural output lengths).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Metric names.</summary>
    public MetricsDialect Dialect { get; set; } = MetricsDialect.Vllm;

    /// <summary>Output length cap when a request gives no max_tokens: a seeded draw in [1, this], finish_reason "stop".</summary>
    public int DefaultMaxTokens { get; set; } = 128;

    /// <summary>Tokens per SSE chunk (1 = one event per token, as vLLM).</summary>
    public int StreamChunkTokens { get; set; } = 1;

    /// <summary>Request body limit, bytes.</summary>
    public long MaxBodyBytes { get; set; } = 64L << 20;

    /// <summary>vLLM's <c>--kv-events-config</c>, or null when not given (events off).</summary>
    public KvEventsConfig? KvEvents { get; set; }

    /// <summary>msgspec encoding of the events and replay shape: vLLM v0.26+ maps (default) or ≤ v0.25 arrays.</summary>
    public KvEventEncoding KvEventsEncoding { get; set; } = KvEventEncoding.Map;

    /// <summary>True when the engines record KV events (enabled, whatever the publisher).</summary>
    public bool KvEventsEnabled => KvEvents is { EnableKvCacheEvents: true };

    /// <summary>The tokenizer and chat template (<c>--tokenizer</c>).</summary>
    public SimTokenizer Tokenizer { get; set; } = SimTokenizer.StandIn;

    /// <summary>Fault injection defaults applied to every replica (changeable at runtime per replica via /admin/faults).</summary>
    public FaultOptions Faults { get; } = new();

    /// <summary>Usage text for --help.</summary>
    public const string Usage = """
        fastepp-sim: a fleet of simulated vLLM servers (engine-step model) in one process.

        Fleet:
          --replicas N                  replicas, on ports port..port+N-1 (1)
          --port P                      port of replica 0; 0 = ephemeral ports (8000)
          --host H                      listen address; * or 0.0.0.0 = all (127.0.0.1)
          --time-scale X                wall seconds per simulated second; 0.1 = 10x faster (1)
          --seed N                      seed of all random draws (1)
          --dialect D                   vllm | sglang | trtllm-serve metric names (vllm)
        Model and engine (override the profile):
          --profile NAME                h100-llama8b (default) | h100-qwen3-32b-tp2
          --model NAME                  served model name (profile's model)
          --lora-modules a,b,...        LoRA adapters served (also repeatable; name=path accepted)
          --max-loras N                 resident adapters (1)
          --lora-load-ms X              adapter load time paid by the step that loads it (20)
          --max-num-seqs N              running sequences per step
          --max-num-batched-tokens N    token budget per step (chunked prefill)
          --num-gpu-blocks N            KV blocks
          --block-size N                tokens per KV block (16)
          --max-model-len N             prompt + output token limit
          --max-waiting N               waiting-queue bound, 429 beyond it; 0 = unbounded (0)
          --enable-prefix-caching B     automatic prefix caching (true); --no-enable-prefix-caching
          --step-overhead-ms X          fixed cost per step (weight-read floor)
          --prefill-ms-per-token X      prefill cost per token
          --prefill-hidden-ms X         prefill compute hidden under the floor
          --attention-ms-per-token-pair X  prefill attention cost per (token x context token)
          --decode-ms-per-seq X         cost per decoding sequence
          --kv-read-ms-per-token X      cost per context token read by decodes
          --tokenizer NAME              stand-in (4 bytes per token) | o200k_base (real BPE, ChatML template) (stand-in)
        KV-cache events (vLLM's wire format; a bound endpoint/replay port is replica 0's, replica i takes port + i):
          --kv-events-config JSON       vLLM's flag: {"enable_kv_cache_events":true,"publisher":"zmq",
                                        "endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5657","topic":"kv@$(POD_IP):$(POD_PORT)@model",
                                        "buffer_steps":10000,"hwm":100000,"max_queue_size":100000}
          --kv-events-encoding E        map (vLLM v0.26+, default) | array (vLLM <= v0.25, legacy replay frames)
        Requests and responses:
          --default-max-tokens N        output cap when max_tokens is absent (128)
          --stream-chunk-tokens N       tokens per SSE event after the first, which is sent alone (1)
          --max-body-mb N               request body limit (64)
        Faults (per replica at runtime: POST /admin/faults?fail-rate=..&hang-rate=..&hang-ms=..&metrics-delay-ms=..):
          --fail-rate P                 probability of an HTTP 500 per inference request (0)
          --hang-rate P                 probability that a request hangs before being served (0)
          --hang-ms X                   hang duration, wall ms (30000)
          --metrics-delay-ms X          delay of every /metrics answer, wall ms (0)
          --help                        this text
        """;

    /// <summary>Parses <paramref name="args"/>; on failure returns null and sets <paramref name="error"/>.</summary>
    public static SimOptions? Parse(string[] args, out string? error)
    {
        var o = new SimOptions();
        var engine = new Dictionary<string, string>(StringComparer.Ordinal);
        string profileName = EngineProfile.H100Llama8B.Name;
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = $"unexpected argument '{arg}'";
                return null;
            }
            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            if (name is "help" or "h")
            {
                error = "help";
                return null;
            }
            if (name == "no-enable-prefix-caching")
            {
                engine["enable-prefix-caching"] = "false";
                continue;
            }
            if (value is null)
            {
                bool isBool = name == "enable-prefix-caching";
                if (isBool && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                {
                    value = "true";
                }
                else if (i + 1 < args.Length)
                {
                    value = args[++i];
                }
                else
                {
                    error = $"flag --{name} needs a value";
                    return null;
                }
            }
            try
            {
                switch (name)
                {
                    case "replicas": o.Replicas = PositiveInt(value, name); break;
                    case "port": o.Port = Int(value, name, 0, 65535); break;
                    case "host": o.Host = value; break;
                    case "model": case "served-model-name": o.Model = value; break;
                    case "profile": profileName = value; break;
                    case "lora-modules":
                        foreach (string part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        {
                            int e = part.IndexOf('=');
                            string adapter = e >= 0 ? part[..e] : part;
                            if (!o.LoraModules.Contains(adapter))
                            {
                                o.LoraModules.Add(adapter);
                            }
                        }
                        break;
                    case "time-scale":
                        o.TimeScale = Double(value, name);
                        if (o.TimeScale <= 0)
                        {
                            throw new FormatException("--time-scale must be > 0");
                        }
                        break;
                    case "seed": o.Seed = Int(value, name, int.MinValue, int.MaxValue); break;
                    case "dialect":
                        o.Dialect = value switch
                        {
                            "vllm" => MetricsDialect.Vllm,
                            "sglang" => MetricsDialect.Sglang,
                            "trtllm-serve" or "trtllm" => MetricsDialect.TrtllmServe,
                            _ => throw new FormatException($"unknown --dialect '{value}' (vllm | sglang | trtllm-serve)"),
                        };
                        break;
                    case "kv-events-config":
                        o.KvEvents = KvEventsConfig.Parse(value, out string? kvError) ?? throw new FormatException(kvError);
                        break;
                    case "kv-events-encoding":
                        o.KvEventsEncoding = value switch
                        {
                            "map" => KvEventEncoding.Map,
                            "array" => KvEventEncoding.Array,
                            _ => throw new FormatException($"unknown --kv-events-encoding '{value}' (map | array)"),
                        };
                        break;
                    case "tokenizer":
                        o.Tokenizer = SimTokenizer.Find(value)
                            ?? throw new FormatException($"unknown --tokenizer '{value}' ({SimTokenizer.StandInName} | {SimTokenizer.O200kName})");
                        break;
                    case "default-max-tokens": o.DefaultMaxTokens = PositiveInt(value, name); break;
                    case "stream-chunk-tokens": o.StreamChunkTokens = PositiveInt(value, name); break;
                    case "max-body-mb": o.MaxBodyBytes = (long)PositiveInt(value, name) << 20; break;
                    case "fail-rate": o.Faults.FailRate = Probability(value, name); break;
                    case "hang-rate": o.Faults.HangRate = Probability(value, name); break;
                    case "hang-ms": o.Faults.HangMs = NonNegative(value, name); break;
                    case "metrics-delay-ms": o.Faults.MetricsDelayMs = NonNegative(value, name); break;
                    case "max-loras" or "max-num-seqs" or "max-num-batched-tokens" or "num-gpu-blocks" or "block-size"
                        or "max-model-len" or "max-waiting" or "enable-prefix-caching" or "lora-load-ms" or "step-overhead-ms"
                        or "prefill-ms-per-token" or "prefill-hidden-ms" or "attention-ms-per-token-pair" or "decode-ms-per-seq"
                        or "kv-read-ms-per-token":
                        engine[name] = value;
                        break;
                    default:
                        error = $"unknown flag --{name} (see --help)";
                        return null;
                }
            }
            catch (FormatException ex)
            {
                error = ex.Message;
                return null;
            }
        }

        EngineProfile? profile = EngineProfile.Find(profileName);
        if (profile is null)
        {
            error = $"unknown --profile '{profileName}' ({EngineProfile.H100Llama8B.Name} | {EngineProfile.H100Qwen32BTp2.Name})";
            return null;
        }
        try
        {
            o.Engine = ApplyOverrides(profile, engine);
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }
        if (o.Model.Length == 0)
        {
            o.Model = o.Engine.DefaultModel;
        }
        if (o.LoraModules.Contains(o.Model))
        {
            error = $"--lora-modules repeats the base model name '{o.Model}'";
            return null;
        }
        if (o.KvEventsEnabled && !o.Engine.EnablePrefixCaching)
        {
            error = "--kv-events-config: KV-cache events come from the prefix cache; they need prefix caching (drop --no-enable-prefix-caching)";
            return null;
        }
        if (o.KvEvents is { PublishesZmq: true } kv && PortOverflow(kv, o.Replicas, out string? portError))
        {
            error = portError;
            return null;
        }
        if (o.Port > 0 && o.Port + o.Replicas - 1 > 65535)
        {
            error = "--port + --replicas exceeds 65535";
            return null;
        }
        return o;
    }

    private static bool PortOverflow(KvEventsConfig kv, int replicas, out string? error)
    {
        error = null;
        foreach (string? endpoint in (ReadOnlySpan<string?>)[kv.Endpoint, kv.ReplayEndpoint])
        {
            if (endpoint is not null && endpoint.StartsWith("tcp://", StringComparison.Ordinal)
                && (endpoint == kv.ReplayEndpoint || KvEventsConfig.Binds(endpoint)))
            {
                string last = KvEventsConfig.OffsetEndpoint(endpoint, replicas - 1);
                int port = int.Parse(last.AsSpan(last.LastIndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture);
                if (port > 65535)
                {
                    error = $"--kv-events-config: {endpoint} + {replicas - 1} replicas exceeds port 65535";
                    return true;
                }
            }
        }
        if (KvEventsConfig.Binds(kv.Endpoint) && TcpPort(kv.Endpoint) is int pub and > 0 && TcpPort(kv.ReplayEndpoint) is int replay and > 0
            && pub < replay + replicas && replay < pub + replicas)
        {
            error = $"--kv-events-config: the PUB ports {pub}..{pub + replicas - 1} and the replay ports {replay}..{replay + replicas - 1} overlap";
            return true;
        }
        return false;

        static int? TcpPort(string? endpoint) => endpoint is not null && endpoint.StartsWith("tcp://", StringComparison.Ordinal)
            ? int.Parse(endpoint.AsSpan(endpoint.LastIndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture)
            : null;
    }

    private static EngineProfile ApplyOverrides(EngineProfile p, Dictionary<string, string> e)
    {
        foreach ((string name, string value) in e)
        {
            p = name switch
            {
                "max-loras" => p with { MaxLoras = Int(value, name, 0, 1024) },
                "max-num-seqs" => p with { MaxNumSeqs = PositiveInt(value, name) },
                "max-num-batched-tokens" => p with { MaxNumBatchedTokens = PositiveInt(value, name) },
                "num-gpu-blocks" => p with { NumGpuBlocks = PositiveInt(value, name) },
                "block-size" => p with { BlockSize = Int(value, name, 1, 1024) },
                "max-model-len" => p with { MaxModelLen = PositiveInt(value, name) },
                "max-waiting" => p with { MaxWaiting = Int(value, name, 0, int.MaxValue) },
                "enable-prefix-caching" => p with { EnablePrefixCaching = Bool(value, name) },
                "lora-load-ms" => p with { LoraLoadMs = NonNegative(value, name) },
                "step-overhead-ms" => p with { StepOverheadMs = NonNegative(value, name) },
                "prefill-ms-per-token" => p with { PrefillMsPerToken = NonNegative(value, name) },
                "prefill-hidden-ms" => p with { PrefillHiddenMs = NonNegative(value, name) },
                "attention-ms-per-token-pair" => p with { AttentionMsPerTokenPair = NonNegative(value, name) },
                "decode-ms-per-seq" => p with { DecodeMsPerSeq = NonNegative(value, name) },
                "kv-read-ms-per-token" => p with { KvReadMsPerToken = NonNegative(value, name) },
                _ => p,
            };
        }
        return p;
    }

    private static int Int(string v, string name, int min, int max)
    {
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x) || x < min || x > max)
        {
            throw new FormatException($"--{name}: '{v}' is not an integer in [{min}, {max}]");
        }
        return x;
    }

    private static int PositiveInt(string v, string name) => Int(v, name, 1, int.MaxValue);

    private static double Double(string v, string name)
    {
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
        {
            throw new FormatException($"--{name}: '{v}' is not a number");
        }
        return x;
    }

    private static double NonNegative(string v, string name)
    {
        double x = Double(v, name);
        return x >= 0 ? x : throw new FormatException($"--{name} must be >= 0");
    }

    private static double Probability(string v, string name)
    {
        double x = Double(v, name);
        return x is >= 0 and <= 1 ? x : throw new FormatException($"--{name} must be in [0, 1]");
    }

    private static bool Bool(string v, string name) => v.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw new FormatException($"--{name}: '{v}' is not a boolean"),
    };
}
