//! A real ClickHouse per test, started and stopped through `ops/clickhouse.sh` (Debian's server
//! 18.16) or `ops/clickhouse-modern.sh` (ClickHouse 26.9 as chDB behind its HTTP interface) on
//! free ports with its own state folder. Without them installed the test fails with the script's
//! message (run `ops/install-deps.sh`), it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Clickhouse {
    script: &'static str,
    pub http_port: u16,
    tcp_port: u16,
    state: tempfile::TempDir,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ops")
        .join(name)
}

impl Clickhouse {
    /// Debian's clickhouse-server 18.16: the store uses the DDL's shared subset.
    pub fn start() -> Clickhouse {
        Self::start_with("clickhouse.sh")
    }

    /// ClickHouse 26.9 (chDB): the store uses the modern dialect (`LowCardinality`, codecs, TTL).
    pub fn start_modern() -> Clickhouse {
        Self::start_with("clickhouse-modern.sh")
    }

    fn start_with(script: &'static str) -> Clickhouse {
        let c = Clickhouse {
            script,
            http_port: super::free_port(),
            tcp_port: super::free_port(),
            state: tempfile::tempdir().unwrap(),
        };
        c.run("start");
        c
    }

    pub fn run(&self, cmd: &str) {
        let out = self
            .command(cmd)
            .output()
            .expect("bash runs an ops/ script");
        assert!(
            out.status.success(),
            "ops/{} {cmd} failed (install it with ops/install-deps.sh):\n{}\n{}",
            self.script,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(script(self.script))
            .arg(cmd)
            .env(
                "FLAMESTREAM_CLICKHOUSE_HTTP_PORT",
                self.http_port.to_string(),
            )
            .env(
                "FLAMESTREAM_CLICKHOUSE_MODERN_HTTP_PORT",
                self.http_port.to_string(),
            )
            .env("FLAMESTREAM_CLICKHOUSE_TCP_PORT", self.tcp_port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path());
        c
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn query(&self, sql: &str) -> String {
        ureq::post(&self.url())
            .send_string(sql)
            .unwrap()
            .into_string()
            .unwrap()
    }
}

impl Drop for Clickhouse {
    fn drop(&mut self) {
        let _ = self.command("stop").output();
    }
}

/// A kafka + clickhouse pipeline file.
pub fn pipeline(
    dir: &Path,
    name: &str,
    roles: &[&str],
    brokers: &str,
    group: &str,
    ch: &Clickhouse,
) -> PathBuf {
    let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    let text = format!(
        r#"roles = [{roles}]
[transport]
kind = "kafka"
[transport.kafka]
brokers = "{brokers}"
topic = "flamestream.profiles.raw"
group_id = "{group}"
delivery_timeout_ms = 3000
[transport.kafka.consumer]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
[process]
window_secs = 1
flush_interval_secs = 1
[store]
kind = "clickhouse"
[store.clickhouse]
url = "{url}"
database = "flamestream_e2e"
"#,
        roles = roles.join(", "),
        url = ch.url()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}
