//! Entry-point tests: dispatch by format, multipart, gzip, validation, push.

use super::*;
use crate::gzip::gzip;
use crate::pprof::proto;
use flamestream_model::parse_name;
use proptest::prelude::*;
use prost::Message;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const CPU_PPROF: &str = "pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof";
const CRC32: &str = "google-pprof/profile/testdata/go.crc32.cpu";

fn meta<'a>(format: Format, app: &'a AppName, content_type: Option<&'a str>) -> UploadMeta<'a> {
    UploadMeta {
        format,
        content_type,
        content_encoding: None,
        app,
        sample_rate: 100,
        aggregation_type: None,
        units: None,
    }
}

fn app(name: &str) -> AppName {
    parse_name(name, &Limits::default()).unwrap()
}

const MP: &str = "multipart/form-data; boundary=----flamestream";

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    multipart::build("----flamestream", parts)
}

fn heap_profile(alloc: i64) -> Vec<u8> {
    let p = proto::Profile {
        sample_type: vec![
            proto::ValueType { r#type: 1, unit: 2 },
            proto::ValueType { r#type: 3, unit: 2 },
        ],
        sample: vec![proto::Sample {
            location_id: vec![1],
            value: vec![alloc, 7],
            label: vec![],
        }],
        location: vec![proto::Location {
            id: 1,
            line: vec![proto::Line {
                function_id: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        function: vec![proto::Function {
            id: 1,
            name: 4,
            ..Default::default()
        }],
        string_table: [
            "",
            "alloc_objects",
            "count",
            "inuse_objects",
            "malloc",
            "space",
            "bytes",
        ]
        .map(String::from)
        .to_vec(),
        period_type: Some(proto::ValueType { r#type: 5, unit: 6 }),
        ..Default::default()
    };
    p.encode_to_vec()
}

#[test]
fn raw_gzipped_pprof() {
    let a = app("svc");
    let body = fixture(CPU_PPROF);
    let m = meta(Format::Pprof, &a, Some("application/octet-stream"));
    validate_upload(&m, &body, &Limits::default()).unwrap();
    let p = decode_upload(&m, &body, &Limits::default()).unwrap();
    assert_eq!(
        p.series[0].profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(p.series[0].samples.total(), 470_000_000);
}

#[test]
fn pyroscope_go_multipart_with_prev_profile_and_config() {
    let a = app("svc");
    let cur = gzip(&heap_profile(15));
    let prev = gzip(&heap_profile(10));
    let config = br#"{"alloc_objects":{"units":"objects","cumulative":true},"inuse_objects":{"units":"objects","aggregation":"average"}}"#;
    let body = multipart(&[
        ("profile", Some("profile.pprof"), &cur),
        ("prev_profile", Some("profile.pprof"), &prev),
        ("sample_type_config", None, config),
    ]);
    let m = meta(Format::detect(None, Some(MP)).unwrap(), &a, Some(MP));
    assert_eq!(m.format, Format::Pprof);
    validate_upload(&m, &body, &Limits::default()).unwrap();
    let p = decode_upload(&m, &body, &Limits::default()).unwrap();
    let got: Vec<(String, i64)> = p
        .series
        .iter()
        .map(|s| (s.profile_type.id(), s.samples.total()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("memory:alloc_objects:count:space:bytes".into(), 5),
            ("memory:inuse_objects:count:space:bytes".into(), 7)
        ]
    );
}

#[test]
fn multipart_without_the_required_part() {
    let a = app("svc");
    let body = multipart(&[("other", None, b"x")]);
    let m = meta(Format::Pprof, &a, Some(MP));
    let e = validate_upload(&m, &body, &Limits::default()).unwrap_err();
    assert_eq!(
        e,
        DecodeError::Multipart("part `profile` is missing (parts sent: `other`)".into())
    );
    assert_eq!(decode_upload(&m, &body, &Limits::default()).unwrap_err(), e);
    let m = meta(Format::Jfr, &a, Some(MP));
    assert!(matches!(
        validate_upload(&m, &body, &Limits::default()),
        Err(DecodeError::Multipart(_))
    ));
}

#[test]
fn legacy_pprof_is_refused_by_validate_and_decode() {
    let a = app("svc");
    let body = fixture(CRC32);
    let m = meta(Format::Pprof, &a, None);
    for e in [
        validate_upload(&m, &body, &Limits::default()).unwrap_err(),
        decode_upload(&m, &body, &Limits::default()).unwrap_err(),
    ] {
        match &e {
            DecodeError::Invalid {
                format: "pprof",
                detail,
            } => assert!(detail.starts_with("not a protobuf"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.reason(), "invalid_pprof");
    }
    // also inside a multipart part
    let mp = multipart(&[("profile", Some("p"), &body)]);
    let m = meta(Format::Pprof, &a, Some(MP));
    assert!(matches!(
        validate_upload(&m, &mp, &Limits::default()),
        Err(DecodeError::Invalid { .. })
    ));
}

#[test]
fn gzip_bombs_are_refused_everywhere() {
    let a = app("svc.cpu");
    let bomb = gzip(&vec![b'a'; 8 * 1024 * 1024]);
    let limits = Limits {
        max_decompressed_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let is_limit = |r: Result<(), DecodeError>| matches!(r, Err(DecodeError::Limit(l)) if l.limit == "max_decompressed_bytes" && l.max == 1024 * 1024);
    let m = meta(Format::Folded, &a, None);
    assert!(is_limit(validate_upload(&m, &bomb, &limits)));
    assert!(is_limit(decode_upload(&m, &bomb, &limits).map(|_| ())));
    let mp = multipart(&[("profile", Some("p"), &bomb)]);
    let m = meta(Format::Pprof, &a, Some(MP));
    assert!(is_limit(validate_upload(&m, &mp, &limits)));
    assert!(is_limit(decode_upload(&m, &mp, &limits).map(|_| ())));
    let e = validate_upload(&meta(Format::Folded, &a, None), &bomb, &limits).unwrap_err();
    assert!(e.is_too_large());
}

#[test]
fn body_size_limit() {
    let a = app("svc");
    let limits = Limits {
        max_body_bytes: 3,
        ..Limits::default()
    };
    let e = validate_upload(&meta(Format::Folded, &a, None), b"a 1\n", &limits).unwrap_err();
    assert_eq!(e.to_string(), "`max_body_bytes` exceeded: 4 > 3");
}

#[test]
fn text_and_tree_formats_dispatch() {
    let limits = Limits::default();
    let a = app("svc.alloc_objects");
    let (p, stats) =
        decode_upload_with_stats(&meta(Format::Folded, &a, None), b"a;b 2\nbroken\n", &limits)
            .unwrap();
    assert_eq!(stats.skipped_lines, 1);
    assert_eq!(
        p.series[0].profile_type.id(),
        "memory:alloc_objects:count:space:bytes"
    );
    let p = decode_upload(
        &meta(Format::Lines, &a, None),
        &gzip(b"a;b\na;b\n"),
        &limits,
    )
    .unwrap();
    assert_eq!(p.series[0].samples.total(), 2);
    let trie = b"\x00\x00\x01\x02ab\x00\x02\x01c\x01\x00\x01d\x02\x00";
    let m = meta(
        Format::detect(None, Some("binary/octet-stream+trie")).unwrap(),
        &a,
        None,
    );
    validate_upload(&m, trie, &limits).unwrap();
    assert_eq!(
        decode_upload(&m, trie, &limits).unwrap().series[0]
            .samples
            .total(),
        3
    );
    let tree = b"\x00\x00\x01\x01a\x00\x02\x01b\x01\x00\x01c\x02\x00";
    let m = meta(Format::Tree, &a, None);
    validate_upload(&m, tree, &limits).unwrap();
    assert_eq!(
        decode_upload(&m, tree, &limits).unwrap().series[0]
            .samples
            .total(),
        3
    );
    let ss = br#"{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"sampled","unit":"none","samples":[[0]],"weights":[4]}]}"#;
    let m = meta(Format::Speedscope, &a, None);
    validate_upload(&m, ss, &limits).unwrap();
    assert_eq!(
        decode_upload(&m, ss, &limits).unwrap().series[0]
            .samples
            .total(),
        4
    );
}

#[test]
fn unknown_suffix_is_a_bad_request_for_tree_formats() {
    let a = app("com.example.shop");
    let e = decode_upload(&meta(Format::Folded, &a, None), b"a 1", &Limits::default()).unwrap_err();
    assert!(e.is_bad_request());
    assert!(e.to_string().contains("`shop`"), "{e}");
    assert!(validate_upload(&meta(Format::Trie, &a, None), b"", &Limits::default()).is_err());
    // pprof does not care about the suffix
    let body = fixture(CPU_PPROF);
    assert!(decode_upload(&meta(Format::Pprof, &a, None), &body, &Limits::default()).is_ok());
}

#[test]
fn validate_sniffs_each_format() {
    let a = app("svc");
    let l = Limits::default();
    let v = |f: Format, body: &[u8]| validate_upload(&meta(f, &a, None), body, &l);
    assert!(v(Format::Jfr, b"FLR\0\x00\x02").is_ok());
    assert!(v(Format::Jfr, &gzip(b"FLR\0\x00\x02")).is_ok());
    assert!(matches!(
        v(Format::Jfr, b"PK\x03\x04"),
        Err(DecodeError::Invalid { format: "jfr", .. })
    ));
    assert!(v(Format::Speedscope, b"  {\"shared\":").is_ok());
    assert!(v(Format::Speedscope, b"[1]").is_err());
    assert!(v(Format::Folded, "a;ü 1".as_bytes()).is_ok());
    assert!(v(Format::Folded, b"a;\xff 1").is_err());
    assert!(v(Format::Lines, b"a;b\n").is_ok());
    assert!(v(Format::Trie, b"\x05ab").is_err());
    assert!(v(Format::Tree, b"\x00\x00\x09").is_err());
    assert!(v(Format::Pprof, b"").is_ok());
    assert!(v(Format::Pprof, b"\x0a\x02\x08\x01").is_ok());
    assert!(v(Format::Pprof, b"\x78\x01").is_err()); // field 15
    assert!(v(Format::Pprof, b"\x08\x01").is_err()); // field 1 as a varint
    assert!(v(Format::Pprof, b"{\"json\": 1}").is_err());
    assert!(v(Format::Pprof, b"\x0a\x09\x08").is_err()); // truncated, and complete
    assert!(v(
        Format::Pprof,
        &fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz")
    )
    .is_ok());
}

#[test]
fn real_jfr_passes_validation_and_reaches_the_jfr_decoder() {
    let a = app("svc");
    let jfr = fixture("grafana-jfr-parser/parser/testdata/nativemem.jfr.gz");
    let labels = fixture("grafana-jfr-parser/parser/testdata/dump1.labels.pb.gz");
    let l = Limits::default();
    validate_upload(&meta(Format::Jfr, &a, None), &jfr, &l).unwrap();
    let body = multipart(&[("jfr", Some("jfr"), &jfr), ("labels", None, &labels)]);
    let m = meta(Format::Jfr, &a, Some(MP));
    validate_upload(&m, &body, &l).unwrap();
    // Whatever the JFR decoder answers, its errors come back as jfr errors.
    match decode_upload(&m, &body, &l) {
        Ok(_) => {}
        Err(DecodeError::Invalid { format, .. }) => assert_eq!(format, "jfr"),
        Err(DecodeError::Limit(_)) => {}
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn whole_body_gzip_multipart() {
    let a = app("svc");
    let body = gzip(&multipart(&[("profile", None, &fixture(CPU_PPROF))]));
    let mut m = meta(Format::Pprof, &a, Some(MP));
    m.content_encoding = Some("gzip");
    validate_upload(&m, &body, &Limits::default()).unwrap();
    assert_eq!(
        decode_upload(&m, &body, &Limits::default()).unwrap().series[0]
            .samples
            .total(),
        470_000_000
    );
}

fn push_request() -> push::PushRequest {
    push::PushRequest {
        series: vec![push::RawProfileSeries {
            labels: vec![
                push::LabelPair {
                    name: "__name__".into(),
                    value: "process_cpu".into(),
                },
                push::LabelPair {
                    name: "service_name".into(),
                    value: "py".into(),
                },
            ],
            samples: vec![push::RawSample {
                raw_profile: fixture(CPU_PPROF),
                id: "x".into(),
            }],
        }],
    }
}

#[test]
fn push_protobuf_gzipped() {
    let body = gzip(&push_request().encode_to_vec());
    let out = decode_push(
        &body,
        Some("application/proto"),
        Some("gzip"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].labels[1],
        ("service_name".to_string(), "py".to_string())
    );
    assert_eq!(
        out[0].profiles[0].series[0].profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(out[0].profiles[0].series[0].samples.total(), 470_000_000);
}

#[test]
fn push_json_with_either_field_spelling() {
    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        let pad = (4 - out.len() % 4) % 4;
        out.push_str(&"=".repeat(pad));
        out
    }
    let raw = b64(&fixture(CPU_PPROF));
    for field in ["rawProfile", "raw_profile"] {
        let json = format!(
            r#"{{"series":[{{"labels":[{{"name":"__name__","value":"wall"}}],"samples":[{{"{field}":"{raw}","ID":"1"}}]}}]}}"#
        );
        let out = decode_push(
            json.as_bytes(),
            Some("application/json"),
            None,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            out[0].profiles[0].series[0].profile_type.id(),
            "wall:cpu:nanoseconds:cpu:nanoseconds"
        );
    }
}

#[test]
fn push_errors() {
    let l = Limits::default();
    assert!(matches!(
        decode_push(b"\xff\xff", Some("application/proto"), None, &l),
        Err(DecodeError::Invalid { format: "push", .. })
    ));
    assert!(matches!(
        decode_push(b"{", Some("application/json"), None, &l),
        Err(DecodeError::Invalid { format: "push", .. })
    ));
    assert!(matches!(
        decode_push(b"", Some("text/plain"), None, &l),
        Err(DecodeError::Invalid { .. })
    ));
    let mut req = push_request();
    req.series[0].samples[0].raw_profile = fixture(CRC32);
    let e = decode_push(&req.encode_to_vec(), Some("application/proto"), None, &l).unwrap_err();
    assert!(e.to_string().contains("series `0` sample `0`"), "{e}");
    assert_eq!(e.reason(), "invalid_push");
}

proptest! {
    #[test]
    fn entry_points_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), f in 0usize..7, multi in any::<bool>()) {
        let a = app("svc.cpu");
        let ct = if multi { Some(MP) } else { None };
        let m = meta(Format::ALL[f], &a, ct);
        let _ = validate_upload(&m, &body, &Limits::default());
        let _ = decode_upload(&m, &body, &Limits::default());
        let _ = decode_push(&body, None, None, &Limits::default());
    }

    #[test]
    fn multipart_never_panics(body in "(--b|\r\n|Content-Disposition: form-data; name=\"profile\"|x|--){0,12}") {
        let _ = multipart::parse(body.as_bytes(), "multipart/form-data; boundary=b");
    }

    #[test]
    fn gzip_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut body = vec![0x1f, 0x8b];
        body.extend(tail);
        let _ = maybe_gunzip(&body, true, 1000);
        let _ = gunzip_size_check(&body, 1000, 10);
    }
}
