//! The scale store: ClickHouse over HTTP, with a synchronous client (`ureq`).
//!
//! Tables (DDL in [`schema`]):
//! - `stacks (stack_id, frames Array(String))`: content-addressed stack dictionary
//!   (ReplacingMergeTree); the id is [`flamestream_model::flush::stack_id`] of the frames joined
//!   by `\n`, the same id SQLite uses.
//! - `series (tenant, series_id, service_name, profile_type, labels, aggregation)`: one row per
//!   series fingerprint (ReplacingMergeTree; duplicates are identical).
//! - `samples (tenant, series_id, window_start, stack_id, value, batch_id)`: MergeTree by day.
//! - `series_windows (tenant, series_id, window_start, uploads, batch_id)`: uploads per series
//!   and window, for averaging instant types.
//! - `batches (source, partition, first_offset, next_offset, batch_id, min_window, max_window,
//!   rows, written_at)`: the commit log.
//!
//! # Idempotence without transactions
//! Every write attempt draws a fresh random `batch_id`. The writer first decides the flush
//! against the stored positions (`max(next_offset)` per `(source, partition)` in `batches`,
//! through [`crate::decide`], exactly like SQLite), then inserts the dictionary rows, the
//! `samples` and `series_windows` rows tagged with the `batch_id`, and only then one `INSERT`
//! into `batches` (one block, so atomic) — the commit point. Readers count only rows whose
//! `batch_id` is in `batches`. A crash, timeout or refusal before the commit leaves orphan rows
//! that no reader ever counts; the retry writes the flush again under a new `batch_id`.
//! A commit whose answer was lost (timeout after the server applied it) is caught on retry: with
//! positions, `decide` answers `AlreadyStored`; without positions the writer checks whether its
//! previous attempt's `batch_id` of the same flush is in `batches`.
//!
//! Not covered (documented in the issue note): two writers racing on one partition during a
//! consumer-group rebalance can both pass `decide` before either commits (SQLite serialises them
//! in a transaction). Orphan rows are never deleted; they cost disk until their partition's TTL.

pub mod schema;
pub mod sql;

use crate::{decide, Reader, StackTotals, StoreError, StoredSeries, WriteOutcome, Writer};
use flamestream_model::{SourcePosition, WindowFlush};
use rustc_hash::{FxHashMap, FxHashSet};
use schema::Dialect;
use sql::{int_list, quote, RowBinary, RowReader};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// How to reach ClickHouse.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickhouseSettings {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding flamestream's tables (`[A-Za-z_][A-Za-z0-9_]*`).
    pub database: String,
    /// User (`default` when empty).
    pub user: String,
    /// Password (may be empty).
    pub password: String,
    /// Days of samples to keep (modern servers only; 0 = forever).
    pub ttl_days: u32,
}

impl std::fmt::Debug for ClickhouseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickhouseSettings")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("ttl_days", &self.ttl_days)
            .finish()
    }
}

/// Stack ids fetched per `IN (...)` query when reading frames.
const STACK_CHUNK: usize = 1000;
/// Insert bodies above this size are sent gzipped.
const GZIP_ABOVE_BYTES: usize = 64 * 1024;
/// Largest query answer read into memory.
const MAX_RESPONSE_BYTES: u64 = 2 << 30;
/// Dictionary ids a writer remembers as already inserted before it starts over.
const MAX_KNOWN_IDS: usize = 4_000_000;
const NS: i64 = 1_000_000_000;

struct Inner {
    url: String,
    db: String,
    auth: Option<String>,
    ttl_days: u32,
    agent: ureq::Agent,
}

/// A ClickHouse store (cheap to clone; clones share one HTTP connection pool).
#[derive(Clone)]
pub struct ClickhouseStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClickhouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickhouseStore")
            .field("url", &self.inner.url)
            .field("database", &self.inner.db)
            .finish()
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `ceil(ns / 1e9)` clamped to what a `DateTime` holds.
fn ceil_secs(ns: i64) -> i64 {
    (ns.div_euclid(NS) + i64::from(ns.rem_euclid(NS) != 0)).clamp(0, i64::from(u32::MAX))
}

