//! The embedded store: one SQLite file (WAL), the same logical schema as ClickHouse.
//!
//! Tables: `series` (id → tenant, service, profile type, labels), `stacks` (id → frames),
//! `samples` (series, window, stack → value, summed on conflict), `series_windows` (uploads per
//! series and window, for averaging) and `source_positions` (what each flush covered, written in
//! the same transaction, so a flush is stored exactly once).

use crate::{decide, Reader, StackTotals, StoreError, StoredSeries, WriteOutcome, Writer};
use flamestream_model::{SourcePosition, WindowFlush};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (
    series_id    INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    service_name TEXT NOT NULL,
    profile_type TEXT NOT NULL,
    labels       TEXT NOT NULL,
    aggregation  TEXT NOT NULL,
    first_window INTEGER NOT NULL,
    last_window  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_tenant ON series (tenant, last_window);
CREATE TABLE IF NOT EXISTS stacks (
    stack_id INTEGER PRIMARY KEY,
    frames   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    series_id    INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    PRIMARY KEY (series_id, window_start, stack_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series_windows (
    series_id    INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    uploads      INTEGER NOT NULL,
    PRIMARY KEY (series_id, window_start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS source_positions (
    source      TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (source, partition)
) WITHOUT ROWID;
";

/// The SQLite store at one file path.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when absent) the database at `path` and applies the schema.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be created or the schema applied.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Other(format!(
                    "cannot create data directory `{}`: {e}",
                    dir.display()
                ))
            })?;
        }
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A writer holding its own connection.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened.
    pub fn writer(&self) -> Result<SqliteWriter, StoreError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(SqliteWriter { conn })
    }

    fn read_conn(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }
}

/// Writes flushes through one connection.
pub struct SqliteWriter {
    conn: Connection,
}

fn id_list(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 20);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s
}

impl Writer for SqliteWriter {
    fn write(&mut self, flush: &WindowFlush) -> Result<WriteOutcome, StoreError> {
        let tx = self.conn.transaction()?;
        // A range already stored, whole or in part, is not written again.
        for p in &flush.positions {
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT next_offset FROM source_positions WHERE source = ?1 AND partition = ?2",
                    params![flush.source, p.partition],
                    |r| r.get(0),
                )
                .optional()?;
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
        {
            let mut put_series = tx.prepare_cached(
                "INSERT INTO series (series_id, tenant, service_name, profile_type, labels, aggregation, first_window, last_window)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (series_id) DO UPDATE SET
                   first_window = min(first_window, excluded.first_window),
                   last_window = max(last_window, excluded.last_window)",
            )?;
            let mut put_stack = tx.prepare_cached(
                "INSERT OR IGNORE INTO stacks (stack_id, frames) VALUES (?1, ?2)",
            )?;
            let mut put_sample = tx.prepare_cached(
                "INSERT INTO samples (series_id, window_start, stack_id, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (series_id, window_start, stack_id) DO UPDATE SET value = value + excluded.value",
            )?;
            let mut put_uploads = tx.prepare_cached(
                "INSERT INTO series_windows (series_id, window_start, uploads) VALUES (?1, ?2, ?3)
                 ON CONFLICT (series_id, window_start) DO UPDATE SET uploads = uploads + excluded.uploads",
            )?;
            let mut stack_ids = rustc_hash::FxHashMap::default();
            for s in &flush.series {
                let sid = s.key.fingerprint();
                put_series.execute(params![
                    sid,
                    s.key.tenant,
                    s.key.service_name,
                    s.key.profile_type.id(),
                    s.key.labels.to_string(),
                    s.aggregation.as_str(),
                    s.window_start_ns
                ])?;
                put_uploads.execute(params![sid, s.window_start_ns, s.uploads])?;
                for (stack, value) in s.samples.iter() {
                    let stack_id = match stack_ids.get(stack) {
                        Some(&id) => id,
                        None => {
                            let (id, text) = flush.stack_text(stack);
                            put_stack.execute(params![id, text])?;
                            stack_ids.insert(stack.to_vec(), id);
                            id
                        }
                    };
                    put_sample.execute(params![sid, s.window_start_ns, stack_id, value])?;
                }
            }
            let mut put_pos = tx.prepare_cached(
                "INSERT INTO source_positions (source, partition, next_offset) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source, partition) DO UPDATE SET next_offset = excluded.next_offset",
            )?;
            for p in &flush.positions {
                put_pos.execute(params![flush.source, p.partition, p.next_offset])?;
            }
        }
        tx.commit()?;
        tracing::debug!(positions = ?flush.positions, rows = flush.row_count(), "flush written");
        Ok(WriteOutcome::Written)
    }

    fn positions(&mut self, source: &str) -> Result<Vec<SourcePosition>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT partition, next_offset FROM source_positions WHERE source = ?1 ORDER BY partition")?;
        let rows = st.query_map(params![source], |r| {
            let next_offset = r.get(1)?;
            Ok(SourcePosition {
                partition: r.get(0)?,
                first_offset: next_offset,
                next_offset,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

impl Reader for SqliteStore {
    fn series(
        &self,
        tenant: &str,
        from_ns: i64,
        until_ns: i64,
    ) -> Result<Vec<StoredSeries>, StoreError> {
        let conn = self.read_conn()?;
        let mut st = conn.prepare(
            "SELECT series_id, service_name, profile_type, labels, aggregation FROM series
             WHERE tenant = ?1 AND last_window >= ?2 AND first_window < ?3",
        )?;
        // A window starting before `from` may still overlap it.
        let rows = st.query_map(
            params![tenant, from_ns - 3_600_000_000_000, until_ns],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, service_name, pt, labels, agg) = row?;
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
        if series_ids.is_empty() {
            return Ok(totals);
        }
        let conn = self.read_conn()?;
        let ids = id_list(series_ids);
        let mut st = conn.prepare(&format!(
            "SELECT series_id, stack_id, SUM(value) FROM samples
             WHERE series_id IN ({ids}) AND window_start >= ?1 AND window_start < ?2
             GROUP BY series_id, stack_id"
        ))?;
        let rows = st.query_map(params![from_ns, until_ns], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        for row in rows {
            totals.rows.push(row?);
        }
        let mut st = conn.prepare(&format!(
            "SELECT series_id, SUM(uploads) FROM series_windows
             WHERE series_id IN ({ids}) AND window_start >= ?1 AND window_start < ?2 GROUP BY series_id"
        ))?;
        let rows = st.query_map(params![from_ns, until_ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            totals.uploads.push(row?);
        }
        let mut stack_ids: Vec<i64> = totals.rows.iter().map(|r| r.1).collect();
        stack_ids.sort_unstable();
        stack_ids.dedup();
        for chunk in stack_ids.chunks(500) {
            let mut st = conn.prepare(&format!(
                "SELECT stack_id, frames FROM stacks WHERE stack_id IN ({})",
                id_list(chunk)
            ))?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, frames) = row?;
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
        if series_ids.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.read_conn()?;
        let ids = id_list(series_ids);
        let mut st = conn.prepare(&format!(
            "SELECT s.window_start, s.series_id, SUM(s.value), w.uploads FROM samples s
             JOIN series_windows w ON w.series_id = s.series_id AND w.window_start = s.window_start
             WHERE s.series_id IN ({ids}) AND s.window_start >= ?1 AND s.window_start < ?2
             GROUP BY s.window_start, s.series_id ORDER BY s.window_start"
        ))?;
        let rows = st.query_map(params![from_ns, until_ns], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
