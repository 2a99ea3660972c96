using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using FastEpp.Endpoints;

namespace FastEpp.Metrics;

/// <summary>
/// Selective scanner over the Prometheus text exposition format (version 0.0.4). Instead of parsing
/// every line into metric families as the reference does (expfmt), it searches the payload for the
/// few family names the <see cref="ScrapePlan"/> asks for (vectorised <c>IndexOf</c>) and parses only
/// those lines; everything else is skipped without being tokenised. Never throws on bad input:
/// malformed target lines are counted and skipped, a missing family is reported.
/// <para>
/// Series selection (scheduling.md §4.3): among series whose labels contain every spec label,
/// the greatest exposition timestamp wins (no timestamp = 0, ties keep the first); for the LoRA
/// spec the largest sample value wins (it is the series' creation time).
/// Allocation: none once warm, except new adapter-name arrays when a LoRA list changes
/// (proved by PrometheusScannerBenchmarks).
/// </para>
/// </summary>
internal static class PrometheusScanner
{
    private static ReadOnlySpan<byte> RunningAdaptersLabel => "running_lora_adapters"u8;
    private static ReadOnlySpan<byte> WaitingAdaptersLabel => "waiting_lora_adapters"u8;
    private static ReadOnlySpan<byte> MaxLoraLabel => "max_lora"u8;
    private static ReadOnlySpan<byte> TypeComment => "# TYPE "u8;

    private enum FamilyType : byte { Unknown = 0, Gauge, Counter, Untyped, Histogram, Summary }

    /// <summary>
    /// Scans <paramref name="payload"/> and produces the endpoint's next metrics: a copy of
    /// <paramref name="previous"/> with every found field replaced and, if at least one field was
    /// found, <see cref="EndpointMetrics.UpdatedAt"/> = <paramref name="now"/>. A total miss returns
    /// <paramref name="previous"/> unchanged (old values, old timestamp).
    /// </summary>
    public static ScrapeReport Scan(ReadOnlySpan<byte> payload, ScrapePlan plan, in EndpointMetrics previous,
        DateTimeOffset now, out EndpointMetrics next)
    {
        var states = new TargetStates();
        for (int t = 0; t < MetricTarget.Count; t++)
        {
            states[t].BestTimestamp = -1;
            states[t].BestValue = -1;
        }

        int malformed = 0;
        var families = plan.Families;
        for (int g = 0; g < families.Length; g++)
            ScanFamily(payload, plan, families[g], ref states, ref malformed);

        return Apply(payload, plan, ref states, malformed, previous, now, out next);
    }

    private static void ScanFamily(ReadOnlySpan<byte> payload, ScrapePlan plan, in ScrapePlan.FamilyGroup group,
        ref TargetStates states, ref int malformed)
    {
        ReadOnlySpan<byte> name = group.NameUtf8;
        var type = FamilyType.Unknown;
        int pos = 0;
        while (pos < payload.Length)
        {
            int rel = payload[pos..].IndexOf(name);
            if (rel < 0)
                return;
            int at = pos + rel;
            int after = at + name.Length;
            if (after < payload.Length && IsNameByte(payload[after]))
            {
                pos = after; // a longer name (vllm:foo_total vs vllm:foo): keep searching this line
                continue;
            }
            int lineEnd = payload[after..].IndexOf((byte)'\n');
            lineEnd = lineEnd < 0 ? payload.Length : after + lineEnd;
            pos = lineEnd + 1;

            int lineStart = StartOfLineBefore(payload, at);
            if (lineStart >= 0)
            {
                if (group.NeedsChildCheck && BelongsToOtherFamily(payload, lineStart, name))
                    continue;
                MarkFamilySeen(ref states, group.TargetMask);
                if (!ProcessSample(payload, after, lineEnd, plan, group.TargetMask, type, ref states))
                    malformed++;
            }
            else if (IsMetadataComment(payload, at, out bool isType))
            {
                // # TYPE / # HELP declare the family even without samples ("no metrics found").
                MarkFamilySeen(ref states, group.TargetMask);
                if (isType)
                    type = ParseType(payload[after..lineEnd]);
            }
        }
    }