impl ClickhouseStore {
    /// A store for `settings`; checks the settings but does no IO.
    ///
    /// # Errors
    /// [`StoreError::Other`] when the URL is not `http://…` or the database name is not a plain
    /// identifier.
    pub fn new(settings: ClickhouseSettings) -> Result<Self, StoreError> {
        let url = settings.url.trim().trim_end_matches('/').to_string();
        if url.starts_with("https://") {
            return Err(StoreError::Other(format!(
                "clickhouse url `{url}`: https is not supported yet (ureq is built without tls); use http:// or a local TLS proxy"
            )));
        }
        if !url.starts_with("http://") || url.len() <= "http://".len() {
            return Err(StoreError::Other(format!(
                "clickhouse url `{url}` must look like `http://host:8123`"
            )));
        }
        if !sql::is_plain_identifier(&settings.database) {
            return Err(StoreError::Other(format!(
                "clickhouse database `{}` must match `[A-Za-z_][A-Za-z0-9_]*` (at most 64 characters)",
                settings.database
            )));
        }
        let auth = if settings.user.is_empty() && settings.password.is_empty() {
            None
        } else {
            let user = if settings.user.is_empty() {
                "default"
            } else {
                &settings.user
            };
            Some(format!(
                "Basic {}",
                base64(format!("{user}:{}", settings.password).as_bytes())
            ))
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .max_idle_connections_per_host(8)
            .build();
        Ok(ClickhouseStore {
            inner: Arc::new(Inner {
                url,
                db: settings.database,
                auth,
                ttl_days: settings.ttl_days,
                agent,
            }),
        })
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.inner.db
    }

    fn request(&self, query: Option<&str>) -> ureq::Request {
        let mut req = self
            .inner
            .agent
            .post(&format!("{}/", self.inner.url))
            // Buffer the answer server-side so an error is an HTTP status, never a torn body.
            .query("wait_end_of_query", "1");
        if let Some(q) = query {
            req = req.query("query", q);
        }
        if let Some(a) = &self.inner.auth {
            req = req.set("Authorization", a);
        }
        req
    }

    fn send(&self, req: ureq::Request, body: &[u8], what: &str) -> Result<Vec<u8>, StoreError> {
        match req.send_bytes(body) {
            Ok(resp) => {
                let mut out = Vec::new();
                resp.into_reader()
                    .take(MAX_RESPONSE_BYTES)
                    .read_to_end(&mut out)
                    .map_err(|e| {
                        StoreError::Unavailable(format!("clickhouse {what}: reading answer: {e}"))
                    })?;
                Ok(out)
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                Err(sql::status_error(status, &text, what))
            }
            Err(ureq::Error::Transport(t)) => Err(StoreError::Unavailable(format!(
                "clickhouse {what} at `{}`: {t}",
                self.inner.url
            ))),
        }
    }

    /// Runs `sql` and returns ClickHouse's answer as bytes.
    fn run(&self, sql: &str, what: &str) -> Result<Vec<u8>, StoreError> {
        self.send(self.request(None), sql.as_bytes(), what)
    }

    /// Runs one statement and returns the answer as text (for `migrate`, tests and benches).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached, [`StoreError::Other`] with
    /// ClickHouse's message when it refuses the statement.
    pub fn query_text(&self, sql: &str) -> Result<String, StoreError> {
        let bytes = self.run(sql, "query")?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Inserts RowBinary rows into `table (columns)`.
    fn insert(&self, table: &str, columns: &str, rows: &RowBinary) -> Result<(), StoreError> {
        if rows.rows == 0 {
            return Ok(());
        }
        let q = format!(
            "INSERT INTO `{}`.{table} ({columns}) FORMAT RowBinary",
            self.inner.db
        );
        let what = format!("insert into `{table}`");
        if rows.buf.len() > GZIP_ABOVE_BYTES {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(rows.buf.len() / 4),
                flate2::Compression::fast(),
            );
            gz.write_all(&rows.buf)
                .and_then(|()| gz.finish())
                .map_err(|e| StoreError::Other(format!("gzip: {e}")))
                .and_then(|body| {
                    self.send(
                        self.request(Some(&q)).set("Content-Encoding", "gzip"),
                        &body,
                        &what,
                    )
                })?;
        } else {
            self.send(self.request(Some(&q)), &rows.buf, &what)?;
        }
        Ok(())
    }

    /// Checks the server answers and returns its version (`SELECT version()`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it cannot be reached, [`StoreError::Other`] when it
    /// refuses (e.g. bad credentials).
    pub fn ping(&self) -> Result<String, StoreError> {
        let v = self.query_text("SELECT version()")?;
        Ok(v.trim().to_string())
    }

    /// Creates the database and tables when absent (idempotent) and returns the statements run.
    /// `LowCardinality`, codecs and the `ttl_days` TTL are used only on servers ≥ 22.
    ///
    /// # Errors
    /// [`StoreError`] from the server.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let version = self.ping()?;
        let dialect = Dialect::from_version(&version).ok_or_else(|| {
            StoreError::Other(format!("clickhouse version `{version}` is not understood"))
        })?;
        let statements = schema::statements(&self.inner.db, dialect, self.inner.ttl_days);
        for s in &statements {
            self.run(s, "migrate")?;
        }
        Ok(statements)
    }

