namespace FastEpp.Scheduling.Scorers;

/// <summary>The reference's min–max "lower is better" normalisation, in place.</summary>
internal static class MinMax
{
    /// <summary>values → max == min ? 1 : (max − v) / (max − min).</summary>
    public static void Invert(Span<double> values)
    {
        if (values.IsEmpty)
            return;
        double min = values[0], max = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            double v = values[i];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (max == min)
        {
            values.Fill(1.0);
            return;
        }
        double range = max - min;
        for (int i = 0; i < values.Length; i++)
            values[i] = (max - values[i]) / range;
    }
}
