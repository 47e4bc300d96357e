//! Harness for the end-to-end tests: starts the real `flamestream` binary on a free port with
//! its own data directory, sends uploads over HTTP, and reads results back through the query
//! API. Nothing here skips: a server that does not come up fails the test with its log.

#![allow(dead_code)]

pub mod clickhouse;
pub mod kafka;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running `flamestream serve`.
pub struct Server {
    pub child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn fixture(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Server {
    /// Starts the embedded pipeline with 1 s windows.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with(&[], env)
    }

    /// Starts `flamestream serve ARGS` with `env`.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Server {
            child: None,
            base: String::new(),
            data_dir: tmp.path().join("data"),
            log: tmp.path().join("server.log"),
            port: free_port(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flamestream"));
        cmd.arg("serve")
            .args(&self.args)
            .env("FLAMESTREAM_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FLAMESTREAM_DATA_DIR", &self.data_dir)
            .env("FLAMESTREAM_WINDOW_SECS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("flamestream binary starts"));
        self.base = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(&format!("{}/ready", self.base)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "flamestream exited with {status} before it was ready; log:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "flamestream was not ready within 30 s; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait: the graceful path that must store everything answered 200.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "flamestream did not stop within 60 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// SIGKILL: the crash path.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// POSTs to `/ingest`-style `path` with query pairs, returns (status, body, retry-after).
    pub fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut req = ureq::post(&self.url(path));
        for (k, v) in query {
            req = req.query(k, v);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        reply(req.send_bytes(body))
    }

    /// Sends the default folded/pprof upload query for `name` at the current time.
    pub fn ingest(
        &self,
        name: &str,
        extra: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let now = now_s().to_string();
        let mut q = vec![
            ("name", name),
            ("from", now.as_str()),
            ("until", now.as_str()),
        ];
        q.extend_from_slice(extra);
        self.post("/ingest", &q, headers, body)
    }

    pub fn get_json(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        let mut req = ureq::get(&self.url(path));
        for (k, v) in query {
            req = req.query(k, v);
        }
        match req.call() {
            Ok(r) => r.into_json().unwrap(),
            Err(ureq::Error::Status(code, r)) => panic!(
                "GET {path} answered {code}: {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// The flamebearer of `query` over the last hour.
    pub fn render(&self, query: &str) -> serde_json::Value {
        self.get_json(
            "/pyroscope/render",
            &[("query", query), ("from", "now-1h"), ("until", "now")],
        )
    }

    /// numTicks of `query`, polled until it equals `want` or 20 s pass.
    pub fn wait_total(&self, query: &str, want: i64) -> i64 {
        self.wait_total_for(query, want, Duration::from_secs(20))
    }

    /// numTicks of `query`, polled until it equals `want` or `limit` passes.
    pub fn wait_total_for(&self, query: &str, want: i64, limit: Duration) -> i64 {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.render(query)["flamebearer"]["numTicks"]
                .as_i64()
                .unwrap();
            if got == want || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn metrics(&self) -> String {
        ureq::get(&self.url("/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

fn reply(r: Result<ureq::Response, ureq::Error>) -> Reply {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let retry_after = resp.header("retry-after").map(str::to_string);
    let mut body = String::new();
    let _ = resp.into_reader().take(1 << 20).read_to_string(&mut body);
    Reply {
        status,
        body,
        retry_after,
    }
}

/// A multipart/form-data body with `(name, filename, bytes)` parts.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "flamestream-test-boundary-7d9a";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
                    .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// An independent pprof reader for expected values: the sample types and the per-type sum of
/// sample values, read with a minimal protobuf walker (not flamestream's decoder).
pub mod pprof_sums {
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

    /// Top-level fields as (field number, wire type, payload range or value).
    fn fields(b: &[u8]) -> Vec<(u64, &[u8], u64)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i);
            let (field, wt) = (key >> 3, key & 7);
            match wt {
                0 => {
                    let v = varint(b, &mut i);
                    out.push((field, &b[0..0], v));
                }
                2 => {
                    let len = varint(b, &mut i) as usize;
                    out.push((field, &b[i..i + len], 0));
                    i += len;
                }
                1 => i += 8,
                5 => i += 4,
                _ => panic!("unexpected wire type {wt}"),
            }
        }
        out
    }

    /// `(sample type name, unit) → sum of values` of an uncompressed pprof.
    pub fn sums(pprof: &[u8]) -> Vec<((String, String), i64)> {
        let top = fields(pprof);
        let strings: Vec<String> = top
            .iter()
            .filter(|f| f.0 == 6)
            .map(|f| String::from_utf8_lossy(f.1).into_owned())
            .collect();
        let types: Vec<(String, String)> = top
            .iter()
            .filter(|f| f.0 == 1)
            .map(|f| {
                let vt = fields(f.1);
                let get = |n| vt.iter().find(|x| x.0 == n).map_or(0, |x| x.2) as usize;
                (strings[get(1)].clone(), strings[get(2)].clone())
            })
            .collect();
        let mut sums = vec![0i64; types.len()];
        for s in top.iter().filter(|f| f.0 == 2) {
            let mut idx = 0;
            for (field, payload, v) in fields(s.1) {
                if field != 2 {
                    continue;
                }
                if payload.is_empty() {
                    sums[idx] += v as i64;
                    idx += 1;
                } else {
                    let mut i = 0;
                    while i < payload.len() {
                        sums[idx] += varint(payload, &mut i) as i64;
                        idx += 1;
                    }
                }
            }
        }
        types.into_iter().zip(sums).collect()
    }
}
