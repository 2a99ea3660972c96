using System.Net;
using System.Text;
using System.Text.Json;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Tests.Http;
using FastEpp.Sim.Tokenization;

namespace FastEpp.Sim.Tests.Tokenization;

/// <summary>vLLM's /tokenize, /detokenize and render routes with the stand-in and the o200k_base tokenizer.</summary>
public sealed class TokenizeEndpointTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    private static async Task<JsonElement> PostAsync(FleetHarness h, string path, string body, HttpStatusCode status = HttpStatusCode.OK)
    {
        using HttpResponseMessage resp = await h.PostJsonAsync(0, path, body);
        string text = await resp.Content.ReadAsStringAsync();
        Assert.True(status == resp.StatusCode, text);
        using JsonDocument doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    private static int[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static int[] O200k(string text) => SimTokenizer.Find("o200k_base")!.Tiktoken!.EncodeToIds(text).ToArray();

    [Fact]
    public void O200k_RecognisesTheChatMarkers()
    {
        Assert.Equal([SimTokenizer.ImStart, SimTokenizer.ImSep, SimTokenizer.ImEnd], O200k("<|im_start|><|im_sep|><|im_end|>"));
        Assert.True(O200k("Hello world, routing by prefix!").Length < "Hello world, routing by prefix!".Length / 2);
    }

    [Fact]
    public async Task Tokenize_Prompt_O200k()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--tokenizer", "o200k_base");
        const string prompt = "The quick brown fox jumps over the lazy dog";
        JsonElement r = await PostAsync(h, "/tokenize", $$"""{"model":"{{Model}}","prompt":"{{prompt}}","add_special_tokens":true}""");
        Assert.Equal(O200k(prompt), Ids(r.GetProperty("tokens")));
        Assert.Equal(O200k(prompt).Length, r.GetProperty("count").GetInt32());
        Assert.Equal(h.Fleet.Options.Engine.MaxModelLen, r.GetProperty("max_model_len").GetInt32());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("token_strs").ValueKind);

        // The completion is charged exactly these tokens.
        JsonElement c = await PostAsync(h, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"{{prompt}}","max_tokens":1}""");
        Assert.Equal(O200k(prompt).Length, c.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        JsonElement strs = await PostAsync(h, "/tokenize", $$"""{"prompt":"{{prompt}}","return_token_strs":true}""");
        Assert.Equal(prompt, string.Concat(strs.GetProperty("token_strs").EnumerateArray().Select(e => e.GetString())));
        JsonElement back = await PostAsync(h, "/detokenize", $$"""{"model":"{{Model}}","tokens":[{{string.Join(',', O200k(prompt))}}]}""");
        Assert.Equal(prompt, back.GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Tokenize_Messages_AppliesTheChatMlTemplate()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--tokenizer", "o200k_base");
        const string messages = """[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"Hi"}]}]""";
        JsonElement r = await PostAsync(h, "/tokenize", $$"""{"model":"{{Model}}","messages":{{messages}}}""");
        Assert.Equal(O200k("<|im_start|>system<|im_sep|>You are terse.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|><|im_start|>assistant<|im_sep|>"),
            Ids(r.GetProperty("tokens")));

        JsonElement noGen = await PostAsync(h, "/tokenize", $$"""{"messages":{{messages}},"add_generation_prompt":false}""");
        Assert.Equal(O200k("<|im_start|>system<|im_sep|>You are terse.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"), Ids(noGen.GetProperty("tokens")));

        JsonElement cont = await PostAsync(h, "/tokenize", $$"""{"messages":{{messages}},"add_generation_prompt":false,"continue_final_message":true}""");
        Assert.Equal(O200k("<|im_start|>system<|im_sep|>You are terse.<|im_end|><|im_start|>user<|im_sep|>Hi"), Ids(cont.GetProperty("tokens")));

        JsonElement both = await PostAsync(h, "/tokenize", $$"""{"messages":{{messages}},"continue_final_message":true}""", HttpStatusCode.BadRequest);
        Assert.Contains("continue_final_message", both.GetProperty("error").GetProperty("message").GetString());

        JsonElement chat = await PostAsync(h, "/v1/chat/completions", $$"""{"model":"{{Model}}","messages":{{messages}},"max_tokens":1}""");
        Assert.Equal(r.GetProperty("count").GetInt32(), chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Tokenize_StandIn_IsFourBytesPerToken()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        JsonElement r = await PostAsync(h, "/tokenize", """{"prompt":"abcdefghi"}""");
        // "abcd" "efgh" "i\0\0\0" as little-endian uint32.
        Assert.Equal([0x64636261, 0x68676665, 0x69], Ids(r.GetProperty("tokens")));
        JsonElement back = await PostAsync(h, "/detokenize", """{"tokens":[1684234849,1751606885,105]}""");
        Assert.Equal("abcdefghi", back.GetProperty("prompt").GetString());

        // The chat template renders the same bytes as before: <|role|>\n content \n ... <|assistant|>\n
        JsonElement chat = await PostAsync(h, "/tokenize", """{"messages":[{"role":"user","content":"hey"}]}""");
        var t = new PromptTokenizer(16, SimTokenizer.StandIn, collectIds: true);
        t.Feed("<|user|>\nhey\n<|assistant|>\n"u8);
        Assert.Equal(t.TokenIds.ToArray().Select(x => (int)x), Ids(chat.GetProperty("tokens")));
    }

    [Fact]
    public async Task Tokenize_RejectsBadInput()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        await PostAsync(h, "/tokenize", """{"model":"nope","prompt":"x"}""", HttpStatusCode.NotFound);
        await PostAsync(h, "/tokenize", """{"prompt":[1,2]}""", HttpStatusCode.BadRequest);
        await PostAsync(h, "/tokenize", """{"model":"x"}""", HttpStatusCode.BadRequest);
        await PostAsync(h, "/detokenize", """{"tokens":"abc"}""", HttpStatusCode.BadRequest);
        await PostAsync(h, "/tokenize", """{"prompt":"x","add_special_tokens":"yes"}""", HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Render_Completions_OneGenerateRequestPerPrompt()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--tokenizer", "o200k_base");
        JsonElement r = await PostAsync(h, "/v1/completions/render",
            $$"""{"model":"{{Model}}","prompt":["first prompt","second, longer prompt"],"max_tokens":9,"temperature":0.5,"cache_salt":"s1"}""");
        Assert.Equal(JsonValueKind.Array, r.ValueKind);
        Assert.Equal(2, r.GetArrayLength());
        Assert.Equal(O200k("first prompt"), Ids(r[0].GetProperty("token_ids")));
        Assert.Equal(O200k("second, longer prompt"), Ids(r[1].GetProperty("token_ids")));
        JsonElement g = r[0];
        Assert.StartsWith("cmpl-", g.GetProperty("request_id").GetString());
        Assert.Equal(JsonValueKind.Null, g.GetProperty("features").ValueKind);
        Assert.Equal(9, g.GetProperty("sampling_params").GetProperty("max_tokens").GetInt32());
        Assert.Equal(0.5, g.GetProperty("sampling_params").GetProperty("temperature").GetDouble());
        Assert.Equal(Model, g.GetProperty("model").GetString());
        Assert.False(g.GetProperty("stream").GetBoolean());
        Assert.Equal("s1", g.GetProperty("cache_salt").GetString());
        Assert.Equal(0, g.GetProperty("priority").GetInt32());
        Assert.Equal(JsonValueKind.Null, g.GetProperty("kv_transfer_params").ValueKind);
    }

    [Fact]
    public async Task Render_Chat_EqualsTokenize()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--tokenizer", "o200k_base");
        const string messages = """[{"role":"user","content":"Explain prefix caching."}]""";
        JsonElement r = await PostAsync(h, "/v1/chat/completions/render", $$"""{"model":"{{Model}}","messages":{{messages}},"stream":true}""");
        Assert.Equal(JsonValueKind.Object, r.ValueKind);
        JsonElement t = await PostAsync(h, "/tokenize", $$"""{"model":"{{Model}}","messages":{{messages}}}""");
        Assert.Equal(Ids(t.GetProperty("tokens")), Ids(r.GetProperty("token_ids")));
        Assert.StartsWith("chatcmpl-", r.GetProperty("request_id").GetString());
        Assert.True(r.GetProperty("stream").GetBoolean());
        await PostAsync(h, "/v1/chat/completions/render", """{"model":"nope","messages":[{"role":"user","content":"x"}]}""", HttpStatusCode.NotFound);
    }

    [Fact]
    public void RealTokenizer_BlocksHashOverIds_LikeTheStandIn()
    {
        // Both hash 4-byte little-endian ids per block, so the stand-in's byte hashing and id hashing agree.
        var standIn = new PromptTokenizer(4, SimTokenizer.StandIn, collectIds: true);
        standIn.Feed(Encoding.UTF8.GetBytes(new string('a', 64)));
        Assert.Equal(4, standIn.BlockHashes.Length);
        var o200k = new PromptTokenizer(4, SimTokenizer.Find("o200k_base")!, collectIds: false);
        o200k.Feed(Encoding.UTF8.GetBytes("one two three four five six seven eight nine"));
        Assert.Equal(o200k.TokenIds.Length / 4, o200k.BlockHashes.Length);
        var again = new PromptTokenizer(4, SimTokenizer.Find("o200k_base")!, collectIds: false);
        again.Feed(Encoding.UTF8.GetBytes("one two three four five six seven eight DIFFERENT"));
        Assert.Equal(o200k.BlockHashes[0], again.BlockHashes[0]);
    }
}
