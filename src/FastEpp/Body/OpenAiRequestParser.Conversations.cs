using System.Text.Json;

namespace FastEpp.Body;

/// <summary>Conversations <c>items</c>: []ConversationItem {type, role string; content any}.</summary>
internal static partial class OpenAiRequestParser
{
    /// <summary>One item object (the array is walked by <see cref="WalkObjectArray"/>).</summary>
    private static void WalkItem(ref Utf8JsonReader reader, ref WalkState st)
    {
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            bool typed = s_itemStringKeys.Classify(ref reader);
            reader.Read();
            if (typed)
            {
                ExpectKind(ref reader, ref st, JsonTokenType.String);
            }
            else
            {
                SkipValue(ref reader, ref st);
            }

            reader.Read();
        }
    }
}
