#!/usr/bin/env python3
"""Writes small JFR recordings holding every event flamestream reads, as seeds for the `jfr`
and `jfr_labels` targets.

The recordings in `seeds/jfr` are real but hold only CPU, wall-clock and native-memory events:
the real recordings with allocation, lock and park events are 150 KB to 1.4 MB, far over the
target's `max_len` (64 KiB). A fuzzer that has to turn a `jdk.ExecutionSample` class into a
`jdk.ObjectAllocationInNewTLAB` one, fields and all, seldom gets there: after all the runs of
rounds 1–9, no input of the `jfr` corpus produced an allocation-in-new-TLAB or an
allocation-sample profile (`cargo run -p flamestream-jfr --example jfr_info -- --summary
crates/flamestream-jfr/fuzz/corpus/jfr` counts the profile types a corpus produces).

These seeds are written the way a JDK or async-profiler writes a chunk (compressed integers,
four-byte padded event sizes, constant pools before the metadata), in a few hundred bytes:

- `seeds/jfr/all-events`: metadata for `jdk.ExecutionSample`, `profiler.WallClockSample`,
  `jdk.ObjectAllocationInNewTLAB`, `jdk.ObjectAllocationOutsideTLAB`,
  `jdk.ObjectAllocationSample`, `jdk.JavaMonitorEnter`, `jdk.ThreadPark`,
  `profiler.LiveObject`, `profiler.Malloc` and `jdk.ActiveSetting`, with the fields
  real writers put around the ones we read (threads, classes, timeouts, booleans, floats),
  two events of each, with context, span and trace ids, strings in every JFR encoding;
- `seeds/jfr/all-events-wall`: the same after an `ActiveSetting` `event=wall` (async-profiler
  in wall mode: execution samples also count as wall time);
- `seeds/jfr/two-chunks`: both chunks one after the other;
- `seeds/jfr/generated-names`: the first recording with a CPU sample over frames whose class
  and method names are the ones `symbols.rs` merges (lambda classes, reflection accessors,
  unpacked native libraries) and near misses of each. Its string branches were where `jfr` and
  `jfr_labels` still found an edge now and then after eleven rounds (`new-edges.py uncovered`);
- `seeds/jfr/uncompressed`: `two-chunks` again with the header's compressed-integers bit clear,
  so every int, long, short and char is fixed-width big-endian. JDK 17 will not write such a
  chunk and JDK 25's reader ignores the bit, but the format defines it and the decoder reads it;
  without this seed no input reached those branches (`new-edges.py uncovered`: `Reader::short`,
  fixed-width UTF-16 strings). `tests/robustness.rs` checks each twin decodes like the other;
- `seeds/jfr/string-encodings`: the first recording over names in every string encoding (null,
  empty, invalid UTF-8, Latin-1, UTF-16 with a surrogate pair and with lone surrogates, pool
  references, one missing), states and threads named in other encodings, an `ActiveSetting`
  in UTF-16 and by reference; compressed, then its uncompressed twin. The fuzzers were still
  finding the string decoder's branches one by one under each caller (`new-edges.py diff`);
- `seeds/jfr_labels/all-events`, `generated-names`, `uncompressed` and `string-encodings`:
  the same recordings after a LabelsSnapshot for their context ids, in
  `fuzz_targets/jfr_labels.rs`'s layout (first byte: the snapshot's length).

    crates/flamestream-jfr/fuzz/event-seeds.py      # rewrites these seeds

Only the standard library. Check a seed with `jfr_info` (above) or, for the compressed ones, the
JDK's `jfr summary`.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(v):
    """JFR's compressed integer: seven bits a byte for eight bytes, then a ninth of eight bits."""
    out = bytearray()
    v &= (1 << 64) - 1
    for _ in range(8):
        if v < 0x80:
            out.append(v)
            return bytes(out)
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


# Whether the chunk being written uses compressed integers (chunk feature bit 0). `main()` clears
# it to write the fixed-width twins: longs in eight bytes, ints in four, shorts and chars in two,
# all big-endian, as a reader must take them when the bit is clear.
COMPRESSED = True


def fixed_or_varint(fmt, vs):
    if COMPRESSED:
        return b"".join(varint(v) for v in vs)
    return b"".join(struct.pack(fmt, v & ((1 << (8 * struct.calcsize(fmt))) - 1)) for v in vs)


