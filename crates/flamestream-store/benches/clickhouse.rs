//! Figures for the ClickHouse store against a real server (prints, no criterion statistics):
//! bytes on disk per gzipped byte ingested, insert throughput, and render latency of one app over
//! one hour of 10 s windows vs the raw `GROUP BY stack_id` SQL in the same run (and SQLite).
//!
//! ```text
//! ops/clickhouse.sh start
//! FLAMESTREAM_TEST_CLICKHOUSE_URL=http://127.0.0.1:18123 cargo bench -p flamestream-store --bench clickhouse
//! ```
//! `FLAMESTREAM_BENCH_WINDOWS` (default 360) sets how many windows are written;
//! `FLAMESTREAM_BENCH_JITTER=1` varies values per window (harder to compress).

use flamestream_formats::{decode_pprof, maybe_gunzip};
use flamestream_model::{
    FrameTable, LabelSet, Limits, SeriesKey, SourcePosition, StackMap, WindowFlush, WindowSeries,
};
use flamestream_store::clickhouse::{ClickhouseSettings, ClickhouseStore};
use flamestream_store::query;
use flamestream_store::selector::Selector;
use flamestream_store::sqlite::SqliteStore;
use flamestream_store::Writer;
use std::time::{Duration, Instant};

const NS: i64 = 1_000_000_000;
const FIXTURES: &[&str] = &[
    "parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
    "parca-dev-parca/pkg/query/testdata/fgprof.pb.gz",
    "parca-dev-parca/pkg/query/testdata/fib.pb.gz",
    "parca-dev-parca/pkg/query/testdata/profile-with-labels.pb.gz",
    "parca-dev-parca/pkg/query/testdata/profile1.pb.gz",
    "parca-dev-parca/pkg/query/testdata/single-stack.pb.gz",
    "parca-dev-parca/pkg/query/testdata/two-stacks.pb.gz",
    "parca-dev-parca/pkg/parca/testdata/labels.pb.gz",
];

struct App {
    name: String,
    gz_bytes: usize,
    series: Vec<(SeriesKey, flamestream_model::Aggregation, StackMap)>,
}

/// Decodes every fixture once, re-interning frames into one table.
fn load(frames: &mut FrameTable) -> Vec<App> {
    let root =
        std::env::var("FLAMESTREAM_FIXTURES").unwrap_or_else(|_| "/work/shared/fixtures".into());
    let limits = Limits::default();
    let mut apps = Vec::new();
    for rel in FIXTURES {
        let path = format!("{root}/{rel}");
        let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let raw = maybe_gunzip(&gz, false, 1 << 30).expect("gunzip");
        let p = decode_pprof(&raw, None, None, &limits).expect("decode");
        let name = rel
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".pb.gz")
            .to_string();
        let mut series = Vec::new();
        for s in &p.series {
            let mut samples = StackMap::new();
            for (stack, v) in s.samples.iter() {
                let ids: Vec<u32> = stack
                    .iter()
                    .map(|&f| frames.intern(p.frames.name(f)))
                    .collect();
                samples.add(&ids, v);
            }
            let mut labels = LabelSet::new();
            labels.extend(&s.labels);
            labels.insert("env", "bench");
            series.push((
                SeriesKey {
                    tenant: "anonymous".into(),
                    service_name: name.clone(),
                    profile_type: s.profile_type.clone(),
                    labels,
                },
                s.aggregation,
                samples,
            ));
        }
        apps.push(App {
            name,
            gz_bytes: gz.len(),
            series,
        });
    }
    apps
}

