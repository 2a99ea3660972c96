using YamlDotNet.RepresentationModel;

namespace FastEpp.Configuration;

/// <summary>
/// The decoded <c>EndpointPickerConfig</c> (spec scheduling.md §1.3), mutable while the loader defaults it.
/// Plugin <c>parameters</c> stay as YAML nodes and are decoded per plugin.
/// </summary>
internal sealed class EndpointPickerConfig
{
    public const string ApiVersion = "inference.networking.x-k8s.io/v1alpha1";
    public const string Kind = "EndpointPickerConfig";

    public List<string> FeatureGates { get; set; } = [];

    public List<PluginSpec> Plugins { get; } = [];

    public List<ProfileSpec> SchedulingProfiles { get; } = [];

    /// <summary><c>saturationDetector.pluginRef</c>; null when the section is absent.</summary>
    public string? SaturationDetectorRef { get; set; }

    /// <summary>The <c>dataLayer</c> section; null when absent.</summary>
    public List<DataSourceSpec>? DataLayer { get; set; }

    /// <summary>The <c>flowControl</c> section; null when absent.</summary>
    public FlowControlSpec? FlowControl { get; set; }

    /// <summary><c>parser.pluginRef</c>; null when the section is absent.</summary>
    public string? ParserRef { get; set; }
}

internal sealed class PluginSpec
{
    public string Name { get; set; } = "";

    public string Type { get; set; } = "";

    public YamlMappingNode? Parameters { get; set; }
}

internal sealed class ProfileSpec
{
    public string Name { get; set; } = "";

    public List<ProfilePluginRef> Plugins { get; } = [];
}

internal sealed class ProfilePluginRef
{
    public string PluginRef { get; set; } = "";

    public double? Weight { get; set; }
}

internal sealed class DataSourceSpec
{
    public string PluginRef { get; set; } = "";

    public List<string> Extractors { get; } = [];
}

internal sealed class FlowControlSpec
{
    public long MaxBytes { get; set; }

    public long MaxRequests { get; set; }

    public TimeSpan DefaultRequestTtl { get; set; }

    public PriorityBandSpec? DefaultPriorityBand { get; set; }

    public List<PriorityBandSpec> PriorityBands { get; } = [];

    public string UsageLimitPolicyPluginRef { get; set; } = "";
}

internal sealed class PriorityBandSpec
{
    public int Priority { get; set; }

    public long MaxBytes { get; set; }

    public long MaxRequests { get; set; }

    public string FairnessPolicyRef { get; set; } = "";

    public string OrderingPolicyRef { get; set; } = "";
}
