using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Tests.Engine;

/// <summary>The default profile against the H100 measurements (../shared/notes/h100-calibration.md).</summary>
public sealed class EngineProfileTests
{
    // (batch, context per sequence, measured step ms) from h100-llama8b-calibration.json.
    [Theory]
    [InlineData(1, 512, 6.217)]
    [InlineData(8, 2048, 7.057)]
    [InlineData(32, 2048, 9.077)]
    [InlineData(32, 8192, 17.338)]
    [InlineData(64, 2048, 12.016)]
    [InlineData(128, 2048, 18.135)]
    [InlineData(256, 512, 13.791)]
    public void DecodeStep_MatchesH100Measurement(int batch, int context, double measuredMs)
    {
        double ms = EngineProfile.H100Llama8B.StepSeconds(0, 0, batch, (long)batch * context, 0) * 1000;
        Assert.InRange(ms, measuredMs * 0.95, measuredMs * 1.05);
    }

    // (prompt tokens, measured ms): one whole prompt in one step.
    [Theory]
    [InlineData(128, 7.409, 0.2)]
    [InlineData(512, 12.502, 0.1)]
    [InlineData(1024, 22.032, 0.1)]
    [InlineData(2048, 44.6, 0.1)]
    [InlineData(4096, 92.545, 0.1)]
    [InlineData(8192, 207.624, 0.1)]
    [InlineData(16384, 461.525, 0.1)]
    public void PrefillStep_MatchesH100Measurement(int tokens, double measuredMs, double tolerance)
    {
        double ms = EngineProfile.H100Llama8B.StepSeconds(tokens, (double)tokens * tokens / 2, 0, 0, 0) * 1000;
        Assert.InRange(ms, measuredMs * (1 - tolerance), measuredMs * (1 + tolerance));
    }

    [Fact]
    public void BatchedPrefill_MatchesH100Measurement()
    {
        // 4 × 4,096 tokens in one step: 389 ms measured.
        double ms = EngineProfile.H100Llama8B.StepSeconds(4 * 4096, 4 * 4096.0 * 4096 / 2, 0, 0, 0) * 1000;
        Assert.InRange(ms, 389.087 * 0.9, 389.087 * 1.1);
    }

    [Fact]
    public void IsolatedTtft_OfTheEngine_MatchesPrefillMeasurement()
    {
        var engine = new EngineCore(EngineProfile.H100Llama8B);
        SimRequest r = EngineTestKit.Unique(4096, 1);
        engine.Submit(r, 0);
        engine.RunUntilIdle();
        Assert.InRange(EngineTestKit.Ttft(r) * 1000, 92.545 * 0.9, 92.545 * 1.1);
    }

    [Fact]
    public void Qwen32BProfile_PrefillNearPeakThroughput()
    {
        // anchors.md §4.2: Qwen3-32B TP2 H100 peak prefill 15,928 tok/s.
        EngineProfile p = EngineProfile.H100Qwen32BTp2;
        double seconds = p.StepSeconds(8192, 8192.0 * 8192 / 2, 0, 0, 0);
        Assert.InRange(8192 / seconds, 15_928 * 0.85, 15_928 * 1.05);
        Assert.InRange(p.StepSeconds(0, 0, 1, 1000, 0) * 1000, 10, 15);   // ITL floor ≥ ~10 ms
    }

    [Theory]
    [InlineData("h100-llama8b")]
    [InlineData("H100-QWEN3-32B-TP2")]
    [InlineData("default")]
    public void Find_KnowsBuiltIns(string name) => Assert.NotNull(EngineProfile.Find(name));

    [Fact]
    public void Find_UnknownIsNull() => Assert.Null(EngineProfile.Find("a100"));
}
