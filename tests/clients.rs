//! End-to-end tests with real profiling clients: the Python and Node.js Pyroscope SDKs, the
//! seed's Go sender fed a real `runtime/pprof` CPU profile, and real JFR recordings of the
//! installed JDK sent the way the seed's Java sender and pyroscope-java send them. Each test
//! starts its own `flamestream serve`, runs the client, and reads the result back through the
//! render and label APIs. The last test is the web page in a real browser (headless Chromium).
//!
//! The SDK tests put a small recording proxy between the SDK and flamestream, so they can check
//! what the SDK really sent (endpoint, content type) and compare the stored totals with the sums
//! of the profiles on the wire, read with a protobuf walker independent of flamestream's.
//!
//! Clients come from `ops/install-clients.sh` (Go, pyroscope-io, @pyroscope/nodejs, Chromium and
//! playwright-core) and the JDK 17 of the machine. A missing client fails its test with what to run; nothing skips.

mod common;

use common::{gunzip, gzip, pprof_sums, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const WALL: &str = "wall:wall:nanoseconds:wall:nanoseconds";
const WALL_CPU: &str = "wall:cpu:nanoseconds:wall:nanoseconds";
const INSTALL: &str = "run ops/install-clients.sh";
/// How long a client process may run before the test gives up on it.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------ tools

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn client_file(rel: &str) -> PathBuf {
    repo_root().join("tests/clients").join(rel)
}

/// `name` on PATH, else the first existing fallback; panics with what to install.
fn tool(name: &str, fallbacks: &[PathBuf], install: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    for p in fallbacks {
        if p.is_file() {
            return p.clone();
        }
    }
    panic!("`{name}` not found on PATH nor at {fallbacks:?}: {install}");
}

fn java_tool(name: &str) -> PathBuf {
    let mut fallbacks = Vec::new();
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        fallbacks.push(PathBuf::from(home).join("bin").join(name));
    }
    fallbacks.push(PathBuf::from("/usr/lib/jvm/java-17-openjdk-amd64/bin").join(name));
    fallbacks.push(PathBuf::from("/usr/lib/jvm/default-java/bin").join(name));
    tool(
        name,
        &fallbacks,
        "the Java test needs a JDK 17 (`apt-get install openjdk-17-jdk-headless`)",
    )
}

/// The finished output of a client process.
struct Ran {
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion within [`CLIENT_LIMIT`]; panics with its output when it fails.
fn run(what: &str, cmd: &mut Command) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e} ({INSTALL})"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CLIENT_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = Ran {
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    match status {
        Some(s) if s.success() => ran,
        Some(s) => panic!(
            "{what} failed ({s}): {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
            ran.stdout, ran.stderr
        ),
        None => panic!(
            "{what} did not finish within {CLIENT_LIMIT:?}: {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
            ran.stdout, ran.stderr
        ),
    }
}

// ----------------------------------------------------------------------- recording proxy

/// A tiny HTTP/1.1 reverse proxy that records every request and forwards it to flamestream
/// unchanged (same method, path, query, headers and body bytes).
mod proxy {
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// One request as the client sent it, and flamestream's answer.
    #[derive(Debug, Clone)]
    pub struct Seen {
        pub method: String,
        /// Path and query, as on the request line.
        pub target: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
        pub status: u16,
        pub answer: String,
    }

    impl Seen {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        pub fn path(&self) -> &str {
            self.target.split('?').next().unwrap()
        }

        /// A query parameter, percent-decoded.
        pub fn query(&self, name: &str) -> Option<String> {
            let q = self.target.split_once('?')?.1;
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| decode(k) == name)
                .map(|(_, v)| decode(v))
        }

