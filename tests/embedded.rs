//! End-to-end tests of the embedded pipeline: the real binary, real fixtures over HTTP,
//! results read back through the query API, totals compared with sums computed here.

mod common;

use common::{fixture, gunzip, gzip, multipart, pprof_sums, Server};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

fn folded_total(text: &str) -> i64 {
    text.lines()
        .filter_map(|l| l.trim_end().rsplit_once(' '))
        .filter_map(|(_, n)| n.parse::<i64>().ok())
        .sum()
}

fn pprof_sum(gz: &[u8], sample_type: &str) -> i64 {
    pprof_sums::sums(&gunzip(gz))
        .into_iter()
        .find(|((t, _), _)| t == sample_type)
        .unwrap_or_else(|| panic!("fixture has no `{sample_type}` sample type"))
        .1
}

#[test]
fn folded_and_lines_uploads_are_stored_with_sample_rate_scaling() {
    let s = Server::start(&[]);
    let body = fixture("async-profiler/test/test/jfrconverter/sample1.collapsed");
    let text = String::from_utf8(body.clone()).unwrap();
    let r = s.ingest("folded.cpu{env=dev}", &[("sampleRate", "100")], &[], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "", "success has an empty body");
    let want = folded_total(&text) * 10_000_000;
    assert_eq!(
        s.wait_total(
            &format!("{CPU}{{service_name=\"folded\",env=\"dev\"}}"),
            want
        ),
        want
    );

    // `lines`: every non-empty line counts once; sampleRate 0 keeps plain sample counts.
    let lines = "main;a;b\nmain;a;b\nmain;c\n\n";
    let r = s.ingest(
        "lines.cpu",
        &[("format", "lines"), ("sampleRate", "0")],
        &[],
        lines.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.wait_total(
            "process_cpu:samples:count:cpu:nanoseconds{service_name=\"lines\"}",
            3
        ),
        3
    );
}

#[test]
fn pprof_raw_gzipped_and_plain_and_on_every_ingest_path() {
    let s = Server::start(&[]);
    let gz = fixture("pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof");
    let want = pprof_sum(&gz, "cpu");
    assert!(want > 0);
    let ct = [("Content-Type", "binary/octet-stream")];
    let now = common::now_s().to_string();
    for (i, path) in ["/ingest", "/pyroscope/ingest", "/api/v1/profile/ingest"]
        .iter()
        .enumerate()
    {
        let app = format!("raw{i}");
        let q = [
            ("name", app.as_str()),
            ("format", "pprof"),
            ("from", now.as_str()),
            ("until", now.as_str()),
        ];
        let r = s.post(path, &q, &ct, &gz);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            s.wait_total(&format!("{CPU}{{service_name=\"{app}\"}}"), want),
            want,
            "{path}"
        );
    }
    // The same profile uncompressed.
    let r = s.ingest("plain", &[("format", "pprof")], &ct, &gunzip(&gz));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.wait_total(&format!("{CPU}{{service_name=\"plain\"}}"), want),
        want
    );
    // Go's `samples:count` is dropped in favour of `cpu`.
    let types = s.get_json("/pyroscope/label-values", &[("label", "__name__")]);
    assert_eq!(types, serde_json::json!([CPU]));
}