    /// Checks the tables a writer needs exist.
    ///
    /// # Errors
    /// [`StoreError::Other`] naming the missing tables and telling to run `flamestream migrate`;
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub fn check_schema(&self) -> Result<(), StoreError> {
        let text = self.query_text(&format!(
            "SELECT name FROM system.tables WHERE database = {} FORMAT TabSeparated",
            quote(&self.inner.db)
        ))?;
        let present: FxHashSet<&str> = text.lines().collect();
        let missing: Vec<&str> = schema::TABLES
            .iter()
            .copied()
            .filter(|t| !present.contains(t))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "clickhouse database `{}` lacks table(s) `{}`: run `flamestream migrate`",
                self.inner.db,
                missing.join("`, `")
            )))
        }
    }

    /// A writer (checks nothing; call [`ClickhouseStore::check_schema`] first).
    ///
    /// # Errors
    /// None today; kept fallible like the other stores.
    pub fn writer(&self) -> Result<ClickhouseWriter, StoreError> {
        Ok(ClickhouseWriter {
            store: self.clone(),
            known_stacks: FxHashSet::default(),
            known_series: FxHashSet::default(),
            last_failed: None,
        })
    }

    /// `max(next_offset)` per partition of `source` (partition -1, the embedded queue, left out).
    fn stored_positions(&self, source: &str) -> Result<Vec<(i32, i64)>, StoreError> {
        let bytes = self.run(
            &format!(
                "SELECT partition, max(next_offset) FROM `{}`.batches \
                 WHERE source = {} AND partition >= 0 \
                 AND batch_id NOT IN (SELECT batch_id FROM `{}`.voided_batches) \
                 GROUP BY partition ORDER BY partition \
                 FORMAT RowBinary",
                self.inner.db,
                quote(source),
                self.inner.db
            ),
            "positions",
        )?;
        let mut r = RowReader::new(&bytes);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push((r.i32()?, r.i64()?));
        }
        Ok(out)
    }

    /// `batch_id IN (committed batches that may hold windows of the range)`.
    fn committed(&self, from_s: i64, until_s: i64) -> String {
        format!(
            "batch_id IN (SELECT batch_id FROM `{db}`.batches \
             WHERE max_window >= toDateTime({from_s}) AND min_window < toDateTime({until_s})) \
             AND batch_id NOT IN (SELECT batch_id FROM `{db}`.voided_batches)",
            db = self.inner.db
        )
    }
}

/// Writes flushes; remembers which dictionary rows it already inserted.
pub struct ClickhouseWriter {
    store: ClickhouseStore,
    known_stacks: FxHashSet<i64>,
    known_series: FxHashSet<i64>,
    /// `(flush digest, batch_id)` of the last attempt that failed, to detect a commit whose
    /// answer was lost.
    last_failed: Option<(u64, u64)>,
}

impl std::fmt::Debug for ClickhouseWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickhouseWriter")
            .field("store", &self.store)
            .field("known_stacks", &self.known_stacks.len())
            .finish()
    }
}

fn digest(flush: &WindowFlush) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    flush.source.hash(&mut h);
    flush.positions.hash(&mut h);
    flush.series.len().hash(&mut h);
    for s in &flush.series {
        s.key.hash(&mut h);
        s.window_start_ns.hash(&mut h);
        s.uploads.hash(&mut h);
        s.samples.len().hash(&mut h);
        s.samples.total().hash(&mut h);
    }
    h.finish()
}