    private static void MarkFamilySeen(ref TargetStates states, int mask)
    {
        for (int t = 0; t < MetricTarget.Count; t++)
            if ((mask & (1 << t)) != 0)
                states[t].FamilySeen = true;
    }

    /// <summary>Parses one sample line whose name matched; false when the line is malformed.</summary>
    private static bool ProcessSample(ReadOnlySpan<byte> p, int i, int end, ScrapePlan plan, int mask,
        FamilyType type, ref TargetStates states)
    {
        if (end > i && p[end - 1] == '\r')
            end--;
        for (int t = 0; t < MetricTarget.Count; t++)
            if ((mask & (1 << t)) != 0)
                states[t].ResetPending();

        SkipBlanks(p, ref i, end);
        if (i < end && p[i] == '{')
        {
            i++;
            while (true)
            {
                SkipBlanks(p, ref i, end);
                if (i >= end)
                    return false;
                if (p[i] == '}')
                {
                    i++;
                    break;
                }
                int nameStart = i;
                if (!IsLabelStartByte(p[i]))
                    return false;
                while (i < end && IsLabelByte(p[i]))
                    i++;
                var labelName = p[nameStart..i];
                SkipBlanks(p, ref i, end);
                if (i >= end || p[i] != '=')
                    return false;
                i++;
                SkipBlanks(p, ref i, end);
                if (i >= end || p[i] != '"')
                    return false;
                i++;
                int valueStart = i;
                bool escaped = false;
                while (i < end && p[i] != '"')
                {
                    if (p[i] == '\\')
                    {
                        escaped = true;
                        i++;
                    }
                    i++;
                }
                if (i >= end)
                    return false;
                OnLabel(p, labelName, valueStart, i - valueStart, escaped, plan, mask, ref states);
                i++;
                SkipBlanks(p, ref i, end);
                if (i < end && p[i] == ',')
                {
                    i++;
                    continue;
                }
                if (i < end && p[i] == '}')
                {
                    i++;
                    break;
                }
                return false;
            }
        }

        SkipBlanks(p, ref i, end);
        int valueTokenStart = i;
        while (i < end && p[i] is not ((byte)' ' or (byte)'\t'))
            i++;
        if (!TryParseValue(p[valueTokenStart..i], out double value))
            return false;
        SkipBlanks(p, ref i, end);
        long timestamp = 0;
        if (i < end)
        {
            int tsStart = i;
            while (i < end && p[i] is not ((byte)' ' or (byte)'\t'))
                i++;
            if (!long.TryParse(p[tsStart..i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out timestamp))
                return false;
            SkipBlanks(p, ref i, end);
            if (i < end)
                return false;
        }

        // The reference reads gauge, else counter, else 0; a histogram/summary sample is worth 0.
        // Untyped samples (no # TYPE line) keep their value: see docs/compatibility.md.
        if (type is FamilyType.Histogram or FamilyType.Summary)
            value = 0;

        for (int t = 0; t < MetricTarget.Count; t++)
        {
            if ((mask & (1 << t)) == 0)
                continue;
            ref var st = ref states[t];
            st.AnySample = true;
            var spec = plan.Specs[t]!;
            uint all = spec.Labels.Length == 32 ? uint.MaxValue : (1u << spec.Labels.Length) - 1;
            if (st.PendingMatched != all)
                continue;
            if (t == MetricTarget.Lora)
            {
                if (value > st.BestValue)
                    st.Select(value, timestamp);
            }
            else if (timestamp > st.BestTimestamp)
            {
                st.Select(value, timestamp);
            }
        }
        return true;
    }

    private static void OnLabel(ReadOnlySpan<byte> p, ReadOnlySpan<byte> name, int valueStart, int valueLength,
        bool escaped, ScrapePlan plan, int mask, ref TargetStates states)
    {
        var raw = p.Slice(valueStart, valueLength);
        for (int t = 0; t < MetricTarget.Count; t++)
        {
            if ((mask & (1 << t)) == 0)
                continue;
            ref var st = ref states[t];
            var labels = plan.Specs[t]!.Labels;
            for (int j = 0; j < labels.Length; j++)
            {
                if (name.SequenceEqual(labels[j].NameUtf8) && ValueEquals(raw, escaped, labels[j].ValueUtf8))
                    st.PendingMatched |= 1u << j;
            }
            var range = new LabelRange(valueStart, valueLength, escaped);
            if (t == MetricTarget.Lora)
            {
                if (name.SequenceEqual(RunningAdaptersLabel))
                    st.PendingA = range;
                else if (name.SequenceEqual(WaitingAdaptersLabel))
                    st.PendingB = range;
                else if (name.SequenceEqual(MaxLoraLabel))
                    st.PendingC = range;
            }
            else if (t == MetricTarget.CacheInfo)
            {
                if (name.SequenceEqual(plan.BlockSizeLabelUtf8))
                    st.PendingA = range;
                else if (name.SequenceEqual(plan.NumBlocksLabelUtf8))
                    st.PendingB = range;
            }
        }
    }

    private static ScrapeReport Apply(ReadOnlySpan<byte> p, ScrapePlan plan, ref TargetStates states, int malformed,
        in EndpointMetrics previous, DateTimeOffset now, out EndpointMetrics next)
    {
        var verdict = new Verdict();
        uint reasons = 0;
        var m = previous;

        for (int t = 0; t < MetricTarget.Count; t++)
        {
            if (plan.Specs[t] is null)
                continue;
            ref var st = ref states[t];
            var bit = (MetricFields)(1 << t);
            if (!st.Selected)
            {
                var reason = !st.FamilySeen ? MissingReason.FamilyNotFound
                    : !st.AnySample ? MissingReason.NoSamples
                    : MissingReason.NoMatchingSeries;
                reasons |= (uint)reason << (t * 4);
                continue;
            }

            switch (t)
            {
                case MetricTarget.Queued or MetricTarget.Running or MetricTarget.BlockSizeGauge or MetricTarget.NumBlocksGauge:
                    if (verdict.Sample(TryToInt(st.Value, out int count), bit))
                        m = WithCount(m, t, count);
                    break;
                case MetricTarget.KvUsage:
                    if (verdict.Sample(double.IsFinite(st.Value), bit))
                        m = m with { KvCacheUsagePercent = st.Value };
                    break;
                case MetricTarget.Lora:
                    // §5.1: both lists are replaced (a missing label → empty); max_lora empty → untouched.
                    m = m with
                    {
                        ActiveModels = BuildAdapterList(p, st.A, previous.ActiveModels),
                        WaitingModels = BuildAdapterList(p, st.B, previous.WaitingModels),
                    };
                    verdict.Found |= bit;
                    if (verdict.IntLabel(p, st.C, bit, InvalidDetail.MaxLora, out int maxLora))
                        m = m with { MaxActiveModels = maxLora };
                    break;
                case MetricTarget.CacheInfo:
                    // Block size is reset first: a missing or invalid label leaves 0; an invalid
                    // number of blocks keeps the previous value (reference behaviour).
                    m = m with { CacheBlockSize = 0 };
                    verdict.Found |= bit;
                    if (verdict.IntLabel(p, st.A, bit, InvalidDetail.BlockSizeLabel, out int blockSize))
                        m = m with { CacheBlockSize = blockSize };
                    if (verdict.IntLabel(p, st.B, bit, InvalidDetail.NumBlocksLabel, out int numBlocks))
                        m = m with { CacheNumBlocks = numBlocks };
                    break;
            }
        }

        if (verdict.Found != MetricFields.None)
            m = m with { UpdatedAt = now };
        next = verdict.Found != MetricFields.None ? m : previous;
        return new ScrapeReport(plan.Enabled, verdict.Found, verdict.Invalid, reasons, malformed, verdict.Detail);
    }

    /// <summary>The field an integer-valued target writes.</summary>
    private static EndpointMetrics WithCount(in EndpointMetrics m, int target, int count) => target switch
    {
        MetricTarget.Queued => m with { WaitingQueueSize = count },
        MetricTarget.Running => m with { RunningRequestsSize = count },
        MetricTarget.BlockSizeGauge => m with { CacheBlockSize = count },
        _ => m with { CacheNumBlocks = count }, // NumBlocksGauge
    };

    /// <summary>What <see cref="Apply"/> concluded per target: found, invalid (and which label was).</summary>
    private struct Verdict
    {
        public MetricFields Found;
        public MetricFields Invalid;
        public InvalidDetail Detail;

        /// <summary>A selected sample's value: valid → found (the caller stores it), else invalid.</summary>
        public bool Sample(bool valid, MetricFields bit)
        {
            if (valid)
                Found |= bit;
            else
                Invalid |= bit;
            return valid;
        }

        /// <summary>
        /// An integer label of a found target: true with its value when present and valid; an empty or missing
        /// label is false and not an error; an unparsable one marks the target invalid with <paramref name="which"/>.
        /// </summary>
        public bool IntLabel(ReadOnlySpan<byte> p, LabelRange range, MetricFields bit, InvalidDetail which, out int value)
        {
            value = 0;
            if (!range.Present || range.Length == 0)
                return false;
            if (TryParseIntLabel(p, range, out value))
                return true;
            Invalid |= bit;
            Detail |= which;
            return false;
        }
    }

    // ---- adapter lists ----------------------------------------------------------------------

    /// <summary>
    /// Comma-split, whitespace-trimmed, non-empty, de-duplicated names (the reference keeps a set).
    /// Returns <paramref name="previous"/> itself when the names are unchanged, so an unchanged list
    /// costs no allocation and readers can compare by reference.
    /// </summary>
    private static string[] BuildAdapterList(ReadOnlySpan<byte> p, LabelRange range, string[]? previous)
    {
        if (!range.Present || range.Length == 0)
            return previous is { Length: 0 } ? previous : [];
        byte[]? rented = null;
        ReadOnlySpan<byte> list = p.Slice(range.Start, range.Length);
        if (range.Escaped)
        {
            rented = ArrayPool<byte>.Shared.Rent(range.Length);
            int n = Unescape(list, rented);
            list = n < 0 ? list : rented.AsSpan(0, n);
        }
        try
        {
            // Pass 1: compare with the previous array without allocating.
            int count = 0;
            bool same = previous is not null;
            var rest = list;
            while (NextAdapter(ref rest, out var token))
            {
                if (IsDuplicateBefore(list, token))
                    continue;
                if (same && (count >= previous!.Length || !Utf8EqualsString(token, previous[count])))
                    same = false;
                count++;
            }
            if (same && count == previous!.Length)
                return previous;
            if (count == 0)
                return [];

            // Pass 2: the list changed — materialise it.
            var result = new string[count];
            int k = 0;
            rest = list;
            while (NextAdapter(ref rest, out var token))
            {
                if (IsDuplicateBefore(list, token))
                    continue;
                result[k++] = Encoding.UTF8.GetString(token);
            }
            return result;
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool NextAdapter(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> token)
    {
        while (rest.Length > 0)
        {
            int comma = rest.IndexOf((byte)',');
            ReadOnlySpan<byte> part;
            if (comma < 0)
            {
                part = rest;
                rest = default;
            }
            else
            {
                part = rest[..comma];
                rest = rest[(comma + 1)..];
            }
            part = part.Trim(" \t\r\n\v\f"u8);
            if (part.Length > 0)
            {
                token = part;
                return true;
            }
        }
        token = default;
        return false;
    }

    // Whether `token` (a slice of list) repeats an earlier token of the list (plain O(n²) scan).
    private static bool IsDuplicateBefore(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        var rest = list;
        while (NextAdapter(ref rest, out var earlier))
        {
            if (Unsafe.AreSame(ref MemoryMarshal.GetReference(earlier), ref MemoryMarshal.GetReference(token)))
                return false; // reached the token itself
            if (earlier.SequenceEqual(token))
                return true;
        }
        return false;
    }

    private static bool Utf8EqualsString(ReadOnlySpan<byte> utf8, string s)
    {
        if (Ascii.IsValid(utf8))
            return Ascii.Equals(utf8, s);
        int max = Encoding.UTF8.GetMaxCharCount(utf8.Length);
        char[]? rented = null;
        Span<char> chars = max <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            int n = Encoding.UTF8.GetChars(utf8, chars);
            return chars[..n].SequenceEqual(s);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<char>.Shared.Return(rented);
        }
    }

    // ---- lexical helpers ----------------------------------------------------------------------

    /// <summary>Start of the line when only blanks precede <paramref name="at"/> on it; else -1.</summary>
    private static int StartOfLineBefore(ReadOnlySpan<byte> p, int at)
    {
        int i = at - 1;
        while (i >= 0 && p[i] is (byte)' ' or (byte)'\t')
            i--;
        return i < 0 || p[i] == '\n' ? i + 1 : -1;
    }

    /// <summary>Whether the name at <paramref name="at"/> follows <c># TYPE</c> or <c># HELP</c> at line start.</summary>
    private static bool IsMetadataComment(ReadOnlySpan<byte> p, int at, out bool isType)
    {
        isType = false;
        int i = at - 1;
        if (i < 0 || p[i] is not ((byte)' ' or (byte)'\t'))
            return false;
        while (i >= 0 && p[i] is (byte)' ' or (byte)'\t')
            i--;
        if (i < 3)
            return false;
        var keyword = p.Slice(i - 3, 4);
        if (keyword.SequenceEqual("TYPE"u8))
            isType = true;
        else if (!keyword.SequenceEqual("HELP"u8))
            return false;
        i -= 4;
        while (i >= 0 && p[i] is (byte)' ' or (byte)'\t')
            i--;
        if (i < 0 || p[i] != '#')
            return false;
        return StartOfLineBefore(p, i) >= 0;
    }

    private static FamilyType ParseType(ReadOnlySpan<byte> rest)
    {
        rest = rest.Trim(" \t\r"u8);
        if (rest.SequenceEqual("gauge"u8))
            return FamilyType.Gauge;
        if (rest.SequenceEqual("counter"u8))
            return FamilyType.Counter;
        if (rest.SequenceEqual("histogram"u8))
            return FamilyType.Histogram;
        if (rest.SequenceEqual("summary"u8))
            return FamilyType.Summary;
        return rest.SequenceEqual("untyped"u8) ? FamilyType.Untyped : FamilyType.Unknown;
    }

    /// <summary>
    /// For a name like <c>x_bucket</c>: whether the nearest preceding <c># TYPE</c> line declares a
    /// histogram or summary <c>x</c>, making this sample part of family <c>x</c>, not a family of its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool BelongsToOtherFamily(ReadOnlySpan<byte> p, int lineStart, ReadOnlySpan<byte> name)
    {
        int typeAt = p[..lineStart].LastIndexOf(TypeComment);
        if (typeAt < 0)
            return false;
        int i = typeAt + TypeComment.Length;
        int lineEnd = p[i..].IndexOf((byte)'\n');
        var line = lineEnd < 0 ? p[i..] : p.Slice(i, lineEnd);
        line = line.TrimStart(" \t"u8);
        int nameEnd = 0;
        while (nameEnd < line.Length && IsNameByte(line[nameEnd]))
            nameEnd++;
        var family = line[..nameEnd];
        if (family.SequenceEqual(name) || !name.StartsWith(family))
            return false;
        var suffix = name[family.Length..];
        var type = ParseType(line[nameEnd..]);
        return type switch
        {
            FamilyType.Histogram => suffix.SequenceEqual("_bucket"u8) || suffix.SequenceEqual("_sum"u8) || suffix.SequenceEqual("_count"u8),
            FamilyType.Summary => suffix.SequenceEqual("_sum"u8) || suffix.SequenceEqual("_count"u8),
            _ => false,
        };
    }

    private static void SkipBlanks(ReadOnlySpan<byte> p, ref int i, int end)
    {
        while (i < end && p[i] is (byte)' ' or (byte)'\t')
            i++;
    }

    private static bool IsNameByte(byte b) =>
        (uint)((b | 0x20) - 'a') <= 'z' - 'a' || (uint)(b - '0') <= 9 || b is (byte)'_' or (byte)':';

    private static bool IsLabelStartByte(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a' || b == '_';

    private static bool IsLabelByte(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a' || (uint)(b - '0') <= 9 || b == '_';

    /// <summary>Go strconv.ParseFloat forms used by exposition: decimals, exponents, NaN, ±Inf.</summary>
    private static bool TryParseValue(ReadOnlySpan<byte> token, out double value)
    {
        if (token.IsEmpty)
        {
            value = 0;
            return false;
        }
        var unsigned = token[0] is (byte)'+' or (byte)'-' ? token[1..] : token;
        if (Ascii.EqualsIgnoreCase(unsigned, "inf"u8) || Ascii.EqualsIgnoreCase(unsigned, "infinity"u8))
        {
            value = token[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        if (Ascii.EqualsIgnoreCase(unsigned, "nan"u8))
        {
            value = double.NaN;
            return true;
        }
        return double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryToInt(double value, out int result)
    {
        // Go's int(float64) truncates; non-finite values have no defined conversion, so they are
        // reported as invalid and the field keeps its previous value.
        if (!double.IsFinite(value))
        {
            result = 0;
            return false;
        }
        double truncated = Math.Truncate(value);
        result = truncated >= int.MaxValue ? int.MaxValue : truncated <= int.MinValue ? int.MinValue : (int)truncated;
        return true;
    }

    private static bool TryParseIntLabel(ReadOnlySpan<byte> p, LabelRange range, out int value)
    {
        // An escape sequence can never be part of an integer (strconv.Atoi semantics).
        if (range.Escaped)
        {
            value = 0;
            return false;
        }
        return int.TryParse(p.Slice(range.Start, range.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Compares an exposition label value (escapes \\, \", \n) with an unescaped expected value.</summary>
    private static bool ValueEquals(ReadOnlySpan<byte> raw, bool escaped, ReadOnlySpan<byte> expected)
    {
        if (!escaped)
            return raw.SequenceEqual(expected);
        int j = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            byte b = raw[i];
            if (b == '\\')
            {
                if (++i >= raw.Length)
                    return false;
                b = Escaped(raw[i]);
                if (b == 0)
                    return false;
            }
            if (j >= expected.Length || expected[j] != b)
                return false;
            j++;
        }
        return j == expected.Length;
    }

    /// <summary>The byte a label-value escape <c>\x</c> stands for (text format 0.0.4: \n, \\, \"); 0 = invalid.</summary>
    private static byte Escaped(byte x) => x switch
    {
        (byte)'n' => (byte)'\n',
        (byte)'\\' => (byte)'\\',
        (byte)'"' => (byte)'"',
        _ => 0,
    };

    /// <summary>Unescapes into <paramref name="destination"/>; -1 on an invalid escape.</summary>
    private static int Unescape(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        int j = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            byte b = raw[i];
            if (b == '\\')
            {
                if (++i >= raw.Length)
                    return -1;
                b = Escaped(raw[i]);
                if (b == 0)
                    return -1;
            }
            destination[j++] = b;
        }
        return j;
    }

    // ---- per-target scratch (on the stack) ---------------------------------------------------

    private readonly record struct LabelRange(int Start, int Length, bool Escaped)
    {
        // A label value never starts at offset 0 (a name precedes it), so default = absent.
        public bool Present => Start > 0;
    }

    private struct TargetState
    {
        public bool FamilySeen;
        public bool AnySample;
        public bool Selected;
        public long BestTimestamp;
        public double BestValue;
        public double Value;
        public LabelRange A, B, C;
        public uint PendingMatched;
        public LabelRange PendingA, PendingB, PendingC;

        public void ResetPending()
        {
            PendingMatched = 0;
            PendingA = PendingB = PendingC = default;
        }

        public void Select(double value, long timestamp)
        {
            Selected = true;
            BestValue = value;
            BestTimestamp = timestamp;
            Value = value;
            A = PendingA;
            B = PendingB;
            C = PendingC;
        }
    }

    [InlineArray(MetricTarget.Count)]
    private struct TargetStates
    {
        private TargetState _element;
    }
}