#[test]
fn go_sdk_multipart_and_the_seed_go_sender() {
    let s = Server::start(&[]);
    let gz = fixture("google-pprof/internal/report/testdata/sample.cpu");
    let want = pprof_sum(&gz, "cpu");
    let config = br#"{"cpu":{"units":"nanoseconds","aggregation":"sum","display-name":"cpu"},"samples":{"units":"samples","aggregation":"sum","display-name":"samples"}}"#;
    // pyroscope-go: `profile` + `sample_type_config`, no `format`, times in ns.
    let (ct, body) = multipart(&[
        ("profile", Some("profile.pprof"), &gz),
        (
            "sample_type_config",
            Some("sample_type_config.json"),
            config,
        ),
    ]);
    let ns = (common::now_s() * 1_000_000_000).to_string();
    let q = [
        ("name", "gosdk{env=prod}"),
        ("from", ns.as_str()),
        ("until", ns.as_str()),
        ("spyName", "gospy"),
    ];
    let r = s.post("/ingest", &q, &[("Content-Type", ct.as_str())], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.wait_total(
            &format!("{CPU}{{service_name=\"gosdk\",env=\"prod\"}}"),
            want
        ),
        want
    );

    // The seed's Go sender: DeepFlow's path, `profile` only, `unit=samples`, times in s.
    let (ct, body) = multipart(&[("profile", Some("profile.pprof"), &gz)]);
    let now = common::now_s().to_string();
    let q = [
        ("spyName", "gospy"),
        ("name", "application-demo"),
        ("unit", "samples"),
        ("from", now.as_str()),
        ("until", now.as_str()),
        ("sampleRate", "100"),
    ];
    let r = s.post(
        "/api/v1/profile/ingest",
        &q,
        &[("Content-Type", ct.as_str())],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.wait_total(&format!("{CPU}{{service_name=\"application-demo\"}}"), want),
        want
    );
    let apps = s.get_json("/pyroscope/label-values", &[("label", "service_name")]);
    assert_eq!(apps, serde_json::json!(["application-demo", "gosdk"]));
    let spies = s.get_json("/pyroscope/label-values", &[("label", "pyroscope_spy")]);
    assert_eq!(spies, serde_json::json!(["gospy"]));
}

