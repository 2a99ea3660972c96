using System.Globalization;
using System.Text.Json;

namespace FastEpp.Sim.KvEvents;

/// <summary>
/// vLLM's <c>--kv-events-config</c> JSON (<c>KVEventsConfig</c>, ../shared/spec/routing.md §1.1), parsed strictly:
/// an unknown key or a value of the wrong type or range is an error at start-up.
/// </summary>
internal sealed class KvEventsConfig
{
    /// <summary>Master switch; false ⇒ the null publisher.</summary>
    public bool EnableKvCacheEvents { get; private set; }

    /// <summary>"zmq" or "null"; unset ⇒ "zmq" when enabled, else "null" (vLLM's rule).</summary>
    public string Publisher { get; private set; } = "null";

    /// <summary>PUB address; bound when it contains <c>*</c> or <c>::</c> or is ipc:// / inproc://, else connected.</summary>
    public string Endpoint { get; private set; } = "tcp://*:5557";

    /// <summary>ROUTER address for replay (always bound), or null for no replay.</summary>
    public string? ReplayEndpoint { get; private set; }

    /// <summary>Replay ring size, in published batches.</summary>
    public int BufferSteps { get; private set; } = 10_000;

    /// <summary>ZeroMQ send high-water mark of the PUB socket (0 = unlimited).</summary>
    public int Hwm { get; private set; } = 100_000;

    /// <summary>Bound of the queue between the engine and the publisher thread (a full queue blocks the engine, as vLLM).</summary>
    public int MaxQueueSize { get; private set; } = 100_000;

    /// <summary>Frame 0 of every message, sent verbatim (UTF-8).</summary>
    public string Topic { get; private set; } = "";

    /// <summary>True when events are published over ZeroMQ.</summary>
    public bool PublishesZmq => EnableKvCacheEvents && Publisher == "zmq";

    /// <summary>Parses the flag's JSON; on failure returns null and sets <paramref name="error"/>.</summary>
    public static KvEventsConfig? Parse(string json, out string? error)
    {
        error = null;
        var c = new KvEventsConfig();
        string? publisher = null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "--kv-events-config must be a JSON object";
                return null;
            }
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                JsonElement v = p.Value;
                switch (p.Name)
                {
                    case "enable_kv_cache_events":
                        c.EnableKvCacheEvents = v.ValueKind switch
                        {
                            JsonValueKind.True => true,
                            JsonValueKind.False => false,
                            _ => throw Bad(p.Name, "a boolean"),
                        };
                        break;
                    case "publisher":
                        publisher = v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(p.Name, "\"zmq\" or \"null\"");
                        if (publisher is not ("zmq" or "null"))
                        {
                            throw Bad(p.Name, "\"zmq\" or \"null\"");
                        }
                        break;
                    case "endpoint":
                        c.Endpoint = ValidEndpoint(p.Name, v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(p.Name, "a string"));
                        break;
                    case "replay_endpoint":
                        c.ReplayEndpoint = v.ValueKind switch
                        {
                            JsonValueKind.Null => null,
                            JsonValueKind.String => ValidEndpoint(p.Name, v.GetString()!),
                            _ => throw Bad(p.Name, "a string or null"),
                        };
                        break;
                    case "buffer_steps": c.BufferSteps = Int(p.Name, v, 1); break;
                    case "hwm": c.Hwm = Int(p.Name, v, 0); break;
                    case "max_queue_size": c.MaxQueueSize = Int(p.Name, v, 1); break;
                    case "topic":
                        c.Topic = v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(p.Name, "a string");
                        break;
                    default:
                        throw new FormatException(
                            $"--kv-events-config: unknown key '{p.Name}' (known: enable_kv_cache_events, publisher, endpoint, replay_endpoint, buffer_steps, hwm, max_queue_size, topic)");
                }
            }
        }
        catch (JsonException ex)
        {
            error = "--kv-events-config is not valid JSON: " + ex.Message;
            return null;
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }
        c.Publisher = publisher ?? (c.EnableKvCacheEvents ? "zmq" : "null");
        return c;
    }

    /// <summary>
    /// The endpoint of replica <paramref name="replica"/>: vLLM's data-parallel rule (tcp: port + rank; inproc:
    /// <c>_dp&lt;rank&gt;</c> suffix; rank 0 unchanged). Port 0 (a simulator extension for tests) stays 0 = ephemeral.
    /// </summary>
    public static string OffsetEndpoint(string endpoint, int replica)
    {
        if (replica == 0)
        {
            return endpoint;
        }
        if (endpoint.Contains("inproc", StringComparison.Ordinal))
        {
            return endpoint + "_dp" + replica.ToString(CultureInfo.InvariantCulture);
        }
        if (endpoint.StartsWith("tcp://", StringComparison.Ordinal))
        {
            int colon = endpoint.LastIndexOf(':');
            int port = int.Parse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture);
            return port == 0 ? endpoint : endpoint[..(colon + 1)] + (port + replica).ToString(CultureInfo.InvariantCulture);
        }
        return endpoint;
    }

    /// <summary>
    /// Replica <paramref name="replica"/>'s PUB endpoint: offset (<see cref="OffsetEndpoint"/>) when it binds, so every
    /// replica has its own port; unchanged when it connects, so every replica — each a separate "pod" of data-parallel
    /// rank 0 — pushes into the same central SUB (llm-d's <c>zmqEndpoint</c> mode), told apart by its topic.
    /// </summary>
    public static string PubEndpointFor(string endpoint, int replica) => Binds(endpoint) ? OffsetEndpoint(endpoint, replica) : endpoint;

    /// <summary>vLLM's bind-or-connect heuristic for the PUB socket.</summary>
    public static bool Binds(string endpoint) =>
        endpoint.Contains('*') || endpoint.Contains("::", StringComparison.Ordinal)
        || endpoint.StartsWith("ipc://", StringComparison.Ordinal) || endpoint.StartsWith("inproc://", StringComparison.Ordinal);

    private static string ValidEndpoint(string key, string value)
    {
        if (value.StartsWith("tcp://", StringComparison.Ordinal))
        {
            int colon = value.LastIndexOf(':');
            if (colon <= "tcp://".Length - 1 || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
            {
                throw new FormatException($"--kv-events-config: {key} '{value}' needs a port (tcp://host:port)");
            }
            return value;
        }
        if ((value.StartsWith("ipc://", StringComparison.Ordinal) || value.StartsWith("inproc://", StringComparison.Ordinal)) && value.IndexOf("://", StringComparison.Ordinal) + 3 < value.Length)
        {
            return value;
        }
        throw new FormatException($"--kv-events-config: {key} '{value}' is not a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)");
    }

    private static int Int(string key, JsonElement v, int min)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int x) || x < min)
        {
            throw Bad(key, $"an integer >= {min}");
        }
        return x;
    }

    private static FormatException Bad(string key, string what) => new($"--kv-events-config: '{key}' must be {what}");
}