def longs(*vs):
    """Java longs: also constant-pool references, event type ids, pool ids and keys."""
    return fixed_or_varint(">Q", vs)


def ints(*vs):
    """Java ints: also counts (strings, arrays, pools, metadata) and string-table indexes."""
    return fixed_or_varint(">I", vs)


def shorts(*vs):
    """Java shorts and chars."""
    return fixed_or_varint(">H", vs)


def utf8(s):
    """Encoding 3: UTF-8 bytes (`s` as text, or as bytes that need not be valid UTF-8)."""
    b = s if isinstance(s, bytes) else s.encode()
    return b"\x03" + ints(len(b)) + b


def latin1(s):
    b = s.encode("latin-1")
    return b"\x05" + ints(len(b)) + b


def chars(s):
    """Encoding 4: UTF-16 code units, each a char."""
    units = s.encode("utf-16-be")
    return utf16_units([int.from_bytes(units[i:i + 2], "big") for i in range(0, len(units), 2)])


def utf16_units(units):
    """Encoding 4 from raw code units, lone surrogates included."""
    return b"\x04" + ints(len(units)) + shorts(*units)


def ref(string_id):
    """Encoding 2: a reference into the `java.lang.String` pool."""
    return b"\x02" + longs(string_id)


# Every way a string can be encoded, for the names the decoder reads (`string-encodings`): null,
# empty, invalid UTF-8, Latin-1, UTF-16 with a surrogate pair and with lone surrogates, and
# references to strings of the pool (`pools(encodings=True)`), one of them missing.
ODD_STRINGS = [("null", None), ("empty", None), ("utf8", b"ab\xff\xfe"), ("latin1", "Grüße"),
               ("chars", "𝔘nicode \u00e4"), ("units", [0xD800, 0x41, 0xDC00]), ("units", [0xDBFF]),
               ("ref", 2), ("ref", 3), ("ref", 4), ("ref", 77)]


def odd_string(kind, value):
    if kind in ("null", "empty"):
        return b"\x00" if kind == "null" else b"\x01"
    return {"utf8": utf8, "latin1": latin1, "chars": chars, "units": utf16_units, "ref": ref}[kind](value)


def event(body):
    """An event: its size as an int, then the body. Compressed, the size is a four-byte padded
    varint, as JDK writers write it."""
    size = len(body) + 4
    if not COMPRESSED:
        return struct.pack(">I", size) + body
    pad = bytes([(size >> (7 * i)) & 0x7F | 0x80 for i in range(3)]) + bytes([(size >> 21) & 0x7F])
    return pad + body


class Metadata:
    def __init__(self):
        self.strings = []
        self.classes = []

    def s(self, text):
        if text not in self.strings:
            self.strings.append(text)
        return self.strings.index(text)

    def cls(self, cid, name, fields=(), super_type=None):
        """fields: (name, type id, constant pool, array)."""
        self.classes.append((cid, name, super_type, list(fields)))

    def element(self, name, attrs, children):
        out = ints(self.s(name), len(attrs))
        for k, v in attrs:
            out += ints(self.s(k), self.s(v))
        out += ints(len(children))
        for c in children:
            out += c
        return out

    def body(self):
        classes = []
        for cid, name, sup, fields in self.classes:
            kids = []
            for fname, ftype, cp, array in fields:
                attrs = [("name", fname), ("class", str(ftype))]
                if cp:
                    attrs.append(("constantPool", "true"))
                if array:
                    attrs.append(("dimension", "1"))
                kids.append(self.element("field", attrs, []))
            attrs = [("id", str(cid)), ("name", name)]
            if sup:
                attrs.append(("superType", sup))
            classes.append(self.element("class", attrs, kids))
        region = self.element("region", [("gmtOffset", "0"), ("locale", "en_US")], [])
        tree = self.element("root", [], [self.element("metadata", [], classes), region])
        head = longs(0, 0, 0, 1) + ints(len(self.strings))  # type 0, start, duration, metadata id
        return head + b"".join(utf8(t) for t in self.strings) + tree


# Type ids, as a JDK numbers them (primitives first, then types, then events).
BOOLEAN, BYTE, SHORT, CHAR, INT, LONG, FLOAT, DOUBLE, STRING = 4, 5, 6, 7, 8, 9, 10, 11, 12
THREAD, CLASS, SYMBOL, METHOD, FRAME, STACK, STATE, PACKAGE, FRAMETYPE = 20, 21, 22, 23, 24, 25, 26, 27, 28
EXECUTION, WALL, NEW_TLAB, OUTSIDE_TLAB, ALLOC_SAMPLE = 101, 102, 103, 104, 105
MONITOR, PARK, LIVE, MALLOC, SETTING = 106, 107, 108, 109, 1700  # 1700: past the dense id table

