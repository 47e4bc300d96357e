//! Garbage, truncated and bit-flipped recordings are errors, never panics or hangs.

use flamestream_jfr::{decode, JfrError};
use flamestream_model::Limits;
use proptest::prelude::*;
use std::io::Read;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/grafana-jfr-parser/parser/testdata")
        .join(name);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn invalid(r: Result<flamestream_model::Profile, JfrError>) -> String {
    match r {
        Err(JfrError::Invalid(m)) => m,
        other => panic!("expected an invalid-recording error, got {other:?}"),
    }
}

#[test]
fn empty_and_foreign_inputs_are_invalid() {
    let limits = Limits::default();
    assert_eq!(
        invalid(decode(b"", None, 100, &limits)),
        "recording is empty"
    );
    let m = invalid(decode(
        b"not a jfr recording at all, just some text padding it out to more than sixty-eight bytes",
        None,
        100,
        &limits,
    ));
    assert!(m.starts_with("chunk 1 at offset `0`: bad magic"), "{m}");
    let m = invalid(decode(b"FLR\0", None, 100, &limits));
    assert!(m.contains("header truncated"), "{m}");
}

#[test]
fn header_offsets_are_checked() {
    let mut data = fixture("nativemem.jfr.gz");
    // Constant pool offset past the chunk end.
    data[16..24].copy_from_slice(&u64::to_be_bytes(1 << 40));
    let m = invalid(decode(&data, None, 100, &Limits::default()));
    assert!(
        m.contains("constant pool offset `1099511627776` beyond chunk size"),
        "{m}"
    );
}

#[test]
fn every_truncation_is_an_error() {
    let data = fixture("nativemem.jfr.gz");
    let limits = Limits::default();
    for len in (0..data.len()).step_by(7) {
        assert!(
            decode(&data[..len], None, 100, &limits).is_err(),
            "prefix of {len} bytes parsed"
        );
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let data = fixture("wall_tick_sample.jfr.gz");
    let limits = Limits::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let mut d = data.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % d.len() as u64) as usize;
            d[i] = (seed >> 32) as u8;
        }
        let _ = decode(&d, None, 100, &limits);
    }
}

#[test]
fn garbage_labels_snapshot_is_invalid() {
    let data = fixture("dump1.jfr.gz");
    let m = invalid(decode(
        &data,
        Some(&[0x0a, 0xff, 0x01]),
        100,
        &Limits::default(),
    ));
    assert!(m.starts_with("labels snapshot:"), "{m}");
}

#[test]
fn stack_depth_and_symbol_limits_apply() {
    let data = fixture("parse_failure_repro1.jfr.gz");
    let limits = Limits {
        max_stack_depth: 3,
        max_symbol_bytes: 6,
        ..Limits::default()
    };
    let p = decode(&data, None, 100, &limits).unwrap();
    for s in &p.series {
        for (stack, _) in s.samples.iter() {
            assert!(stack.len() <= 3);
            // The leaf frame is kept.
            assert!(stack.iter().all(|&f| p.frames.name(f).len() <= 6));
        }
    }
    let full = decode(&data, None, 100, &Limits::default()).unwrap();
    assert_eq!(
        full.series.iter().map(|s| s.samples.total()).sum::<i64>(),
        p.series.iter().map(|s| s.samples.total()).sum::<i64>()
    );
}

/// A profile as sorted lines `type{labels} root;…;leaf value`, for comparing two decodes.
fn rendered(p: &flamestream_model::Profile) -> Vec<String> {
    let mut lines: Vec<String> = p
        .series
        .iter()
        .flat_map(|s| {
            s.samples.iter().map(move |(stack, v)| {
                let names: Vec<&str> = stack.iter().map(|&f| p.frames.name(f)).collect();
                format!("{}{} {} {v}", s.profile_type, s.labels, names.join(";"))
            })
        })
        .collect();
    lines.sort();
    lines
}