fn window_secs(ns: i64) -> Result<u32, StoreError> {
    if ns.rem_euclid(NS) != 0 {
        return Err(StoreError::Other(format!(
            "window start `{ns}` ns is not a whole second: the clickhouse store keeps windows as DateTime"
        )));
    }
    u32::try_from(ns / NS).map_err(|_| {
        StoreError::Other(format!(
            "window start `{ns}` ns is outside what a ClickHouse DateTime holds (1970–2106)"
        ))
    })
}

impl ClickhouseWriter {
    fn commit(&mut self, flush: &WindowFlush, batch_id: u64) -> Result<(), StoreError> {
        let store = &self.store;
        let mut stacks = RowBinary::new();
        let mut series = RowBinary::new();
        let mut samples = RowBinary::new();
        let mut windows = RowBinary::new();
        let mut new_stacks: Vec<i64> = Vec::new();
        let mut new_series: Vec<i64> = Vec::new();
        let mut ids: FxHashMap<&[u32], i64> = FxHashMap::default();
        let (mut min_window, mut max_window) = (u32::MAX, 0u32);
        for s in &flush.series {
            let window = window_secs(s.window_start_ns)?;
            min_window = min_window.min(window);
            max_window = max_window.max(window);
            let sid = s.key.fingerprint();
            let tenant = s.key.tenant.as_str();
            if !self.known_series.contains(&sid) && !new_series.contains(&sid) {
                new_series.push(sid);
                series.string(tenant);
                series.i64(sid);
                series.string(&s.key.service_name);
                series.string(&s.key.profile_type.id());
                series.string(&s.key.labels.to_string());
                series.string(s.aggregation.as_str());
                series.end_row();
            }
            windows.string(tenant);
            windows.i64(sid);
            windows.u32(window);
            windows.u32(s.uploads);
            windows.u64(batch_id);
            windows.end_row();
            let mut rows: Vec<(i64, i64)> = Vec::with_capacity(s.samples.len());
            for (stack, value) in s.samples.iter() {
                let stack_id = match ids.get(stack) {
                    Some(&id) => id,
                    None => {
                        let (id, _) = flush.stack_text(stack);
                        if !self.known_stacks.contains(&id) {
                            new_stacks.push(id);
                            stacks.i64(id);
                            stacks.strings(stack.iter().map(|&f| flush.frames.name(f)));
                            stacks.end_row();
                        }
                        ids.insert(stack, id);
                        id
                    }
                };
                rows.push((stack_id, value));
            }
            // Sorted like the table, so parts are written with less work.
            rows.sort_unstable();
            for (stack_id, value) in rows {
                samples.string(tenant);
                samples.i64(sid);
                samples.u32(window);
                samples.i64(stack_id);
                samples.i64(value);
                samples.u64(batch_id);
                samples.end_row();
            }
        }
        if flush.series.is_empty() {
            (min_window, max_window) = (0, 0);
        }
        store.insert("stacks", "stack_id, frames", &stacks)?;
        if self.known_stacks.len() + new_stacks.len() > MAX_KNOWN_IDS {
            self.known_stacks.clear();
        }
        self.known_stacks.extend(new_stacks);
        store.insert(
            "series",
            "tenant, series_id, service_name, profile_type, labels, aggregation",
            &series,
        )?;
        if self.known_series.len() + new_series.len() > MAX_KNOWN_IDS {
            self.known_series.clear();
        }
        self.known_series.extend(new_series);
        store.insert(
            "samples",
            "tenant, series_id, window_start, stack_id, value, batch_id",
            &samples,
        )?;
        store.insert(
            "series_windows",
            "tenant, series_id, window_start, uploads, batch_id",
            &windows,
        )?;
        // The commit point: one block, so all positions of the flush land together or not at all.
        let mut batch = RowBinary::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let none = [SourcePosition {
            partition: -1,
            first_offset: 0,
            next_offset: 0,
        }];
        let positions: &[SourcePosition] = if flush.positions.is_empty() {
            &none
        } else {
            &flush.positions
        };
        for p in positions {
            batch.string(&flush.source);
            batch.i32(p.partition);
            batch.i64(p.first_offset);
            batch.i64(p.next_offset);
            batch.u64(batch_id);
            batch.u32(min_window);
            batch.u32(max_window);
            batch.u64(samples.rows as u64);
            batch.u32(now);
            batch.end_row();
        }
        store.insert(
            "batches",
            "source, partition, first_offset, next_offset, batch_id, min_window, max_window, rows, written_at",
            &batch,
        )
    }

