use super::proto;
use super::*;
use crate::DecodeError;
use flamestream_model::LabelSet;
use proptest::prelude::*;
use prost::Message;

/// Builds small profiles: functions by name, locations as lists of function names (innermost
/// first, like pprof `Line`s), samples as location ids leaf first.
struct B {
    p: proto::Profile,
}

impl B {
    fn new(types: &[(&str, &str)], period: (&str, &str)) -> Self {
        let mut b = B {
            p: proto::Profile {
                string_table: vec![String::new()],
                ..Default::default()
            },
        };
        for (t, u) in types {
            let vt = proto::ValueType {
                r#type: b.s(t),
                unit: b.s(u),
            };
            b.p.sample_type.push(vt);
        }
        let pt = proto::ValueType {
            r#type: b.s(period.0),
            unit: b.s(period.1),
        };
        b.p.period_type = Some(pt);
        b
    }

    fn s(&mut self, text: &str) -> i64 {
        if let Some(i) = self.p.string_table.iter().position(|x| x == text) {
            return i as i64;
        }
        self.p.string_table.push(text.to_string());
        self.p.string_table.len() as i64 - 1
    }

    fn func(&mut self, name: &str) -> u64 {
        let n = self.s(name);
        if let Some(f) = self.p.function.iter().find(|f| f.name == n) {
            return f.id;
        }
        let id = self.p.function.len() as u64 + 1;
        self.p.function.push(proto::Function {
            id,
            name: n,
            ..Default::default()
        });
        id
    }

    /// A location whose lines are `names`, innermost first; returns its id.
    fn loc(&mut self, names: &[&str], address: u64) -> u64 {
        let line = names
            .iter()
            .map(|n| proto::Line {
                function_id: self.func(n),
                ..Default::default()
            })
            .collect();
        let id = self.p.location.len() as u64 + 1;
        self.p.location.push(proto::Location {
            id,
            address,
            line,
            ..Default::default()
        });
        id
    }

    fn sample(&mut self, locs: &[u64], values: &[i64], labels: &[(&str, &str)]) {
        let label = labels
            .iter()
            .map(|(k, v)| proto::Label {
                key: self.s(k),
                str: self.s(v),
                ..Default::default()
            })
            .collect();
        self.p.sample.push(proto::Sample {
            location_id: locs.to_vec(),
            value: values.to_vec(),
            label,
        });
    }

    fn bytes(&self) -> Vec<u8> {
        self.p.encode_to_vec()
    }
}

fn stacks(p: &Profile, i: usize) -> Vec<(String, i64)> {
    p.named_stacks(i)
        .into_iter()
        .map(|(f, v)| (f.join(";"), v))
        .collect()
}

fn decode(bytes: &[u8]) -> Result<Profile, DecodeError> {
    decode_pprof(bytes, None, None, &Limits::default())
}