/// Chunks whose header clears the compressed-integers bit (ints, longs, shorts and chars in
/// fixed-width big-endian) decode exactly like their compressed twins. JDK 17 will not write
/// them and JDK 25's reader ignores the bit, but the format defines it and JMC reads both. The
/// twins are fuzz seeds: `fuzz/event-seeds.py` writes each recording both ways.
#[test]
fn uncompressed_chunks_decode_like_their_compressed_twins() {
    let seed = |path: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(path),
        )
        .unwrap()
    };
    let limits = Limits::default();
    // Two chunks each: every event kind, then the same in wall mode.
    let (compressed, fixed) = (seed("jfr/two-chunks"), seed("jfr/uncompressed"));
    assert_eq!(compressed[64..68], [0, 0, 0, 1]);
    assert_eq!(fixed[64..68], [0, 0, 0, 0]);
    let want = rendered(&decode(&compressed, None, 100, &limits).unwrap());
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(rendered(&decode(&fixed, None, 100, &limits).unwrap()), want);

    // Names in every string encoding (invalid UTF-8, lone surrogates, pool references): one
    // chunk compressed, then its twin.
    let both = seed("jfr/string-encodings");
    let first = u64::from_be_bytes(both[8..16].try_into().unwrap()) as usize;
    let (compressed, fixed) = both.split_at(first);
    let want = rendered(&decode(compressed, None, 100, &limits).unwrap());
    assert!(want.iter().any(|l| l.contains("Grüße.Grüße:3")), "{want:?}");
    assert_eq!(rendered(&decode(fixed, None, 100, &limits).unwrap()), want);

    // With a LabelsSnapshot (the `jfr_labels` target's layout: its length, it, the recording).
    let split = |d: &[u8]| {
        let n = usize::from(d[0]);
        (d[1..=n].to_vec(), d[n + 1..].to_vec())
    };
    let (snapshot, compressed) = split(&seed("jfr_labels/all-events"));
    let (same_snapshot, fixed) = split(&seed("jfr_labels/uncompressed"));
    assert_eq!(snapshot, same_snapshot);
    let want = rendered(&decode(&compressed, Some(&snapshot), 100, &limits).unwrap());
    assert!(want.iter().any(|l| l.contains("pod")), "{want:?}");
    assert_eq!(
        rendered(&decode(&fixed, Some(&snapshot), 100, &limits).unwrap()),
        want
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, None, 100, &Limits::default());
        let _ = decode(&bytes, Some(&bytes), 100, &Limits::default());
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let data = fixture("nativemem.jfr.gz");
        let mut d = data[..68].to_vec();
        d.extend_from_slice(&tail);
        let size = d.len() as u64;
        d[8..16].copy_from_slice(&size.to_be_bytes());
        let _ = decode(&d, None, 100, &Limits::default());
    }
}

/// A minimal JFR writer (one compressed-int chunk) for recordings the fixtures do not have.
mod jfr_writer {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn utf8(out: &mut Vec<u8>, s: &str) {
        out.push(3);
        varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }

    /// Appends an event: its size as a padded four-byte varint (as JDK writers do), then `body`.
    pub fn event(out: &mut Vec<u8>, body: &[u8]) {
        let size = (body.len() + 4) as u64;
        assert!(size < 1 << 28);
        for i in 0..3 {
            out.push((size >> (7 * i)) as u8 & 0x7f | 0x80);
        }
        out.push((size >> 21) as u8 & 0x7f);
        out.extend_from_slice(body);
    }

