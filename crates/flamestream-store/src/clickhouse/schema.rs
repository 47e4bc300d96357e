//! The ClickHouse DDL, in two dialects: the shared subset that Debian's 18.16 (the test server)
//! runs, and the modern one (major ≥ 22) that adds `LowCardinality`, `CODEC(...)` and `TTL`.

/// Tables a writer needs; `check_schema` looks for exactly these.
pub const TABLES: &[&str] = &[
    "stacks",
    "series",
    "samples",
    "series_windows",
    "batches",
    "voided_batches",
];

/// What the server can do, from `SELECT version()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Server major version (18 for Debian's 18.16, 24 for current releases).
    pub major: u32,
}

impl Dialect {
    /// Parses `18.16.1`, `24.8.4.13`.
    pub fn from_version(version: &str) -> Option<Dialect> {
        let major = version.trim().split('.').next()?.parse().ok()?;
        Some(Dialect { major })
    }

    /// `LowCardinality`, `CODEC` and `TTL` are used from 22.x on (TTL came in 19.6 and codecs
    /// in 19.x; 22 is the oldest release still in wide use). The tests run this dialect on
    /// ClickHouse 26.9 (`ops/clickhouse-modern.sh`) and the shared subset on 18.16.
    pub fn modern(self) -> bool {
        self.major >= 22
    }
}

/// The statements `migrate` runs, in order; every one is idempotent (`IF NOT EXISTS`).
pub fn statements(db: &str, dialect: Dialect, ttl_days: u32) -> Vec<String> {
    let m = dialect.modern();
    let lc = |t: &str| {
        if m {
            format!("LowCardinality({t})")
        } else {
            t.to_string()
        }
    };
    let codec = |c: &str| {
        if m {
            format!(" CODEC({c})")
        } else {
            String::new()
        }
    };
    let ttl = |col: &str| {
        if m && ttl_days > 0 {
            format!(" TTL {col} + INTERVAL {ttl_days} DAY")
        } else {
            String::new()
        }
    };
    let tenant = lc("String");
    vec![
        format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
        // Content-addressed stack dictionary: id = xxh3 of the frames joined by `\n`, root first.
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.stacks (\
             stack_id Int64, \
             frames Array(String){}\
             ) ENGINE = ReplacingMergeTree ORDER BY stack_id",
            codec("ZSTD(3)")
        ),
        // One row per series id (a fingerprint of the key); duplicates are identical.
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.series (\
             tenant {tenant}, \
             series_id Int64, \
             service_name {}, \
             profile_type {}, \
             labels String{}, \
             aggregation {}\
             ) ENGINE = ReplacingMergeTree ORDER BY (tenant, series_id)",
            lc("String"),
            lc("String"),
            codec("ZSTD(3)"),
            lc("String"),
        ),
        // Rows count only when their batch_id is in `batches`.
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.samples (\
             tenant {tenant}, \
             series_id Int64, \
             window_start DateTime{}, \
             stack_id Int64{}, \
             value Int64{}, \
             batch_id UInt64{}\
             ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(window_start) \
             ORDER BY (tenant, series_id, window_start, stack_id){}",
            codec("DoubleDelta, ZSTD(1)"),
            codec("ZSTD(1)"),
            codec("T64, ZSTD(1)"),
            codec("ZSTD(1)"),
            ttl("window_start"),
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.series_windows (\
             tenant {tenant}, \
             series_id Int64, \
             window_start DateTime{}, \
             uploads UInt32, \
             batch_id UInt64{}\
             ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(window_start) \
             ORDER BY (tenant, series_id, window_start){}",
            codec("DoubleDelta, ZSTD(1)"),
            codec("ZSTD(1)"),
            ttl("window_start"),
        ),
        // The commit point: one INSERT (one block, atomic) per write. `partition` is -1 for
        // flushes without source positions (embedded mode). No TTL: positions must outlive data.
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.batches (\
             source String, \
             partition Int32, \
             first_offset Int64, \
             next_offset Int64, \
             batch_id UInt64, \
             min_window DateTime, \
             max_window DateTime, \
             rows UInt64, \
             written_at DateTime\
             ) ENGINE = MergeTree ORDER BY (source, partition, next_offset)"
        ),
        // Committed batches that overlap an earlier one of the same partition (two writers
        // raced through a rebalance): readers leave them out, so nothing counts twice.
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.voided_batches (\
             batch_id UInt64, \
             voided_at DateTime\
             ) ENGINE = MergeTree ORDER BY batch_id"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            Dialect::from_version("18.16.1"),
            Some(Dialect { major: 18 })
        );
        assert_eq!(
            Dialect::from_version("24.8.4.13\n"),
            Some(Dialect { major: 24 })
        );
        assert_eq!(Dialect::from_version("x"), None);
        assert!(!Dialect { major: 21 }.modern());
        assert!(Dialect { major: 22 }.modern());
    }

    #[test]
    fn old_servers_get_the_shared_subset() {
        let old = statements("fs", Dialect { major: 18 }, 30).join("\n");
        for word in ["CODEC", "TTL", "LowCardinality"] {
            assert!(!old.contains(word), "{word} in 18.x DDL");
        }
        let new = statements("fs", Dialect { major: 24 }, 30).join("\n");
        assert!(new.contains("TTL window_start + INTERVAL 30 DAY"));
        assert!(new.contains("LowCardinality(String)"));
        let no_ttl = statements("fs", Dialect { major: 24 }, 0).join("\n");
        assert!(!no_ttl.contains("TTL"));
    }
}