fn go_cpu() -> B {
    let mut b = B::new(
        &[("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
    );
    let main = b.loc(&["main"], 0x10);
    // one location with an inlined frame: `inner` inlined into `work`
    let work = b.loc(&["inner", "work"], 0x20);
    let raw = b.loc(&[], 0xdead);
    b.sample(&[work, main], &[2, 20], &[]);
    b.sample(&[raw, main], &[1, 10], &[]);
    b.sample(&[work, main], &[1, 10], &[]);
    b.sample(&[main], &[0, 0], &[]);
    b
}

#[test]
fn go_cpu_keeps_cpu_drops_samples_and_expands_inlined_frames() {
    let p = decode(&go_cpu().bytes()).unwrap();
    assert_eq!(p.series.len(), 1);
    assert_eq!(
        p.series[0].profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(p.series[0].aggregation, Aggregation::Sum);
    assert_eq!(
        stacks(&p, 0),
        vec![("main;0xdead".into(), 10), ("main;work;inner".into(), 30)]
    );
}

#[test]
fn samples_alone_are_kept() {
    let mut b = B::new(&[("samples", "count")], ("cpu", "nanoseconds"));
    let l = b.loc(&["main"], 1);
    b.sample(&[l], &[3], &[]);
    let p = decode(&b.bytes()).unwrap();
    assert_eq!(
        p.series[0].profile_type.id(),
        "process_cpu:samples:count:cpu:nanoseconds"
    );
}

#[test]
fn heap_gives_four_memory_series_with_inuse_averaged() {
    let mut b = B::new(
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
        ("space", "bytes"),
    );
    let l = b.loc(&["alloc"], 1);
    b.sample(&[l], &[1, 2, 3, 4], &[]);
    let p = decode(&b.bytes()).unwrap();
    let got: Vec<(String, Aggregation, i64)> = p
        .series
        .iter()
        .map(|s| (s.profile_type.id(), s.aggregation, s.samples.total()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "memory:alloc_objects:count:space:bytes".into(),
                Aggregation::Sum,
                1
            ),
            (
                "memory:alloc_space:bytes:space:bytes".into(),
                Aggregation::Sum,
                2
            ),
            (
                "memory:inuse_objects:count:space:bytes".into(),
                Aggregation::Average,
                3
            ),
            (
                "memory:inuse_space:bytes:space:bytes".into(),
                Aggregation::Average,
                4
            ),
        ]
    );
}

#[test]
fn kinds_like_pyroscope() {
    let k = |st: &str, pt: &str| kind_for(st, pt);
    assert_eq!(k("cpu", "cpu"), "process_cpu");
    assert_eq!(k("samples", "cpu"), "process_cpu");
    assert_eq!(k("wall", "wall"), "wall");
    assert_eq!(k("time", "wallclock"), "wall");
    assert_eq!(k("alloc_space", "space"), "memory");
    assert_eq!(k("objects", "space"), "memory");
    assert_eq!(k("contentions", "contentions"), "mutex");
    assert_eq!(k("delay", "contentions"), "mutex");
    assert_eq!(k("block_count", "contentions"), "block");
    assert_eq!(k("mutex_duration", "contentions"), "mutex");
    assert_eq!(k("goroutine", "goroutine"), "goroutine");
    assert_eq!(k("exceptions", ""), "exceptions");
    assert_eq!(k("weird", "thing:x"), "thing_x");
}

#[test]
fn sample_type_config_renames_and_overrides() {
    let config = SampleTypeConfig::parse(
        br#"{"contentions":{"units":"lock_samples","display-name":"block_count","cumulative":true},
             "delay":{"display-name":"block_duration","aggregation":"average"}}"#,
    )
    .unwrap();
    let mut b = B::new(
        &[("contentions", "count"), ("delay", "nanoseconds")],
        ("contentions", "count"),
    );
    let l = b.loc(&["lock"], 1);
    b.sample(&[l], &[1, 100], &[]);
    let p = decode_pprof(&b.bytes(), None, Some(&config), &Limits::default()).unwrap();
    assert_eq!(
        p.series[0].profile_type.id(),
        "block:block_count:count:contentions:count"
    );
    assert_eq!(
        p.series[1].profile_type.id(),
        "block:block_duration:nanoseconds:contentions:count"
    );
    assert_eq!(p.series[1].aggregation, Aggregation::Average);
    assert!(SampleTypeConfig::parse(b"{nope").is_err());
}

#[test]
fn prev_profile_turns_cumulative_types_into_deltas() {
    let build = |a: i64, b_: i64, inuse: i64| {
        let mut b = B::new(
            &[("alloc_objects", "count"), ("inuse_objects", "count")],
            ("space", "bytes"),
        );
        let x = b.loc(&["x"], 1);
        let y = b.loc(&["y"], 2);
        b.sample(&[x], &[a, inuse], &[]);
        b.sample(&[y], &[b_, inuse], &[]);
        b.bytes()
    };
    let prev = build(10, 5, 7);
    let cur = build(15, 5, 9);
    let p = decode_pprof(&cur, Some(&prev), None, &Limits::default()).unwrap();
    // alloc_objects is cumulative by default: x grew by 5, y did not grow (dropped).
    assert_eq!(p.series[0].profile_type.sample_type, "alloc_objects");
    assert_eq!(stacks(&p, 0), vec![("x".into(), 5)]);
    // inuse_objects is not cumulative: stored as is.
    assert_eq!(stacks(&p, 1), vec![("x".into(), 9), ("y".into(), 9)]);
    // A config saying `cumulative: false` stores the profile as is.
    let config = SampleTypeConfig::parse(br#"{"alloc_objects":{"cumulative":false}}"#).unwrap();
    let p = decode_pprof(&cur, Some(&prev), Some(&config), &Limits::default()).unwrap();
    assert_eq!(stacks(&p, 0), vec![("x".into(), 15), ("y".into(), 5)]);
}

#[test]
fn string_labels_become_series_labels() {
    let mut b = B::new(&[("cpu", "nanoseconds")], ("cpu", "nanoseconds"));
    let l = b.loc(&["main"], 1);
    b.sample(
        &[l],
        &[1],
        &[
            ("thread_name", "worker"),
            ("bad-name", "x"),
            ("__reserved", "y"),
        ],
    );
    b.sample(&[l], &[2], &[("thread_name", "worker")]);
    b.sample(&[l], &[4], &[]);
    // a numeric label is ignored
    b.p.sample.push(proto::Sample {
        location_id: vec![l],
        value: vec![8],
        label: vec![proto::Label {
            key: 1,
            num: 5,
            ..Default::default()
        }],
    });
    let p = decode(&b.bytes()).unwrap();
    let got: Vec<(LabelSet, i64)> = p
        .series
        .iter()
        .map(|s| (s.labels.clone(), s.samples.total()))
        .collect();
    assert_eq!(
        got,
        vec![
            (LabelSet::from_pairs([("thread_name", "worker")]), 3),
            (LabelSet::new(), 12)
        ]
    );
}

#[test]
fn labels_with_strings_out_of_range_drop_the_label_not_the_upload() {
    let mut b = B::new(&[("cpu", "nanoseconds")], ("cpu", "nanoseconds"));
    let l = b.loc(&["main"], 1);
    b.sample(&[l], &[1], &[("thread_name", "worker")]);
    let env = b.s("env");
    let prod = b.s("prod");
    let label = |key, str| proto::Label {
        key,
        str,
        ..Default::default()
    };
    b.p.sample.push(proto::Sample {
        location_id: vec![l],
        value: vec![2],
        // value index past the table, key index past the table, then a good one
        label: vec![label(env, 999), label(999, prod), label(env, prod)],
    });
    let p = decode(&b.bytes()).unwrap();
    let mut got: Vec<(LabelSet, i64)> = p
        .series
        .iter()
        .map(|s| (s.labels.clone(), s.samples.total()))
        .collect();
    got.sort_by_key(|(_, v)| *v);
    assert_eq!(
        got,
        vec![
            (LabelSet::from_pairs([("thread_name", "worker")]), 1),
            (LabelSet::from_pairs([("env", "prod")]), 2),
        ]
    );
}

#[test]
fn many_functions_naming_one_long_string_reserve_no_more_than_the_string_table() {
    // One 64 KiB name and a million six-byte function entries that all use it: summing their
    // names' lengths asks for 64 GiB of frame-table text (the process aborts when that
    // allocation fails). The reservation is capped by the string table's bytes.
    let mut bytes = vec![0x32, 0x00]; // string 0: ""
    bytes.push(0x32);
    bytes.extend([0x80, 0x80, 0x04]); // string 1: 65 536 bytes
    bytes.extend(std::iter::repeat_n(b'f', 65_536));
    for _ in 0..1_000_000 {
        bytes.extend([0x2a, 0x04, 0x08, 0x01, 0x10, 0x01]); // function id 1, name 1
    }
    let p = decode(&bytes).unwrap();
    assert!(p.series.is_empty());
}

#[test]
fn samples_whose_labels_all_drop_join_the_unlabelled_ones() {
    // Either order: the empty label set first from an unlabelled sample, or from a sample whose
    // only label is dropped.
    for dropped_first in [false, true] {
        let mut b = B::new(&[("cpu", "nanoseconds")], ("cpu", "nanoseconds"));
        let l = b.loc(&["main"], 1);
        let env = b.s("env");
        let dropped = proto::Sample {
            location_id: vec![l],
            value: vec![2],
            label: vec![proto::Label {
                key: env,
                str: 999,
                ..Default::default()
            }],
        };
        if dropped_first {
            b.p.sample.push(dropped);
            b.sample(&[l], &[1], &[]);
        } else {
            b.sample(&[l], &[1], &[]);
            b.p.sample.push(dropped);
        }
        let p = decode(&b.bytes()).unwrap();
        assert_eq!(p.series.len(), 1, "dropped first: {dropped_first}");
        assert!(p.series[0].labels.is_empty());
        assert_eq!(p.series[0].samples.total(), 3);
    }
}

#[test]
fn limits_are_enforced() {
    let bytes = go_cpu().bytes();
    let limits = Limits {
        max_samples: 3,
        ..Limits::default()
    };
    assert_eq!(
        decode_pprof(&bytes, None, None, &limits)
            .unwrap_err()
            .to_string(),
        "`max_samples` exceeded: 4 > 3"
    );
    // Deep stacks keep their root-most frames; long names are truncated.
    let limits = Limits {
        max_stack_depth: 2,
        max_symbol_bytes: 3,
        ..Limits::default()
    };
    let p = decode_pprof(&bytes, None, None, &limits).unwrap();
    assert_eq!(
        stacks(&p, 0),
        vec![("mai;0xd".into(), 10), ("mai;wor".into(), 30)]
    );
}

#[test]
fn ids_out_of_range_are_invalid_not_panics() {
    let mut b = go_cpu();
    b.p.sample[0].location_id.push(999);
    let e = decode(&b.bytes()).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Invalid { format: "pprof", detail } if detail.contains("unknown location id `999`")),
        "{e}"
    );

    let mut b = go_cpu();
    b.p.location[0].line[0].function_id = 77;
    let e = decode(&b.bytes()).unwrap_err();
    assert!(e.to_string().contains("unknown function id `77`"), "{e}");

    let mut b = go_cpu();
    b.p.function[0].name = 1000;
    let e = decode(&b.bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("string index `1000` is out of range"),
        "{e}"
    );

    let mut b = go_cpu();
    b.p.sample[0].value.push(1);
    let e = decode(&b.bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("has `3` values but the profile has `2` sample types"),
        "{e}"
    );

    let mut b = go_cpu();
    b.p.sample_type[0].unit = -1;
    assert!(decode(&b.bytes()).is_err());
}