    /// Writes `flush` without the position check (tests use it to reproduce two writers that
    /// raced through a rebalance), then runs the overlap check like [`Writer::write`].
    ///
    /// # Errors
    /// [`StoreError`] from ClickHouse.
    #[doc(hidden)]
    pub fn write_unchecked(&mut self, flush: &WindowFlush) -> Result<(), StoreError> {
        let batch_id = uuid::Uuid::new_v4().as_u64_pair().0;
        self.commit(flush, batch_id)?;
        self.void_overlaps(flush)
    }

    /// After a commit: ClickHouse has no transactions, so two writers that raced through a
    /// rebalance can both commit a range of the same partition. Among committed batches whose
    /// ranges overlap, the one reaching furthest (then the smallest id) stays and the others
    /// are voided; both writers decide the same way, and the later one always sees both.
    fn void_overlaps(&mut self, flush: &WindowFlush) -> Result<(), StoreError> {
        let db = self.store.inner.db.clone();
        for p in &flush.positions {
            let bytes = self.store.run(
                &format!(
                    "SELECT batch_id, first_offset, next_offset FROM `{db}`.batches \
                     WHERE source = {} AND partition = {} \
                     AND next_offset > {} AND first_offset < {} \
                     AND batch_id NOT IN (SELECT batch_id FROM `{db}`.voided_batches) \
                     FORMAT RowBinary",
                    quote(&flush.source),
                    p.partition,
                    p.first_offset,
                    p.next_offset
                ),
                "overlap check",
            )?;
            let mut r = RowReader::new(&bytes);
            let mut rows: Vec<(u64, i64, i64)> = Vec::new();
            while !r.is_empty() {
                rows.push((r.u64()?, r.i64()?, r.i64()?));
            }
            if rows.len() < 2 {
                continue;
            }
            // Keep the batch that reaches furthest, ties to the smallest id; void those that
            // overlap it.
            rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
            let (keep, keep_first, keep_next) = rows[0];
            let losers: Vec<u64> = rows[1..]
                .iter()
                .filter(|(_, first, next)| *next > keep_first && *first < keep_next)
                .map(|(id, _, _)| *id)
                .collect();
            if losers.is_empty() {
                continue;
            }
            tracing::warn!(
                partition = p.partition,
                keep,
                ?losers,
                "overlapping batches from a rebalance race; voiding the others"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32);
            let mut rows = RowBinary::new();
            for id in losers {
                rows.u64(id);
                rows.u32(now);
                rows.end_row();
            }
            self.store
                .insert("voided_batches", "batch_id, voided_at", &rows)?;
        }
        Ok(())
    }

    fn is_committed(&self, batch_id: u64) -> Result<bool, StoreError> {
        let text = self.store.query_text(&format!(
            "SELECT count() FROM `{}`.batches WHERE batch_id = {batch_id}",
            self.store.inner.db
        ))?;
        Ok(text.trim() != "0")
    }
}

impl Writer for ClickhouseWriter {
    fn write(&mut self, flush: &WindowFlush) -> Result<WriteOutcome, StoreError> {
        // A range already stored, whole or in part, is not written again.
        if !flush.positions.is_empty() {
            let stored: FxHashMap<i32, i64> = self
                .store
                .stored_positions(&flush.source)?
                .into_iter()
                .collect();
            for p in &flush.positions {
                let stored = stored.get(&p.partition).copied();
                let outcome = decide(p, stored);
                if outcome != WriteOutcome::Written {
                    return Ok(outcome);
                }
                if stored.is_some_and(|s| s < p.first_offset) {
                    tracing::warn!(
                        partition = p.partition,
                        stored,
                        first = p.first_offset,
                        "gap before this flush: offsets in between were never stored here"
                    );
                }
            }
        }
        let digest = digest(flush);
        if let Some((d, previous)) = self.last_failed {
            // Without positions nothing else tells a lost commit answer from a failed commit.
            if d == digest && flush.positions.is_empty() && self.is_committed(previous)? {
                self.last_failed = None;
                return Ok(WriteOutcome::Written);
            }
        }
        let batch_id = uuid::Uuid::new_v4().as_u64_pair().0;
        match self.commit(flush, batch_id) {
            Ok(()) => {
                self.last_failed = None;
                if let Err(e) = self.void_overlaps(flush) {
                    tracing::warn!(error = %e, "overlap check after the commit failed; the next write of this partition repeats it");
                }
                Ok(WriteOutcome::Written)
            }
            Err(e) => {
                self.last_failed = Some((digest, batch_id));
                Err(e)
            }
        }
    }

