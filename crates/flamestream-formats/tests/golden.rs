//! Golden tests against the fixtures in `tests/fixtures/` (see its README for origins): every
//! pprof fixture is decoded twice — by flamestream's fast decoder and by a plain prost decode
//! written here — and the stacks, labels and totals must agree.

use flamestream_formats::pprof::proto;
use flamestream_formats::{decode_pprof, maybe_gunzip, DecodeError};
use flamestream_model::{Aggregation, LabelSet, Limits};
use prost::Message;
use std::collections::BTreeMap;

fn fixture(path: &str) -> Vec<u8> {
    let raw = std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    maybe_gunzip(&raw, false, u64::MAX).unwrap().into_owned()
}

type Key = (String, String, String); // (sample type, labels, stack)

/// The straightforward decoding: prost messages, hash maps, strings.
fn reference(data: &[u8]) -> BTreeMap<Key, i64> {
    let p = proto::Profile::decode(data).unwrap();
    let s = |i: i64| p.string_table[i as usize].clone();
    let types: Vec<(String, String)> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    let has_cpu = types.iter().any(|(t, u)| t == "cpu" && u == "nanoseconds");
    let funcs: BTreeMap<u64, &proto::Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let locs: BTreeMap<u64, &proto::Location> = p.location.iter().map(|l| (l.id, l)).collect();
    let mut out = BTreeMap::new();
    for sample in &p.sample {
        let mut frames = Vec::new();
        for id in sample.location_id.iter().rev() {
            // Lines whose function has no name are left out; a location without any named
            // line is named by its address.
            let loc = locs[id];
            let names: Vec<String> = loc
                .line
                .iter()
                .rev()
                .map(|l| funcs[&l.function_id])
                .map(|f| {
                    if f.name != 0 {
                        s(f.name)
                    } else {
                        s(f.system_name)
                    }
                })
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                frames.push(format!("0x{:x}", loc.address));
            }
            frames.extend(names);
        }
        let labels = LabelSet::from_pairs(
            sample
                .label
                .iter()
                .filter(|l| l.str != 0)
                .map(|l| (s(l.key), s(l.str))),
        );
        for (i, v) in sample.value.iter().enumerate() {
            let (t, u) = &types[i];
            if *v <= 0 || (has_cpu && t == "samples" && u == "count") {
                continue;
            }
            *out.entry((t.clone(), labels.to_string(), frames.join(";")))
                .or_insert(0) += v;
        }
    }
    out
}

fn ours(data: &[u8]) -> BTreeMap<Key, i64> {
    let limits = Limits {
        max_samples: u64::MAX,
        ..Limits::default()
    };
    let p = decode_pprof(data, None, None, &limits).unwrap();
    let mut out = BTreeMap::new();
    for (i, s) in p.series.iter().enumerate() {
        for (frames, v) in p.named_stacks(i) {
            *out.entry((
                s.profile_type.sample_type.clone(),
                s.labels.to_string(),
                frames.join(";"),
            ))
            .or_insert(0) += v;
        }
    }
    out
}

const PPROF_FIXTURES: &[&str] = &[
    "google-pprof/internal/report/testdata/sample.cpu",
    "parca-dev-parca/pkg/parca/testdata/labels.pb.gz",
    "parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
    "parca-dev-parca/pkg/query/testdata/fgprof.pb.gz",
    "parca-dev-parca/pkg/query/testdata/fib.pb.gz",
    "parca-dev-parca/pkg/query/testdata/profile-with-labels.pb.gz",
    "parca-dev-parca/pkg/query/testdata/profile1.pb.gz",
    "parca-dev-parca/pkg/query/testdata/single-stack.pb.gz",
    "parca-dev-parca/pkg/query/testdata/two-stacks.pb.gz",
    "pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof",
];

#[test]
fn every_pprof_fixture_matches_the_reference_decoding() {
    for path in PPROF_FIXTURES {
        let data = fixture(path);
        let expected = reference(&data);
        assert!(!expected.is_empty(), "{path}");
        let got = ours(&data);
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .take(3)
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(v))
            .take(3)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{path}: expected {missing:?}, got {extra:?}"
        );
    }
}

fn totals(path: &str) -> BTreeMap<String, i64> {
    let limits = Limits::default();
    let p = decode_pprof(&fixture(path), None, None, &limits).unwrap();
    let mut out = BTreeMap::new();
    for s in &p.series {
        *out.entry(s.profile_type.id()).or_insert(0) += s.samples.total();
    }
    out
}

#[test]
fn sample_cpu_totals() {
    // `go tool pprof -raw` of sample.cpu: 76 samples, cpu total 1.76 s.
    assert_eq!(
        totals("google-pprof/internal/report/testdata/sample.cpu"),
        BTreeMap::from([(
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_string(),
            1_760_000_000
        )])
    );
}

#[test]
fn pyroscope_cpu_pprof_totals() {
    assert_eq!(
        totals("pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof"),
        BTreeMap::from([(
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_string(),
            470_000_000
        )])
    );
}

#[test]
fn alloc_objects_gives_four_memory_series() {
    let p = decode_pprof(
        &fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz"),
        None,
        None,
        &Limits::default(),
    )
    .unwrap();
    let got: Vec<(String, Aggregation)> = p
        .series
        .iter()
        .map(|s| (s.profile_type.id(), s.aggregation))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "memory:alloc_objects:count:space:bytes".into(),
                Aggregation::Sum
            ),
            (
                "memory:alloc_space:bytes:space:bytes".into(),
                Aggregation::Sum
            ),
            (
                "memory:inuse_objects:count:space:bytes".into(),
                Aggregation::Average
            ),
            (
                "memory:inuse_space:bytes:space:bytes".into(),
                Aggregation::Average
            ),
        ]
    );
    // numeric `bytes` labels are not series labels
    assert!(p.series.iter().all(|s| s.labels.is_empty()));
}

#[test]
fn profile_with_labels_keeps_thread_names() {
    let p = decode_pprof(
        &fixture("parca-dev-parca/pkg/query/testdata/profile-with-labels.pb.gz"),
        None,
        None,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(p.series.len(), 6);
    assert!(p
        .series
        .iter()
        .all(|s| s.labels.get("thread_name") == Some("parca")));
    assert!(p.series.iter().all(|s| s.labels.get("thread_id").is_some()));
    assert_eq!(p.series.iter().map(|s| s.samples.total()).sum::<i64>(), 462);
}

#[test]
fn legacy_go_profile_is_not_a_protobuf() {
    let e = decode_pprof(
        &fixture("google-pprof/profile/testdata/go.crc32.cpu"),
        None,
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        DecodeError::Invalid {
            format: "pprof",
            detail: "not a protobuf: invalid field tag `0` at byte `0`".into()
        }
    );
}

#[test]
fn fixtures_over_max_samples_name_the_limit() {
    let e = decode_pprof(
        &fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz"),
        None,
        None,
        &Limits {
            max_samples: 1000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "`max_samples` exceeded: 4661 > 1000");
}
