using System.Text;

namespace FastEpp.Tests.Body;

/// <summary>Realistic request bodies shared by the Body tests.</summary>
internal static class BodyCorpus
{
    private const string Sentence = "The quick brown fox jumps over the lazy dog — naïve café, 東京, \"quotes\" \\ and <tags> & emoji 😀. ";

    /// <summary>A chat body of about <paramref name="approxBytes"/> bytes with a system + user turn and parts.</summary>
    public static string ChatBody(int approxBytes)
    {
        int messages = Math.Max(2, approxBytes / 8192);
        int perMessage = Math.Max(16, (approxBytes / messages) - 64);
        var sb = new StringBuilder(approxBytes + 1024);
        sb.Append("{\"model\":\"food-review\",\"stream\":true,\"max_tokens\":128,\"messages\":[");
        for (int i = 0; i < messages; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            string text = Text(perMessage, i);
            if (i % 3 == 2)
            {
                sb.Append("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"").Append(text).Append("\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a.png\"}}]}");
            }
            else
            {
                sb.Append("{\"role\":\"").Append(i == 0 ? "system" : "user").Append("\",\"content\":\"").Append(text).Append("\"}");
            }
        }

        sb.Append("],\"temperature\":0.7}");
        return sb.ToString();
    }

    /// <summary>JSON-escaped text of about <paramref name="bytes"/> bytes.</summary>
    public static string Text(int bytes, int seed)
    {
        var sb = new StringBuilder(bytes + Sentence.Length);
        sb.Append(seed).Append(": ");
        while (sb.Length < bytes / 1.1)
        {
            sb.Append(Sentence.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append("\\n");
        }

        return sb.ToString();
    }
}
