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
        foreach (IFilter filter in Filters)
        {
            n = filter.Filter(ctx, work[..n]);
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
            foreach (WeightedScorer ws in Scorers)
            {
                scores.Clear();
                ws.Scorer.Score(ctx, work, scores);
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
        return Picker.Pick(ctx, work, totals, result);
    }
}
