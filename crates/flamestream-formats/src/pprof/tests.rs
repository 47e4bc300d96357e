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
