//! End-to-end tests of the scaled path with ClickHouse as the store (real Tansu and real
//! ClickHouse 18.16, both started by ops/ scripts): render output identical to the embedded
//! SQLite store's, ClickHouse outages that lose and double nothing, idempotent migrations. The
//! render comparison also runs on ClickHouse 26.9 (chDB behind `ops/clickhouse-modern.sh`),
//! where the schema uses the modern dialect.

mod common;

use common::clickhouse::{pipeline, Clickhouse};
use common::kafka::Broker;
use common::{fixture, Server};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flamestream"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "flamestream {} failed:\n{text}",
        args.join(" ")
    );
    text
}

/// `(path, body, query pairs)` of one upload.
type Upload<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>);

fn serve(cfg: &Path) -> Server {
    Server::start_with(&["--pipeline", cfg.to_str().unwrap()], &[])
}

#[test]
fn migrate_is_idempotent_and_check_sees_both_servers() {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", 2);
    let ch = Clickhouse::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        &broker.brokers(),
        "g",
        &ch,
    );
    let cfg = cfg.to_str().unwrap();
    let first = cli(&["migrate", "--pipeline", cfg]);
    assert!(
        first.contains("schema of `flamestream_e2e` is current"),
        "{first}"
    );
    let tables =
        ch.query("SELECT name FROM system.tables WHERE database = 'flamestream_e2e' ORDER BY name");
    cli(&["migrate", "--pipeline", cfg]);
    assert_eq!(
        ch.query("SELECT name FROM system.tables WHERE database = 'flamestream_e2e' ORDER BY name"),
        tables
    );
    for t in [
        "batches",
        "samples",
        "series",
        "series_windows",
        "stacks",
        "voided_batches",
    ] {
        assert!(
            tables.lines().any(|l| l == t),
            "table {t} missing: {tables}"
        );
    }
    let check = cli(&["check", "--pipeline", cfg]);
    assert!(
        check.contains("ok: clickhouse") && check.contains("ok: kafka"),
        "{check}"
    );
}

#[test]
fn a_store_without_the_schema_is_refused_with_the_fix_named() {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", 1);
    let ch = Clickhouse::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        &broker.brokers(),
        "g",
        &ch,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_flamestream"))
        .args([
            "serve",
            "--pipeline",
            cfg.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("flamestream migrate"), "{text}");
}

#[test]
fn render_output_is_identical_in_clickhouse_and_in_the_embedded_store() {
    render_output_is_identical_to_the_embedded_store(Clickhouse::start());
}

/// The same on ClickHouse 26.9, where `migrate` creates the modern schema (`LowCardinality`,
/// codecs, TTL): what users run.
#[test]
fn render_output_is_identical_in_clickhouse_26_and_in_the_embedded_store() {
    let ch = Clickhouse::start_modern();
    let version = ch.query("SELECT version()");
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 22, "not a modern ClickHouse: {version}");
    render_output_is_identical_to_the_embedded_store(ch);
}