    /// A metadata element: (name, attributes, children).
    pub struct El(
        pub &'static str,
        pub Vec<(&'static str, String)>,
        pub Vec<El>,
    );

    fn intern(strings: &mut Vec<String>, s: &str) -> u64 {
        match strings.iter().position(|t| t == s) {
            Some(i) => i as u64,
            None => {
                strings.push(s.to_string());
                (strings.len() - 1) as u64
            }
        }
    }

    fn element(out: &mut Vec<u8>, strings: &mut Vec<String>, e: &El) {
        varint(out, intern(strings, e.0));
        varint(out, e.1.len() as u64);
        for (k, v) in &e.1 {
            varint(out, intern(strings, k));
            varint(out, intern(strings, v));
        }
        varint(out, e.2.len() as u64);
        for c in &e.2 {
            element(out, strings, c);
        }
    }

    /// `class id name` with fields (name, type id, constant pool, array).
    pub fn class(id: u64, name: &str, fields: &[(&str, u64, bool, bool)]) -> El {
        let fields = fields
            .iter()
            .map(|&(n, t, cp, array)| {
                let mut attrs = vec![("name", n.to_string()), ("class", t.to_string())];
                if cp {
                    attrs.push(("constantPool", "true".to_string()));
                }
                if array {
                    attrs.push(("dimension", "1".to_string()));
                }
                El("field", attrs, Vec::new())
            })
            .collect();
        El(
            "class",
            vec![("id", id.to_string()), ("name", name.to_string())],
            fields,
        )
    }

    // Type ids of the classes below (any ids do; the decoder goes by names).
    pub const LONG: u64 = 20;
    pub const INT: u64 = 21;
    pub const STRING: u64 = 22;
    pub const SYMBOL: u64 = 30;
    pub const CLASS: u64 = 31;
    pub const METHOD: u64 = 32;
    pub const FRAME: u64 = 33;
    pub const STACK: u64 = 34;
    pub const STATE: u64 = 35;

    /// The classes a stack trace and a thread state need: frames of (method, line number),
    /// methods of (class, name), classes of (name).
    pub fn stack_classes() -> Vec<El> {
        vec![
            class(LONG, "long", &[]),
            class(INT, "int", &[]),
            class(STRING, "java.lang.String", &[]),
            class(
                SYMBOL,
                "jdk.types.Symbol",
                &[("string", STRING, false, false)],
            ),
            class(CLASS, "java.lang.Class", &[("name", SYMBOL, true, false)]),
            class(
                METHOD,
                "jdk.types.Method",
                &[("type", CLASS, true, false), ("name", SYMBOL, true, false)],
            ),
            class(
                FRAME,
                "jdk.types.StackFrame",
                &[
                    ("method", METHOD, true, false),
                    ("lineNumber", INT, false, false),
                ],
            ),
            class(
                STACK,
                "jdk.types.StackTrace",
                &[("frames", FRAME, false, true)],
            ),
            class(
                STATE,
                "jdk.types.ThreadState",
                &[("name", STRING, false, false)],
            ),
        ]
    }

    pub const EXECUTION: u64 = 101;

    /// `jdk.ExecutionSample` (start time, stack trace, thread state), then `more` fields.
    pub fn execution_sample(more: &[(&str, u64, bool, bool)]) -> El {
        let mut fields = vec![
            ("startTime", LONG, false, false),
            ("stackTrace", STACK, true, false),
            ("state", STATE, true, false),
        ];
        fields.extend_from_slice(more);
        class(EXECUTION, "jdk.ExecutionSample", &fields)
    }

    /// The start of a constant pool event body (the last, not a flush) holding `pools` pools.
    pub fn checkpoint(pools: u64) -> Vec<u8> {
        let mut body = Vec::new();
        for v in [1, 0, 0, 0] {
            varint(&mut body, v); // type 1, start, duration, delta 0
        }
        body.push(0); // flush
        varint(&mut body, pools);
        body
    }

    /// The metadata event body for `classes`.
    pub fn metadata(classes: Vec<El>) -> Vec<u8> {
        let root = El(
            "root",
            Vec::new(),
            vec![El("metadata", Vec::new(), classes)],
        );
        let mut strings = Vec::new();
        let mut tree = Vec::new();
        element(&mut tree, &mut strings, &root);
        let mut body = Vec::new();
        for v in [0, 0, 0, 0] {
            varint(&mut body, v); // type 0, start, duration, metadata id
        }
        varint(&mut body, strings.len() as u64);
        for s in &strings {
            utf8(&mut body, s);
        }
        body.extend_from_slice(&tree);
        body
    }

    /// One chunk: header, `events`, then the constant pool and metadata events.
    pub fn chunk(events: &[u8], pool: &[u8], metadata: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 68];
        out.extend_from_slice(events);
        let cp_offset = out.len() as u64;
        out.extend_from_slice(pool);
        let meta_offset = out.len() as u64;
        out.extend_from_slice(metadata);
        let mut h = Vec::with_capacity(68);
        h.extend_from_slice(b"FLR\0");
        h.extend_from_slice(&2u16.to_be_bytes());
        h.extend_from_slice(&0u16.to_be_bytes());
        for v in [
            out.len() as u64,
            cp_offset,
            meta_offset,
            0,
            0,
            0,
            1_000_000_000,
        ] {
            h.extend_from_slice(&v.to_be_bytes());
        }
        h.extend_from_slice(&1u32.to_be_bytes()); // compressed ints
        out[..68].copy_from_slice(&h);
        out
    }
}