/// With `FLAMESTREAM_BENCH_JITTER=1`, every value of window `i` is scaled by a pseudo-random
/// 0.5–1.5 factor, so windows are not byte-identical (a harder case for compression).
fn jitter(samples: &StackMap, i: i64) -> StackMap {
    let mut out = samples.clone();
    if std::env::var("FLAMESTREAM_BENCH_JITTER").is_ok_and(|v| v == "1") {
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.map_values(|v| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (v * (50 + (x % 101) as i64) / 100).max(1)
        });
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let url = std::env::var("FLAMESTREAM_TEST_CLICKHOUSE_URL").expect(
        "start ClickHouse with `ops/clickhouse.sh start` (or run `ops/test.sh`) and set FLAMESTREAM_TEST_CLICKHOUSE_URL",
    );
    let windows: i64 = std::env::var("FLAMESTREAM_BENCH_WINDOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(360);
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no figures wanted.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut frames = FrameTable::new();
    let apps = load(&mut frames);
    let gz_per_window: usize = apps.iter().map(|a| a.gz_bytes).sum();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base = (now / 10) * 10 - windows * 10;
    let flushes: Vec<WindowFlush> = (0..windows)
        .map(|i| WindowFlush {
            frames: frames.clone(),
            series: apps
                .iter()
                .flat_map(|a| a.series.iter())
                .map(|(key, aggregation, samples)| WindowSeries {
                    key: key.clone(),
                    window_start_ns: (base + i * 10) * NS,
                    aggregation: *aggregation,
                    uploads: 1,
                    samples: jitter(samples, i),
                })
                .collect(),
            source: "profiles.raw".into(),
            positions: vec![SourcePosition {
                partition: 0,
                first_offset: i,
                next_offset: i + 1,
            }],
        })
        .collect();
    let rows: usize = flushes.iter().map(WindowFlush::row_count).sum();

    let db = format!(
        "fs_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let store = ClickhouseStore::new(ClickhouseSettings {
        url,
        database: db.clone(),
        user: String::new(),
        password: String::new(),
        ttl_days: 0,
    })
    .unwrap();
    let version = store.ping().unwrap();
    store.migrate().unwrap();
    let mut w = store.writer().unwrap();
    let t = Instant::now();
    for f in &flushes {
        w.write(f).unwrap();
    }
    let write = t.elapsed();

    let sqlite_path = std::env::temp_dir().join(format!("{db}.sqlite"));
    let lite = SqliteStore::open(&sqlite_path).unwrap();
    let mut lw = lite.writer().unwrap();
    let t = Instant::now();
    for f in &flushes {
        lw.write(f).unwrap();
    }
    let lite_write = t.elapsed();

    let disk = |store: &ClickhouseStore| -> Vec<(String, u64, u64)> {
        store
            .query_text(&format!(
                "SELECT table, sum(bytes_on_disk), sum(rows) FROM system.parts \
                 WHERE database = '{db}' AND active GROUP BY table ORDER BY table FORMAT TabSeparated"
            ))
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect()
    };
    let before: u64 = disk(&store).iter().map(|t| t.1).sum();
    for table in ["stacks", "series", "samples", "series_windows", "batches"] {
        store
            .query_text(&format!("OPTIMIZE TABLE `{db}`.{table} FINAL"))
            .unwrap();
    }
    let tables = disk(&store);
    let after: u64 = tables.iter().map(|t| t.1).sum();
    let ingested = gz_per_window as u64 * windows as u64;

    // Render: the app with the most stacks, its first profile type, over the whole range.
    let app = apps
        .iter()
        .max_by_key(|a| a.series.iter().map(|s| s.2.len()).sum::<usize>())
        .unwrap();
    let ptype = app.series[0].0.profile_type.id();
    let sel = Selector::parse(&format!("{ptype}{{service_name=\"{}\"}}", app.name)).unwrap();
    let (from, until) = (base * NS, (base + windows * 10) * NS);
    let mut render = Vec::new();
    let mut lite_render = Vec::new();
    let mut raw = Vec::new();
    let mut nodes = 0;
    let ids: Vec<i64> = query::merge(&store, "anonymous", &sel, from, until)
        .unwrap()
        .series
        .iter()
        .map(|s| s.id)
        .collect();
    let mut parts = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        let listed = flamestream_store::Reader::series(&store, "anonymous", from, until).unwrap();
        parts.0.push(t.elapsed());
        let t = Instant::now();
        let _ = flamestream_store::Reader::stack_totals(&store, &ids, from, until).unwrap();
        parts.1.push(t.elapsed());
        assert!(!listed.is_empty());
        let t = Instant::now();
        let m = query::merge(&store, "anonymous", &sel, from, until).unwrap();
        let fb = m.tree.flamebearer(1024);
        render.push(t.elapsed());
        nodes = fb.levels.iter().map(|l| l.len() / 4).sum::<usize>();
        let t = Instant::now();
        let m = query::merge(&lite, "anonymous", &sel, from, until).unwrap();
        let _ = m.tree.flamebearer(1024);
        lite_render.push(t.elapsed());
        let t = Instant::now();
        let out = store
            .query_text(&format!(
                "SELECT stack_id, sum(value) FROM `{db}`.samples WHERE series_id IN ({}) \
                 AND window_start >= toDateTime({base}) AND window_start < toDateTime({}) \
                 GROUP BY stack_id FORMAT RowBinary",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                base + windows * 10
            ))
            .unwrap();
        raw.push(t.elapsed());
        assert!(!out.is_empty());
    }
    let app_rows: usize =
        app.series.iter().take(1).map(|s| s.2.len()).sum::<usize>() * windows as usize;

    println!("clickhouse {version}, {windows} windows of 10 s, {} fixtures ({gz_per_window} gzipped bytes per window)", apps.len());
    println!("ingested (gzipped pprof): {ingested} bytes; rows (series × stack × window): {rows}");
    println!(
        "clickhouse on disk: {before} bytes before merges ({:.3}× ingested), {after} after OPTIMIZE FINAL ({:.3}×)",
        before as f64 / ingested as f64,
        after as f64 / ingested as f64
    );
    for (table, bytes, n) in &tables {
        println!("  {table:<15} {bytes:>10} bytes {n:>9} rows");
    }
    let lite_bytes = std::fs::metadata(&sqlite_path)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "sqlite file: {lite_bytes} bytes ({:.3}× ingested)",
        lite_bytes as f64 / ingested as f64
    );
    println!(
        "insert: clickhouse {} for {rows} rows = {:.0} rows/s ({:.1} ms per flush); sqlite {:.0} rows/s",
        ms(write),
        rows as f64 / write.as_secs_f64(),
        write.as_secs_f64() * 1e3 / windows as f64,
        rows as f64 / lite_write.as_secs_f64()
    );
    println!(
        "render `{}` {ptype} over {} s ({app_rows} stored rows, {nodes} nodes): clickhouse merge+flamebearer {} (median of 7), raw GROUP BY stack_id SQL {}, sqlite {}",
        app.name,
        windows * 10,
        ms(median(render)),
        ms(median(raw)),
        ms(median(lite_render))
    );
    println!(
        "  of which Reader::series {} and Reader::stack_totals {} (3 queries + frames in chunks of 1000 ids)",
        ms(median(parts.0)),
        ms(median(parts.1))
    );
    let _ = store.query_text(&format!("DROP DATABASE `{db}`"));
    let _ = std::fs::remove_file(&sqlite_path);
    let _ = std::fs::remove_file(sqlite_path.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(sqlite_path.with_extension("sqlite-shm"));
}