fn render_output_is_identical_to_the_embedded_store(ch: Clickhouse) {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", 3);
    let dir = tempfile::tempdir().unwrap();
    let cfg = pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        &broker.brokers(),
        "g",
        &ch,
    );
    cli(&["migrate", "--pipeline", cfg.to_str().unwrap()]);
    let scaled = serve(&cfg);
    let embedded = Server::start(&[]);

    let now = common::now_s().to_string();
    let t = |extra: &[(&'static str, &'static str)]| {
        let mut q: Vec<(&str, &str)> = vec![("from", now.as_str()), ("until", now.as_str())];
        q.extend_from_slice(extra);
        q
    };
    let uploads: Vec<Upload> = vec![
        (
            "/ingest",
            fixture("pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof"),
            t(&[("name", "same{env=dev}"), ("format", "pprof")]),
        ),
        (
            "/ingest",
            fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz"),
            t(&[("name", "same{env=dev}"), ("format", "pprof")]),
        ),
        (
            "/ingest",
            fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz"),
            t(&[("name", "same{env=dev}"), ("format", "pprof")]),
        ),
        (
            "/ingest",
            fixture("parca-dev-parca/pkg/parca/testdata/labels.pb.gz"),
            t(&[("name", "same{env=prod}"), ("format", "pprof")]),
        ),
        (
            "/ingest",
            fixture("async-profiler/test/test/jfrconverter/sample1.collapsed"),
            t(&[("name", "same.cpu{env=prod}")]),
        ),
    ];
    for (path, body, q) in &uploads {
        for s in [&scaled, &embedded] {
            let r = s.post(path, q, &[], body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let queries = [
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"same\"}",
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"same\",env=\"prod\"}",
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"same\",api=\"query\"}",
        "memory:inuse_space:bytes:space:bytes{service_name=\"same\"}",
        "memory:alloc_objects:count:space:bytes{service_name=\"same\",env=~\"d.*\"}",
    ];
    let from = (common::now_s() - 600).to_string();
    let until = (common::now_s() + 600).to_string();
    let render = |s: &Server, q: &str| {
        s.get_json(
            "/pyroscope/render",
            &[("query", q), ("from", &from), ("until", &until)],
        )
    };
    // Wait until both stores hold everything (the total of the broadest query stops moving).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = render(&scaled, queries[0])["flamebearer"]["numTicks"].clone();
        let b = render(&embedded, queries[0])["flamebearer"]["numTicks"].clone();
        let heap_a = render(&scaled, queries[3])["flamebearer"]["numTicks"].clone();
        let heap_b = render(&embedded, queries[3])["flamebearer"]["numTicks"].clone();
        if (a == b && heap_a == heap_b && a.as_i64() > Some(0)) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(2));
    for q in queries {
        let a = render(&scaled, q);
        let b = render(&embedded, q);
        assert!(
            a["flamebearer"]["numTicks"].as_i64().unwrap() > 0,
            "{q} is empty"
        );
        assert_eq!(a, b, "render of {q} differs between clickhouse and sqlite");
    }
    for label in ["__name__", "service_name", "env", "api"] {
        let a = scaled.get_json(
            "/pyroscope/label-values",
            &[("label", label), ("from", &from), ("until", &until)],
        );
        let b = embedded.get_json(
            "/pyroscope/label-values",
            &[("label", label), ("from", &from), ("until", &until)],
        );
        assert_eq!(a, b, "label-values {label}");
    }
}

#[test]
fn clickhouse_down_during_a_stream_loses_and_doubles_nothing() {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", 2);
    let ch = Clickhouse::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        &broker.brokers(),
        "g",
        &ch,
    );
    cli(&["migrate", "--pipeline", cfg.to_str().unwrap()]);
    let s = serve(&cfg);
    let send = |range: std::ops::Range<usize>| {
        for i in range {
            let body = format!("main;u{i} {}\n", i + 1);
            let r = s.ingest("chdown.cpu", &[("sampleRate", "0")], &[], body.as_bytes());
            assert_eq!(r.status, 200, "upload {i}: {}", r.body);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    send(0..40);
    ch.run("stop");
    send(40..80); // Kafka still takes uploads; the writer retries with backoff.
    std::thread::sleep(Duration::from_secs(2));
    ch.run("start");
    send(80..100);
    let want: i64 = (1..=100).sum();
    let q = "process_cpu:samples:count:cpu:nanoseconds{service_name=\"chdown\"}";
    let got = s.wait_total_for(q, want, Duration::from_secs(90));
    assert_eq!(got, want, "log:\n{}", s.log_text());
    let v = s.render(q);
    let fb = &v["flamebearer"];
    let names = fb["names"].as_array().unwrap();
    let level = fb["levels"][2].as_array().unwrap();
    assert_eq!(level.len() / 4, 100, "one node per upload");
    for node in level.chunks(4) {
        let name = names[node[3].as_i64().unwrap() as usize].as_str().unwrap();
        let i: i64 = name.trim_start_matches('u').parse().unwrap();
        assert_eq!(
            node[1].as_i64().unwrap(),
            i + 1,
            "{name} stored exactly once"
        );
    }
    assert!(
        s.log_text().contains("store write failed; retrying"),
        "the outage was not noticed"
    );
}
