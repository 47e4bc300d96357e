//! End-to-end ingest load: a bare rdkafka producer (the baseline) against flamestream's edge
//! (`flamestream serve`, roles `["ingest"]`, Kafka transport) on the same real Tansu broker, in
//! the same run, with the same payloads and the same concurrency.
//!
//! ```sh
//! cargo build --release -p flamestream
//! cargo run --release -p flamestream-benches --bin ingest_load -- -c 16 -t 10 --rounds 2
//! ```
//!
//! - (a) bare: an rdkafka `FutureProducer` with our `KafkaPublisher`'s settings (acks=all,
//!   idempotence, lz4, linger 5 ms, batch 1000) sends the fixture bodies wrapped in the very
//!   envelope the edge publishes (`RawUpload`, same headers, same key), `C` sends in flight,
//!   for `T` seconds; latency is send → delivery report.
//! - (b) ours: `C` blocking HTTP clients (ureq, keep-alive, one thread each) POST the same bodies
//!   to `/ingest` of `target/release/flamestream` for `T` seconds; latency is request → 200
//!   (the edge answers after the broker's ack).
//!
//! The phases alternate `--rounds` times (bare, ours, bare, ours …); each round's ratios
//! ours/bare are computed and the medians printed: throughput (goal ≥ 0.7) and p99 latency
//! (goal ≤ 2). Everything is on 127.0.0.1; every loop is bounded by time and by
//! `--max-requests`.
//!
//! The broker: by default `ops/tansu.sh start` on a free port with its own state directory
//! (stopped at the end), and `create-topic`. `FLAMESTREAM_BENCH_KAFKA_BROKERS` (or `--brokers`)
//! uses a running broker instead; its topic (`--topic`) must exist
//! (`ops/tansu.sh create-topic flamestream.profiles.raw 6`).

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use flamestream_benches::{
    all_fixtures, median, percentile, repo_root, target_dir, verdict, Fixture,
};
use flamestream_bus::envelope::{Endpoint, ENVELOPE_VERSION};
use flamestream_bus::RawUpload;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Clone)]
#[command(about = "bare rdkafka producer vs flamestream's ingest edge on a real broker")]
struct Args {
    /// Requests (sends) in flight at any time.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per phase.
    #[arg(short = 't', long, default_value_t = 10)]
    secs: u64,
    /// Bare/ours pairs, alternating; the medians over rounds are reported.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Most requests of one phase (a second bound besides the time).
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Use this running broker instead of starting Tansu.
    #[arg(long, env = "FLAMESTREAM_BENCH_KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Topic (created when this program starts the broker).
    #[arg(long, default_value = "flamestream.profiles.raw")]
    topic: String,
    /// Partitions of the topic it creates.
    #[arg(long, default_value_t = 6)]
    partitions: u32,
    /// The flamestream binary (default: target/release/flamestream).
    #[arg(long, env = "FLAMESTREAM_BIN")]
    flamestream: Option<PathBuf>,
    /// Apps the load is spread over (`bench-0` … ; the Kafka key is `anonymous/<app>`).
    #[arg(long, default_value_t = 8)]
    apps: usize,
    /// Fixtures sent, round-robin (names from `benches/src/lib.rs`; default all six).
    #[arg(long, value_delimiter = ',')]
    fixtures: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A Tansu broker started through `ops/tansu.sh` (as `tests/common/kafka.rs` does), stopped on
/// drop.
struct Tansu {
    port: u16,
    state: tempfile::TempDir,
}

impl Tansu {
    fn start() -> anyhow::Result<Tansu> {
        let t = Tansu {
            port: free_port(),
            state: tempfile::tempdir()?,
        };
        t.run(&["start"])?;
        Ok(t)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = Command::new("bash")
            .arg(repo_root().join("ops/tansu.sh"))
            .args(args)
            .env("FLAMESTREAM_TANSU_PORT", self.port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path())
            .output()
            .context("bash runs ops/tansu.sh")?;
        if !out.status.success() {
            bail!(
                "ops/tansu.sh {} failed (install Tansu with ops/install-deps.sh):\n{}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.run(&["stop"]);
    }
}

/// `flamestream serve` as a child process, stopped (SIGTERM, then SIGKILL) on drop.
struct Flamestream {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Flamestream {
    fn start(bin: &Path, brokers: &str, topic: &str) -> anyhow::Result<Flamestream> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let pipeline = dir.path().join("edge.toml");
        std::fs::write(
            &pipeline,
            format!(
                r#"# The edge of pipelines/edge.toml on the bench's broker.
roles = ["ingest"]

[server]
listen = "127.0.0.1:{port}"

[ingest]
extra_labels = {{ cluster = "bench" }}

[transport]
kind = "kafka"

[transport.kafka]
brokers = "{brokers}"
topic = "{topic}"
delivery_timeout_ms = 10000
"#
            ),
        )?;
        let log = dir.path().join("flamestream.log");
        let child = Command::new(bin)
            .arg("serve")
            .arg("--pipeline")
            .arg(&pipeline)
            .env("FLAMESTREAM_DATA_DIR", dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("cannot start `{}`", bin.display()))?;
        let mut f = Flamestream {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(&format!("{}/ready", f.base)).call() {
                if r.status() == 200 {
                    return Ok(f);
                }
            }
            if let Some(status) = f.child.try_wait()? {
                bail!(
                    "flamestream exited with {status} before it was ready; log:\n{}",
                    f.log_text()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "flamestream was not ready within 30 s; log:\n{}",
                    f.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Flamestream {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One fixture as both sides send it.
struct Payload {
    fixture: Fixture,
    /// The upload body (the gzipped profile, as an SDK sends it).
    body: Bytes,
    /// The edge's envelope around it, as the edge would publish it.
    envelope: Vec<u8>,
}

fn payloads(args: &Args) -> anyhow::Result<Vec<Payload>> {
    let chosen: Vec<&Fixture> = if args.fixtures.is_empty() {
        all_fixtures().collect()
    } else {
        let mut v = Vec::new();
        for name in &args.fixtures {
            match all_fixtures().find(|f| f.name == name.as_str()) {
                Some(f) => v.push(f),
                None => bail!(
                    "unknown fixture `{name}`: use {}",
                    all_fixtures()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        v
    };
    Ok(chosen
        .into_iter()
        .map(|f| {
            let body = Bytes::from(f.load());
            let now = now_ns();
            let secs = (now / 1_000_000_000).to_string();
            let params: BTreeMap<String, String> = [
                ("name", "bench-0{env=bench}"),
                ("from", &secs),
                ("until", &secs),
                ("format", f.kind.format_param()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let upload = RawUpload {
                version: ENVELOPE_VERSION,
                id: uuid::Uuid::new_v4().to_string(),
                tenant: "anonymous".into(),
                received_at_ns: now,
                endpoint: Endpoint::Ingest as i32,
                params,
                content_type: String::new(),
                content_encoding: String::new(),
                body: body.clone(),
                extra_labels: [("cluster".to_string(), "bench".to_string())].into(),
                from_ns: now,
                until_ns: now,
            };
            Payload {
                fixture: *f,
                envelope: upload.encode_to_bytes().to_vec(),
                body,
            }
        })
        .collect())
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
struct PhaseResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    body_bytes: u64,
    elapsed: Duration,
    /// Latencies of successful requests, µs, sorted.
    latencies_us: Vec<u64>,
}

impl PhaseResult {
    fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_sec(&self) -> f64 {
        self.body_bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
    fn p(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q) as f64 / 1000.0
    }
}

/// Collects the per-worker results.
#[derive(Default)]
struct Collector {
    inner: Mutex<PhaseResult>,
}

impl Collector {
    fn merge(&self, ok: u64, errors: u64, bytes: u64, lat: Vec<u64>, first_error: Option<String>) {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        r.ok += ok;
        r.errors += errors;
        r.body_bytes += bytes;
        r.latencies_us.extend(lat);
        if r.first_error.is_none() {
            r.first_error = first_error;
        }
    }

    fn finish(self, elapsed: Duration) -> PhaseResult {
        let mut r = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        r.latencies_us.sort_unstable();
        r.elapsed = elapsed;
        r
    }
}

/// The producer exactly as `KafkaPublisher::new` configures it (crates/flamestream-bus/src/kafka.rs).
fn bare_producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    let max_message_bytes: u64 = flamestream_model::Limits::default().max_body_bytes + 64 * 1024;
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "1000")
        .set("compression.type", "lz4")
        .set(
            "message.max.bytes",
            (max_message_bytes + 64 * 1024).to_string(),
        )
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("message.timeout.ms", "10000")
        .set("client.id", "flamestream-bench-bare");
    Ok(c.create()?)
}

fn headers(p: &Payload) -> OwnedHeaders {
    let version = ENVELOPE_VERSION.to_string();
    OwnedHeaders::new()
        .insert(Header {
            key: "flamestream-tenant",
            value: Some("anonymous".as_bytes()),
        })
        .insert(Header {
            key: "flamestream-format",
            value: Some(p.fixture.kind.format_param().as_bytes()),
        })
        .insert(Header {
            key: "flamestream-envelope-version",
            value: Some(version.as_bytes()),
        })
}

/// (a) the bare producer: `c` tasks each with one send in flight.
fn run_bare(
    rt: &tokio::runtime::Runtime,
    producer: &FutureProducer,
    topic: &str,
    payloads: &Arc<Vec<Payload>>,
    args: &Args,
    secs: Duration,
    max_requests: u64,
) -> PhaseResult {
    let collector = Arc::new(Collector::default());
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + secs;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for worker in 0..args.concurrency {
            let producer = producer.clone();
            let topic = topic.to_string();
            let payloads = payloads.clone();
            let collector = collector.clone();
            let issued = issued.clone();
            let apps = args.apps.max(1);
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut errors, mut bytes) = (0u64, 0u64, 0u64);
                let mut lat = Vec::new();
                let mut first_error = None;
                let key = format!("anonymous/bench-{}", worker % apps);
                let mut i = worker;
                while Instant::now() < deadline
                    && issued.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    let p = &payloads[i % payloads.len()];
                    i += 1;
                    let record = FutureRecord::to(&topic)
                        .key(&key)
                        .payload(&p.envelope[..])
                        .headers(headers(p));
                    let t = Instant::now();
                    let result = match producer.send_result(record) {
                        Ok(f) => match f.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((e, _))) => Err(e.to_string()),
                            Err(_) => Err("delivery future cancelled".to_string()),
                        },
                        Err((e, _)) => Err(e.to_string()),
                    };
                    match result {
                        Ok(()) => {
                            lat.push(t.elapsed().as_micros() as u64);
                            ok += 1;
                            bytes += p.body.len() as u64;
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                collector.merge(ok, errors, bytes, lat, first_error);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let elapsed = started.elapsed();
    Arc::try_unwrap(collector)
        .unwrap_or_default()
        .finish(elapsed)
}

/// (b) flamestream's edge: `c` blocking HTTP clients.
fn run_ours(
    base: &str,
    payloads: &Arc<Vec<Payload>>,
    args: &Args,
    secs: Duration,
    max_requests: u64,
) -> PhaseResult {
    let collector = Arc::new(Collector::default());
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + secs;
    std::thread::scope(|s| {
        for worker in 0..args.concurrency {
            let collector = collector.clone();
            let issued = issued.clone();
            let payloads = payloads.clone();
            let url = format!("{base}/ingest");
            let name = format!("bench-{}{{env=bench}}", worker % args.apps.max(1));
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .max_idle_connections_per_host(1)
                    .build();
                let (mut ok, mut errors, mut bytes) = (0u64, 0u64, 0u64);
                let mut lat = Vec::new();
                let mut first_error = None;
                let mut i = worker;
                while Instant::now() < deadline
                    && issued.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    let p = &payloads[i % payloads.len()];
                    i += 1;
                    let secs = (now_ns() / 1_000_000_000).to_string();
                    let t = Instant::now();
                    let res = agent
                        .post(&url)
                        .query("name", &name)
                        .query("from", &secs)
                        .query("until", &secs)
                        .query("format", p.fixture.kind.format_param())
                        .send_bytes(&p.body);
                    match res {
                        Ok(r) if r.status() == 200 => {
                            lat.push(t.elapsed().as_micros() as u64);
                            ok += 1;
                            bytes += p.body.len() as u64;
                        }
                        Ok(r) => {
                            errors += 1;
                            first_error.get_or_insert(format!("status {}", r.status()));
                        }
                        Err(ureq::Error::Status(code, r)) => {
                            errors += 1;
                            first_error.get_or_insert(format!(
                                "status {code}: {}",
                                r.into_string().unwrap_or_default()
                            ));
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                collector.merge(ok, errors, bytes, lat, first_error);
            });
        }
    });
    let elapsed = started.elapsed();
    Arc::try_unwrap(collector)
        .unwrap_or_default()
        .finish(elapsed)
}

fn row(phase: &str, round: usize, r: &PhaseResult) -> String {
    format!(
        "{:<5} {:>5} {:>9} {:>7} {:>10.0} {:>8.1} {:>9.2} {:>9.2} {:>9.2}",
        phase,
        round,
        r.ok,
        r.errors,
        r.per_sec(),
        r.mb_per_sec(),
        r.p(50.0),
        r.p(99.0),
        r.p(99.9),
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.secs == 0 {
        bail!("`--concurrency` and `--secs` must be at least 1");
    }
    let bin = args
        .flamestream
        .clone()
        .unwrap_or_else(|| target_dir().join("release/flamestream"));
    if !bin.is_file() {
        bail!(
            "`{}` not found: build it first with `cargo build --release -p flamestream`",
            bin.display()
        );
    }
    let payloads = Arc::new(payloads(&args)?);

    // Declared before the server so that it is dropped (stopped) after it.
    let mut _tansu: Option<Tansu> = None;
    let brokers = match &args.brokers {
        Some(b) => b.clone(),
        None => {
            let t = Tansu::start()?;
            t.run(&["create-topic", &args.topic, &args.partitions.to_string()])?;
            let b = t.brokers();
            _tansu = Some(t);
            b
        }
    };
    eprintln!(
        "broker {brokers}, topic {}, {} payloads ({}), C={} T={}s rounds={}",
        args.topic,
        payloads.len(),
        payloads
            .iter()
            .map(|p| format!("{} {} B", p.fixture.name, p.body.len()))
            .collect::<Vec<_>>()
            .join(", "),
        args.concurrency,
        args.secs,
        args.rounds
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let producer = {
        let _guard = rt.enter();
        bare_producer(&brokers)?
    };
    let server = Flamestream::start(&bin, &brokers, &args.topic)?;

    // Warm-up: connections, metadata, producer ids; a short phase of each, not reported.
    let warm = Duration::from_secs(2);
    let w = run_bare(&rt, &producer, &args.topic, &payloads, &args, warm, 10_000);
    if w.ok == 0 {
        bail!(
            "the bare producer delivered nothing during warm-up: {}",
            w.first_error.unwrap_or_default()
        );
    }
    let w = run_ours(&server.base, &payloads, &args, warm, 10_000);
    if w.ok == 0 {
        bail!(
            "flamestream answered nothing with 200 during warm-up: {}; log:\n{}",
            w.first_error.unwrap_or_default(),
            server.log_text()
        );
    }

    let secs = Duration::from_secs(args.secs);
    println!(
        "{:<5} {:>5} {:>9} {:>7} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "phase", "round", "ok", "errors", "msgs/s", "MB/s", "p50 ms", "p99 ms", "p99.9 ms"
    );
    let (mut thr, mut p99, mut p50) = (Vec::new(), Vec::new(), Vec::new());
    let mut errors = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let bare = run_bare(
            &rt,
            &producer,
            &args.topic,
            &payloads,
            &args,
            secs,
            args.max_requests,
        );
        println!("{}", row("bare", round, &bare));
        let ours = run_ours(&server.base, &payloads, &args, secs, args.max_requests);
        println!("{}", row("ours", round, &ours));
        for (side, r) in [("bare", &bare), ("ours", &ours)] {
            if let Some(e) = &r.first_error {
                errors.push(format!(
                    "{side} round {round}: {} errors, first: {e}",
                    r.errors
                ));
            }
        }
        thr.push(ours.per_sec() / bare.per_sec());
        p99.push(ours.p(99.0) / bare.p(99.0));
        p50.push(ours.p(50.0) / bare.p(50.0));
    }
    producer.flush(Duration::from_secs(10))?;
    for e in &errors {
        println!("{e}");
    }
    let (t, l) = (median(&thr), median(&p99));
    println!(
        "\nours/bare, median over {} rounds (2 shared cores: noisy):",
        thr.len()
    );
    println!(
        "  throughput ratio {:.2} (per round {:?}; goal ≥ 0.7: {})",
        t,
        thr.iter()
            .map(|x| (x * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
        verdict(t >= 0.7)
    );
    println!(
        "  p99 latency ratio {:.2} (per round {:?}; goal ≤ 2: {})",
        l,
        p99.iter()
            .map(|x| (x * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
        verdict(l <= 2.0)
    );
    println!("  p50 latency ratio {:.2}", median(&p50));
    drop(server);
    Ok(())
}
