using System.Buffers;
using System.Text.Json;

namespace FastEpp.GoCompat;

/// <summary>
/// Re-encodes one JSON value as Go's <c>json.Marshal</c> encodes the generic value (<c>any</c>) that
/// <c>json.Unmarshal</c> made of it: objects become maps (duplicate keys: last wins; keys sorted byte-wise),
/// numbers become float64 (<see cref="GoFloat.FormatJson"/>), strings are unescaped then HTML-safe re-escaped.
/// Iterative (explicit stacks, no recursion, any depth up to Go's 10000) over buffers kept per stream
/// (one instance per <c>ParsedRequest</c>) and only grown, so a warm stream does not allocate.
/// FAST PATH: the prefix-hash input of responses (instructions, tools, input) and conversations (item content).
/// </summary>
internal sealed class GoGenericValueEncoder
{
    private Node[] _nodes = new Node[64];
    private int _nodeCount;
    private byte[] _keys = new byte[512];
    private int _keyLength;
    private int[] _ints = new int[64];
    private Frame[] _frames = new Frame[32];

    /// <summary>Forgets the previous value (keeps the buffers).</summary>
    public void Clear()
    {
        _nodeCount = 0;
        _keyLength = 0;
    }

    /// <summary>
    /// Writes the Go encoding of <paramref name="value"/> (the bytes of exactly one JSON value, already validated);
    /// <c>null</c> if it does not read as one.
    /// </summary>
    public void Encode<TSink>(in ReadOnlySequence<byte> value, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        Clear();
        if (!Build(value))
        {
            sink.Write("null"u8);
            return;
        }

        Emit(value, ref sink);
    }

    /// <summary>Writes one scalar token (string / number / literal) Go's way.</summary>
    private static void WriteScalar<TSink>(in ReadOnlySequence<byte> value, JsonValueKind kind, long start, long length, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        switch (kind)
        {
            case JsonValueKind.String:
                sink.Write((byte)'"');
                GoJsonString.Transcode(value.Slice(start + 1, length - 2), GoStringMode.Quote, ref sink);
                sink.Write((byte)'"');
                return;
            case JsonValueKind.Number:
                // 0 if unparsable, which the parser already rejected.
                GoFloat.WriteJson(GoFloat.TryParse(value.Slice(start, length), out double v) ? v : 0, ref sink);
                return;
            case JsonValueKind.True:
                sink.Write("true"u8);
                return;
            case JsonValueKind.False:
                sink.Write("false"u8);
                return;
            default:
                sink.Write("null"u8);
                return;
        }
    }

    private bool Build(in ReadOnlySequence<byte> value)
    {
        var reader = new Utf8JsonReader(value, new JsonReaderOptions { MaxDepth = GoJsonSyntax.MaxDepth });
        // _ints holds two stacks while building: [open container, last child] pairs.
        int depth = 0;
        int pendingKeyStart = -1;
        int pendingKeyLength = 0;
        try
        {
            while (reader.Read())
            {
                JsonTokenType t = reader.TokenType;
                long tokenStart = reader.TokenStartIndex;
                switch (t)
                {
                    case JsonTokenType.PropertyName:
                        AppendKey(ref reader, out pendingKeyStart, out pendingKeyLength);
                        continue;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                    {
                        depth--;
                        int open = _ints[2 * depth];
                        _nodes[open].Length = reader.BytesConsumed - _nodes[open].Start;
                        continue;
                    }
                }

                JsonValueKind kind = GoJsonReader.KindOf(t);
                int idx = AddNode(kind, tokenStart, reader.BytesConsumed - tokenStart, pendingKeyStart, pendingKeyLength);
                pendingKeyStart = -1;
                if (depth > 0)
                {
                    int parent = _ints[2 * (depth - 1)];
                    int last = _ints[(2 * (depth - 1)) + 1];
                    if (last < 0)
                    {
                        _nodes[parent].FirstChild = idx;
                    }
                    else
                    {
                        _nodes[last].NextSibling = idx;
                    }

                    _nodes[parent].ChildCount++;
                    _ints[(2 * (depth - 1)) + 1] = idx;
                }

                if (kind is JsonValueKind.Object or JsonValueKind.Array)
                {
                    EnsureInts(2 * (depth + 1));
                    _ints[2 * depth] = idx;
                    _ints[(2 * depth) + 1] = -1;
                    depth++;
                }
            }
        }
        catch (JsonException)
        {
            // The parser validated this range; a mismatch means the caller passed another body.
            return false;
        }

        return _nodeCount > 0;
    }

    private void AppendKey(ref Utf8JsonReader reader, out int start, out int length)
    {
        long raw = GoJsonReader.RawLength(ref reader);
        int need = _keyLength + (int)Math.Min(raw * 3, int.MaxValue / 2);
        if (need > _keys.Length)
        {
            Array.Resize(ref _keys, Math.Max(need, _keys.Length * 2));
        }

        var sink = new SpanSink(_keys.AsSpan(_keyLength));
        GoJsonReader.Transcode(ref reader, GoStringMode.Unquote, ref sink);

        start = _keyLength;
        length = sink.Length;
        _keyLength += sink.Length;
    }

