using System.Diagnostics;
using FastEpp.Observability;

namespace FastEpp.Scheduling;

/// <summary>A scorer with its profile weight (the reference's WeightedScorer).</summary>
internal readonly record struct WeightedScorer(IScorer Scorer, double Weight);

/// <summary>
/// One scheduling profile (spec scheduling.md §2.4): filters in listed order, weighted scorers, one
/// picker. Immutable after construction.
/// </summary>
internal sealed class SchedulerProfile
{
    public SchedulerProfile(string name, IFilter[] filters, WeightedScorer[] scorers, IPicker picker)
    {
        Name = name;
        Filters = filters;
        Scorers = scorers;
        Picker = picker;
    }

    public string Name { get; }

    public IFilter[] Filters { get; }

    public WeightedScorer[] Scorers { get; }

    public IPicker Picker { get; }

    // inference_extension_plugin_duration_seconds per filter, scorer and the picker; null = not timed.
    private Histogram[]? _filterTimers, _scorerTimers;
    private Histogram? _pickerTimer;

    /// <summary>Times every plugin of this profile into <paramref name="metrics"/> (extension points Filter, Scorer, Picker).</summary>
    public void EnableTimings(EppMetrics metrics)
    {
        _filterTimers = Array.ConvertAll(Filters, f => metrics.PluginDuration("Filter", f.TypeName, f.Name));
        _scorerTimers = Array.ConvertAll(Scorers, s => metrics.PluginDuration("Scorer", s.Scorer.TypeName, s.Scorer.Name));
        _pickerTimer = metrics.PluginDuration("Picker", Picker.TypeName, Picker.Name);
    }

    /// <summary>Error text of a profile that ends with no candidates (reference: Internal error).</summary>
    public const string NoEndpointsError = "no endpoints available for the given request";

    /// <summary>
    /// Runs filters → weighted scorers → picker over a copy of <paramref name="candidates"/> and writes
    /// the picked endpoint indices into <paramref name="result"/>. Returns the count, or −1 when the
    /// filters left nothing.
    /// </summary>
    public int Run(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<int> result)
    {
        RequestScratch scratch = ctx.Scratch;
        Span<int> work = scratch.Candidates(candidates.Length);
        candidates.CopyTo(work);
        int n = work.Length;

        // 1. Filters in order; an empty output stops the chain and fails the profile.
        Histogram[]? filterTimers = _filterTimers;
        for (int f = 0; f < Filters.Length; f++)
        {
            long start = filterTimers is null ? 0 : Stopwatch.GetTimestamp();
            n = Filters[f].Filter(ctx, work[..n]);
            filterTimers?[f].Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
            if (n <= 0)
                return -1;
        }
        if (n == 0)
            return -1;
        work = work[..n];

        // 2. total[e] = Σ weight × clamp(score, 0, 1); not normalised (reference scheduler_profile.go).
        Span<double> totals = scratch.Totals(n);
        totals.Clear();
        if (Scorers.Length != 0)
        {
            Span<double> scores = scratch.Scores(n);
            Histogram[]? scorerTimers = _scorerTimers;
            for (int k = 0; k < Scorers.Length; k++)
            {
                WeightedScorer ws = Scorers[k];
                scores.Clear();
                long start = scorerTimers is null ? 0 : Stopwatch.GetTimestamp();
                ws.Scorer.Score(ctx, work, scores);
                scorerTimers?[k].Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
                double w = ws.Weight;
                for (int i = 0; i < scores.Length; i++)
                {
                    double s = scores[i];
                    // NaN counts as 0 (Go would propagate it into the sum).
                    s = s > 0 ? (s < 1 ? s : 1) : 0;
                    totals[i] += s * w;
                }
            }
        }

        // 3. Picker.
        if (_pickerTimer is not { } pickerTimer)
            return Picker.Pick(ctx, work, totals, result);
        long pickStart = Stopwatch.GetTimestamp();
        int picked = Picker.Pick(ctx, work, totals, result);
        pickerTimer.Observe(Stopwatch.GetElapsedTime(pickStart).TotalSeconds);
        return picked;
    }
}
