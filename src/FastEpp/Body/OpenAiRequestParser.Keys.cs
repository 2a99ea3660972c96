using FastEpp.GoCompat;
using static FastEpp.GoCompat.GoKeyMatch;

namespace FastEpp.Body;

/// <summary>
/// Key classification of the request parser, as tables (one per JSON object shape). Keys the reference reads
/// from its generic <c>map[string]any</c> match exactly; fields of its typed request structs
/// (<c>types.go</c>) match case-insensitively like Go's foldName. The first matching row wins.
/// </summary>
internal static partial class OpenAiRequestParser
{
    /// <summary>Top-level keys every API reads.</summary>
    private static readonly (string Name, GoKeyMatch Match, TopKey Key)[] s_commonTopKeys =
    [
        ("model", Exact, TopKey.Model),
        ("stream", Exact, TopKey.Stream),
        ("stream_options", Exact, TopKey.StreamOptions),
        ("max_tokens", Exact, TopKey.MaxTokens),
        ("max_completion_tokens", Exact, TopKey.MaxTokens),
        ("max_output_tokens", Exact, TopKey.MaxTokens),
        ("cache_salt", Fold, TopKey.CacheSalt),
    ];

    /// <summary>Top-level keys per API, indexed by <see cref="ApiKind"/>: the common keys, then the typed request's fields.</summary>
    private static readonly GoKeyTable<TopKey>[] s_topKeys =
    [
        // ApiKind.Completions: CompletionsRequest
        new(TopKey.Other, [.. s_commonTopKeys, ("prompt", Fold, TopKey.Prompt)]),

        // ApiKind.ChatCompletions: ChatCompletionsRequest
        new(TopKey.Other,
        [
            .. s_commonTopKeys,
            ("messages", Fold, TopKey.Messages),
            ("tools", Fold, TopKey.ChatTools),
            ("documents", Fold, TopKey.Documents),
            ("chat_template", Fold, TopKey.ChatTemplate),
            ("return_assistant_tokens_mask", Fold, TopKey.ChatBool),
            ("continue_final_message", Fold, TopKey.ChatBool),
            ("add_generation_prompt", Fold, TopKey.ChatBool),
            ("chat_template_kwargs", Fold, TopKey.ObjectField),
        ]),

        // ApiKind.Responses: ResponsesRequest
        new(TopKey.Other,
        [
            .. s_commonTopKeys,
            ("input", Fold, TopKey.ResponsesInput),
            ("instructions", Fold, TopKey.Instructions),
            ("tools", Fold, TopKey.ResponsesTools),
        ]),

        // ApiKind.Conversations: ConversationsRequest
        new(TopKey.Other, [.. s_commonTopKeys, ("items", Fold, TopKey.Items), ("metadata", Fold, TopKey.ObjectField)]),

        // ApiKind.Embeddings: EmbeddingsRequest
        new(TopKey.Other, [.. s_commonTopKeys, ("input", Fold, TopKey.EmbeddingsInput)]),
    ];

    /// <summary><c>stream_options</c> is read from the generic map: exact keys.</summary>
    private static readonly GoKeyTable<bool> s_streamOptionsKeys = new(false, ("include_usage", Exact, true));

    /// <summary>Chat Message.</summary>
    private static readonly GoKeyTable<MessageKey> s_messageKeys = new(
        MessageKey.Other,
        ("role", Fold, MessageKey.Role),
        ("content", Fold, MessageKey.Content));

    /// <summary>Chat ContentBlock.</summary>
    private static readonly GoKeyTable<BlockKey> s_blockKeys = new(
        BlockKey.Other,
        ("type", Fold, BlockKey.Type),
        ("text", Fold, BlockKey.Text),
        ("image_url", Fold, BlockKey.ImageUrl),
        ("video_url", Fold, BlockKey.VideoUrl),
        ("input_audio", Fold, BlockKey.InputAudio));

    /// <summary>ImageBlock / VideoBlock.</summary>
    private static readonly GoKeyTable<MediaKey> s_urlKeys = new(MediaKey.Other, ("url", Fold, MediaKey.Url));

    /// <summary>AudioBlock.</summary>
    private static readonly GoKeyTable<MediaKey> s_audioKeys = new(
        MediaKey.Other,
        ("data", Fold, MediaKey.Data),
        ("format", Fold, MediaKey.Format));

    /// <summary>ConversationItem: the string fields (content is <c>any</c>, so nothing to check there).</summary>
    private static readonly GoKeyTable<bool> s_itemStringKeys = new(false, ("type", Fold, true), ("role", Fold, true));

    private enum TopKey
    {
        Other,
        Model,
        Stream,
        StreamOptions,
        MaxTokens,
        CacheSalt,
        Prompt,
        EmbeddingsInput,
        Messages,
        ChatTools,
        Documents,
        ChatTemplate,
        ChatBool,
        ObjectField,
        ResponsesInput,
        Instructions,
        ResponsesTools,
        Items,
    }

    private enum MessageKey
    {
        Other,
        Role,
        Content,
    }

    private enum BlockKey
    {
        Other,
        Type,
        Text,
        ImageUrl,
        VideoUrl,
        InputAudio,
    }

    private enum MediaKey
    {
        Other,
        Url,
        Data,
        Format,
    }
}
