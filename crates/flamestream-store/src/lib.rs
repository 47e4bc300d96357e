//! Where aggregated windows live, and how they are read back.
//!
//! - [`sqlite`]: the embedded default, one file.
//! - [`clickhouse`]: the scale store, over HTTP.
//! - [`selector`]: `type{label="value",...}` selectors with `=`, `!=`, `=~`, `!~`.
//! - [`flamegraph`]: stacks → Pyroscope flamebearer JSON, with `maxNodes` truncation.
//! - [`query`]: the store-agnostic query functions the HTTP API calls.
//!
//! Every store implements [`Reader`] and [`Writer`]; the query code only sees those, so a
//! render is identical whichever store holds the data.

pub mod clickhouse;
pub mod flamegraph;
pub mod query;
pub mod selector;
pub mod sqlite;

use flamestream_model::{Aggregation, SeriesKey, SourcePosition, WindowFlush};
use rustc_hash::FxHashMap;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store could not be reached (retry later).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else, with a message that says what.
    #[error("{0}")]
    Other(String),
}

/// A stored series and its id.
#[derive(Debug, Clone)]
pub struct StoredSeries {
    /// 63-bit fingerprint of the key.
    pub id: i64,
    /// The key.
    pub key: SeriesKey,
    /// How uploads combine.
    pub aggregation: Aggregation,
}

impl StoredSeries {
    /// A series from its stored columns (type id, canonical labels, aggregation word); `None`
    /// (logged) for a row that does not parse.
    pub fn from_row(
        id: i64,
        tenant: &str,
        service_name: String,
        profile_type: &str,
        labels: &str,
        aggregation: &str,
    ) -> Option<StoredSeries> {
        let (Ok(profile_type), Some(labels)) = (
            flamestream_model::ProfileType::parse(profile_type),
            flamestream_model::LabelSet::parse_canonical(labels),
        ) else {
            tracing::warn!(series_id = id, "unreadable series row skipped");
            return None;
        };
        Some(StoredSeries {
            id,
            key: SeriesKey {
                tenant: tenant.to_string(),
                service_name,
                profile_type,
                labels,
            },
            aggregation: Aggregation::parse(aggregation).unwrap_or_default(),
        })
    }
}

/// Per-stack totals of a set of series over a time range.
#[derive(Debug, Clone, Default)]
pub struct StackTotals {
    /// `(series id, stack id, summed value)`.
    pub rows: Vec<(i64, i64, i64)>,
    /// `(series id, uploads)` over the range, for averaging instant types.
    pub uploads: Vec<(i64, i64)>,
    /// Stack id → frames joined by `\n`, root first.
    pub stacks: FxHashMap<i64, String>,
}

/// Reads what writers stored.
pub trait Reader: Send + Sync {
    /// Every series of `tenant` with data in `[from_ns, until_ns)`.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn series(
        &self,
        tenant: &str,
        from_ns: i64,
        until_ns: i64,
    ) -> Result<Vec<StoredSeries>, StoreError>;

    /// Per-stack totals of `series_ids` over `[from_ns, until_ns)`.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn stack_totals(
        &self,
        series_ids: &[i64],
        from_ns: i64,
        until_ns: i64,
    ) -> Result<StackTotals, StoreError>;

    /// `(window start ns, series id, value sum, uploads)` of `series_ids` over the range.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn timeline(
        &self,
        series_ids: &[i64],
        from_ns: i64,
        until_ns: i64,
    ) -> Result<Vec<(i64, i64, i64, i64)>, StoreError>;
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The flush is stored.
    Written,
    /// The store already held the flush's whole range; nothing was written.
    AlreadyStored,
    /// Another writer stored part of the range (a rebalance race): nothing was written; the
    /// partition must be re-read from `stored_next`.
    Conflict {
        /// The partition.
        partition: i32,
        /// The store's position for it.
        stored_next: i64,
    },
}

/// Decides a flush range against the stored position of its partition.
pub fn decide(position: &SourcePosition, stored_next: Option<i64>) -> WriteOutcome {
    match stored_next {
        Some(s) if s >= position.next_offset => WriteOutcome::AlreadyStored,
        Some(s) if s > position.first_offset => WriteOutcome::Conflict {
            partition: position.partition,
            stored_next: s,
        },
        _ => WriteOutcome::Written,
    }
}

/// Persists flushes. A write is all-or-nothing and records the flush's source range in the
/// same step; a range the store already holds (in whole or in part) is not written again.
pub trait Writer: Send {
    /// Persists `flush` unless its range is already stored.
    ///
    /// # Errors
    /// [`StoreError`]; nothing of the flush is visible then.
    fn write(&mut self, flush: &WindowFlush) -> Result<WriteOutcome, StoreError>;

    /// The positions stored for `source`, to resume from after a restart.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn positions(&mut self, source: &str) -> Result<Vec<SourcePosition>, StoreError>;

    /// `sqlite` or `clickhouse`, for metric labels.
    fn kind(&self) -> &'static str;
}