#[test]
fn an_unknown_location_past_the_depth_cut_is_never_looked_up() {
    let mut b = B::new(&[("cpu", "nanoseconds")], ("cpu", "nanoseconds"));
    let main = b.loc(&["main"], 1);
    let work = b.loc(&["work"], 2);
    let inlined = b.loc(&["inner", "outer"], 3);
    // Leaf first: the unknown id 999 is the leaf, cut away by a depth of 2.
    b.sample(&[999, inlined, work, main], &[5], &[]);
    let limits = Limits {
        max_stack_depth: 2,
        ..Limits::default()
    };
    let p = decode_pprof(&b.bytes(), None, None, &limits).unwrap();
    assert_eq!(stacks(&p, 0), vec![("main;work".to_string(), 5)]);
    // Within the depth it is refused, naming the id.
    let limits = Limits {
        max_stack_depth: 10,
        ..Limits::default()
    };
    let e = decode_pprof(&b.bytes(), None, None, &limits).unwrap_err();
    assert!(e.to_string().contains("unknown location id `999`"), "{e}");
}

#[test]
fn sparse_ids_work() {
    let mut b = go_cpu();
    for l in &mut b.p.location {
        l.id += 1 << 40;
    }
    for s in &mut b.p.sample {
        for id in &mut s.location_id {
            *id += 1 << 40;
        }
    }
    for f in &mut b.p.function {
        f.id *= 1 << 33;
    }
    for l in &mut b.p.location {
        for line in &mut l.line {
            line.function_id *= 1 << 33;
        }
    }
    assert_eq!(
        stacks(&decode(&b.bytes()).unwrap(), 0),
        vec![("main;0xdead".into(), 10), ("main;work;inner".into(), 30)]
    );
}

#[test]
fn unpacked_repeated_fields_are_read() {
    // sample_type {1,2}; sample { location_id 1 (unpacked); value 5 (unpacked) }
    // location {id 1}; string_table "", "cpu", "nanoseconds"
    let mut bytes = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x02];
    bytes.extend([0x12, 0x04, 0x08, 0x01, 0x10, 0x05]);
    bytes.extend([0x22, 0x02, 0x08, 0x01]);
    bytes.extend([0x32, 0x00, 0x32, 0x03]);
    bytes.extend(b"cpu");
    bytes.extend([0x32, 0x0b]);
    bytes.extend(b"nanoseconds");
    let p = decode(&bytes).unwrap();
    assert_eq!(stacks(&p, 0), vec![("0x0".into(), 5)]);
    assert_eq!(
        p.series[0].profile_type.id(),
        "process_cpu:cpu:nanoseconds::"
    );
}

