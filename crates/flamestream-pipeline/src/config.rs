//! Pipeline files: which roles a process runs, which transport, which store, which limits.
//!
//! Every key has a default, so `flamestream serve` works with none; environment variables
//! override the file (see [`PipelineConfig::apply_env`]); [`PipelineConfig::validate`] returns
//! every error at once and does no IO.

use flamestream_model::Limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The embedded default pipeline (`pipelines/embedded.toml`), compiled in.
pub const EMBEDDED_PIPELINE: &str = include_str!("../../../pipelines/embedded.toml");

/// What a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// HTTP ingest → transport.
    Ingest,
    /// Transport → decode → aggregate → store.
    Process,
    /// Query API and web UI.
    Query,
}

/// A whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Roles this process runs.
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
    /// HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Ingest edge settings.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Transport between ingest and process.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Decode/aggregate settings.
    #[serde(default)]
    pub process: ProcessConfig,
    /// Store settings.
    #[serde(default)]
    pub store: StoreConfig,
    /// Limits on every upload.
    #[serde(default)]
    pub limits: Limits,
}

fn default_roles() -> Vec<Role> {
    vec![Role::Ingest, Role::Process, Role::Query]
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: String,
    /// Directory for the SQLite file and other local state.
    pub data_dir: PathBuf,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:4040".into(),
            data_dir: PathBuf::from("data"),
            workers: 0,
        }
    }
}

/// Ingest edge settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Labels stamped on every upload (e.g. `cluster`).
    pub extra_labels: BTreeMap<String, String>,
    /// Seconds a client is told to wait on 429/503.
    pub retry_after_secs: u64,
    /// Map of bearer tokens to tenants; when non-empty, `Authorization: Bearer` is required.
    pub tokens: BTreeMap<String, String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            extra_labels: BTreeMap::new(),
            retry_after_secs: 5,
            tokens: BTreeMap::new(),
        }
    }
}

/// Which transport carries uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// In-process bounded queue (embedded; no durability across crashes).
    Memory,
    /// Kafka.
    Kafka,
}

/// Transport settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// `memory` or `kafka`.
    pub kind: TransportKind,
    /// Capacity of the in-process queue, in uploads.
    pub queue_capacity: usize,
    /// Kafka settings (used when `kind = "kafka"`).
    pub kafka: KafkaConfig,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            kind: TransportKind::Memory,
            queue_capacity: 1024,
            kafka: KafkaConfig::default(),
        }
    }
}

/// Kafka settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma separated.
    pub brokers: String,
    /// The raw uploads topic.
    pub topic: String,
    /// Consumer group of the process role.
    pub group_id: String,
    /// Extra librdkafka settings for the producer (e.g. `security.protocol`).
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka settings for the consumer.
    pub consumer: BTreeMap<String, String>,
    /// Time to wait for a delivery report before answering 503.
    pub delivery_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: "flamestream.profiles.raw".into(),
            group_id: "flamestream-process".into(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            delivery_timeout_ms: 10_000,
        }
    }
}

/// Decode/aggregate settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Decoder threads.
    pub decoders: usize,
    /// Aggregation window length.
    pub window_secs: u64,
    /// How often aggregated windows are flushed to the store.
    pub flush_interval_secs: u64,
    /// Distinct stacks held in memory before an early flush.
    pub max_open_stacks: usize,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            decoders: 2,
            window_secs: 10,
            flush_interval_secs: 10,
            max_open_stacks: 2_000_000,
        }
    }
}

/// Which store keeps windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One SQLite file under the data directory.
    Sqlite,
    /// ClickHouse over HTTP.
    Clickhouse,
}

/// Store settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` or `clickhouse`.
    pub kind: StoreKind,
    /// SQLite file, relative to `server.data_dir` unless absolute.
    pub sqlite_path: PathBuf,
    /// ClickHouse settings.
    pub clickhouse: ClickhouseConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Sqlite,
            sqlite_path: PathBuf::from("flamestream.db"),
            clickhouse: ClickhouseConfig::default(),
        }
    }
}