#[test]
fn pprof_string_labels_are_queryable() {
    let s = Server::start(&[]);
    let gz = fixture("parca-dev-parca/pkg/parca/testdata/labels.pb.gz");
    let want = pprof_sum(&gz, "cpu");
    let r = s.ingest("labelled", &[("format", "pprof")], &[], &gz);
    assert_eq!(r.status, 200, "{}", r.body);
    let all = format!("{CPU}{{service_name=\"labelled\"}}");
    assert_eq!(s.wait_total(&all, want), want);
    let names = s.get_json("/pyroscope/labels", &[]);
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("api")),
        "{names}"
    );
    let values = s.get_json("/pyroscope/label-values", &[("label", "api")]);
    assert_eq!(values, serde_json::json!(["query"]));
    let with = s.render(&format!("{CPU}{{service_name=\"labelled\",api=\"query\"}}"))
        ["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap();
    let without = s.render(&format!(
        "{CPU}{{service_name=\"labelled\",api!=\"query\"}}"
    ))["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap();
    assert!(with > 0 && without > 0, "with {with}, without {without}");
    assert_eq!(
        with + without,
        want,
        "the label splits the profile without losing samples"
    );
    let re = s.render(&format!("{CPU}{{service_name=\"labelled\",api=~\"q.*\"}}"))["flamebearer"]
        ["numTicks"]
        .as_i64()
        .unwrap();
    assert_eq!(re, with);
    let nre = s.render(&format!("{CPU}{{service_name=\"labelled\",api!~\"q.*\"}}"))["flamebearer"]
        ["numTicks"]
        .as_i64()
        .unwrap();
    assert_eq!(nre, without);
}

#[test]
fn heap_in_use_is_averaged_and_allocations_add_up() {
    let s = Server::start(&[]);
    let gz = fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz");
    let inuse = pprof_sum(&gz, "inuse_space");
    let alloc = pprof_sum(&gz, "alloc_space");
    for _ in 0..2 {
        let r = s.ingest("heap", &[("format", "pprof")], &[], &gz);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let alloc_q = "memory:alloc_space:bytes:space:bytes{service_name=\"heap\"}";
    assert_eq!(
        s.wait_total(alloc_q, 2 * alloc),
        2 * alloc,
        "alloc_space sums over uploads"
    );
    let inuse_q = "memory:inuse_space:bytes:space:bytes{service_name=\"heap\"}";
    // Both uploads may share a window or not; either way the average of two equal uploads is one.
    let got = s.render(inuse_q)["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap();
    let tolerance = s.render(inuse_q)["flamebearer"]["names"]
        .as_array()
        .unwrap()
        .len() as i64;
    assert!(
        (got - inuse).abs() <= tolerance,
        "inuse_space is averaged: got {got}, want ≈{inuse}"
    );
    let types = s.get_json("/pyroscope/label-values", &[("label", "__name__")]);
    for t in [
        "memory:alloc_objects:count:space:bytes",
        "memory:alloc_space:bytes:space:bytes",
        "memory:inuse_objects:count:space:bytes",
        "memory:inuse_space:bytes:space:bytes",
    ] {
        assert!(
            types.as_array().unwrap().contains(&serde_json::json!(t)),
            "{t} missing from {types}"
        );
    }
}

#[test]
fn render_output_has_the_flamebearer_shape() {
    let s = Server::start(&[]);
    let r = s.ingest(
        "shape.cpu",
        &[("sampleRate", "100")],
        &[],
        b"a;b 1\na;c 2\n",
    );
    assert_eq!(r.status, 200);
    let q = format!("{CPU}{{service_name=\"shape\"}}");
    s.wait_total(&q, 30_000_000);
    let v = s.render(&q);
    let fb = &v["flamebearer"];
    assert_eq!(fb["names"], serde_json::json!(["total", "a", "c", "b"]));
    assert_eq!(
        fb["levels"],
        serde_json::json!([
            [0, 30000000, 0, 0],
            [0, 30000000, 0, 1],
            [0, 10000000, 10000000, 3, 0, 20000000, 20000000, 2]
        ])
    );
    assert_eq!(fb["numTicks"], 30_000_000);
    assert_eq!(fb["maxSelf"], 20_000_000);
    assert_eq!(v["metadata"]["format"], "single");
    assert_eq!(v["metadata"]["name"], CPU);
    assert!(v["timeline"]["durationDelta"].as_i64().unwrap() >= 10);
    let samples: i64 = v["timeline"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .sum();
    assert_eq!(samples, 30_000_000, "the timeline adds up to the total");
    // The old Pyroscope query form works too.
    assert_eq!(
        s.render("shape.cpu{}")["flamebearer"]["numTicks"],
        30_000_000
    );
    // maxNodes merges small nodes into `other`.
    let many: String = (0..50).map(|i| format!("root;f{i} {}\n", i + 1)).collect();
    let r = s.ingest("wide.cpu", &[("sampleRate", "0")], &[], many.as_bytes());
    assert_eq!(r.status, 200);
    let wq = "process_cpu:samples:count:cpu:nanoseconds{service_name=\"wide\"}";
    s.wait_total(wq, (1..=50).sum());
    let v = s.get_json(
        "/pyroscope/render",
        &[
            ("query", wq),
            ("from", "now-1h"),
            ("until", "now"),
            ("maxNodes", "10"),
        ],
    );
    let names = v["flamebearer"]["names"].as_array().unwrap();
    assert!(names.contains(&serde_json::json!("other")), "{names:?}");
    assert!(names.len() <= 13, "{} names", names.len());
    assert_eq!(v["flamebearer"]["numTicks"], (1..=50).sum::<i64>());
}

#[test]
fn tenants_are_isolated() {
    let s = Server::start(&[]);
    assert_eq!(
        s.ingest("iso.cpu", &[], &[("X-Scope-OrgID", "team-a")], b"a 1")
            .status,
        200
    );
    assert_eq!(
        s.ingest("iso.cpu", &[], &[("X-Scope-OrgID", "team-b")], b"a 2")
            .status,
        200
    );
    let q = format!("{CPU}{{service_name=\"iso\"}}");
    let total = |tenant: &str| {
        ureq::get(&s.url("/pyroscope/render"))
            .query("query", &q)
            .query("from", "now-1h")
            .query("until", "now")
            .set("X-Scope-OrgID", tenant)
            .call()
            .unwrap()
            .into_json::<serde_json::Value>()
            .unwrap()["flamebearer"]["numTicks"]
            .as_i64()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while total("team-b") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(total("team-a"), 10_000_000);
    assert_eq!(total("team-b"), 20_000_000);
    assert_eq!(
        s.render(&q)["flamebearer"]["numTicks"],
        0,
        "anonymous sees neither"
    );
    let r = s.ingest("iso.cpu", &[], &[("X-Scope-OrgID", "bad tenant!")], b"a 1");
    assert_eq!(r.status, 400);
}

fn assert_json_error(r: &common::Reply, status: u16, code: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body));
    assert_eq!(v["code"], code, "{}", r.body);
    assert!(
        v["message"].as_str().unwrap().contains(mentions),
        "`{mentions}` not in {}",
        r.body
    );
}

#[test]
fn bad_input_gets_a_clear_4xx_and_loses_nothing_else() {
    let s = Server::start(&[("FLAMESTREAM_MAX_BODY_BYTES", "200000")]);
    let good = b"main;work 7\n";
    assert_eq!(
        s.ingest("good.cpu", &[("sampleRate", "0")], &[], good)
            .status,
        200
    );

    assert_json_error(
        &s.ingest("bad app!", &[], &[], good),
        400,
        "invalid_name",
        "bad app!",
    );
    assert_json_error(
        &s.ingest("a{__name__=x}", &[], &[], good),
        400,
        "invalid_name",
        "reserved",
    );
    assert_json_error(
        &s.ingest("a.cpu", &[("format", "xml")], &[], good),
        400,
        "unknown_format",
        "xml",
    );
    assert_json_error(
        &s.ingest("a.cpu", &[], &[], b""),
        400,
        "empty_body",
        "empty",
    );
    assert_json_error(
        &s.post("/ingest", &[("name", "a"), ("from", "soon")], &[], good),
        400,
        "invalid_time",
        "soon",
    );
    assert_json_error(
        &s.post(
            "/ingest",
            &[("name", "a"), ("from", "1000000000")],
            &[],
            good,
        ),
        400,
        "out_of_range",
        "max_past_secs",
    );
    let r = ureq::post(&format!("{}/ingest?name=a&from=%zz", s.base)).send_bytes(good);
    let r = match r {
        Err(ureq::Error::Status(_, r)) => r,
        other => panic!("expected an error status, got {other:?}"),
    };
    assert_eq!(r.status(), 400);
    assert!(
        r.into_string().unwrap().contains("\"code\""),
        "malformed query strings get JSON errors"
    );
    // The legacy gperftools profile is not pprof protobuf.
    let legacy = fixture("google-pprof/profile/testdata/go.crc32.cpu");
    let r = s.ingest("legacy", &[("format", "pprof")], &[], &legacy);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("pprof"), "{}", r.body);
    // Over the body limit: 413 naming the limit, before the body is all read.
    let big = vec![b'a'; 300_000];
    assert_json_error(
        &s.ingest("big.cpu", &[], &[], &big),
        413,
        "too_large",
        "max_body_bytes",
    );
    // A gzip bomb: a small body inflating past the 4 MiB decompressed cap.
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    assert!(bomb.len() < 200_000, "bomb is {} bytes", bomb.len());
    let r = s.ingest("bomb", &[("format", "pprof")], &[], &bomb);
    assert_json_error(&r, 413, "too_large", "max_decompressed_bytes");
    let r = s.ingest("bomb.cpu", &[], &[("Content-Encoding", "gzip")], &bomb);
    assert_json_error(&r, 413, "too_large", "max_decompressed_bytes");

    // Nothing else was lost and the server is fine.
    assert_eq!(
        s.ingest("good.cpu", &[("sampleRate", "0")], &[], good)
            .status,
        200
    );
    assert_eq!(
        s.wait_total(
            "process_cpu:samples:count:cpu:nanoseconds{service_name=\"good\"}",
            14
        ),
        14
    );
    let metrics = s.metrics();
    for needle in [
        "flamestream_ingest_rejected_total{reason=\"invalid_name\"} 2",
        "flamestream_ingest_rejected_total{reason=\"max_body_bytes\"} 1",
        "flamestream_ingest_rejected_total{reason=\"max_decompressed_bytes\"} 2",
        "flamestream_ingest_requests_total{format=\"pprof\",status=\"422\"} 1",
    ] {
        assert!(
            metrics.contains(needle),
            "`{needle}` not in /metrics:\n{metrics}"
        );
    }
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_keeps_what_it_accepted() {
    let s = Server::start(&[("FLAMESTREAM_QUEUE_CAPACITY", "1")]);
    let gz = fixture("parca-dev-parca/pkg/query/testdata/fib.pb.gz");
    let per_upload = pprof_sum(&gz, "cpu");
    let accepted = std::sync::atomic::AtomicI64::new(0);
    let refused = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let r = s.ingest("burst", &[("format", "pprof")], &[], &gz);
                    match r.status {
                        200 => {
                            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        503 => {
                            assert!(r.retry_after.is_some(), "503 without Retry-After");
                            assert!(r.body.contains("overloaded"), "{}", r.body);
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
            });
        }
    });
    let accepted = accepted.into_inner();
    let refused = refused.into_inner();
    assert!(
        refused > 0,
        "a queue of 1 under 16 concurrent senders refused nothing"
    );
    assert!(accepted > 0);
    let want = accepted * per_upload;
    assert_eq!(
        s.wait_total(&format!("{CPU}{{service_name=\"burst\"}}"), want),
        want,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn a_graceful_stop_stores_everything_answered_200() {
    let mut s = Server::start(&[("FLAMESTREAM_FLUSH_INTERVAL_SECS", "3600")]);
    for i in 0..20 {
        let body = format!("main;f{i} 1\n");
        assert_eq!(
            s.ingest("drain.cpu", &[("sampleRate", "0")], &[], body.as_bytes())
                .status,
            200
        );
    }
    s.stop();
    assert!(
        s.log_text().contains("processor drained"),
        "{}",
        s.log_text()
    );
    s.spawn();
    let q = "process_cpu:samples:count:cpu:nanoseconds{service_name=\"drain\"}";
    assert_eq!(s.render(q)["flamebearer"]["numTicks"], 20);
}

#[test]
fn metrics_cover_every_stage() {
    let s = Server::start(&[]);
    assert_eq!(s.ingest("m.cpu", &[], &[], b"a;b 1\n").status, 200);
    s.wait_total(&format!("{CPU}{{service_name=\"m\"}}"), 10_000_000);
    let m = s.metrics();
    for name in [
        "flamestream_ingest_requests_total",
        "flamestream_ingest_received_bytes_total",
        "flamestream_ingest_request_duration_seconds_bucket",
        "flamestream_bus_publish_duration_seconds_bucket",
        "flamestream_bus_queue_depth",
        "flamestream_decode_uploads_total",
        "flamestream_decode_duration_seconds_bucket",
        "flamestream_aggregate_samples_total",
        "flamestream_aggregate_windows_flushed_total",
        "flamestream_store_write_duration_seconds_bucket",
        "flamestream_store_rows_written_total",
    ] {
        assert!(m.contains(name), "{name} missing from /metrics:\n{m}");
    }
}

#[test]
fn the_web_ui_and_deepflow_query_answer() {
    let s = Server::start(&[]);
    let html = ureq::get(&s.url("/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(html.contains("flamestream") && html.contains("pyroscope/render"));
    assert_eq!(
        s.ingest(
            "df.cpu",
            &[("spyName", "gospy")],
            &[],
            b"main;a 1\nmain;b 2\n"
        )
        .status,
        200
    );
    s.wait_total(&format!("{CPU}{{service_name=\"df\"}}"), 30_000_000);
    let now = common::now_s() as i64;
    let v: serde_json::Value = ureq::post(&s.url("/v1/profile/ProfileTracing"))
        .send_json(serde_json::json!({
            "app_service": "df", "profile_event_type": "cpu", "profile_language_type": "Golang",
            "tag_filter": "", "time_start": now - 600, "time_end": now + 60
        }))
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(v["OPT_STATUS"], "SUCCESS");
    let functions = v["result"]["functions"].as_array().unwrap();
    assert_eq!(functions[0], "df");
    let nodes = v["result"]["node_values"].as_array().unwrap();
    assert_eq!(nodes[0][3], 30_000_000, "root total");
    assert_eq!(nodes.len(), 4, "df → main → a, b");
}