#[test]
fn empty_profile_is_empty() {
    let p = decode(&[]).unwrap();
    assert!(p.series.is_empty());
}

#[test]
fn truncations_never_panic() {
    let bytes = go_cpu().bytes();
    for n in 0..bytes.len() {
        let _ = decode(&bytes[..n]);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_profiles_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = go_cpu().bytes();
        let n = bytes.len();
        for (i, v) in flips {
            bytes[i % n] = v;
        }
        let _ = decode(&bytes);
        let _ = decode_pprof(&bytes, Some(&go_cpu().bytes()), None, &Limits::default());
    }
}

/// A location with many inlined lines, referenced by many distinct samples, was copied whole
/// into every stack before the stack was cut to `max_stack_depth`: 200 000 lines × 4 000
/// samples took seconds. Only the depth left is copied now.
#[test]
fn regression_many_inlined_lines_are_cut_before_copying() {
    let mut b = B::new(&[("samples", "count")], ("cpu", "nanoseconds"));
    let big = b.loc(&vec!["f"; 200_000], 0);
    for i in 0..4_000 {
        let leaf = b.loc(&[], 0x1000 + i);
        b.sample(&[leaf, big], &[1], &[]);
    }
    let bytes = b.bytes();
    // No timing assertion (test machines are shared and noisy): copying whole took seconds,
    // cutting first takes milliseconds, so a regression shows as a slow test.
    let p = decode(&bytes).unwrap();
    let s = p.named_stacks(0);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].0,
        vec!["f".to_string(); Limits::default().max_stack_depth]
    );
    assert_eq!(s[0].1, 4_000);
}

/// Several runs of location ids that resolve to the same frames (other addresses in the same
/// functions), seen under several label sets — two label pairs that end as the same set once an
/// invalid key is dropped — and repeated: every value lands once per (series, stack).
#[test]
fn same_frames_from_other_locations_and_label_sets_sum_once() {
    let mut b = B::new(
        &[("alloc_objects", "count"), ("alloc_space", "bytes")],
        ("space", "bytes"),
    );
    let main_a = b.loc(&["main"], 0x10);
    let main_b = b.loc(&["main"], 0x11);
    let work_a = b.loc(&["work"], 0x20);
    let work_b = b.loc(&["work"], 0x21);
    for _ in 0..3 {
        b.sample(&[work_a, main_a], &[1, 10], &[]);
        b.sample(&[work_b, main_b], &[2, 20], &[]);
        b.sample(&[work_a, main_b], &[4, 40], &[("env", "prod")]);
        // `bad key` is not a valid label name: dropped, leaving {env=prod} again.
        b.sample(
            &[work_b, main_a],
            &[8, 80],
            &[("env", "prod"), ("bad key", "x")],
        );
        b.sample(&[work_b, main_a], &[16, 160], &[("env", "dev")]);
        b.sample(&[main_b], &[32, 320], &[]);
    }
    let p = decode(&b.bytes()).unwrap();
    type Named = (String, String, Vec<(String, i64)>);
    let mut got: Vec<Named> = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.profile_type.id().to_string(),
                format!("{:?}", s.labels),
                stacks(&p, i),
            )
        })
        .collect();
    got.sort();
    let by = |ty: &str, env: Option<&str>| -> Vec<(String, i64)> {
        got.iter()
            .find(|(t, l, _)| {
                t.starts_with(ty) && env.map_or(l == "{}" || !l.contains("env"), |e| l.contains(e))
            })
            .map(|(_, _, s)| s.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        by("memory:alloc_objects", None),
        vec![("main".into(), 96), ("main;work".into(), 9)]
    );
    assert_eq!(
        by("memory:alloc_space", None),
        vec![("main".into(), 960), ("main;work".into(), 90)]
    );
    assert_eq!(
        by("memory:alloc_objects", Some("prod")),
        vec![("main;work".into(), 36)]
    );
    assert_eq!(
        by("memory:alloc_objects", Some("dev")),
        vec![("main;work".into(), 48)]
    );
    assert_eq!(p.series.len(), 6, "{got:?}");
}