    fn positions(&mut self, source: &str) -> Result<Vec<SourcePosition>, StoreError> {
        Ok(self
            .store
            .stored_positions(source)?
            .into_iter()
            .map(|(partition, next_offset)| SourcePosition {
                partition,
                first_offset: next_offset,
                next_offset,
            })
            .collect())
    }

    fn kind(&self) -> &'static str {
        "clickhouse"
    }
}

impl Reader for ClickhouseStore {
    fn series(
        &self,
        tenant: &str,
        from_ns: i64,
        until_ns: i64,
    ) -> Result<Vec<StoredSeries>, StoreError> {
        let (from_s, until_s) = (ceil_secs(from_ns), ceil_secs(until_ns));
        if from_s >= until_s {
            return Ok(Vec::new());
        }
        let db = &self.inner.db;
        let t = quote(tenant);
        let bytes = self.run(
            &format!(
                "SELECT series_id, service_name, profile_type, labels, aggregation FROM `{db}`.series \
                 WHERE tenant = {t} AND series_id IN (\
                   SELECT series_id FROM `{db}`.series_windows \
                   WHERE tenant = {t} AND window_start >= toDateTime({from_s}) \
                   AND window_start < toDateTime({until_s}) AND {}) \
                 ORDER BY series_id FORMAT RowBinary",
                self.committed(from_s, until_s)
            ),
            "series",
        )?;
        let mut r = RowReader::new(&bytes);
        let mut out: Vec<StoredSeries> = Vec::new();
        while !r.is_empty() {
            let id = r.i64()?;
            let (service_name, pt, labels, agg) =
                (r.string()?, r.string()?, r.string()?, r.string()?);
            if out.last().is_some_and(|s| s.id == id) {
                continue; // not merged yet
            }
            if let Some(series) =
                StoredSeries::from_row(id, tenant, service_name, &pt, &labels, &agg)
            {
                out.push(series);
            }
        }
        Ok(out)
    }

    fn stack_totals(
        &self,
        series_ids: &[i64],
        from_ns: i64,
        until_ns: i64,
    ) -> Result<StackTotals, StoreError> {
        let mut totals = StackTotals::default();
        let (from_s, until_s) = (ceil_secs(from_ns), ceil_secs(until_ns));
        if series_ids.is_empty() || from_s >= until_s {
            return Ok(totals);
        }
        let db = &self.inner.db;
        let ids = int_list(series_ids);
        let range = format!(
            "series_id IN ({ids}) AND window_start >= toDateTime({from_s}) \
             AND window_start < toDateTime({until_s}) AND {}",
            self.committed(from_s, until_s)
        );
        // The tenant leads the sort key: naming it lets the primary index skip other tenants.
        let bytes = self.run(
            &format!(
                "SELECT series_id, stack_id, sum(value) FROM `{db}`.samples \
                 WHERE tenant IN (SELECT tenant FROM `{db}`.series WHERE series_id IN ({ids})) \
                 AND {range} GROUP BY series_id, stack_id ORDER BY series_id, stack_id \
                 FORMAT RowBinary"
            ),
            "stack totals",
        )?;
        let mut r = RowReader::new(&bytes);
        while !r.is_empty() {
            totals.rows.push((r.i64()?, r.i64()?, r.i64()?));
        }
        let bytes = self.run(
            &format!(
                "SELECT series_id, toInt64(sum(uploads)) FROM `{db}`.series_windows \
                 WHERE {range} GROUP BY series_id ORDER BY series_id FORMAT RowBinary"
            ),
            "uploads",
        )?;
        let mut r = RowReader::new(&bytes);
        while !r.is_empty() {
            totals.uploads.push((r.i64()?, r.i64()?));
        }
        let mut stack_ids: Vec<i64> = totals.rows.iter().map(|r| r.1).collect();
        stack_ids.sort_unstable();
        stack_ids.dedup();
        for chunk in stack_ids.chunks(STACK_CHUNK) {
            let bytes = self.run(
                &format!(
                    "SELECT stack_id, frames FROM `{db}`.stacks WHERE stack_id IN ({}) FORMAT RowBinary",
                    int_list(chunk)
                ),
                "stacks",
            )?;
            let mut r = RowReader::new(&bytes);
            while !r.is_empty() {
                let id = r.i64()?;
                let frames = r.strings_joined('\n')?;
                totals.stacks.insert(id, frames);
            }
        }
        Ok(totals)
    }

