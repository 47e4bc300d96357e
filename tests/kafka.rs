//! End-to-end tests of the Kafka path against a real broker (Tansu, started by ops/tansu.sh):
//! uploads in over HTTP → Kafka → decoders in a consumer group → SQLite, with crashes, broker
//! restarts, replays and two consumers — totals must stay exact.

mod common;

use common::kafka::{store_positions, Broker};
use common::{fixture, gunzip, pprof_sums, Server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COUNT: &str = "process_cpu:samples:count:cpu:nanoseconds";

fn cpu_sum(gz: &[u8]) -> i64 {
    pprof_sums::sums(&gunzip(gz))
        .into_iter()
        .find(|((t, _), _)| t == "cpu")
        .unwrap()
        .1
}

fn serve(pipeline: &Path, data: &Path) -> Server {
    Server::start_with(
        &["--pipeline", pipeline.to_str().unwrap()],
        &[("FLAMESTREAM_DATA_DIR", data.to_str().unwrap())],
    )
}

/// A broker (its own Tansu) with the raw topic in `partitions` partitions, a scratch folder,
/// and the SQLite store path in it.
fn setup(partitions: u32) -> (Broker, tempfile::TempDir, PathBuf) {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", partitions);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    (broker, dir, db)
}

/// Pipeline files of an ingest-only edge and a processing central in consumer group `group`.
fn edge_and_central(broker: &Broker, dir: &Path, db: &Path, group: &str) -> (PathBuf, PathBuf) {
    (
        broker.pipeline(dir, "edge", &["ingest"], "g", db),
        broker.pipeline(dir, "central", &["process", "query"], group, db),
    )
}

/// Sends `n` folded uploads with a unique frame each (`u{i}`, value i+1); returns the indexes
/// answered 200 and those answered 503.
fn stream(
    edge: &Server,
    app: &str,
    range: std::ops::Range<usize>,
    pause: Duration,
) -> (Vec<usize>, Vec<usize>) {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for i in range {
        let body = format!("main;u{i} {}\n", i + 1);
        let r = edge.ingest(
            &format!("{app}.cpu"),
            &[("sampleRate", "0")],
            &[],
            body.as_bytes(),
        );
        match r.status {
            200 => ok.push(i),
            503 => {
                assert!(r.retry_after.is_some(), "503 without Retry-After");
                refused.push(i);
            }
            other => panic!("upload {i}: unexpected {other}: {}", r.body),
        }
        std::thread::sleep(pause);
    }
    (ok, refused)
}

/// Everything needed to tell a producer duplicate (one upload at two offsets) from a consumer
/// one (one offset read twice): the server log, the broker's records and committed offsets,
/// and the store's positions.
fn diagnosis(s: &Server, broker: &Broker, db: &Path) -> String {
    format!(
        "server log:\n{}\n{}{}",
        s.log_text(),
        broker.describe("flamestream.profiles.raw"),
        store_positions(db)
    )
}

/// Per-frame totals (`u{i}` → total) of `app` as the query API reports them.
fn frame_totals(s: &Server, app: &str) -> std::collections::BTreeMap<String, i64> {
    let v = s.render(&format!("{COUNT}{{service_name=\"{app}\"}}"));
    let fb = &v["flamebearer"];
    let names: Vec<String> = fb["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let mut out = std::collections::BTreeMap::new();
    if let Some(level) = fb["levels"].as_array().unwrap().get(2) {
        for node in level.as_array().unwrap().chunks(4) {
            *out.entry(names[node[3].as_i64().unwrap() as usize].clone())
                .or_default() += node[1].as_i64().unwrap();
        }
    }
    out
}

fn expected(indexes: &[usize]) -> i64 {
    indexes.iter().map(|i| *i as i64 + 1).sum()
}

#[test]
fn fixtures_through_kafka_are_stored_exactly() {
    let broker = Broker::start();
    broker.create_topic("flamestream.profiles.raw", 4);
    let dir = tempfile::tempdir().unwrap();
    let cfg = broker.pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        "g1",
        &dir.path().join("s.db"),
    );
    let s = serve(&cfg, dir.path());
    let gz = fixture("pyroscope-io-pyroscope/pkg/convert/fixtures/cpu.pprof");
    let heap = fixture("parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz");
    for _ in 0..5 {
        assert_eq!(
            s.ingest("kpprof", &[("format", "pprof")], &[], &gz).status,
            200
        );
    }
    assert_eq!(
        s.ingest("kheap", &[("format", "pprof")], &[], &heap).status,
        200
    );
    let folded = fixture("async-profiler/test/test/jfrconverter/sample1.collapsed");
    assert_eq!(
        s.ingest("kfolded.cpu", &[("sampleRate", "0")], &[], &folded)
            .status,
        200
    );
    let want = 5 * cpu_sum(&gz);
    let q = "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"kpprof\"}";
    assert_eq!(s.wait_total(q, want), want, "log:\n{}", s.log_text());
    let alloc = pprof_sums::sums(&gunzip(&heap))
        .into_iter()
        .find(|((t, _), _)| t == "alloc_space")
        .unwrap()
        .1;
    assert_eq!(
        s.wait_total(
            "memory:alloc_space:bytes:space:bytes{service_name=\"kheap\"}",
            alloc
        ),
        alloc
    );
    let folded_total: i64 = String::from_utf8(folded)
        .unwrap()
        .lines()
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<i64>().ok())
        .sum();
    assert_eq!(
        s.wait_total(
            &format!("{COUNT}{{service_name=\"kfolded\"}}"),
            folded_total
        ),
        folded_total
    );
    let m = s.metrics();
    assert!(
        m.contains("flamestream_bus_publish_duration_seconds_bucket{transport=\"kafka\""),
        "{m}"
    );
    assert!(m.contains("flamestream_kafka_commits_total"), "{m}");
}