/// One stack trace of many unresolvable frames (method id 0 and an unknown method id), used by
/// many events with distinct context ids, decodes in time linear in the input: each distinct
/// stack is resolved once, not once per (stack, context, kind) sum. A regression shows as a
/// slow test (about 10^9 frame visits), not as a failed assertion.
#[test]
fn long_unresolvable_stack_used_by_many_contexts() {
    use jfr_writer::*;
    const UNRESOLVED: usize = 200_000;
    const EVENTS: u64 = 5_000;

    let mut classes = stack_classes();
    classes.push(execution_sample(&[("contextId", LONG, false, false)]));
    let metadata_body = metadata(classes);

    let mut pool = checkpoint(5);
    varint(&mut pool, SYMBOL);
    varint(&mut pool, 4);
    for (id, s) in [(1, "demo/Main"), (2, "run"), (3, "demo/Leaf"), (4, "work")] {
        varint(&mut pool, id);
        utf8(&mut pool, s);
    }
    varint(&mut pool, CLASS);
    varint(&mut pool, 2);
    for (id, name) in [(1, 1), (2, 3)] {
        varint(&mut pool, id);
        varint(&mut pool, name);
    }
    varint(&mut pool, METHOD);
    varint(&mut pool, 2);
    for (id, class, name) in [(1, 1, 2), (2, 2, 4)] {
        varint(&mut pool, id);
        varint(&mut pool, class);
        varint(&mut pool, name);
    }
    varint(&mut pool, STATE);
    varint(&mut pool, 1);
    varint(&mut pool, 1);
    utf8(&mut pool, "STATE_RUNNABLE");
    varint(&mut pool, STACK);
    varint(&mut pool, 1);
    varint(&mut pool, 7); // stack trace id
    varint(&mut pool, UNRESOLVED as u64 + 2);
    // Leaf first: a resolvable leaf, the unresolvable frames, a resolvable root.
    for (method, line) in [(2, 7)]
        .into_iter()
        .chain((0..UNRESOLVED).map(|i| (if i % 2 == 0 { 0 } else { 999 }, 0)))
        .chain([(1, 3)])
    {
        varint(&mut pool, method);
        varint(&mut pool, line);
    }
    let mut pool_event = Vec::new();
    event(&mut pool_event, &pool);

    let mut events = Vec::new();
    for ctx in 1..=EVENTS {
        let mut body = Vec::new();
        for v in [EXECUTION, 0, 7, 1, ctx] {
            varint(&mut body, v);
        }
        event(&mut events, &body);
    }
    let mut metadata_event = Vec::new();
    event(&mut metadata_event, &metadata_body);
    let data = chunk(&events, &pool_event, &metadata_event);

    let p = decode(&data, None, 100, &Limits::default()).unwrap();
    assert_eq!(p.series.len(), 1);
    let s = &p.series[0];
    assert_eq!(
        s.profile_type.to_string(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    let samples: Vec<(Vec<&str>, i64)> = s
        .samples
        .iter()
        .map(|(stack, v)| (stack.iter().map(|&f| p.frames.name(f)).collect(), v))
        .collect();
    assert_eq!(
        samples,
        vec![(
            vec!["demo/Main.run:3", "demo/Leaf.work:7"],
            EVENTS as i64 * 10_000_000
        )]
    );

    // With a depth limit of one only the leaf is kept.
    let limits = Limits {
        max_stack_depth: 1,
        ..Limits::default()
    };
    let p = decode(&data, None, 100, &limits).unwrap();
    let stacks: Vec<Vec<&str>> = p.series[0]
        .samples
        .iter()
        .map(|(stack, _)| stack.iter().map(|&f| p.frames.name(f)).collect())
        .collect();
    assert_eq!(stacks, vec![vec!["demo/Leaf.work:7"]]);
}

/// Stack frames without fields take no bytes, so a short recording can claim stacks of as
/// many of them as it has bytes left, again and again; they name nothing and are not kept
/// (a regression shows as a slow, memory-hungry test).
#[test]
fn fieldless_frames_are_not_kept() {
    use jfr_writer::*;
    const LIVE: u64 = 101;
    const STACKS: u64 = 2_000;
    // Each stack claims `CLAIMED` frames; a count must not exceed the bytes left in the
    // constant pool event, which padding provides.
    const CLAIMED: u64 = 20_000;
    let metadata_body = metadata(vec![
        class(LONG, "long", &[]),
        class(FRAME, "jdk.types.StackFrame", &[]),
        class(
            STACK,
            "jdk.types.StackTrace",
            &[("frames", FRAME, false, true)],
        ),
        class(
            LIVE,
            "profiler.LiveObject",
            &[
                ("startTime", LONG, false, false),
                ("stackTrace", STACK, true, false),
            ],
        ),
    ]);
    let mut pool = Vec::new();
    for v in [1, 0, 0, 0] {
        varint(&mut pool, v);
    }
    pool.push(0);
    varint(&mut pool, 1);
    varint(&mut pool, STACK);
    varint(&mut pool, STACKS);
    for id in 1..=STACKS {
        varint(&mut pool, id);
        varint(&mut pool, CLAIMED);
    }
    pool.resize(pool.len() + CLAIMED as usize, 0);
    let mut pool_event = Vec::new();
    event(&mut pool_event, &pool);
    let mut events = Vec::new();
    for id in 1..=STACKS {
        let mut body = Vec::new();
        for v in [LIVE, 0, id] {
            varint(&mut body, v);
        }
        event(&mut events, &body);
    }
    let mut metadata_event = Vec::new();
    event(&mut metadata_event, &metadata_body);
    let data = chunk(&events, &pool_event, &metadata_event);

    let p = decode(&data, None, 100, &Limits::default()).unwrap();
    assert_eq!(p.series.len(), 1);
    let samples: Vec<(usize, i64)> = p.series[0]
        .samples
        .iter()
        .map(|(stack, v)| (stack.len(), v))
        .collect();
    assert_eq!(samples, vec![(0, STACKS as i64)]);
}

/// async-profiler writes its `event` setting inline, but a JDK writer may put a repeated string
/// in the string pool and write a reference: either way `event=wall` turns execution samples
/// into wall-clock time too.
#[test]
fn active_setting_from_the_string_pool_switches_wall_mode() {
    use jfr_writer::*;
    const SETTING: u64 = 102;

    let mut classes = stack_classes();
    classes.push(execution_sample(&[]));
    classes.push(class(
        SETTING,
        "jdk.ActiveSetting",
        &[
            ("startTime", LONG, false, false),
            ("id", LONG, false, false),
            ("name", STRING, false, false),
            ("value", STRING, false, false),
        ],
    ));
    let metadata_body = metadata(classes);
    let mut pool = checkpoint(6);
    for (pool_class, entries) in [
        (STRING, vec![(1, "event"), (2, "wall"), (3, "cpu")]),
        (SYMBOL, vec![(1, "demo/Main"), (2, "run")]),
        (STATE, vec![(1, "STATE_RUNNABLE")]),
    ] {
        varint(&mut pool, pool_class);
        varint(&mut pool, entries.len() as u64);
        for (id, text) in entries {
            varint(&mut pool, id);
            utf8(&mut pool, text);
        }
    }
    for (pool_class, entry) in [(CLASS, vec![1, 1]), (METHOD, vec![1, 1, 2])] {
        varint(&mut pool, pool_class);
        varint(&mut pool, 1);
        for v in entry {
            varint(&mut pool, v);
        }
    }
    varint(&mut pool, STACK);
    varint(&mut pool, 1);
    for v in [7, 1, 1, 3] {
        varint(&mut pool, v); // stack trace 7: one frame, method 1 at line 3
    }
    let mut pool_event = Vec::new();
    event(&mut pool_event, &pool);
    let mut metadata_event = Vec::new();
    event(&mut metadata_event, &metadata_body);

    // The setting's name inline, its value a reference (encoding 2) to string `value`.
    let recording = |value: u64| {
        let mut setting = Vec::new();
        for v in [SETTING, 0, 1] {
            varint(&mut setting, v);
        }
        utf8(&mut setting, "event");
        setting.push(2);
        varint(&mut setting, value);
        let mut sample = Vec::new();
        for v in [EXECUTION, 1, 7, 1] {
            varint(&mut sample, v);
        }
        let mut events = Vec::new();
        event(&mut events, &setting);
        event(&mut events, &sample);
        chunk(&events, &pool_event, &metadata_event)
    };
    let types = |data: &[u8]| -> Vec<String> {
        let p = decode(data, None, 100, &Limits::default()).unwrap();
        let mut t: Vec<String> = p
            .series
            .iter()
            .map(|s| s.profile_type.to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        types(&recording(2)),
        [
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "wall:wall:nanoseconds:wall:nanoseconds"
        ]
    );
    assert_eq!(
        types(&recording(3)),
        ["process_cpu:cpu:nanoseconds:cpu:nanoseconds"]
    );
}
