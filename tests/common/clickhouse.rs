//! A real ClickHouse server per test, started and stopped through `ops/clickhouse.sh` on free
//! ports with its own state folder. Without clickhouse-server installed the test fails with
//! the script's message (run `ops/install-deps.sh`), it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Clickhouse {
    pub http_port: u16,
    tcp_port: u16,
    state: tempfile::TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ops/clickhouse.sh")
}

impl Clickhouse {
    pub fn start() -> Clickhouse {
        let c = Clickhouse {
            http_port: super::free_port(),
            tcp_port: super::free_port(),
            state: tempfile::tempdir().unwrap(),
        };
        c.run("start");
        c
    }

    pub fn run(&self, cmd: &str) {
        let out = Command::new("bash")
            .arg(script())
            .arg(cmd)
            .env(
                "FLAMESTREAM_CLICKHOUSE_HTTP_PORT",
                self.http_port.to_string(),
            )
            .env("FLAMESTREAM_CLICKHOUSE_TCP_PORT", self.tcp_port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path())
            .output()
            .expect("bash runs ops/clickhouse.sh");
        assert!(
            out.status.success(),
            "ops/clickhouse.sh {cmd} failed (install it with ops/install-deps.sh):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .env(
                "FLAMESTREAM_CLICKHOUSE_HTTP_PORT",
                self.http_port.to_string(),
            )
            .env("FLAMESTREAM_CLICKHOUSE_TCP_PORT", self.tcp_port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path())
            .output();
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