/// A consumer that starts on a backlog gets its first deliveries in the same poll as its
/// partition assignment, before the processor has seen the assignment; the position check that
/// follows may move it back. Whatever was read before that must not be counted twice, even
/// while it still sits in an open window (a slow flush here).
#[test]
fn a_backlog_read_at_startup_is_stored_once() {
    let (broker, dir, db) = setup(2);
    let (edge_cfg, central_cfg) = edge_and_central(&broker, dir.path(), &db, "g-backlog");
    let edge = serve(&edge_cfg, dir.path());
    let (ok, _) = stream(&edge, "bl", 0..30, Duration::from_millis(0));
    assert_eq!(ok.len(), 30, "the edge answered 503 while Kafka was up");
    // 8-second windows and flushes: the first deliveries stay in the aggregator for a while.
    let central = Server::start_with(
        &["--pipeline", central_cfg.to_str().unwrap()],
        &[
            ("FLAMESTREAM_DATA_DIR", dir.path().to_str().unwrap()),
            ("FLAMESTREAM_WINDOW_SECS", "8"),
        ],
    );
    let want = expected(&ok);
    let q = format!("{COUNT}{{service_name=\"bl\"}}");
    assert_eq!(
        central.wait_total_for(&q, want, Duration::from_secs(40)),
        want,
        "{}",
        diagnosis(&central, &broker, &db)
    );
    // Nothing more is added by the next flush.
    std::thread::sleep(Duration::from_secs(9));
    let frames = frame_totals(&central, "bl");
    for i in &ok {
        assert_eq!(
            frames.get(&format!("u{i}")).copied(),
            Some(*i as i64 + 1),
            "upload {i} stored exactly once\n{}",
            diagnosis(&central, &broker, &db)
        );
    }
}

#[test]
fn a_consumer_killed_with_sigkill_and_restarted_loses_and_doubles_nothing() {
    let (broker, dir, db) = setup(3);
    let (edge_cfg, central_cfg) = edge_and_central(&broker, dir.path(), &db, "g-kill");
    let edge = serve(&edge_cfg, dir.path());
    let mut central = serve(&central_cfg, dir.path());
    let (ok1, _) = stream(&edge, "k9", 0..60, Duration::from_millis(20));
    central.kill(); // kill -9 mid-stream, with windows still open
    let (ok2, _) = stream(&edge, "k9", 60..120, Duration::from_millis(10));
    central.spawn();
    let (ok3, _) = stream(&edge, "k9", 120..150, Duration::from_millis(10));
    let all: Vec<usize> = ok1.into_iter().chain(ok2).chain(ok3).collect();
    assert_eq!(all.len(), 150, "the edge answered 503 while Kafka was up");
    let want = expected(&all);
    assert_eq!(
        central.wait_total(&format!("{COUNT}{{service_name=\"k9\"}}"), want),
        want,
        "log:\n{}",
        central.log_text()
    );
    let frames = frame_totals(&central, "k9");
    for i in &all {
        assert_eq!(
            frames.get(&format!("u{i}")).copied(),
            Some(*i as i64 + 1),
            "upload {i} stored exactly once\n{}",
            diagnosis(&central, &broker, &db)
        );
    }
}

