using FastEpp.Configuration;

namespace FastEpp.Scheduling.Profiles;

/// <summary>
/// <c>single-profile-handler</c> (no parameters): runs every profile once (Pick returns all profiles until
/// each has a result); ProcessResults requires exactly one profile and makes it primary, failing with
/// <c>failed to run scheduler profile '&lt;name&gt;'</c> when it produced nothing.
/// </summary>
internal sealed class SingleProfileHandler(string name) : Plugin(name), IProfileHandler
{
    public const string MultipleProfilesError = "SingleProfileHandler cannot support multiple scheduling profiles";

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("single-profile-handler", static (n, _, _) => new SingleProfileHandler(n));

    public override string TypeName => Type.Name;

    public string? Validate(IReadOnlyList<SchedulerProfile> profiles) =>
        profiles.Count > 1 ? MultipleProfilesError : null;

    public int Pick(in SchedulingContext ctx, ReadOnlySpan<bool> hasResult, Span<int> toRun)
    {
        int n = 0;
        for (int p = 0; p < hasResult.Length; p++)
        {
            if (hasResult[p])
                return 0; // len(results) == len(profiles) with one profile: done
            toRun[n++] = p;
        }
        return n;
    }

    public int ProcessResults(in SchedulingContext ctx, IReadOnlyList<SchedulerProfile> profiles, ReadOnlySpan<int> outcomes, out string? error)
    {
        if (outcomes.Length != 1)
        {
            error = "single profile handler is intended to be used with a single profile, but multiple results were found";
            return -1;
        }
        if (outcomes[0] <= 0)
        {
            error = $"failed to run scheduler profile '{profiles[0].Name}'";
            return -1;
        }
        error = null;
        return 0;
    }
}