    private int AddNode(JsonValueKind kind, long start, long length, int keyStart, int keyLength)
    {
        if (_nodeCount == _nodes.Length)
        {
            Array.Resize(ref _nodes, _nodes.Length * 2);
        }

        _nodes[_nodeCount] = new Node
        {
            Kind = kind,
            Start = start,
            Length = length,
            KeyStart = keyStart,
            KeyLength = keyLength,
            FirstChild = -1,
            NextSibling = -1,
        };
        return _nodeCount++;
    }

    private void EnsureInts(int size)
    {
        if (size > _ints.Length)
        {
            Array.Resize(ref _ints, Math.Max(size, _ints.Length * 2));
        }
    }

    private void Emit<TSink>(in ReadOnlySequence<byte> value, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        // _ints is reused as the stack of sorted member lists (one region per open object).
        int orderTop = 0;
        int top = 0;
        PushFrame(ref top, 0);
        while (top > 0)
        {
            ref Frame f = ref _frames[top - 1];
            ref Node n = ref _nodes[f.Node];
            if (f.State == 0)
            {
                if (n.Kind == JsonValueKind.Array)
                {
                    sink.Write((byte)'[');
                    f.State = 1;
                    f.Cursor = n.FirstChild;
                    f.Position = 0;
                }
                else if (n.Kind == JsonValueKind.Object)
                {
                    sink.Write((byte)'{');
                    f.State = 2;
                    f.OrderStart = orderTop;
                    f.OrderCount = SortedMembers(n, orderTop);
                    orderTop += f.OrderCount;
                    f.Position = 0;
                }
                else
                {
                    WriteScalar(value, n.Kind, n.Start, n.Length, ref sink);
                    top--;
                }

                continue;
            }

            if (f.State == 1)
            {
                if (f.Cursor < 0)
                {
                    sink.Write((byte)']');
                    top--;
                    continue;
                }

                if (f.Position++ > 0)
                {
                    sink.Write((byte)',');
                }

                int child = f.Cursor;
                f.Cursor = _nodes[child].NextSibling;
                PushFrame(ref top, child);
                continue;
            }

            if (f.Position == f.OrderCount)
            {
                sink.Write((byte)'}');
                orderTop = f.OrderStart;
                top--;
                continue;
            }

            if (f.Position > 0)
            {
                sink.Write((byte)',');
            }

            int member = _ints[f.OrderStart + f.Position];
            f.Position++;
            ref Node m = ref _nodes[member];
            sink.Write((byte)'"');
            GoJsonString.Transcode(_keys.AsSpan(m.KeyStart, m.KeyLength), final: true, GoStringMode.Encode, ref sink);
            sink.Write("\":"u8);
            PushFrame(ref top, member);
        }
    }

    private void PushFrame(ref int top, int node)
    {
        if (top == _frames.Length)
        {
            Array.Resize(ref _frames, _frames.Length * 2);
        }

        _frames[top++] = new Frame { Node = node };
    }

    /// <summary>Writes the object's members, sorted by key and de-duplicated (last wins), at _ints[at..].</summary>
    private int SortedMembers(in Node obj, int at)
    {
        EnsureInts(at + obj.ChildCount);
        Span<int> order = _ints.AsSpan(at, obj.ChildCount);
        int i = 0;
        for (int c = obj.FirstChild; c >= 0; c = _nodes[c].NextSibling)
        {
            order[i++] = c;
        }

        HeapSort(order);
        // Equal keys are adjacent and ordered by document position: keep the last of each run.
        int w = 0;
        for (int r = 0; r < order.Length; r++)
        {
            if (r + 1 < order.Length && KeyOf(order[r]).SequenceEqual(KeyOf(order[r + 1])))
            {
                continue;
            }

            order[w++] = order[r];
        }

        return w;
    }

    private ReadOnlySpan<byte> KeyOf(int node) => _keys.AsSpan(_nodes[node].KeyStart, _nodes[node].KeyLength);

    /// <summary>Orders by key bytes (Go strings.Compare), then by document position.</summary>
    private int Compare(int a, int b)
    {
        int c = KeyOf(a).SequenceCompareTo(KeyOf(b));
        return c != 0 ? c : a.CompareTo(b);
    }

    /// <summary>In-place heap sort: O(n log n) worst case, no allocation, no recursion.</summary>
    private void HeapSort(Span<int> a)
    {
        int n = a.Length;
        for (int i = (n / 2) - 1; i >= 0; i--)
        {
            SiftDown(a, i, n);
        }

        for (int end = n - 1; end > 0; end--)
        {
            (a[0], a[end]) = (a[end], a[0]);
            SiftDown(a, 0, end);
        }
    }

    private void SiftDown(Span<int> a, int root, int n)
    {
        while (true)
        {
            int child = (2 * root) + 1;
            if (child >= n)
            {
                return;
            }

            if (child + 1 < n && Compare(a[child + 1], a[child]) > 0)
            {
                child++;
            }

            if (Compare(a[root], a[child]) >= 0)
            {
                return;
            }

            (a[root], a[child]) = (a[child], a[root]);
            root = child;
        }
    }

    private struct Node
    {
        public JsonValueKind Kind;
        public long Start;
        public long Length;
        public int KeyStart;
        public int KeyLength;
        public int FirstChild;
        public int NextSibling;
        public int ChildCount;
    }

    private struct Frame
    {
        public int Node;
        public int State;
        public int Cursor;
        public int Position;
        public int OrderStart;
        public int OrderCount;
    }
}