        /// A one-line description for reports.
        pub fn describe(&self) -> String {
            format!(
                "{} {} content-type={:?} content-encoding={:?} {} bytes -> {} {}",
                self.method,
                self.target,
                self.header("content-type").unwrap_or(""),
                self.header("content-encoding").unwrap_or(""),
                self.body.len(),
                self.status,
                self.answer.chars().take(300).collect::<String>(),
            )
        }
    }

    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub struct Proxy {
        pub base: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Proxy {
        pub fn start(upstream: &str) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let seen = Arc::new(Mutex::new(Vec::new()));
            let (up, log) = (upstream.to_string(), seen.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let (up, log) = (up.clone(), log.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &up, &log);
                    });
                }
            });
            Proxy { base, seen }
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    fn serve(conn: TcpStream, upstream: &str, log: &Mutex<Vec<Seen>>) -> io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut out = conn.try_clone()?;
        let mut r = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                continue;
            }
            let mut it = line.split(' ');
            let method = it.next().unwrap_or_default().to_string();
            let target = it.next().unwrap_or_default().to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h)?;
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
            let mut body = Vec::new();
            if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                loop {
                    let mut size = String::new();
                    r.read_line(&mut size)?;
                    let size = size.trim().split(';').next().unwrap_or("0");
                    let n = usize::from_str_radix(size, 16)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let mut chunk = vec![0; n + 2];
                    r.read_exact(&mut chunk)?;
                    chunk.truncate(n);
                    body.extend_from_slice(&chunk);
                    if n == 0 {
                        // Trailers end with an empty line (already read as the chunk's CRLF
                        // when there are none).
                        break;
                    }
                }
            } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
                body.resize(n, 0);
                r.read_exact(&mut body)?;
            }

            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build();
            let mut req = agent.request(&method, &format!("{upstream}{target}"));
            for (k, v) in &headers {
                let skip = ["host", "content-length", "connection", "transfer-encoding"]
                    .iter()
                    .any(|s| k.eq_ignore_ascii_case(s))
                    || k.eq_ignore_ascii_case("expect")
                    || k.eq_ignore_ascii_case("keep-alive");
                if !skip {
                    req = req.set(k, v);
                }
            }
            let (status, ctype, answer) = match req.send_bytes(&body) {
                Ok(resp) | Err(ureq::Error::Status(_, resp)) => {
                    let status = resp.status();
                    let ctype = resp.content_type().to_string();
                    let mut a = Vec::new();
                    resp.into_reader().take(1 << 20).read_to_end(&mut a)?;
                    (status, ctype, a)
                }
                Err(e) => (502, "text/plain".to_string(), e.to_string().into_bytes()),
            };
            log.lock().unwrap().push(Seen {
                method,
                target,
                headers,
                body,
                status,
                answer: String::from_utf8_lossy(&answer).into_owned(),
            });
            write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            )?;
            out.write_all(&answer)?;
            out.flush()?;
        }
    }
}

// -------------------------------------------------------------------------- wire readers

/// Top-level protobuf fields: (field number, payload for wire type 2 / empty, varint value).
fn pb_fields(b: &[u8]) -> Vec<(u64, &[u8], u64)> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        match key & 7 {
            0 => {
                let v = varint(b, &mut i);
                out.push((key >> 3, &b[0..0], v));
            }
            1 => i += 8,
            2 => {
                let n = varint(b, &mut i) as usize;
                out.push((key >> 3, &b[i..i + n], 0));
                i += n;
            }
            5 => i += 4,
            w => panic!("unexpected protobuf wire type {w}"),
        }
    }
    out
}

fn maybe_gunzip(b: &[u8]) -> Vec<u8> {
    if b.starts_with(&[0x1f, 0x8b]) {
        gunzip(b)
    } else {
        b.to_vec()
    }
}

/// The sum of `sample_type` values of an (optionally gzipped) pprof, 0 when it lacks the type.
fn pprof_total(pprof: &[u8], sample_type: &str) -> i64 {
    pprof_sums::sums(&maybe_gunzip(pprof))
        .into_iter()
        .filter(|((t, _), _)| t == sample_type)
        .map(|(_, v)| v)
        .sum()
}

/// The sample types of an (optionally gzipped) pprof.
fn pprof_types(pprof: &[u8]) -> Vec<String> {
    pprof_sums::sums(&maybe_gunzip(pprof))
        .into_iter()
        .map(|((t, u), _)| format!("{t}:{u}"))
        .collect()
}

/// The labels of a Push API series.
type SeriesLabels = Vec<(String, String)>;