EVENT = "jdk.jfr.Event"
HEAD = [("startTime", LONG, False, False)]
THREADED = HEAD + [("eventThread", THREAD, True, False)]
CORR = [("contextId", LONG, False, False), ("spanId", LONG, False, False),
        ("spanName", LONG, False, False), ("traceIdHi", LONG, False, False),
        ("traceIdLo", LONG, False, False)]
TRACE = [("stackTrace", STACK, True, False)]


def metadata():
    m = Metadata()
    for cid, name in [(BOOLEAN, "boolean"), (BYTE, "byte"), (SHORT, "short"), (CHAR, "char"),
                      (INT, "int"), (LONG, "long"), (FLOAT, "float"), (DOUBLE, "double"),
                      (STRING, "java.lang.String")]:
        m.cls(cid, name)
    m.cls(THREAD, "java.lang.Thread", [("osName", STRING, False, False), ("osThreadId", LONG, False, False),
                                       ("javaName", STRING, False, False), ("javaThreadId", LONG, False, False)])
    m.cls(SYMBOL, "jdk.types.Symbol", [("string", STRING, False, False)])
    m.cls(PACKAGE, "jdk.types.Package", [("name", SYMBOL, True, False)])
    m.cls(CLASS, "java.lang.Class", [("classLoader", LONG, False, False), ("name", SYMBOL, True, False),
                                     ("package", PACKAGE, True, False), ("modifiers", INT, False, False),
                                     ("hidden", BOOLEAN, False, False)])
    m.cls(METHOD, "jdk.types.Method", [("type", CLASS, True, False), ("name", SYMBOL, True, False),
                                       ("descriptor", SYMBOL, True, False), ("modifiers", INT, False, False),
                                       ("hidden", BOOLEAN, False, False)])
    m.cls(FRAMETYPE, "jdk.types.FrameType", [("description", STRING, False, False)])
    m.cls(FRAME, "jdk.types.StackFrame", [("method", METHOD, True, False), ("lineNumber", INT, False, False),
                                          ("bytecodeIndex", INT, False, False), ("type", FRAMETYPE, True, False)])
    m.cls(STACK, "jdk.types.StackTrace", [("truncated", BOOLEAN, False, False), ("frames", FRAME, False, True)])
    m.cls(STATE, "jdk.types.ThreadState", [("name", STRING, False, False)])
    m.cls(EXECUTION, "jdk.ExecutionSample", HEAD + [("sampledThread", THREAD, True, False)] + TRACE
          + [("state", STATE, True, False)] + CORR, EVENT)
    m.cls(WALL, "profiler.WallClockSample", HEAD + [("sampledThread", THREAD, True, False)] + TRACE
          + [("state", STATE, True, False), ("samples", INT, False, False)] + CORR, EVENT)
    m.cls(NEW_TLAB, "jdk.ObjectAllocationInNewTLAB", THREADED + TRACE
          + [("objectClass", CLASS, True, False), ("allocationSize", LONG, False, False),
             ("tlabSize", LONG, False, False)] + CORR, EVENT)
    m.cls(OUTSIDE_TLAB, "jdk.ObjectAllocationOutsideTLAB", THREADED + TRACE
          + [("objectClass", CLASS, True, False), ("allocationSize", LONG, False, False)] + CORR, EVENT)
    m.cls(ALLOC_SAMPLE, "jdk.ObjectAllocationSample", THREADED + TRACE
          + [("objectClass", CLASS, True, False), ("weight", LONG, False, False)] + CORR, EVENT)
    m.cls(MONITOR, "jdk.JavaMonitorEnter", HEAD + [("duration", LONG, False, False)] + THREADED[1:] + TRACE
          + [("monitorClass", CLASS, True, False), ("previousOwner", THREAD, True, False),
             ("address", LONG, False, False)] + CORR, EVENT)
    m.cls(PARK, "jdk.ThreadPark", HEAD + [("duration", LONG, False, False)] + THREADED[1:] + TRACE
          + [("parkedClass", CLASS, True, False), ("timeout", LONG, False, False),
             ("until", LONG, False, False), ("address", LONG, False, False)] + CORR, EVENT)
    m.cls(LIVE, "profiler.LiveObject", THREADED + TRACE
          + [("objectClass", CLASS, True, False), ("allocationSize", LONG, False, False),
             ("allocationTime", LONG, False, False), ("ratio", FLOAT, False, False),
             ("weight", DOUBLE, False, False), ("tag", BYTE, False, False), ("kind", SHORT, False, False),
             ("sign", CHAR, False, False)] + CORR, EVENT)
    m.cls(MALLOC, "profiler.Malloc", THREADED + TRACE
          + [("address", LONG, False, False), ("size", LONG, False, False)] + CORR, EVENT)
    m.cls(SETTING, "jdk.ActiveSetting", THREADED + [("id", LONG, False, False), ("name", STRING, False, False),
                                                    ("value", STRING, False, False)], EVENT)
    return m.body()


