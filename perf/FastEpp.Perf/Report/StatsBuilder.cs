using FastEpp.Perf.Load;
using FastEpp.Perf.Workloads;

namespace FastEpp.Perf.Report;

/// <summary>Turns request results into per-stage and overall statistics.</summary>
internal static class StatsBuilder
{
    public static (List<StageReport> Stages, StageReport Overall) Build(RequestResult[] results, Stage[] stages, double stageGap = 0)
    {
        var list = new List<StageReport>(stages.Length);
        double stageStart = 0;
        for (int s = 0; s < stages.Length; s++)
        {
            list.Add(Aggregate(results, s, stageStart, stages[s].Rate, stages[s].Seconds));
            stageStart += stages[s].Seconds + stageGap;
        }
        double total = 0, sentRate = 0;
        foreach (Stage st in stages)
        {
            total += st.Seconds;
            sentRate += st.Rate * st.Seconds;
        }
        StageReport overall = Aggregate(results, -1, 0, total > 0 ? sentRate / total : 0, total);
        return (list, overall);
    }

    /// <summary>Statistics of the requests of stage <paramref name="stage"/> (-1 = all).</summary>
    public static StageReport Aggregate(RequestResult[] results, int stage, double stageStart, double rate, double seconds)
    {
        var ttft = new List<double>();
        var tpot = new List<double>();
        var e2e = new List<double>();
        int sent = 0, completed = 0, errors = 0;
        long tokens = 0, prompt = 0, cached = 0;
        double lastEnd = stageStart;
        foreach (ref readonly RequestResult r in results.AsSpan())
        {
            if (stage >= 0 && r.Stage != stage)
                continue;
            sent++;
            if (!r.Ok)
            {
                errors++;
                continue;
            }
            completed++;
            tokens += r.OutputTokens;
            prompt += r.PromptTokens;
            cached += r.CachedTokens;
            if (!double.IsNaN(r.Ttft))
                ttft.Add(r.Ttft);
            if (!double.IsNaN(r.Tpot))
                tpot.Add(r.Tpot);
            e2e.Add(r.E2e);
            lastEnd = Math.Max(lastEnd, r.FinishedAt);
        }
        double span = Math.Max(lastEnd - stageStart, 1e-9);
        return new StageReport
        {
            Stage = stage + 1,
            OfferedRate = rate,
            Seconds = seconds,
            Sent = sent,
            Completed = completed,
            Errors = errors,
            Ttft = Of(ttft),
            Tpot = Of(tpot),
            E2e = Of(e2e),
            OutputTokensPerSecond = completed > 0 ? tokens / span : 0,
            RequestsPerSecond = completed > 0 ? completed / span : 0,
            CachedTokenFraction = prompt > 0 ? (double)cached / prompt : double.NaN,
        };
    }

    /// <summary>
    /// The TTFT CDF over every request sent: (TTFT, fraction of the sent requests with a TTFT ≤ it), at most
    /// <paramref name="maxPoints"/> points evenly spaced in rank plus the last. A request without a first token (an
    /// error, a cancelled straggler) never arrives, so the curve then ends below 1.
    /// </summary>
    public static List<CdfPoint> TtftCdf(RequestResult[] results, int maxPoints)
    {
        var ttft = new List<double>(results.Length);
        foreach (RequestResult r in results)
        {
            if (r.Ok && !double.IsNaN(r.Ttft))
                ttft.Add(r.Ttft);
        }
        ttft.Sort();
        var cdf = new List<CdfPoint>(Math.Min(ttft.Count, maxPoints) + 1);
        if (ttft.Count == 0)
            return cdf;
        int step = Math.Max(1, ttft.Count / Math.Max(1, maxPoints));
        for (int i = step - 1; i < ttft.Count; i += step)
            cdf.Add(new CdfPoint { Seconds = ttft[i], Fraction = (double)(i + 1) / results.Length });
        if (cdf[^1].Seconds != ttft[^1] || cdf[^1].Fraction != (double)ttft.Count / results.Length)
            cdf.Add(new CdfPoint { Seconds = ttft[^1], Fraction = (double)ttft.Count / results.Length });
        return cdf;
    }

    public static Percentiles Of(List<double> values)
    {
        if (values.Count == 0)
            return new Percentiles();
        values.Sort();
        double sum = 0;
        foreach (double v in values)
            sum += v;
        return new Percentiles
        {
            Mean = sum / values.Count,
            P50 = Quantile(values, 0.50),
            P90 = Quantile(values, 0.90),
            P99 = Quantile(values, 0.99),
        };
    }

    /// <summary>Linear-interpolated quantile of sorted values.</summary>
    public static double Quantile(List<double> sorted, double q)
    {
        if (sorted.Count == 1)
            return sorted[0];
        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