/// A Push API `PushRequest` body (gzipped or not) as (series labels, raw pprof) pairs:
/// `PushRequest{series=1: RawProfileSeries{labels=1: LabelPair{name=1,value=2},
/// samples=2: RawSample{raw_profile=1}}}`.
fn push_profiles(body: &[u8]) -> Vec<(SeriesLabels, Vec<u8>)> {
    let req = maybe_gunzip(body);
    let mut out = Vec::new();
    for (f, series, _) in pb_fields(&req) {
        if f != 1 {
            continue;
        }
        let mut labels = Vec::new();
        let mut raws = Vec::new();
        for (g, payload, _) in pb_fields(series) {
            match g {
                1 => {
                    let pair = pb_fields(payload);
                    let text = |n| {
                        pair.iter()
                            .find(|x| x.0 == n)
                            .map(|x| String::from_utf8_lossy(x.1).into_owned())
                            .unwrap_or_default()
                    };
                    labels.push((text(1), text(2)));
                }
                2 => {
                    for (h, raw, _) in pb_fields(payload) {
                        if h == 1 {
                            raws.push(raw.to_vec());
                        }
                    }
                }
                _ => {}
            }
        }
        for raw in raws {
            out.push((labels.clone(), raw));
        }
    }
    out
}

// ------------------------------------------------------------------------------ queries

fn num_ticks(s: &Server, query: &str) -> i64 {
    s.render(query)["flamebearer"]["numTicks"].as_i64().unwrap()
}