# Names that `symbols.rs` merges into one per process, and near misses of each pattern.
GENERATED_NAMES = [
    "demo/Main$$Lambda$14/0x0000000800c02a00", "demo/Main$$Lambda/0x000071c1d8003a00",
    "demo/Main$$Lambda$14.1a2b3c", "demo/Main$$Lambda123", "demo/Main$$Lambda$$Lambda$7/0xabc",
    "demo/Main$$Lambda$14/0xABC", "demo/Main$$Lambda$x", "$$Lambda$1/0x1", "demo/Main$$Lambda$2/",
    "jdk/internal/reflect/GeneratedMethodAccessor42", "jdk/internal/reflect/GeneratedMethodAccessor4x",
    "/tmp/libzstd-jni-1.5.5-4.so", "./tmp/libzstd-jni-1.5.5-4.so (deleted)", "libzstd-jni-1.5-4.so",
    "libzstd-jni-1.5.x-4.so", "libzstd-jni-1.5.5-4-2.so",
    "/tmp/libamazonCorrettoCryptoProvider0123456789abcdef.so",
    "libamazonCorrettoCryptoProviderNativeLibraries.0123456789abcdef/libcrypto.so",
    "amazonCorrettoCryptoProvider0123456789abcdef/libamazonCorrettoCryptoProvider.so",
    "libamazonCorrettoCryptoProvider0123456789abcdeg.so", "libamazonCorrettoCryptoProvider0123456789abcde\u00e4.so",
    "libamazonCorrettoCryptoProvider0123456789abcdef/libc.so", "libamazonCorrettoCryptoProvider01.so",
    "/tmp/libasyncProfiler-linux-x64-17b9a1d8156277a98ccc871afa9a8f69215f92.so",
    "libasyncProfiler-windows-17b9a1d8156277a98ccc871afa9a8f69215f92.so", "libasyncProfiler-linux-x64.so",
    "libc.so.6", "demo/Main$Inner.run",
]


