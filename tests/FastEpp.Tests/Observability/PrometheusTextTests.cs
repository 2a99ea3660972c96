using System.Text;
using FastEpp.Observability;

namespace FastEpp.Tests.Observability;

public sealed class PrometheusTextTests
{
    [Theory]
    [InlineData(1048576, "1.048576e+06")]      // Go 'g' switches to exponent form at 1e6
    [InlineData(262144, "262144")]
    [InlineData(1073741824, "1.073741824e+09")]
    [InlineData(32778, "32778")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(0.00205, "0.00205")]
    [InlineData(0.0005, "0.0005")]
    [InlineData(1, "1")]
    [InlineData(0, "0")]
    [InlineData(0.1, "0.1")]
    [InlineData(100, "100")]
    [InlineData(999999, "999999")]
    [InlineData(1234567.5, "1.2345675e+06")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NaN, "NaN")]
    public void AppendFloat_MatchesGoFormatFloatG(double value, string expected) =>
        Assert.Equal(expected, PrometheusText.FormatFloat(value));

    [Fact]
    public void LabelValues_AreEscaped() =>
        Assert.Equal("a=\"x\\\"y\\\\z\\n\",b=\"\"", PrometheusText.LabelList(("a", "x\"y\\z\n"), ("b", "")));

    [Fact]
    public void Histogram_WritesCumulativeBucketsSumAndCount()
    {
        var h = new Histogram([0.1, 1, 10]);
        h.Observe(0.1);   // le=0.1 includes its bound
        h.Observe(0.5);
        h.Observe(5);
        h.Observe(50);
        var sb = new StringBuilder();
        h.Write(new ExpositionWriter(sb), "x_seconds", "model_name=\"m\"");
        Assert.Equal("""
            x_seconds_bucket{model_name="m",le="0.1"} 1
            x_seconds_bucket{model_name="m",le="1"} 2
            x_seconds_bucket{model_name="m",le="10"} 3
            x_seconds_bucket{model_name="m",le="+Inf"} 4
            x_seconds_sum{model_name="m"} 55.6
            x_seconds_count{model_name="m"} 4

            """.Replace("\r\n", "\n"), sb.ToString());
    }

    [Fact]
    public void Histogram_ConcurrentObservations_AreAllCounted()
    {
        var h = new Histogram([1, 2]);
        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < 10_000; i++)
                h.Observe(1);
        });
        Assert.Equal(80_000, h.Count);
        Assert.Equal(80_000, h.Sum);
    }

    [Fact]
    public void EppMetrics_EmptyFamiliesWriteNothing_AndSeriesAreLazy()
    {
        var metrics = new EppMetrics();
        var sb = new StringBuilder();
        metrics.Write(sb);
        Assert.Equal("", sb.ToString());

        metrics.RequestError("m", "m", "");          // empty code: not recorded (as the reference)
        metrics.RunningChanged("", 1);               // empty model: skipped
        metrics.RequestError("m", "t", "BadRequest");
        metrics.RequestError("m", "t", "BadRequest");
        metrics.Write(sb);
        Assert.Equal("""
            # HELP inference_objective_request_error_total [ALPHA] Counter of inference objective requests errors broken out for each model and target model.
            # TYPE inference_objective_request_error_total counter
            inference_objective_request_error_total{error_code="BadRequest",model_name="m",target_model_name="t"} 2

            """.Replace("\r\n", "\n"), sb.ToString());
    }

    [Fact]
    public void ProcessFamilies_AreTheGoCollectorsNames()
    {
        var sb = new StringBuilder();
        ProcessMetrics.Write(sb);
        string text = sb.ToString();
        Assert.Contains("# TYPE process_cpu_seconds_total counter\n", text);
        foreach (string gauge in new[] { "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds", "process_max_fds" })
        {
            var m = System.Text.RegularExpressions.Regex.Match(text, "^" + gauge + " (\\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(m.Success, gauge);
            Assert.True(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, gauge);
        }
    }
}