fn frame_names(s: &Server, query: &str) -> Vec<String> {
    s.render(query)["flamebearer"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn label_values(s: &Server, label: &str) -> Vec<String> {
    s.get_json("/pyroscope/label-values", &[("label", label)])
        .as_array()
        .unwrap_or_else(|| panic!("label-values of `{label}` is not an array"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Waits until `query` totals `want`, then asserts it (with the server log on failure).
fn assert_total(s: &Server, query: &str, want: i64, what: &str) {
    let got = s.wait_total_for(query, want, Duration::from_secs(20));
    assert_eq!(
        got,
        want,
        "{what}: `{query}` totals {got}, the client sent {want}; server log tail:\n{}",
        log_tail(s)
    );
}

/// Waits until `query` has data (for values that are not plain sums, e.g. averaged heap).
fn wait_nonzero(s: &Server, query: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while num_ticks(s, query) == 0 {
        assert!(
            Instant::now() < deadline,
            "no data for `{query}` within 20 s; server log tail:\n{}",
            log_tail(s)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_tail(s: &Server) -> String {
    let log = s.log_text();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn assert_has_frame(names: &[String], want: &str, query: &str) {
    assert!(
        names.iter().any(|n| n.contains(want)),
        "no frame containing `{want}` in the flame graph of `{query}`: {names:?}"
    );
}

fn assert_rejections_none(seen: &[proxy::Seen], client: &str) {
    for r in seen {
        assert_eq!(
            r.status,
            200,
            "flamestream rejected an upload of the {client}: {}",
            r.describe()
        );
    }
}

// -------------------------------------------------------------------------------- Python

/// `python3` (PATH first, as `ops/install-clients.sh` uses it) with `pyroscope` importable.
fn python_with_sdk() -> PathBuf {
    let python = tool(
        "python3",
        &[PathBuf::from("/usr/bin/python3")],
        "the Python SDK test needs python3",
    );
    let check = Command::new(&python)
        .args(["-c", "import pyroscope"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "`{} -c 'import pyroscope'` failed ({INSTALL}: pip install pyroscope-io==1.4.0): {}",
        python.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    python
}

#[test]
fn python_sdk_push_api_cpu_profile() {
    let python = python_with_sdk();
    let s = Server::start(&[]);
    let p = proxy::Proxy::start(&s.base);
    let app = "py-client";
    let ran = run(
        "the Python SDK app",
        Command::new(&python)
            .arg(client_file("python_app.py"))
            .args([p.base.as_str(), app, "6"])
            .env("PYTHONUNBUFFERED", "1"),
    );

    let seen = p.seen();
    for r in &seen {
        eprintln!("python sdk sent: {}", r.describe());
    }
    assert!(
        !seen.is_empty(),
        "the Python SDK sent nothing\n--- stdout\n{}\n--- stderr\n{}",
        ran.stdout,
        ran.stderr
    );
    assert_rejections_none(&seen, "Python SDK");
    let mut want = 0;
    for r in &seen {
        assert_eq!(
            r.path(),
            "/push.v1.PusherService/Push",
            "pyroscope-io 1.4.0 uses the Push API"
        );
        assert_eq!(r.header("content-type"), Some("application/proto"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        for (labels, pprof) in push_profiles(&r.body) {
            let has = |k: &str, v: &str| labels.iter().any(|(a, b)| a == k && b == v);
            assert!(
                has("service_name", app) && has("__name__", "process_cpu"),
                "{labels:?}"
            );
            assert_eq!(pprof_types(&pprof), ["cpu:nanoseconds"]);
            want += pprof_total(&pprof, "cpu");
        }
    }
    assert!(want > 0, "the Python SDK sent no CPU samples");

    let q = format!("{CPU}{{service_name=\"{app}\"}}");
    assert_total(&s, &q, want, "Python SDK");
    assert_has_frame(&frame_names(&s, &q), "burn_cpu_flamestream", &q);
    // The SDK's tag and its own dotted labels are queryable.
    let tagged = format!(
        "{CPU}{{service_name=\"{app}\",region=\"test-region\",\
         otel.scope.name=\"com.grafana.pyroscope/python\"}}"
    );
    assert_eq!(num_ticks(&s, &tagged), want, "{tagged}");
    assert_eq!(label_values(&s, "__name__"), [CPU]);
    assert_eq!(label_values(&s, "service_name"), [app]);
    assert_eq!(label_values(&s, "region"), ["test-region"]);
    assert_eq!(
        label_values(&s, "otel.scope.name"),
        ["com.grafana.pyroscope/python"]
    );
    assert_eq!(label_values(&s, "process.runtime.name"), ["cpython"]);
}

// ---------------------------------------------------------------------------------- Node

fn node() -> PathBuf {
    tool(
        "node",
        &[PathBuf::from("/usr/bin/node")],
        "the Node SDK test needs node (`apt-get install nodejs npm`), then ops/install-clients.sh",
    )
}

fn node_modules() -> PathBuf {
    let dir = std::env::var_os("FLAMESTREAM_TEST_NODE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("ops/.clients/node/node_modules"));
    assert!(
        dir.join("@pyroscope/nodejs/package.json").is_file(),
        "@pyroscope/nodejs is not installed in {} ({INSTALL}; ops/test.sh sets \
         FLAMESTREAM_TEST_NODE_PATH)",
        dir.display()
    );
    dir
}

#[test]
fn node_sdk_wall_and_heap_with_dotted_labels() {
    let (node, modules) = (node(), node_modules());

    let s = Server::start(&[]);
    let p = proxy::Proxy::start(&s.base);
    let app = "node-client";
    let ran = run(
        "the Node SDK app",
        Command::new(&node)
            .arg(client_file("node_app.js"))
            .args([p.base.as_str(), app, "6"])
            .env("NODE_PATH", &modules),
    );

    let seen = p.seen();
    for r in &seen {
        eprintln!("node sdk sent: {}", r.describe());
    }
    assert!(
        !seen.is_empty(),
        "the Node SDK sent nothing\n--- stdout\n{}\n--- stderr\n{}",
        ran.stdout,
        ran.stderr
    );
    assert_rejections_none(&seen, "Node SDK");
    let (mut wall, mut wall_cpu, mut heap_uploads) = (0, 0, 0);
    for r in &seen {
        assert_eq!(r.path(), "/ingest");
        assert_eq!(r.query("format").as_deref(), Some("pprof"));
        assert_eq!(r.query("spyName").as_deref(), Some("nodespy"));
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        let name = r.query("name").unwrap_or_default();
        assert!(
            name.starts_with(&format!("{app}{{"))
                && name.contains("otel.scope.name=com.grafana.pyroscope/nodejs")
                && name.contains("region=test-region"),
            "name `{name}`"
        );
        assert!(r.body.starts_with(&[0x1f, 0x8b]), "a gzipped pprof body");
        let types = pprof_types(&r.body);
        if types.iter().any(|t| t == "wall:nanoseconds") {
            wall += pprof_total(&r.body, "wall");
            wall_cpu += pprof_total(&r.body, "cpu");
        } else {
            assert!(
                types.iter().any(|t| t == "inuse_space:bytes"),
                "neither wall nor heap: {types:?}"
            );
            heap_uploads += 1;
        }
    }
    assert!(wall > 0, "the Node SDK sent no wall samples");
    assert!(heap_uploads > 0, "the Node SDK sent no heap profile");

    let q = format!("{WALL}{{service_name=\"{app}\"}}");
    assert_total(&s, &q, wall, "Node SDK wall");
    assert_has_frame(&frame_names(&s, &q), "burnCpuFlamestream", &q);
    let q_cpu = format!("{WALL_CPU}{{service_name=\"{app}\"}}");
    assert_total(&s, &q_cpu, wall_cpu, "Node SDK wall cpu time");
    // Heap in-use is averaged across windows: only check that it is there.
    let heap = format!("memory:inuse_space:bytes:inuse_space:bytes{{service_name=\"{app}\"}}");
    wait_nonzero(&s, &heap);

    // The dotted label keys from the app name are labels, queryable like any other.
    let dotted = format!(
        "{WALL}{{service_name=\"{app}\",otel.scope.name=\"com.grafana.pyroscope/nodejs\",\
         process.runtime.name=\"nodejs\",region=\"test-region\"}}"
    );
    assert_eq!(num_ticks(&s, &dotted), wall, "{dotted}");
    let names = label_values(&s, "__name__");
    for t in [
        WALL,
        WALL_CPU,
        "memory:inuse_space:bytes:inuse_space:bytes",
        "memory:inuse_objects:count:inuse_space:bytes",
    ] {
        assert!(names.iter().any(|n| n == t), "{t} missing from {names:?}");
    }
    assert_eq!(label_values(&s, "service_name"), [app]);
    assert_eq!(label_values(&s, "pyroscope_spy"), ["nodespy"]);
    assert_eq!(
        label_values(&s, "otel.scope.name"),
        ["com.grafana.pyroscope/nodejs"]
    );
    assert_eq!(label_values(&s, "process.runtime.name"), ["nodejs"]);
    assert_eq!(label_values(&s, "region"), ["test-region"]);
}

// ----------------------------------------------------- the seed's documented SDK address

/// The seed's docs tell every Pyroscope SDK user to set
/// `PYROSCOPE_SERVER_ADDRESS=http://deepflow-agent.deepflow/api/v1/profile`. SDKs append their
/// own path to it: the Node SDK `/ingest`, the Python SDK `/push.v1.PusherService/Push`. Both
/// must land.
#[test]
fn sdks_configured_with_the_seeds_deepflow_address() {
    let (python, node, modules) = (python_with_sdk(), node(), node_modules());
    let s = Server::start(&[]);
    let p = proxy::Proxy::start(&s.base);
    let address = format!("{}/api/v1/profile", p.base);
    run(
        "the Node SDK app",
        Command::new(&node)
            .arg(client_file("node_app.js"))
            .args([address.as_str(), "node-deepflow", "3"])
            .env("NODE_PATH", &modules),
    );
    run(
        "the Python SDK app",
        Command::new(&python)
            .arg(client_file("python_app.py"))
            .args([address.as_str(), "py-deepflow", "3"])
            .env("PYTHONUNBUFFERED", "1"),
    );
    let seen = p.seen();
    for r in &seen {
        eprintln!("sent with the seed's address: {}", r.describe());
    }
    assert!(
        seen.iter()
            .any(|r| r.path() == "/api/v1/profile/ingest" && r.status == 200),
        "the Node SDK's uploads to /api/v1/profile/ingest were not accepted"
    );
    let wall: i64 = seen
        .iter()
        .filter(|r| r.path() == "/api/v1/profile/ingest")
        .map(|r| pprof_total(&r.body, "wall"))
        .sum();
    assert_total(
        &s,
        &format!("{WALL}{{service_name=\"node-deepflow\"}}"),
        wall,
        "Node SDK via /api/v1/profile",
    );

    let push: Vec<_> = seen
        .iter()
        .filter(|r| r.path().ends_with("/push.v1.PusherService/Push"))
        .collect();
    assert!(!push.is_empty(), "the Python SDK sent nothing");
    for r in &push {
        assert_eq!(
            r.status,
            200,
            "the Python SDK's Push under the seed's documented address \
             `PYROSCOPE_SERVER_ADDRESS=…/api/v1/profile` is not served: {}",
            r.describe()
        );
    }
    let want: i64 = push
        .iter()
        .flat_map(|r| push_profiles(&r.body))
        .map(|(_, pprof)| pprof_total(&pprof, "cpu"))
        .sum();
    assert_total(
        &s,
        &format!("{CPU}{{service_name=\"py-deepflow\"}}"),
        want,
        "Python SDK via /api/v1/profile",
    );
}

// ------------------------------------------------------------------------------------ Go

#[test]
fn go_seed_sender_with_a_real_cpu_profile() {
    let go = tool(
        "go",
        &[PathBuf::from("/usr/lib/go/bin/go")],
        &format!("the Go test needs Go (Debian golang-go): {INSTALL}"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("go_sender");
    let mut build = Command::new(&go);
    build
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(client_file("go_sender"))
        // Standard library only: nothing to download.
        .env("GOFLAGS", "")
        .env("GO111MODULE", "on")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        build.env(
            "GOCACHE",
            std::env::temp_dir().join("flamestream-test-gocache"),
        );
    }
    run("go build tests/clients/go_sender", &mut build);

    let s = Server::start(&[]);
    let app = "go-seed-sender";
    let profile = tmp.path().join("cpu.pprof");
    run(
        "the seed's Go sender",
        Command::new(&bin)
            .arg("-url")
            .arg(s.url("/api/v1/profile/ingest"))
            .args(["-name", app, "-seconds", "5", "-out"])
            .arg(&profile),
    );
    let pprof = std::fs::read(&profile).unwrap();
    let want = pprof_total(&pprof, "cpu");
    assert!(
        want > 0,
        "the Go CPU profile has no samples: {:?}",
        pprof_types(&pprof)
    );

    let q = format!("{CPU}{{service_name=\"{app}\"}}");
    assert_total(&s, &q, want, "seed's Go sender");
    assert_has_frame(&frame_names(&s, &q), "main.burnCPUFlamestream", &q);
    // Go's `samples:count` is dropped in favour of `cpu`.
    assert_eq!(label_values(&s, "__name__"), [CPU]);
    assert_eq!(label_values(&s, "pyroscope_spy"), ["gospy"]);
    assert_eq!(label_values(&s, "service_name"), [app]);
}

// ---------------------------------------------------------------------------------- Java

/// A `LabelsSnapshot` protobuf as pyroscope-java sends it: one context (id 1) with
/// `span_name=burn`. JDK recordings carry no context ids, so it labels nothing.
fn labels_snapshot() -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn bytes_field(field: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }
    fn int_field(field: u64, v: u64, out: &mut Vec<u8>) {
        varint(field << 3, out);
        varint(v, out);
    }
    // Context{labels=1: map<int64,int64>} with 1 → 2.
    let mut entry = Vec::new();
    int_field(1, 1, &mut entry);
    int_field(2, 2, &mut entry);
    let mut context = Vec::new();
    bytes_field(1, &entry, &mut context);
    // LabelsSnapshot{contexts=1: map<int64,Context>, strings=2: map<int64,string>}.
    let mut snap = Vec::new();
    let mut ctx_entry = Vec::new();
    int_field(1, 1, &mut ctx_entry);
    bytes_field(2, &context, &mut ctx_entry);
    bytes_field(1, &ctx_entry, &mut snap);
    for (id, text) in [(1u64, "span_name"), (2, "burn")] {
        let mut e = Vec::new();
        int_field(1, id, &mut e);
        bytes_field(2, text.as_bytes(), &mut e);
        bytes_field(2, &e, &mut snap);
    }
    snap
}

/// The multipart body okhttp builds for pyroscope-java: `jfr` (gzipped, no part content type)
/// and `labels` (gzipped, `application/x-protobuf`), each with a filename.
fn pyroscope_java_multipart(jfr_gz: &[u8], labels_gz: &[u8]) -> (String, Vec<u8>) {
    let boundary = "3f1c5a0e-8d1b-4b7e-9a52-flamestream";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"jfr\"; filename=\"jfr\"\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(jfr_gz);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"labels\"; \
             filename=\"labels\"\r\nContent-Type: application/x-protobuf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(labels_gz);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The number of `event` events in a recording, counted by the JDK's own `jfr summary`.
fn jfr_event_count(jfr_tool: &Path, recording: &Path, event: &str) -> i64 {
    let ran = run(
        "jfr summary",
        Command::new(jfr_tool).arg("summary").arg(recording),
    );
    ran.stdout
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(event)).then(|| it.next().unwrap().parse::<i64>().unwrap())
        })
        .unwrap_or_else(|| panic!("`jfr summary` lists no {event}:\n{}", ran.stdout))
}

#[test]
fn java_jfr_from_the_jdk_via_the_seed_sender_and_pyroscope_java_multipart() {
    let (java, javac, jfr_tool) = (java_tool("java"), java_tool("javac"), java_tool("jfr"));
    let tmp = tempfile::tempdir().unwrap();
    run(
        "javac Burn.java",
        Command::new(&javac)
            .arg("-d")
            .arg(tmp.path())
            .arg(client_file("java/Burn.java")),
    );
    let recording = tmp.path().join("burn.jfr");
    run(
        "java -XX:StartFlightRecording … Burn",
        Command::new(&java)
            .arg(format!(
                "-XX:StartFlightRecording=filename={},settings=profile",
                recording.display()
            ))
            .arg("-cp")
            .arg(tmp.path())
            .args(["Burn", "5"]),
    );
    let jfr = std::fs::read(&recording).unwrap();
    assert!(jfr.starts_with(b"FLR\0"), "not a JFR recording");
    // `settings=profile` samples Java threads every 10 ms; sampleRate=100 makes each sample
    // 10 ms of CPU.
    let samples = jfr_event_count(&jfr_tool, &recording, "jdk.ExecutionSample");
    assert!(samples > 0, "the recording has no jdk.ExecutionSample");
    let want = samples * 10_000_000;
    let jfr_gz = gzip(&jfr);

    let s = Server::start(&[]);
    let now = common::now_s().to_string();

    // (a) The seed's Java sender: the whole body gzipped, no Content-Encoding header.
    let seed = "java-seed-sender";
    let r = s.post(
        "/api/v1/profile/ingest",
        &[
            ("name", seed),
            ("spyName", "javaspy"),
            ("format", "jfr"),
            ("unit", "samples"),
            ("from", now.as_str()),
            ("until", now.as_str()),
            ("sampleRate", "100"),
        ],
        &[("Content-Type", "application/octet-stream")],
        &jfr_gz,
    );
    assert_eq!(
        r.status, 200,
        "seed's Java sender (gzipped JFR body, no Content-Encoding) rejected: {}",
        r.body
    );

    // (b) pyroscope-java: multipart `jfr` + `labels`, query as its PyroscopeExporter builds it.
    let sdk = "java-pyroscope-sdk";
    let (ct, body) = pyroscope_java_multipart(&jfr_gz, &gzip(&labels_snapshot()));
    let name = format!("{sdk}{{env=test}}");
    let r = s.post(
        "/ingest",
        &[
            ("name", name.as_str()),
            ("units", "samples"),
            ("aggregationType", "sum"),
            ("from", now.as_str()),
            ("until", now.as_str()),
            ("spyName", "javaspy"),
            ("sampleRate", "100"),
            ("format", "jfr"),
        ],
        &[("Content-Type", ct.as_str())],
        &body,
    );
    assert_eq!(
        r.status, 200,
        "pyroscope-java multipart (jfr + labels) rejected: {}",
        r.body
    );

    let qa = format!("{CPU}{{service_name=\"{seed}\"}}");
    let qb = format!("{CPU}{{service_name=\"{sdk}\",env=\"test\"}}");
    assert_total(&s, &qa, want, "seed's Java sender");
    assert_total(&s, &qb, want, "pyroscope-java multipart");
    assert_eq!(
        num_ticks(&s, &qa),
        num_ticks(&s, &qb),
        "both ways of sending the same recording give the same total"
    );
    for q in [&qa, &qb] {
        let names = frame_names(&s, q);
        assert_has_frame(&names, "Burn.spin:", q);
        assert_has_frame(&names, "Burn.main:", q);
    }
    assert_eq!(label_values(&s, "pyroscope_spy"), ["javaspy"]);
    assert_eq!(label_values(&s, "service_name"), [sdk, seed]);
}

// ------------------------------------------------------------------------------- web page

/// The web page in a real browser (Debian's Chromium, headless, driven by playwright-core from
/// `tests/clients/web_ui.js`): a real Go CPU profile goes in through `/ingest`, and the page
/// must list the app and its type, draw the flame graph with the profile's frames, show a
/// tooltip on hover, zoom on click and reset, with no script or resource error.
#[test]
fn web_page_in_headless_chromium_draws_hovers_and_zooms() {
    let (node, modules) = (node(), node_modules());
    assert!(
        modules.join("playwright-core/package.json").is_file(),
        "playwright-core is not installed in {} ({INSTALL})",
        modules.display()
    );
    let chromium = tool(
        "chromium",
        &[PathBuf::from("/usr/bin/chromium")],
        "the web page test needs Debian's chromium: run ops/install-clients.sh",
    );

    let s = Server::start(&[]);
    let body = common::fixture("google-pprof/internal/report/testdata/sample.cpu");
    let r = s.ingest("webapp", &[("format", "pprof")], &[], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let query = format!("{CPU}{{service_name=\"webapp\"}}");
    assert_eq!(s.wait_total(&query, 1_760_000_000), 1_760_000_000);

    // Kept after the test (in target/), so a failure can be looked at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_page.png");
    eprintln!("screenshot of the page: {}", shot.display());
    let ran = run(
        "the web page in headless Chromium",
        Command::new(&node)
            .arg(client_file("web_ui.js"))
            .args([s.base.as_str(), "webapp", CPU])
            .arg(&shot)
            .env("NODE_PATH", &modules)
            .env("FLAMESTREAM_TEST_CHROMIUM", &chromium),
    );
    let seen: serde_json::Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "web_ui.js printed no JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
            ran.stdout, ran.stderr
        )
    });
    eprintln!("the page showed: {seen}");
    let strings = |key: &str| -> Vec<String> {
        seen[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing in {seen}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };

    assert_eq!(strings("consoleErrors"), Vec::<String>::new());
    assert_eq!(
        seen["summary"],
        format!("{query} — total 1.76 s, 14 distinct frames")
    );
    assert_eq!(strings("apps"), ["webapp"]);
    assert_eq!(seen["selectedType"], CPU);
    let drawn = strings("drawnBefore");
    for frame in [
        "total",
        "runtime.main",
        "main.main",
        "main.busyLoop",
        "runtime.mapiternext",
    ] {
        assert!(
            drawn.iter().any(|d| d == frame),
            "{frame} not drawn: {drawn:?}"
        );
    }
    // The tooltip names the hovered frame with its share.
    assert_eq!(seen["tooltipVisible"], true);
    assert_eq!(seen["hovered"], "main.busyLoop");
    assert_eq!(
        seen["tooltip"],
        "main.busyLoop — total 1.76 s (100.00%), self 150.00 ms"
    );
    // A click zooms: the frame takes the whole width and its siblings are gone.
    let zoomed = seen["zoomedInto"].as_str().unwrap();
    assert_eq!(seen["zoomState"], zoomed);
    let (w, canvas) = (
        seen["zoomedWidth"].as_f64().unwrap(),
        seen["canvasWidth"].as_f64().unwrap(),
    );
    assert!((w - canvas).abs() < 1.0, "zoomed frame {w} px of {canvas}");
    let after = strings("drawnAfterZoom");
    assert!(after.len() < drawn.len(), "{after:?}");
    assert!(after.iter().any(|d| d == zoomed));
    // Reset brings every frame back.
    assert_eq!(seen["zoomAfterReset"], serde_json::Value::Null);
    assert_eq!(seen["drawnAfterReset"].as_u64(), Some(drawn.len() as u64));
}
