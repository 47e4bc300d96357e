//! A real Kafka-protocol broker (Tansu) per test, started and stopped through `ops/tansu.sh`
//! on a free port with its own state folder. Without Tansu installed the test fails with the
//! script's message (run `ops/install-deps.sh`), it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Broker {
    pub port: u16,
    state: tempfile::TempDir,
}

fn ops(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ops")
        .join(script)
}

impl Broker {
    pub fn start() -> Broker {
        let b = Broker {
            port: super::free_port(),
            state: tempfile::tempdir().unwrap(),
        };
        b.run(&["start"]);
        b
    }

    pub fn run(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(ops("tansu.sh"))
            .args(args)
            .env("FLAMESTREAM_TANSU_PORT", self.port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path())
            .output()
            .expect("bash runs ops/tansu.sh");
        assert!(
            out.status.success(),
            "ops/tansu.sh {} failed (install Tansu with ops/install-deps.sh):\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        self.run(&["create-topic", name, &partitions.to_string()]);
    }

    pub fn stop(&self) {
        self.run(&["stop"]);
    }

    pub fn start_again(&self) {
        self.run(&["start"]);
    }

    /// A pipeline file for this broker. `roles`: e.g. `["ingest"]`; `sqlite` the store file.
    pub fn pipeline(
        &self,
        dir: &Path,
        name: &str,
        roles: &[&str],
        group: &str,
        sqlite: &Path,
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
kind = "sqlite"
sqlite_path = "{sqlite}"
"#,
            roles = roles.join(", "),
            brokers = self.brokers(),
            sqlite = sqlite.display()
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(ops("tansu.sh"))
            .arg("stop")
            .env("FLAMESTREAM_TANSU_PORT", self.port.to_string())
            .env("FLAMESTREAM_OPS_STATE", self.state.path())
            .output();
    }
}
