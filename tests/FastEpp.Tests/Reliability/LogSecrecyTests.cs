using System.Net;
using System.Net.Sockets;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
using FastEpp.Hosting;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// Security §5: the whole EPP program (flags → zap logger → servers) at its highest verbosity, in JSON and in
/// development (console) mode, serves requests carrying a distinctive prompt, bearer token, API key, cookie and
/// completion text — routed ones, an early error and a cancelled one — and the captured log holds none of them.
/// </summary>
public sealed class LogSecrecyTests
{
    private const string Prompt = "PROMPT-ZEBRA-1177-do-not-log";
    private const string Token = "sk-TOKEN-7f3a9c-do-not-log";
    private const string ApiKey = "APIKEY-Q8Z1-do-not-log";
    private const string Cookie = "COOKIE-44-do-not-log";
    private const string Completion = "COMPLETION-OKAPI-5521-do-not-log";
    private const string RequestId = "reqid-visible-3141";

    public static TheoryData<string[]> Verbosities => new()
    {
        new[] { "-v", "10" },
        new[] { "--zap-log-level", "10" },
        new[] { "--zap-devel", "--zap-log-level", "debug", "-v", "10" },
    };

    [Theory]
    [MemberData(nameof(Verbosities))]
    public async Task HighestVerbosity_NoPromptTokenHeaderOrCompletionInTheLogs(string[] verbosity)
    {
        string dir = Directory.CreateTempSubdirectory("fastepp-logs-").FullName;
        string logPath = Path.Combine(dir, "epp.log");
        int grpc = FreePort(), health = FreePort(), metrics = FreePort();
        using var stop = new CancellationTokenSource();
        Task<int> run;
        await using (var log = new FileStream(logPath, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            string[] args = ["--endpoints", "10.0.0.1:8000,10.0.0.2:8000", "--secure-serving=false", "--bind-address", "127.0.0.1",
                "--grpc-port", grpc.ToString(), "--grpc-health-port", health.ToString(), "--metrics-port", metrics.ToString(), .. verbosity];
            run = EppProgram.RunAsync(args, log, stop.Token);
            using var channel = ExtProcChannel.Create($"127.0.0.1:{grpc}");
            var client = new ExternalProcessor.ExternalProcessorClient(channel);
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, grpc);
                    return true;
                }
                catch (SocketException)
                {
                    Assert.False(run.IsCompleted, "the EPP exited at start-up");
                    return false;
                }
            }, "the EPP listening");

            (string, string)[] secrets = [("authorization", "Bearer " + Token), ("x-api-key", ApiKey), ("cookie", "session=" + Cookie)];
            byte[] body = Encoding.UTF8.GetBytes($"{{\"model\":\"m\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"{Prompt}\"}}]}}");

            // 1. Routed, with a streamed response carrying the completion text and usage.
            using (var s = new EnvoyStream(client.Process()))
            {
                await s.SendRequestHeaders(false, EnvoyMessages.ChatHeaders("/v1/chat/completions", RequestId, secrets));
                await s.SendRequestBody(body, 16);
                var routed = await s.Next();
                Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, routed.ResponseCase);
                await s.ReadRequestBody();
                await s.Send(EnvoyMessages.ResponseHeaders(EnvoyMessages.Headers((":status", "200"), ("content-type", "text/event-stream"), ("set-cookie", "s=" + Cookie))));
                await s.Next();
                string sse = $"data: {{\"choices\":[{{\"delta\":{{\"content\":\"{Completion}\"}}}}]}}\n\ndata: {{\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}}}\n\ndata: [DONE]\n\n";
                await s.Send(EnvoyMessages.ResponseBody(ByteString.CopyFromUtf8(sse), endOfStream: true));
                await s.Next();
                await s.Complete();
            }

            // 2. An early error: the malformed body (it contains the prompt) is answered 400.
            using (var s = new EnvoyStream(client.Process()))
            {
                await s.SendRequestHeaders(false, EnvoyMessages.ChatHeaders("/v1/chat/completions", RequestId + "-bad", secrets));
                await s.SendRequestBody(Encoding.UTF8.GetBytes($"{{\"model\":\"m\",\"messages\":[{{\"content\":\"{Prompt}\" {Token}"), 1024);
                Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, (await s.Next()).ResponseCase);
            }

            // 3. Cancelled mid-body.
            using (var s = new EnvoyStream(client.Process()))
            {
                await s.SendRequestHeaders(false, EnvoyMessages.ChatHeaders("/v1/chat/completions", RequestId + "-cancel", secrets));
                await s.Send(EnvoyMessages.RequestBody(ByteString.CopyFrom(body.AsSpan(0, body.Length / 2)), false));
            }

            stop.Cancel();
            Assert.Equal(0, await run);
        }

        string text = await File.ReadAllTextAsync(logPath);
        try
        {
            Assert.Contains(RequestId, text); // request-level lines were written: the grep below looks at something
            foreach (string secret in new[] { Prompt, Token, ApiKey, Cookie, Completion })
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"the log contains '{secret}':\n{string.Join('\n', text.Split('\n').Where(l => l.Contains(secret, StringComparison.Ordinal)).Take(3))}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