def pools(generated=False, encodings=False):
    """One checkpoint event with every pool the events refer to; with `generated`, also a
    class, a method and a frame of stack 5 for each of `GENERATED_NAMES`; with `encodings`, the
    same on stack 6 for each of `ODD_STRINGS`, and thread, state and pool strings in every
    encoding."""
    def pool(type_id, entries):
        return longs(type_id) + ints(len(entries)) + b"".join(longs(i) + body for i, body in entries)

    def method(cls, name, modifiers=1, hidden=0):
        return longs(cls, name, 5) + ints(modifiers) + bytes([hidden])  # descriptor: ()V

    symbols = [(1, utf8("demo/Main")), (2, latin1("run")), (3, chars("demo/Läuft")), (4, utf8("work")),
               (5, utf8("()V")), (6, utf8("demo")), (7, utf8("java/lang/Object")), (8, b"\x01"),
               (9, utf8("park"))]
    classes = [(1, 1), (2, 3), (3, 7)]
    methods = [(1, method(1, 2, 9)), (2, method(2, 4)), (3, method(2, 8, hidden=1)), (4, method(3, 9))]
    generated_frames = []
    if generated:
        # Ids from 10: each name is a class (with method `run`) and a method (of demo/Main).
        for i, text in enumerate(GENERATED_NAMES):
            sid = 10 + i
            symbols.append((sid, utf8(text)))
            classes.append((sid, sid))
            methods += [(sid, method(sid, 2)), (1000 + sid, method(1, sid))]
            generated_frames += [(sid, i, 1), (1000 + sid, i, 1)]
    odd_frames = []
    if encodings:
        # Ids from 200: each odd string names a class and its method.
        for i, spec in enumerate(ODD_STRINGS):
            sid = 200 + i
            symbols.append((sid, odd_string(*spec)))
            classes.append((sid, sid))
            methods.append((sid, method(sid, sid)))
            odd_frames.append((sid, i, 1))
    body = longs(1, 0, 0, 0) + b"\x00"  # type 1, start, duration, delta to the next: none; not a flush
    body += ints(9)  # pools
    body += pool(SYMBOL, symbols)
    body += pool(PACKAGE, [(1, longs(6))])
    body += pool(CLASS, [(i, longs(0, name, 1) + ints(1) + b"\x00") for i, name in classes])
    body += pool(METHOD, methods)
    body += pool(FRAMETYPE, [(1, utf8("Interpreted")), (2, utf8("JIT compiled")), (3, utf8("Inlined"))])

    def stack(frames, truncated=0):
        return bytes([truncated]) + ints(len(frames)) + b"".join(
            longs(m) + ints(line, 0) + longs(t) for m, line, t in frames)

    # Leaf first. Stack 3: a frame with an unknown method; stack 4: empty; 1 << 40: a 64-bit id.
    body += pool(STACK, [(1, stack([(2, 7, 2), (1, 3, 1)])), (2, stack([(4, 11, 3), (2, 8, 2), (1, 3, 1)], 1)),
                         (3, stack([(99, 1, 1), (1, 3, 1)])), (4, stack([])), (1 << 40, stack([(3, 0, 1), (1, 4, 1)]))]
                        + ([(5, stack(generated_frames))] if generated else [])
                        + ([(6, stack(odd_frames))] if encodings else []))
    if encodings:
        body += pool(STATE, [(1, ref(2)), (2, latin1("STATE_SLEEPING")), (3, chars("STATE_PARKED"))])
        body += pool(THREAD, [(1, latin1("main") + longs(11) + ref(3) + longs(1)),
                              (2, ref(77) + longs(12) + utf16_units([0xDFFF, 0x31]) + longs(2))])
        body += pool(STRING, [(1, utf8("cpu")), (2, chars("STATE_RUNNABLE")), (3, latin1("wall")),
                              (4, utf16_units([0xDBFF, 0xDBFF])), (5, b"\x00"), (6, ref(3))])
    else:
        body += pool(STATE, [(1, utf8("STATE_RUNNABLE")), (2, utf8("STATE_SLEEPING")), (3, utf8("STATE_PARKED"))])
        body += pool(THREAD, [(1, utf8("main") + longs(11) + utf8("main") + longs(1)),
                              (2, b"\x00" + longs(12) + chars("worker-1") + longs(2))])
        body += pool(STRING, [(1, utf8("cpu"))])
    return event(body)


def corr(ctx, span=0, name=0, hi=0, lo=0):
    return longs(ctx, span, name, hi, lo)


def events(wall_mode):
    out = b""
    if wall_mode:
        out += event(longs(SETTING, 0, 1, 1) + utf8("event") + utf8("wall"))
    else:
        # The value as a constant-pool string (encoding 2), as JDK writers write repeated ones.
        out += event(longs(SETTING, 0, 1, 1) + utf8("event") + ref(1))
    for ctx, stack in ((1, 1), (2, 2)):
        c = corr(ctx, 0x1234 * ctx, 1, 0xABC, ctx)
        out += event(longs(EXECUTION, 10, 1, stack, 1) + c)
        out += event(longs(EXECUTION, 11, 2, stack, 2) + c)  # sleeping: not CPU time
        out += event(longs(WALL, 12, 1, stack, 1) + ints(5) + c)
        out += event(longs(WALL, 13, 2, 1 << 40, 3) + ints(2) + c)
        out += event(longs(NEW_TLAB, 14, 1, stack, 1, 48, 16384) + c)
        out += event(longs(OUTSIDE_TLAB, 15, 1, 3, 2, 1 << 20) + c)
        out += event(longs(ALLOC_SAMPLE, 16, 2, stack, 3, 512) + c)
        out += event(longs(MONITOR, 17, 2_000_000, 1, stack, 3, 2, 0xDEAD) + c)
        out += event(longs(PARK, 18, 3_000_000, 2, 2, 3, (1 << 64) - 1, 0, 0xBEEF) + c)
        out += event(longs(LIVE, 19, 1, 4, 1, 24, 100) + struct.pack(">f", 0.5) + struct.pack(">d", 2.0)
                     + b"\x07" + shorts(3, 65) + c)
        out += event(longs(MALLOC, 20, 2, stack, 0x7F00, 4096) + c)
    out += event(longs(999, 1, 2, 3))  # an event type the metadata does not describe: skipped
    return out


