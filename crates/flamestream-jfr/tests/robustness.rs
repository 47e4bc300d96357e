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