/// ClickHouse settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickhouseConfig {
    /// HTTP URL.
    pub url: String,
    /// Database.
    pub database: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// Days to keep data (modern servers only; 0 = forever).
    pub ttl_days: u32,
}

impl Default for ClickhouseConfig {
    fn default() -> Self {
        ClickhouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "flamestream".into(),
            user: "default".into(),
            password: String::new(),
            ttl_days: 30,
        }
    }
}

/// Why a pipeline file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file `{path}`: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("pipeline file `{path}` is invalid: {message}")]
    Parse {
        /// The path.
        path: String,
        /// What toml said.
        message: String,
    },
    /// The values do not make sense together.
    #[error("pipeline file `{path}` has {} error(s):\n  - {}", errors.len(), errors.join("\n  - "))]
    Invalid {
        /// The path.
        path: String,
        /// Every problem found.
        errors: Vec<String>,
    },
}

impl PipelineConfig {
    /// Parses TOML text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] with toml's message (which names the line and key).
    pub fn from_toml(text: &str, origin: &str) -> Result<PipelineConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    /// [`ConfigError`] when it cannot be read or parsed.
    pub fn load(path: &Path) -> Result<PipelineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The compiled-in embedded default.
    ///
    /// # Panics
    /// Never: the default is checked by a unit test.
    pub fn embedded() -> PipelineConfig {
        Self::from_toml(EMBEDDED_PIPELINE, "pipelines/embedded.toml")
            .expect("embedded pipeline parses")
    }