def chunk(evts, pool, meta):
    body = evts
    cp_offset = 68 + len(body)
    body += pool
    meta_offset = 68 + len(body)
    body += event(meta)
    size = 68 + len(body)
    header = (b"FLR\x00" + struct.pack(">HH", 2, 1)
              + struct.pack(">qqqqqqq", size, cp_offset, meta_offset, 1_700_000_000_000_000_000,
                            1_000_000_000, 1000, 1_000_000_000)
              + struct.pack(">I", 1 if COMPRESSED else 0))  # feature bit 0: compressed integers
    return header + body


def labels_snapshot():
    """LabelsSnapshot: contexts {1: {1: 2}, 2: {3: 4}}, strings {1: k, 2: v, 3: pod, 4: api-0}."""
    def ld(num, b):
        return varint(num << 3 | 2) + varint(len(b)) + b

    def entry(k, v):
        return varint(1 << 3) + varint(k) + varint(2 << 3) + varint(v)

    ctx = lambda cid, pairs: ld(1, varint(1 << 3) + varint(cid) + ld(2, b"".join(ld(1, entry(k, v)) for k, v in pairs)))
    strs = lambda sid, text: ld(2, varint(1 << 3) + varint(sid) + ld(2, text.encode()))
    return (ctx(1, [(1, 2)]) + ctx(2, [(3, 4), (1, 4)]) + strs(1, "k") + strs(2, "v") + strs(3, "pod")
            + strs(4, "api-0"))


def recordings():
    """The first recording, the same in wall mode, then with generated names, then with odd strings."""
    meta = metadata()
    cpu = chunk(events(False), pools(), meta)
    wall = chunk(events(True), pools(), meta)
    # The first recording's events, then CPU samples on the stack of generated names.
    c = corr(1, 0x1234, 1, 0xABC, 1)
    names = chunk(events(False) + event(longs(EXECUTION, 21, 1, 5, 1) + c)
                  + event(longs(WALL, 22, 1, 5, 1) + ints(3) + c), pools(generated=True), meta)
    # The first recording's events over pools of odd strings, a CPU sample on their stack, then
    # an `ActiveSetting` in other encodings (`event` in UTF-16, `wall` a reference to Latin-1)
    # and the same sample, now wall time.
    odd = chunk(events(False) + event(longs(EXECUTION, 23, 1, 6, 1) + c)
                + event(longs(SETTING, 0, 1, 1) + chars("event") + ref(3))
                + event(longs(EXECUTION, 24, 1, 6, 1) + c), pools(encodings=True), meta)
    return cpu, wall, names, odd


def main():
    global COMPRESSED
    cpu, wall, names, odd = recordings()
    COMPRESSED = False
    fixed_cpu, fixed_wall, _, fixed_odd = recordings()
    COMPRESSED = True
    seeds = {os.path.join("jfr", "all-events"): cpu, os.path.join("jfr", "all-events-wall"): wall,
             os.path.join("jfr", "two-chunks"): cpu + wall, os.path.join("jfr", "generated-names"): names,
             os.path.join("jfr", "uncompressed"): fixed_cpu + fixed_wall,
             os.path.join("jfr", "string-encodings"): odd + fixed_odd}
    snap = labels_snapshot()  # fuzz_targets/jfr_labels.rs: first byte, snapshot, recording
    seeds[os.path.join("jfr_labels", "all-events")] = bytes([len(snap)]) + snap + cpu
    seeds[os.path.join("jfr_labels", "generated-names")] = bytes([len(snap)]) + snap + names
    seeds[os.path.join("jfr_labels", "uncompressed")] = bytes([len(snap)]) + snap + fixed_cpu
    seeds[os.path.join("jfr_labels", "string-encodings")] = bytes([len(snap)]) + snap + odd + fixed_odd
    for rel, data in seeds.items():
        with open(os.path.join(HERE, "seeds", rel), "wb") as f:
            f.write(data)
        print(f"{rel}: {len(data)} bytes")


if __name__ == "__main__":
    main()
