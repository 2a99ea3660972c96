using System.Text;
using System.Text.RegularExpressions;
using Envoy.Service.ExtProc.V3;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;

namespace FastEpp.Tests.Observability;

/// <summary>The reference's metric families as a dashboard scrapes them, after real ext_proc streams over gRPC.</summary>
public sealed class RequestMetricsEndToEndTests
{
    private static double Sample(string text, string series)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        Assert.True(m.Success, "missing series " + series + "\n" + text);
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task StreamedRequest_RecordsRequestResponseSchedulerAndPrefixFamilies()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000,10.0.0.2:8000");
        string prompt = string.Concat(Enumerable.Repeat("Summarise the following report carefully. ", 30));
        byte[] body = Encoding.UTF8.GetBytes($$"""{"model":"llama","prompt":"{{prompt}}","stream":true}""");

        using (var stream = epp.Open())
        {
            await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
            await stream.SendRequestBody(body, 1000);
            var headers = await stream.Next();
            string target = EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
            await stream.ReadRequestBody();

            string running = epp.Host.RenderMetrics();
            Assert.Equal(1, Sample(running, "inference_objective_running_requests{model_name=\"llama\"}"));

            await stream.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "text/event-stream")) } });
            await stream.Next();
            string sse = "data: {\"choices\":[{\"text\":\"ok\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":20,\"total_tokens\":320,\"prompt_tokens_details\":{\"cached_tokens\":128}}}\n\ndata: [DONE]\n\n";
            await stream.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(sse), EndOfStream = true } });
            await stream.Next();
            await stream.Complete();

            string port = target[(target.LastIndexOf(':') + 1)..];
            string pod = target.StartsWith("10.0.0.1", StringComparison.Ordinal) ? "static-0" : "static-1"; // static endpoints' pod names
            await Wait.UntilAsync(() => !Regex.IsMatch(epp.Host.RenderMetrics(), "running_requests\\{model_name=\"llama\"\\} 1$", RegexOptions.Multiline), "the running request is released");

            string text = epp.Host.RenderMetrics();
            Assert.Equal(1, Sample(text, "inference_objective_request_total{model_name=\"llama\",priority=\"0\",target_model_name=\"llama\"}"));
            Assert.Equal(1, Sample(text, "inference_objective_request_sizes_count{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(body.Length, Sample(text, "inference_objective_request_sizes_sum{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(0, Sample(text, "inference_objective_running_requests{model_name=\"llama\"}"));
            Assert.Equal(1, Sample(text, "inference_objective_request_duration_seconds_count{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(sse.Length, Sample(text, "inference_objective_response_sizes_sum{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(300, Sample(text, "inference_objective_input_tokens_sum{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(20, Sample(text, "inference_objective_output_tokens_sum{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(1, Sample(text, "inference_objective_normalized_time_per_output_token_seconds_count{model_name=\"llama\",target_model_name=\"llama\"}"));
            Assert.Equal(1, Sample(text, "inference_extension_scheduler_e2e_duration_seconds_count"));
            Assert.Equal(1, Sample(text, $"inference_extension_scheduler_attempts_total{{namespace=\"default\",pod_name=\"{pod}\",port=\"{port}\",status=\"success\",target_model_name=\"llama\"}}"));
            Assert.Equal(1, Sample(text, "inference_extension_prefix_indexer_hit_ratio_count"));
            Assert.Equal(0, Sample(text, "inference_extension_prefix_indexer_hit_ratio_sum")); // first sight of the prompt
            Assert.Contains("# TYPE inference_objective_request_duration_seconds histogram", text);
            Assert.Contains("inference_objective_request_sizes_bucket{model_name=\"llama\",target_model_name=\"llama\",le=\"1.048576e+06\"} 1", text);
            Assert.DoesNotContain("inference_objective_request_error_total", text);
            foreach (string series in new[]
            {
                "extension_point=\"Scorer\",plugin_name=\"queue-scorer\",plugin_type=\"queue-scorer\"",
                "extension_point=\"Scorer\",plugin_name=\"kv-cache-utilization-scorer\",plugin_type=\"kv-cache-utilization-scorer\"",
                "extension_point=\"Scorer\",plugin_name=\"prefix-cache-scorer\",plugin_type=\"prefix-cache-scorer\"",
                "extension_point=\"Picker\",plugin_name=\"max-score-picker\",plugin_type=\"max-score-picker\"",
                "extension_point=\"ProcessProfilesResults\",plugin_name=\"single-profile-handler\",plugin_type=\"single-profile-handler\"",
                "extension_point=\"PreRequest\",plugin_name=\"approx-prefix-cache-producer\",plugin_type=\"approx-prefix-cache-producer\"",
            })
                Assert.Equal(1, Sample(text, "inference_extension_plugin_duration_seconds_count{" + series + "}"));
            // The handler is asked until it has nothing more to run: twice per decision, each call timed (as the reference).
            Assert.Equal(2, Sample(text, "inference_extension_plugin_duration_seconds_count{extension_point=\"ProfilePicker\",plugin_name=\"single-profile-handler\",plugin_type=\"single-profile-handler\"}"));
        }

        // The same prompt again is a full prefix hit on the endpoint that now holds it (or a miss elsewhere).
        Scheduling.SchedulingTestData.WaitForPrefixRecords(epp.Host.Scheduler!);
        using (var again = epp.Open())
        {
            await again.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
            await again.SendRequestBody(body, 1000);
            await again.Next();
            await again.ReadRequestBody();
            await again.Complete();
        }
        string after = epp.Host.RenderMetrics();
        Assert.Equal(2, Sample(after, "inference_extension_prefix_indexer_hit_ratio_count"));
        Assert.True(Sample(after, "inference_extension_prefix_indexer_hit_ratio_sum") > 0.9);
        Assert.True(Sample(after, "inference_extension_prefix_indexer_size") > 0);
    }

    [Fact]
    public async Task BadRequest_CountsOneErrorWithItsCode()
    {
        await using var epp = await EppServer.StartAsync();
        using var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        await stream.SendRequestBody("{\"prompt\":\"no model\"}"u8.ToArray(), 100);
        var reply = await stream.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, reply.ResponseCase);
        await stream.ReadEnd();

        string text = "";
        await Wait.UntilAsync(() => (text = epp.Host.RenderMetrics()).Contains("request_error_total", StringComparison.Ordinal), "the error counter");
        Assert.Equal(1, Sample(text, "inference_objective_request_error_total{error_code=\"BadRequest\",model_name=\"\",target_model_name=\"\"}"));
        Assert.DoesNotContain("inference_objective_request_total", text);
        Assert.DoesNotContain("inference_objective_running_requests", text);
    }
}
