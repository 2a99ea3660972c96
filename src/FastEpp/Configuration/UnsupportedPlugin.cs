using FastEpp.Scheduling;

namespace FastEpp.Configuration;

/// <summary>
/// A reference plugin type FastEpp cannot run. It loads (so its parameters are checked and the config's
/// errors are reported in the reference's order), then start-up stops with <see cref="Reason"/>: a config
/// option that loaded and did nothing would route silently wrong.
/// </summary>
internal sealed class UnsupportedPlugin(string typeName, string name, string reason) : Plugin(name)
{
    private const string PredictorReason =
        "it needs the external latency-predictor sidecars (PREDICTION_SERVER_URL / TRAINING_SERVER_URL), which FastEpp does not support";

    public override string TypeName { get; } = typeName;

    /// <summary>Why FastEpp cannot run it (the end of the start-up error).</summary>
    public string Reason { get; } = reason;

    public static readonly PluginType PredictedLatencyProducer = Refused("predicted-latency-producer", PredictorReason);

    public static readonly PluginType LatencySloAdmitter = Refused("latency-slo-admitter",
        "it admits by latency predictions, which need the external latency-predictor sidecars FastEpp does not support");

    public static readonly PluginType SloHeadroomTierFilter = new("slo-headroom-tier-filter", static (n, p, _) =>
    {
        double eps = p.GetDouble("epsilonExploreNeg", 0.01);
        if (eps is < 0 or > 1)
            throw new ConfigException($"epsilonExploreNeg must be in [0, 1], got {eps}");
        return new UnsupportedPlugin("slo-headroom-tier-filter", n,
            "it filters by latency-prediction headroom, which needs the external latency-predictor sidecars FastEpp does not support");
    });

    private static PluginType Refused(string type, string reason) =>
        new(type, (n, _, _) => new UnsupportedPlugin(type, n, reason));
}