/// Found in review: a million empty sample types (2 bytes each) and 16 000 empty samples
/// presized the accumulators at 64 GB and aborted the process. The guess is bounded by the
/// sample bytes now, and the profile is refused for what it is.
#[test]
fn regression_many_sample_types_do_not_presize_past_the_input() {
    let mut bytes = Vec::with_capacity(2_032_000);
    for _ in 0..1_000_000 {
        bytes.extend_from_slice(&[0x0a, 0x00]);
    }
    for _ in 0..16_000 {
        bytes.extend_from_slice(&[0x12, 0x00]);
    }
    match decode(&bytes) {
        Err(DecodeError::Invalid { detail, .. }) => {
            assert!(detail.contains("sample types"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

/// Found in review: subtracting `prev_profile` added every stack only `prev` held to each
/// cumulative series, copying the arena all series share once per series (quadratic). Only
/// stacks the current profile holds are touched now; the deltas are unchanged.
#[test]
fn deltas_touch_only_the_stacks_of_the_current_profile() {
    let types = [("alloc_objects", "count"), ("alloc_space", "bytes")];
    let mut cur = B::new(&types, ("space", "bytes"));
    let mut prev = B::new(&types, ("space", "bytes"));
    let config = SampleTypeConfig::parse(
        br#"{"alloc_objects":{"cumulative":true},"alloc_space":{"cumulative":true}}"#,
    )
    .unwrap();
    for i in 0..200u64 {
        let name = format!("f{i}");
        let l = cur.loc(&[name.as_str(), "main"], i);
        cur.sample(&[l], &[10, 100], &[]);
        let only_prev = format!("g{i}");
        let l = prev.loc(&[only_prev.as_str(), "main"], i);
        prev.sample(&[l], &[1, 1], &[]);
        if i.is_multiple_of(2) {
            let name = format!("f{i}");
            let l = prev.loc(&[name.as_str(), "main"], 1000 + i);
            prev.sample(&[l], &[4, 40], &[]);
        }
    }
    let p = decode_pprof(
        &cur.bytes(),
        Some(&prev.bytes()),
        Some(&config),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(p.series.len(), 2);
    for (i, s) in p.series.iter().enumerate() {
        let scale = if s.profile_type.id().contains("alloc_space") {
            10
        } else {
            1
        };
        let got = stacks(&p, i);
        assert_eq!(got.len(), 200);
        for (stack, v) in got {
            let n: u64 = stack.rsplit('f').next().unwrap().parse().unwrap();
            let want = if n.is_multiple_of(2) {
                6 * scale
            } else {
                10 * scale
            };
            assert_eq!(v, want, "{stack}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Differential test: the fast decoder against a deliberately naive one built on prost.
// ---------------------------------------------------------------------------------------------

/// One decoded series as the naive reference sees it: sample type, unit, labels (sorted),
/// stacks (root-first frame names, sorted) with their values.
type NaiveSeries = (
    String,
    String,
    Vec<(String, String)>,
    Vec<(Vec<String>, i64)>,
);

/// The naive reference: prost decode, then everything by hash maps of names. Independent of
/// `decode.rs` except for the documented rules it restates.
fn naive_decode(bytes: &[u8], limits: &Limits) -> Vec<NaiveSeries> {
    use std::collections::{BTreeMap, HashMap};
    let p = proto::Profile::decode(bytes).expect("prost decodes the profile");
    let st = |i: i64| -> String {
        if i == 0 && p.string_table.is_empty() {
            return String::new();
        }
        p.string_table[usize::try_from(i).unwrap()].clone()
    };
    let types: Vec<(String, String)> = p
        .sample_type
        .iter()
        .map(|t| (st(t.r#type), st(t.unit)))
        .collect();
    let go_cpu = types.iter().any(|(t, u)| t == "cpu" && u == "nanoseconds");
    let kept: Vec<usize> = (0..types.len())
        .filter(|&i| !(go_cpu && types[i].0 == "samples" && types[i].1 == "count"))
        .collect();
    let functions: HashMap<u64, &proto::Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let locations: HashMap<u64, &proto::Location> = p.location.iter().map(|l| (l.id, l)).collect();
    let frames_of = |l: &proto::Location| -> Vec<String> {
        let mut out = Vec::new();
        // Lines are innermost first: the last one is the caller, root-most.
        for line in l.line.iter().rev() {
            if line.function_id == 0 {
                continue;
            }
            let f = functions[&line.function_id];
            let mut name = st(f.name);
            if name.is_empty() {
                name = st(f.system_name);
            }
            if !name.is_empty() {
                out.push(name);
            }
        }
        if out.is_empty() {
            out.push(format!("0x{:x}", l.address));
        }
        out
    };
    let label_ok = |k: &str, v: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            && !k.starts_with("__")
            && k.len() <= limits.max_label_name_bytes
            && v.len() <= limits.max_label_value_bytes
    };
    // (kept type index, labels) → stack → value
    type Key = (usize, Vec<(String, String)>);
    let mut acc: BTreeMap<Key, BTreeMap<Vec<String>, i64>> = BTreeMap::new();
    for s in &p.sample {
        assert_eq!(s.value.len(), types.len());
        let mut stack: Vec<String> = Vec::new();
        for id in s.location_id.iter().rev() {
            stack.extend(frames_of(locations[id]));
        }
        stack.truncate(limits.max_stack_depth);
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for l in &s.label {
            if l.str == 0 {
                continue;
            }
            let (k, v) = (st(l.key), st(l.str));
            if label_ok(&k, &v) && labels.len() < limits.max_labels {
                labels.insert(k, v);
            }
        }
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        for &i in &kept {
            let v = s.value[i];
            if v > 0 {
                let e = acc
                    .entry((i, labels.clone()))
                    .or_default()
                    .entry(stack.clone())
                    .or_insert(0);
                *e = e.saturating_add(v);
            }
        }
    }
    let mut out: Vec<NaiveSeries> = acc
        .into_iter()
        .map(|((i, labels), stacks)| {
            let (t, u) = types[i].clone();
            (t, u, labels, stacks.into_iter().collect())
        })
        .collect();
    out.sort();
    out
}

/// The fast decoder's output in the reference's shape.
fn fast_as_naive(p: &Profile) -> Vec<NaiveSeries> {
    let mut out: Vec<NaiveSeries> = p
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.profile_type.sample_type.clone(),
                s.profile_type.sample_unit.clone(),
                s.labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                p.named_stacks(i),
            )
        })
        .collect();
    out.sort();
    out
}

/// Sample types the generator picks from: Go's CPU pair, near misses of it, memory types.
const DIFF_TYPES: [(&str, &str); 8] = [
    ("samples", "count"),
    ("cpu", "nanoseconds"),
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_space", "bytes"),
    ("wall", "nanoseconds"),
    ("cpu", "count"),
    ("samples", "nanoseconds"),
];
const DIFF_PERIODS: [(&str, &str); 3] = [("cpu", "nanoseconds"), ("space", "bytes"), ("", "")];
/// Valid, invalid (`-`) and reserved (`__`) label names.
const DIFF_KEYS: [&str; 6] = ["env", "thread_name", "bad-key", "__reserved", "a.b", "x9"];
/// `""` is string 0 (no label); index 4 is a second, non-zero empty string.
const DIFF_VALUES: [&str; 4] = ["prod", "dev", "", "w1"];

#[derive(Debug, Clone)]
struct GenSample {
    stack: u8,
    values: Vec<i64>,
    labels: Option<u8>,
    numeric_label: bool,
    /// How the location ids go on the wire: 0 packed, 1 unpacked, 2 packed then unpacked,
    /// 3 unpacked then packed, 4 two packed runs (the first may be empty), 5 packed with
    /// over-long (non-canonical) varints.
    ids: u8,
}

#[derive(Debug, Clone)]
struct GenProfile {
    types: Vec<usize>,
    period: usize,
    /// (name kind, system name kind) per function.
    funcs: Vec<(u8, u8)>,
    sparse_fn_ids: bool,
    /// (address, lines as function picks, innermost first) per location.
    locs: Vec<(u16, Vec<u8>)>,
    sparse_loc_ids: bool,
    label_sets: Vec<Vec<(u8, u8)>>,
    stacks: Vec<Vec<u8>>,
    samples: Vec<GenSample>,
    /// Samples after the other fields (0), before them (1), or around them (2).
    placement: u8,
    depth: usize,
}

fn gen_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 1i64..1000,
        2 => -3i64..=0,
        1 => Just(i64::MAX - 2),
        1 => any::<i64>(),
    ]
}

fn gen_sample() -> impl Strategy<Value = GenSample> {
    (
        any::<u8>(),
        proptest::collection::vec(gen_value(), 5),
        proptest::option::of(any::<u8>()),
        proptest::bool::weighted(0.15),
        0u8..6,
    )
        .prop_map(|(stack, values, labels, numeric_label, ids)| GenSample {
            stack,
            values,
            labels,
            numeric_label,
            ids,
        })
}

fn gen_profile() -> impl Strategy<Value = GenProfile> {
    use proptest::collection::vec;
    let types = prop_oneof![
        1 => Just(vec![0usize, 1]),
        1 => Just(vec![1usize, 0]),
        4 => vec(0..DIFF_TYPES.len(), 0..=5),
    ];
    (
        (
            types,
            0..DIFF_PERIODS.len(),
            vec((0u8..10, 0u8..3), 1..7),
            any::<bool>(),
            vec((any::<u16>(), vec(any::<u8>(), 0..=3)), 1..9),
            any::<bool>(),
        ),
        (
            vec(
                vec(
                    (0..DIFF_KEYS.len() as u8, 0..=DIFF_VALUES.len() as u8),
                    0..=3,
                ),
                0..=3,
            ),
            vec(vec(any::<u8>(), 0..=6), 1..6),
            vec(gen_sample(), 0..40),
            0u8..3,
            proptest::sample::select(vec![0usize, 1, 2, 3, 5, Limits::default().max_stack_depth]),
        ),
    )
        .prop_map(
            |(
                (types, period, funcs, sparse_fn_ids, locs, sparse_loc_ids),
                (label_sets, stacks, samples, placement, depth),
            )| GenProfile {
                types,
                period,
                funcs,
                sparse_fn_ids,
                locs,
                sparse_loc_ids,
                label_sets,
                stacks,
                samples,
                placement,
                depth,
            },
        )
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

/// Location ids as field 1 of a sample, packed, unpacked or split.
fn encode_location_ids(ids: &[u64], mode: u8, out: &mut Vec<u8>) {
    let packed_with = |ids: &[u64], padded: bool, out: &mut Vec<u8>| {
        let mut body = Vec::new();
        for &id in ids {
            let mut v = Vec::new();
            put_varint(&mut v, id);
            if padded && v.len() < 10 {
                // The same value in one more byte: a continuation bit and a zero group.
                *v.last_mut().unwrap() |= 0x80;
                v.push(0);
            }
            body.extend(v);
        }
        out.push(0x0a);
        put_varint(out, body.len() as u64);
        out.extend(body);
    };
    let packed = |ids: &[u64], out: &mut Vec<u8>| packed_with(ids, false, out);
    let unpacked = |ids: &[u64], out: &mut Vec<u8>| {
        for &id in ids {
            out.push(0x08);
            put_varint(out, id);
        }
    };
    let half = ids.len() / 2;
    match mode {
        0 if ids.is_empty() => {}
        0 => packed(ids, out),
        1 => unpacked(ids, out),
        2 => {
            packed(&ids[..half], out);
            unpacked(&ids[half..], out);
        }
        3 => {
            unpacked(&ids[..half], out);
            packed(&ids[half..], out);
        }
        4 => {
            packed(&ids[..half], out);
            packed(&ids[half..], out);
        }
        _ => packed_with(ids, true, out),
    }
}

impl GenProfile {
    fn bytes(&self) -> Vec<u8> {
        let types: Vec<(&str, &str)> = self.types.iter().map(|&i| DIFF_TYPES[i]).collect();
        let mut b = B::new(&types, DIFF_PERIODS[self.period]);
        let fn_id = |k: usize| (k as u64 + 1) * if self.sparse_fn_ids { 1 << 33 } else { 1 };
        let loc_id = |j: usize| j as u64 + 1 + if self.sparse_loc_ids { 1 << 40 } else { 0 };
        for (k, &(name, system)) in self.funcs.iter().enumerate() {
            // Names may repeat across functions; kinds 7..9 have no name.
            let name = if name < 7 {
                format!("f{name}")
            } else {
                String::new()
            };
            let system = if system == 0 {
                String::new()
            } else {
                format!("sys{system}")
            };
            // File and start line are read past (their fast paths too).
            let function = proto::Function {
                id: fn_id(k),
                name: b.s(&name),
                system_name: b.s(&system),
                filename: b.s("main.go"),
                start_line: k as i64,
            };
            b.p.function.push(function);
        }
        let nf = self.funcs.len();
        for (j, (address, lines)) in self.locs.iter().enumerate() {
            let line = lines
                .iter()
                .map(|&pick| proto::Line {
                    function_id: if pick % 8 == 7 {
                        0
                    } else {
                        fn_id(pick as usize % nf)
                    },
                    line: i64::from(pick) * 300,
                    column: i64::from(pick % 5),
                })
                .collect();
            // Mapping id and is_folded are read past (their fast paths too).
            b.p.location.push(proto::Location {
                id: loc_id(j),
                mapping_id: j as u64 % 3,
                address: u64::from(*address),
                line,
                is_folded: j % 2 == 1,
            });
        }
        if self.sparse_loc_ids {
            b.p.location.reverse();
        }
        // A second empty string, at a non-zero index.
        b.p.string_table.push(String::new());
        let empty_nonzero = b.p.string_table.len() as i64 - 1;
        let label_sets: Vec<Vec<proto::Label>> = self
            .label_sets
            .iter()
            .map(|set| {
                let mut seen = Vec::new();
                let mut labels = Vec::new();
                for &(k, v) in set {
                    // One value per key (pprof says so; the order of duplicates is undefined).
                    if seen.contains(&k) {
                        continue;
                    }
                    seen.push(k);
                    let key = b.s(DIFF_KEYS[k as usize]);
                    let str = match DIFF_VALUES.get(v as usize) {
                        Some(v) => b.s(v),
                        None => empty_nonzero,
                    };
                    labels.push(proto::Label {
                        key,
                        str,
                        ..Default::default()
                    });
                }
                labels
            })
            .collect();
        let numeric = proto::Label {
            key: b.s("bytes"),
            num: 42,
            num_unit: b.s("bytes"),
            ..Default::default()
        };
        let mut samples: Vec<Vec<u8>> = Vec::new();
        for s in &self.samples {
            let stack = &self.stacks[s.stack as usize % self.stacks.len()];
            let ids: Vec<u64> = stack
                .iter()
                .map(|&l| loc_id(l as usize % self.locs.len()))
                .collect();
            let mut label = match (s.labels, label_sets.len()) {
                (Some(i), n) if n > 0 => label_sets[i as usize % n].clone(),
                _ => Vec::new(),
            };
            if s.numeric_label {
                label.push(numeric.clone());
            }
            let rest = proto::Sample {
                location_id: Vec::new(),
                value: s.values[..types.len()].to_vec(),
                label,
            }
            .encode_to_vec();
            let mut body = Vec::new();
            if s.ids % 2 == 0 {
                encode_location_ids(&ids, s.ids, &mut body);
                body.extend(rest);
            } else {
                body.extend(rest);
                encode_location_ids(&ids, s.ids, &mut body);
            }
            let mut field = vec![0x12];
            put_varint(&mut field, body.len() as u64);
            field.extend(body);
            samples.push(field);
        }
        let before = match self.placement {
            0 => 0,
            1 => samples.len(),
            _ => samples.len() / 2,
        };
        let mut out = samples[..before].concat();
        out.extend(b.bytes());
        out.extend(samples[before..].concat());
        out
    }
}

fn check_against_naive(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let fast = decode_pprof(bytes, None, None, limits)
        .map_err(|e| TestCaseError::fail(format!("fast decoder failed: {e}")))?;
    let naive = naive_decode(bytes, limits);
    prop_assert_eq!(fast_as_naive(&fast), naive.clone());
    // The same profile with every key one byte longer than needed and an unknown field in
    // every message: the decoder's one-byte-key fast paths see none of their keys, so its
    // generic path reads it all, and must give the same.
    let odd = reencode(bytes, Msg::Profile, &mut None);
    let fast = decode_pprof(&odd, None, None, limits)
        .map_err(|e| TestCaseError::fail(format!("fast decoder failed on over-long keys: {e}")))?;
    prop_assert_eq!(fast_as_naive(&fast), naive.clone());
    // Then fast and generic keys mixed in every message (one key in two over-long), and every
    // singular varint field written twice, a wrong value first: the last one must win, whichever
    // path read each.
    let mixed = reencode(bytes, Msg::Profile, &mut Some(0));
    let fast = decode_pprof(&mixed, None, None, limits)
        .map_err(|e| TestCaseError::fail(format!("fast decoder failed on mixed keys: {e}")))?;
    prop_assert_eq!(fast_as_naive(&fast), naive.clone());
    // Then the fields of every message in other orders (those of one number keep theirs):
    // `runtime/pprof` writes a sample's values before its location ids and a location's
    // mapping after its lines; the decoders read Go's orders first, then any order.
    for seed in [1, 2] {
        let shuffled = reorder(bytes, Msg::Profile, seed);
        let fast = decode_pprof(&shuffled, None, None, limits).map_err(|e| {
            TestCaseError::fail(format!("fast decoder failed on reordered fields: {e}"))
        })?;
        prop_assert_eq!(fast_as_naive(&fast), naive.clone());
    }
    Ok(())
}

/// Re-encodes a well-formed message of kind `kind` with its fields in another order, chosen by
/// `seed`: the fields of one number keep their order among themselves (it matters for
/// repeated ones), the numbers are shuffled; sub-messages too.
fn reorder(msg: &[u8], kind: Msg, seed: u64) -> Vec<u8> {
    let mut groups: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut at = 0;
    let varint = |at: &mut usize| {
        let mut rest = &msg[*at..];
        let v = prost::encoding::decode_varint(&mut rest).expect("well-formed varint");
        *at = msg.len() - rest.len();
        v
    };
    while at < msg.len() {
        let key_start = at;
        let key = varint(&mut at);
        let field = key >> 3;
        let mut encoded = msg[key_start..at].to_vec();
        match key & 7 {
            0 => {
                let start = at;
                varint(&mut at);
                encoded.extend(&msg[start..at]);
            }
            2 => {
                let len = varint(&mut at) as usize;
                copy_len_delimited(&msg[at..at + len], kind, field, &mut encoded, |b, sub| {
                    reorder(b, sub, seed)
                });
                at += len;
            }
            _ => panic!("the generator writes varint and length-delimited fields only"),
        }
        match groups.iter_mut().find(|(f, _)| *f == field) {
            Some((_, g)) => g.extend(encoded),
            None => groups.push((field, encoded)),
        }
    }
    groups.sort_by_key(|&(field, _)| {
        (field ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd)
    });
    groups.into_iter().flat_map(|(_, g)| g).collect()
}

/// Appends the length and body of field `field` of a `kind` message to `out`, the body passed
/// through `again` when it is a sub-message.
fn copy_len_delimited(
    body: &[u8],
    kind: Msg,
    field: u64,
    out: &mut Vec<u8>,
    again: impl FnOnce(&[u8], Msg) -> Vec<u8>,
) {
    let body = match sub_message(kind, field) {
        Msg::Bytes => body.to_vec(),
        sub => again(body, sub),
    };
    put_varint(out, body.len() as u64);
    out.extend(body);
}

/// The pprof message kinds whose fields [`reencode`] re-encodes.
#[derive(Clone, Copy, PartialEq)]
enum Msg {
    Profile,
    Sample,
    Location,
    /// Messages without sub-messages (value type, mapping, line, function, label).
    Flat,
    /// Strings, packed numbers: copied as they are.
    Bytes,
}

fn sub_message(kind: Msg, field: u64) -> Msg {
    match (kind, field) {
        (Msg::Profile, 2) => Msg::Sample,
        (Msg::Profile, 4) => Msg::Location,
        (Msg::Profile, 1 | 3 | 5 | 11) | (Msg::Sample, 3) | (Msg::Location, 4) => Msg::Flat,
        _ => Msg::Bytes,
    }
}

/// Re-encodes a well-formed message of kind `kind`. With `mixed` `None`: every key in two bytes
/// (`0x88 0x00` for `0x08`, valid protobuf that prost reads too) and an unknown field 100 first
/// in every sub-message. With `Some(counter)`: one key in two over-long (alternating across the
/// whole profile), and every singular varint field preceded by the same field with a wrong value
/// (the value + 1) in the other encoding.
fn reencode(msg: &[u8], kind: Msg, mixed: &mut Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    if kind != Msg::Profile && mixed.is_none() {
        out.extend([0xa0, 0x86, 0x00, 0x01]); // field 100, varint 1, key over-long too
    }
    let mut at = 0;
    let varint = |at: &mut usize| {
        let mut rest = &msg[*at..];
        let v = prost::encoding::decode_varint(&mut rest);
        *at = msg.len() - rest.len();
        v
    };
    let put_key = |out: &mut Vec<u8>, key: u64, long: bool| {
        let mut k = Vec::new();
        put_varint(&mut k, key);
        if long {
            *k.last_mut().unwrap() |= 0x80;
            k.push(0);
        }
        out.extend(k);
    };
    while at < msg.len() {
        let key = varint(&mut at).expect("well-formed key");
        let (field, wt) = (key >> 3, key & 7);
        let long = match mixed {
            None => true,
            Some(n) => {
                *n += 1;
                *n % 2 == 0
            }
        };
        match wt {
            0 => {
                let start = at;
                let value = varint(&mut at).expect("well-formed varint");
                // Samples' varint fields are repeated (ids, values), the top level's comments
                // too: written once. Every other varint field of the schema is singular.
                let singular = match kind {
                    Msg::Sample => false,
                    Msg::Profile => field != 13,
                    _ => true,
                };
                if mixed.is_some() && singular {
                    put_key(&mut out, key, !long);
                    put_varint(&mut out, value.wrapping_add(1));
                }
                put_key(&mut out, key, long);
                out.extend(&msg[start..at]);
            }
            2 => {
                put_key(&mut out, key, long);
                let len = varint(&mut at).expect("well-formed length") as usize;
                copy_len_delimited(&msg[at..at + len], kind, field, &mut out, |b, sub| {
                    reencode(b, sub, mixed)
                });
                at += len;
            }
            _ => panic!("the generator writes varint and length-delimited fields only"),
        }
    }
    out
}

fn differential_config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    // Modest by default (the suite stays fast); `PROPTEST_CASES=5000` for a long run.
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
    }
    config
}

proptest! {
    #![proptest_config(differential_config())]

    #[test]
    fn differential_fast_decoder_matches_naive_reference(g in gen_profile()) {
        let limits = Limits {
            max_stack_depth: g.depth,
            ..Limits::default()
        };
        let bytes = g.bytes();
        check_against_naive(&bytes, &limits)?;
        // The period type is carried as is (these names need no cleaning).
        let p = decode_pprof(&bytes, None, None, &limits).unwrap();
        let (pt, pu) = DIFF_PERIODS[g.period];
        for s in &p.series {
            prop_assert_eq!(&s.profile_type.period_type, pt);
            prop_assert_eq!(&s.profile_type.period_unit, pu);
        }
    }
}

#[test]
fn differential_fixtures_match_naive_reference() {
    use std::io::Read;
    for path in [
        "google-pprof/internal/report/testdata/sample.cpu",
        "parca-dev-parca/pkg/query/testdata/fib.pb.gz",
        "parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
    ] {
        let gz = std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut bytes)
            .unwrap();
        let limits = Limits::default();
        let fast = fast_as_naive(&decode_pprof(&bytes, None, None, &limits).unwrap());
        let naive = naive_decode(&bytes, &limits);
        assert!(!naive.is_empty(), "{path}: nothing decoded");
        assert_eq!(fast, naive, "{path}");
    }
}