    /// True when the process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Applies `FLAMESTREAM_*` environment overrides from `env` (pass `std::env::vars()`).
    pub fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in env {
            match k.as_str() {
                "FLAMESTREAM_LISTEN" => self.server.listen = v,
                "FLAMESTREAM_DATA_DIR" => self.server.data_dir = PathBuf::from(v),
                "FLAMESTREAM_WINDOW_SECS" => {
                    if let Ok(n) = v.parse() {
                        self.process.window_secs = n;
                        self.process.flush_interval_secs = n;
                    }
                }
                "FLAMESTREAM_FLUSH_INTERVAL_SECS" => {
                    if let Ok(n) = v.parse() {
                        self.process.flush_interval_secs = n;
                    }
                }
                "FLAMESTREAM_QUEUE_CAPACITY" => {
                    if let Ok(n) = v.parse() {
                        self.transport.queue_capacity = n;
                    }
                }
                "FLAMESTREAM_KAFKA_BROKERS" => self.transport.kafka.brokers = v,
                "FLAMESTREAM_KAFKA_TOPIC" => self.transport.kafka.topic = v,
                "FLAMESTREAM_KAFKA_GROUP_ID" => self.transport.kafka.group_id = v,
                "FLAMESTREAM_CLICKHOUSE_URL" => self.store.clickhouse.url = v,
                "FLAMESTREAM_CLICKHOUSE_DATABASE" => self.store.clickhouse.database = v,
                "FLAMESTREAM_CLICKHOUSE_USER" => self.store.clickhouse.user = v,
                "FLAMESTREAM_CLICKHOUSE_PASSWORD" => self.store.clickhouse.password = v,
                "FLAMESTREAM_CLUSTER" => {
                    self.ingest.extra_labels.insert("cluster".into(), v);
                }
                "FLAMESTREAM_MAX_BODY_BYTES" => {
                    if let Ok(n) = v.parse() {
                        self.limits.max_body_bytes = n;
                    }
                }
                "FLAMESTREAM_MAX_DECOMPRESSED_BYTES" => {
                    if let Ok(n) = v.parse() {
                        self.limits.max_decompressed_bytes = n;
                    }
                }
                _ => {}
            }
        }
    }

    /// The SQLite file path (data dir + relative path).
    pub fn sqlite_path(&self) -> PathBuf {
        if self.store.sqlite_path.is_absolute() {
            self.store.sqlite_path.clone()
        } else {
            self.server.data_dir.join(&self.store.sqlite_path)
        }
    }

    /// Every problem with the values, at once, without IO.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.roles.is_empty() {
            errors.push("`roles` is empty: list at least one of ingest, process, query".into());
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "`server.listen` = `{}` is not an address like `0.0.0.0:4040`",
                self.server.listen
            ));
        }
        if self.transport.kind == TransportKind::Memory
            && self.runs(Role::Ingest) != self.runs(Role::Process)
        {
            errors.push(
                "`transport.kind = \"memory\"` needs both the ingest and process roles in one process: use kafka to split them".into(),
            );
        }
        if self.transport.queue_capacity == 0 {
            errors.push("`transport.queue_capacity` must be at least 1".into());
        }
        if self.transport.kind == TransportKind::Kafka {
            let k = &self.transport.kafka;
            if k.brokers.trim().is_empty() {
                errors.push(
                    "`transport.kafka.brokers` is empty: set it or FLAMESTREAM_KAFKA_BROKERS"
                        .into(),
                );
            }
            if k.topic.trim().is_empty() {
                errors.push("`transport.kafka.topic` is empty".into());
            }
            if self.runs(Role::Process) && k.group_id.trim().is_empty() {
                errors.push(
                    "`transport.kafka.group_id` is empty but the process role consumes".into(),
                );
            }
        }
        let p = &self.process;
        if p.decoders == 0 || p.decoders > 256 {
            errors.push(format!(
                "`process.decoders` = {} must be between 1 and 256",
                p.decoders
            ));
        }
        if p.window_secs == 0 || 86_400 % p.window_secs != 0 {
            errors.push(format!(
                "`process.window_secs` = {} must divide a day (e.g. 10, 15, 30, 60)",
                p.window_secs
            ));
        }
        if p.flush_interval_secs == 0 {
            errors.push("`process.flush_interval_secs` must be at least 1".into());
        }
        if p.max_open_stacks == 0 {
            errors.push("`process.max_open_stacks` must be at least 1".into());
        }
        if self.store.kind == StoreKind::Clickhouse {
            let c = &self.store.clickhouse;
            if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                errors.push(format!(
                    "`store.clickhouse.url` = `{}` must start with http:// or https://",
                    c.url
                ));
            }
            if c.database.is_empty()
                || !c
                    .database
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                errors.push(format!(
                    "`store.clickhouse.database` = `{}` must be letters, digits and `_`",
                    c.database
                ));
            }
        }
        for k in self.ingest.extra_labels.keys() {
            if let Err(e) = flamestream_model::labels::validate_label(k, "", &self.limits) {
                errors.push(format!("`ingest.extra_labels`: {e}"));
            }
        }
        let l = &self.limits;
        if l.max_decompressed_bytes == 0 || l.max_body_bytes == 0 {
            errors.push(
                "`limits.max_body_bytes` and `limits.max_decompressed_bytes` must be positive"
                    .into(),
            );
        }
        if l.max_stack_depth == 0 || l.max_samples == 0 {
            errors
                .push("`limits.max_stack_depth` and `limits.max_samples` must be positive".into());
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_validates() {
        let c = PipelineConfig::embedded();
        assert_eq!(c.validate(), Vec::<String>::new());
        assert_eq!(c.server.listen, "0.0.0.0:4040");
        assert_eq!(c.transport.kind, TransportKind::Memory);
        assert_eq!(c.store.kind, StoreKind::Sqlite);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let c = PipelineConfig::from_toml(
            "roles = [\"ingest\"]\n[server]\nlisten = \"nope\"\n[process]\nwindow_secs = 7\ndecoders = 0\n",
            "t",
        )
        .unwrap();
        let errors = c.validate();
        assert_eq!(errors.len(), 4, "{errors:#?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = PipelineConfig::from_toml("[server]\nlisten_addr = \"x\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn env_overrides() {
        let mut c = PipelineConfig::embedded();
        c.apply_env([
            ("FLAMESTREAM_LISTEN".to_string(), "127.0.0.1:1".to_string()),
            ("FLAMESTREAM_KAFKA_BROKERS".to_string(), "k:9".to_string()),
            ("FLAMESTREAM_CLUSTER".to_string(), "eu1".to_string()),
        ]);
        assert_eq!(c.server.listen, "127.0.0.1:1");
        assert_eq!(c.transport.kafka.brokers, "k:9");
        assert_eq!(c.ingest.extra_labels["cluster"], "eu1");
    }
}
