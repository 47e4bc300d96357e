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

    /// What the broker holds, for a failing test's message: every record of `topic` (partition,
    /// offset, producer id and epoch, and the `u{i}` frames in its value), the committed group
    /// offsets, and the broker's log. Read from Tansu's sqlite file, so it works with the broker
    /// stopped too.
    pub fn describe(&self, topic: &str) -> String {
        let dir = self.state.path().join("tansu");
        let mut out = String::new();
        match rusqlite::Connection::open_with_flags(
            dir.join("tansu.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) {
            Ok(db) => {
                out += &records(&db, topic).unwrap_or_else(|e| format!("records: {e}\n"));
                out += &committed(&db).unwrap_or_else(|e| format!("offsets: {e}\n"));
            }
            Err(e) => out += &format!("cannot open the broker's sqlite file: {e}\n"),
        }
        let log = std::fs::read_to_string(dir.join("tansu.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        out += "broker log (last 60 lines):\n";
        for line in tail.into_iter().rev() {
            out += line;
            out.push('\n');
        }
        out
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

fn records(db: &rusqlite::Connection, topic: &str) -> rusqlite::Result<String> {
    let mut st = db.prepare(
        "SELECT tp.partition, r.offset_id, r.producer_id, r.producer_epoch, r.v \
         FROM record r JOIN topition tp ON tp.id = r.topition JOIN topic t ON t.id = tp.topic \
         WHERE t.name = ?1 ORDER BY tp.partition, r.offset_id",
    )?;
    let rows = st.query_map([topic], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?.unwrap_or_default(),
        ))
    })?;
    let mut out = format!("records of `{topic}` (partition @offset producer/epoch frames):\n");
    for row in rows {
        let (p, o, pid, epoch, v) = row?;
        out += &format!(
            "  p{p} @{o} {pid:?}/{epoch:?} {}\n",
            frames_in(&v).join(",")
        );
    }
    Ok(out)
}

/// The `u{i}` frame names in a raw record value (the folded body sits uncompressed in the
/// envelope).
fn frames_in(v: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(v);
    text.match_indices(";u")
        .map(|(at, _)| {
            let digits: String = text[at + 2..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("u{digits}")
        })
        .collect()
}

fn committed(db: &rusqlite::Connection) -> rusqlite::Result<String> {
    let mut st = db.prepare(
        "SELECT g.name, tp.partition, o.committed_offset FROM consumer_offset o \
         JOIN consumer_group g ON g.id = o.consumer_group JOIN topition tp ON tp.id = o.topition \
         ORDER BY g.name, tp.partition",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut out = String::from("committed offsets (group partition offset):\n");
    for row in rows {
        let (g, p, o) = row?;
        out += &format!("  {g} p{p} {o:?}\n");
    }
    Ok(out)
}

/// The store's `source_positions` (where each partition's stored data ends), for a failing
/// test's message.
pub fn store_positions(sqlite: &Path) -> String {
    let read = || -> rusqlite::Result<String> {
        let db = rusqlite::Connection::open_with_flags(
            sqlite,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut st = db
            .prepare("SELECT source, partition, next_offset FROM source_positions ORDER BY 1, 2")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = String::from("stored positions (source partition next_offset):\n");
        for row in rows {
            let (s, p, n) = row?;
            out += &format!("  {s} p{p} {n}\n");
        }
        Ok(out)
    };
    read().unwrap_or_else(|e| format!("stored positions: {e}\n"))
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