#[test]
fn a_broker_restart_keeps_every_acknowledged_upload_exactly_once() {
    let (broker, dir, db) = setup(2);
    let cfg = broker.pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        "g-restart",
        &db,
    );
    let s = serve(&cfg, dir.path());
    let (ok1, refused1) = stream(&s, "br", 0..40, Duration::from_millis(10));
    broker.stop();
    let (ok2, refused2) = stream(&s, "br", 40..46, Duration::from_millis(0));
    assert!(
        !refused2.is_empty(),
        "uploads while the broker was down got 200: {ok2:?}"
    );
    broker.start_again();
    // The producer reconnects by itself; uploads succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok3 = Vec::new();
    let mut i = 46;
    while ok3.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "uploads still refused 30 s after the broker came back"
        );
        let (ok, _) = stream(&s, "br", i..i + 1, Duration::from_millis(100));
        ok3.extend(ok);
        i += 1;
    }
    let acked: Vec<usize> = ok1.iter().chain(&ok2).chain(&ok3).copied().collect();
    let refused: Vec<usize> = refused1.iter().chain(&refused2).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let frames = frame_totals(&s, "br");
        let missing: Vec<&usize> = acked
            .iter()
            .filter(|i| !frames.contains_key(&format!("u{i}")))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            assert!(
                missing.is_empty(),
                "acknowledged uploads missing: {missing:?}\n{}",
                diagnosis(&s, &broker, &db)
            );
            for i in &acked {
                assert_eq!(
                    frames[&format!("u{i}")],
                    *i as i64 + 1,
                    "upload {i} stored exactly once\n{}",
                    diagnosis(&s, &broker, &db)
                );
            }
            // A refused upload may have reached the broker before it went down (the client is
            // told to retry); it is never stored twice.
            for i in &refused {
                if let Some(v) = frames.get(&format!("u{i}")) {
                    assert_eq!(
                        *v,
                        *i as i64 + 1,
                        "refused upload {i} stored more than once\n{}",
                        diagnosis(&s, &broker, &db)
                    );
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn replaying_a_range_twice_changes_no_totals_and_can_fill_a_new_store() {
    let (broker, dir, db) = setup(2);
    let cfg = broker.pipeline(
        dir.path(),
        "all",
        &["ingest", "process", "query"],
        "g-replay",
        &db,
    );
    let mut s = serve(&cfg, dir.path());
    let (ok, _) = stream(&s, "rp", 0..30, Duration::from_millis(5));
    let want = expected(&ok);
    let q = format!("{COUNT}{{service_name=\"rp\"}}");
    assert_eq!(s.wait_total(&q, want), want);
    s.stop();

    let replay = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flamestream"))
            .args([
                "replay",
                "--pipeline",
                cfg.to_str().unwrap(),
                "--from",
                "earliest",
                "--to",
                "latest",
                "--quiet",
            ])
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "replay failed:\n{text}");
        text
    };
    for _ in 0..2 {
        let text = replay(&[]);
        assert!(text.contains("30 already stored"), "{text}");
    }
    s.spawn();
    assert_eq!(
        s.render(&q)["flamebearer"]["numTicks"],
        want,
        "replays changed the totals"
    );
    s.stop();

    // Backfill a new store from the topic, twice.
    let fresh = dir.path().join("fresh.db");
    let text = replay(&["--sqlite-path", fresh.to_str().unwrap()]);
    assert!(text.contains("30 upload(s) decoded and stored"), "{text}");
    let text = replay(&["--sqlite-path", fresh.to_str().unwrap()]);
    assert!(text.contains("30 already stored"), "{text}");
    let dry = replay(&["--dry-run"]);
    assert!(dry.contains("dry run"), "{dry}");
    let fresh_cfg = broker.pipeline(
        dir.path(),
        "fresh",
        &["ingest", "process", "query"],
        "g-fresh-reader",
        &fresh,
    );
    let reader = serve(&fresh_cfg, dir.path());
    assert_eq!(
        reader.render(&q)["flamebearer"]["numTicks"],
        want,
        "the new store holds the same totals"
    );

    // An explicit range fills a new store with that range only (every upload sits in one
    // partition: one key; the other partition's bounds clamp to its empty range).
    let part = dir.path().join("part.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flamestream"))
        .args(["replay", "--pipeline", cfg.to_str().unwrap()])
        .args(["--from", "0:10,1:10", "--to", "0:20,1:20", "--quiet"])
        .args(["--sqlite-path", part.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed:\n{text}");
    assert!(text.contains("10 upload(s) decoded and stored"), "{text}");
    let part_cfg = broker.pipeline(dir.path(), "part", &["query"], "g-part-reader", &part);
    let part_reader = serve(&part_cfg, dir.path());
    let frames = frame_totals(&part_reader, "rp");
    let want_frames: std::collections::BTreeMap<String, i64> =
        (10..20).map(|i| (format!("u{i}"), i as i64 + 1)).collect();
    assert_eq!(frames, want_frames, "replay of offsets 10..20:\n{text}");
}

#[test]
fn two_consumers_in_one_group_split_partitions_and_keep_totals_exact() {
    let (broker, dir, db) = setup(4);
    let (edge_cfg, central_cfg) = edge_and_central(&broker, dir.path(), &db, "g-two");
    let edge = serve(&edge_cfg, dir.path());
    let a = serve(&central_cfg, dir.path());
    let (ok1, _) = stream(&edge, "two", 0..40, Duration::from_millis(10));
    let b = serve(&central_cfg, dir.path());
    // Many apps so that keys spread over all partitions.
    let mut acked = Vec::new();
    for round in 0..4 {
        let (ok, _) = stream(
            &edge,
            &format!("two{round}"),
            40 + round * 30..70 + round * 30,
            Duration::from_millis(15),
        );
        acked.push((round, ok));
    }
    let want1 = expected(&ok1);
    assert_eq!(
        a.wait_total(&format!("{COUNT}{{service_name=\"two\"}}"), want1),
        want1,
        "log A:\n{}\nlog B:\n{}",
        a.log_text(),
        b.log_text()
    );
    for (round, ok) in &acked {
        let want = expected(ok);
        let q = format!("{COUNT}{{service_name=\"two{round}\"}}");
        let started = Instant::now();
        let got = b.wait_total_for(&q, want, Duration::from_secs(90));
        eprintln!("round {round}: totals exact after {:?}", started.elapsed());
        if got != want {
            let frames = frame_totals(&b, &format!("two{round}"));
            let missing: Vec<&usize> = ok
                .iter()
                .filter(|i| frames.get(&format!("u{i}")) != Some(&(**i as i64 + 1)))
                .collect();
            eprintln!(
                "round {round}: wrong or missing uploads {missing:?}: {:?}",
                missing
                    .iter()
                    .map(|i| frames.get(&format!("u{i}")))
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(
            got,
            want,
            "round {round}; log A:\n{}\nlog B:\n{}",
            a.log_text(),
            b.log_text()
        );
    }
    // Both members got partitions after the second joined.
    let assigned = |s: &Server| {
        s.log_text()
            .lines()
            .rfind(|l| l.contains("kafka partitions assigned"))
            .map(str::to_string)
    };
    let (la, lb) = (assigned(&a), assigned(&b));
    assert!(la.is_some() && lb.is_some(), "A: {la:?}, B: {lb:?}");
    assert_ne!(la, lb, "the two members hold different partitions");
}

#[test]
fn edges_in_two_clusters_feed_one_central_group_with_cluster_labels() {
    let (broker, dir, db) = setup(2);
    let (edge_cfg, central_cfg) = edge_and_central(&broker, dir.path(), &db, "g-central");
    let data = dir.path().to_str().unwrap();
    let edge_a = Server::start_with(
        &["--pipeline", edge_cfg.to_str().unwrap()],
        &[
            ("FLAMESTREAM_DATA_DIR", data),
            ("FLAMESTREAM_CLUSTER", "eu-1"),
        ],
    );
    let edge_b = Server::start_with(
        &["--pipeline", edge_cfg.to_str().unwrap()],
        &[
            ("FLAMESTREAM_DATA_DIR", data),
            ("FLAMESTREAM_CLUSTER", "us-2"),
        ],
    );
    let central = serve(&central_cfg, dir.path());
    assert_eq!(
        edge_a
            .ingest("multi.cpu", &[("sampleRate", "0")], &[], b"main;a 3\n")
            .status,
        200
    );
    assert_eq!(
        edge_b
            .ingest("multi.cpu", &[("sampleRate", "0")], &[], b"main;b 4\n")
            .status,
        200
    );
    assert_eq!(
        central.wait_total(&format!("{COUNT}{{service_name=\"multi\"}}"), 7),
        7
    );
    let clusters = central.get_json("/pyroscope/label-values", &[("label", "cluster")]);
    assert_eq!(clusters, serde_json::json!(["eu-1", "us-2"]));
    assert_eq!(
        central.wait_total(
            &format!("{COUNT}{{service_name=\"multi\",cluster=\"us-2\"}}"),
            4
        ),
        4
    );
    // The edge does not serve queries and the central does not take uploads.
    let r = edge_a.post("/pyroscope/render", &[], &[], b"");
    assert_eq!(r.status, 404);
    let r = central.ingest("multi.cpu", &[], &[], b"main;a 1\n");
    assert_eq!(r.status, 404);
}