    fn timeline(
        &self,
        series_ids: &[i64],
        from_ns: i64,
        until_ns: i64,
    ) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
        let (from_s, until_s) = (ceil_secs(from_ns), ceil_secs(until_ns));
        if series_ids.is_empty() || from_s >= until_s {
            return Ok(Vec::new());
        }
        let db = &self.inner.db;
        let ids = int_list(series_ids);
        let range = format!(
            "series_id IN ({ids}) AND window_start >= toDateTime({from_s}) \
             AND window_start < toDateTime({until_s}) AND {}",
            self.committed(from_s, until_s)
        );
        let bytes = self.run(
            &format!(
                "SELECT toUInt32(window_start), series_id, toInt64(sum(uploads)) FROM `{db}`.series_windows \
                 WHERE {range} GROUP BY window_start, series_id FORMAT RowBinary"
            ),
            "timeline uploads",
        )?;
        let mut uploads: FxHashMap<(u32, i64), i64> = FxHashMap::default();
        let mut r = RowReader::new(&bytes);
        while !r.is_empty() {
            uploads.insert((r.u32()?, r.i64()?), r.i64()?);
        }
        let bytes = self.run(
            &format!(
                "SELECT toUInt32(window_start), series_id, sum(value) FROM `{db}`.samples \
                 WHERE tenant IN (SELECT tenant FROM `{db}`.series WHERE series_id IN ({ids})) \
                 AND {range} GROUP BY window_start, series_id \
                 ORDER BY window_start, series_id FORMAT RowBinary"
            ),
            "timeline",
        )?;
        let mut out = Vec::new();
        let mut r = RowReader::new(&bytes);
        while !r.is_empty() {
            let (w, sid, v) = (r.u32()?, r.i64()?, r.i64()?);
            // Like SQLite's join: a window counts when its uploads row was committed with it.
            if let Some(&n) = uploads.get(&(w, sid)) {
                out.push((i64::from(w) * NS, sid, v, n));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, db: &str) -> ClickhouseSettings {
        ClickhouseSettings {
            url: url.to_string(),
            database: db.to_string(),
            user: String::new(),
            password: "secret".to_string(),
            ttl_days: 0,
        }
    }

    #[test]
    fn new_checks_settings_without_io() {
        assert!(ClickhouseStore::new(settings("http://127.0.0.1:1", "flamestream")).is_ok());
        assert!(ClickhouseStore::new(settings("127.0.0.1:8123", "flamestream")).is_err());
        assert!(ClickhouseStore::new(settings("https://ch:8443", "flamestream")).is_err());
        let e = ClickhouseStore::new(settings("http://ch:8123", "a`b")).unwrap_err();
        assert!(e.to_string().contains("a`b"));
        assert!(!format!("{:?}", settings("http://x", "d")).contains("secret"));
    }

    #[test]
    fn unreachable_server_is_unavailable() {
        // Port 1 on loopback: refused at once.
        let store = ClickhouseStore::new(settings("http://127.0.0.1:1", "flamestream")).unwrap();
        assert!(matches!(store.ping(), Err(StoreError::Unavailable(_))));
        let mut w = store.writer().unwrap();
        assert!(matches!(w.positions("t"), Err(StoreError::Unavailable(_))));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"default:"), "ZGVmYXVsdDo=");
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(NS), 1);
        assert_eq!(ceil_secs(-5), 0);
        assert_eq!(ceil_secs(i64::MAX), i64::from(u32::MAX));
    }
}
