//! The ClickHouse store against real ClickHouse (no mocks), twice: each test runs on Debian's
//! server 18.16 (the DDL's shared subset) and on ClickHouse 26.9 (the modern dialect with
//! `LowCardinality`, codecs and TTL, which is what users run).
//!
//! Needs `FLAMESTREAM_TEST_CLICKHOUSE_URL` (e.g. `http://127.0.0.1:18123`, what
//! `ops/clickhouse.sh start` prints) and `FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL` (what
//! `ops/clickhouse-modern.sh start` prints: chDB, the ClickHouse engine in-process, behind a small
//! HTTP front, since no 22+ server package installs here); every test fails loudly without them.
//! `ops/test.sh` starts both. Each test works in its own random database and drops it at the end. The stop/restart test starts a private server
//! through `ops/clickhouse.sh` on free ports, so the shared server is never stopped.

use flamestream_model::{
    Aggregation, FrameTable, LabelSet, ProfileType, SeriesKey, SourcePosition, StackMap,
    WindowFlush, WindowSeries,
};
use flamestream_store::clickhouse::{ClickhouseSettings, ClickhouseStore};
use flamestream_store::query;
use flamestream_store::selector::Selector;
use flamestream_store::sqlite::SqliteStore;
use flamestream_store::{Reader, StoreError, WriteOutcome, Writer};
use std::path::PathBuf;
use std::process::Command;

const NS: i64 = 1_000_000_000;

/// The two servers every test below (but the stop/restart one) runs against.
#[derive(Clone, Copy)]
enum Server {
    /// Debian's clickhouse-server 18.16 (`ops/clickhouse.sh`): the DDL's shared subset.
    Debian,
    /// ClickHouse 26.9 as chDB behind `ops/clickhouse-modern.sh`'s HTTP front: the modern
    /// dialect (`LowCardinality`, `CODEC`, `TTL`).
    Modern,
}

impl Server {
    fn url(self) -> String {
        let (var, start) = match self {
            Server::Debian => ("FLAMESTREAM_TEST_CLICKHOUSE_URL", "ops/clickhouse.sh start"),
            Server::Modern => (
                "FLAMESTREAM_TEST_CLICKHOUSE_MODERN_URL",
                "ops/clickhouse-modern.sh start",
            ),
        };
        match std::env::var(var) {
            Ok(u) if !u.trim().is_empty() => u,
            _ => panic!(
                "{var} is not set: start the server with `{start}` (or run `ops/test.sh`) and set {var} to the URL it prints"
            ),
        }
    }
}

/// Runs each listed test body once per [`Server`], as `debian_18::NAME` and `modern::NAME`.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod debian_18 {
            $(#[test]
            fn $name() {
                super::$name(super::Server::Debian)
            })*
        }
        mod modern {
            $(#[test]
            fn $name() {
                super::$name(super::Server::Modern)
            })*
        }
    };
}

on_both_servers!(
    migrate_creates_the_schema_and_is_idempotent,
    sql_errors_carry_clickhouses_message,
    reads_match_sqlite_fed_the_same_flushes,
    decide_semantics_and_positions,
    orphaned_rows_of_an_uncommitted_write_are_never_counted,
    overlapping_batches_of_a_rebalance_race_count_once,
);

fn random_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// A store in a fresh database, dropped with the guard.
struct TestDb {
    store: ClickhouseStore,
}

impl TestDb {
    fn on(server: Server) -> TestDb {
        Self::at(&server.url())
    }

    fn at(url: &str) -> TestDb {
        let store = ClickhouseStore::new(ClickhouseSettings {
            url: url.to_string(),
            database: random_name("fs_test"),
            user: String::new(),
            password: String::new(),
            ttl_days: 7,
        })
        .expect("settings");
        store.migrate().expect("migrate");
        TestDb { store }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.store.query_text(&format!(
            "DROP DATABASE IF EXISTS `{}`",
            self.store.database()
        ));
    }
}

fn sqlite() -> (SqliteStore, PathBuf) {
    let path = std::env::temp_dir().join(format!("{}.db", random_name("fs_ch_cmp")));
    (SqliteStore::open(&path).expect("sqlite"), path)
}

fn cpu() -> ProfileType {
    ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap()
}

fn heap() -> ProfileType {
    ProfileType::parse("memory:inuse_space:bytes:space:bytes").unwrap()
}

/// A recent, 10 s aligned time (modern servers drop rows already past their TTL).
fn base_s() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now / 10) * 10 - 6 * 3600
}

struct Item<'a> {
    tenant: &'a str,
    app: &'a str,
    ptype: ProfileType,
    labels: &'a [(&'a str, &'a str)],
    window_s: i64,
    uploads: u32,
    stacks: &'a [(&'a [&'a str], i64)],
}

fn item<'a>(
    app: &'a str,
    labels: &'a [(&'a str, &'a str)],
    window_s: i64,
    stacks: &'a [(&'a [&'a str], i64)],
) -> Item<'a> {
    Item {
        tenant: "anonymous",
        app,
        ptype: cpu(),
        labels,
        window_s,
        uploads: 1,
        stacks,
    }
}

fn flush(items: &[Item<'_>], positions: &[(i32, i64, i64)]) -> WindowFlush {
    let mut frames = FrameTable::new();
    let mut series = Vec::new();
    for it in items {
        let mut samples = StackMap::new();
        for (stack, v) in it.stacks {
            let ids: Vec<u32> = stack.iter().map(|f| frames.intern(f)).collect();
            samples.add(&ids, *v);
        }
        let aggregation = if it.ptype == heap() {
            Aggregation::Average
        } else {
            Aggregation::Sum
        };
        series.push(WindowSeries {
            key: SeriesKey {
                tenant: it.tenant.to_string(),
                service_name: it.app.to_string(),
                profile_type: it.ptype.clone(),
                labels: LabelSet::from_pairs(it.labels.iter().copied()),
            },
            window_start_ns: it.window_s * NS,
            aggregation,
            uploads: it.uploads,
            samples,
        });
    }
    WindowFlush {
        frames,
        series,
        source: "profiles.raw".to_string(),
        positions: positions
            .iter()
            .map(|&(partition, first_offset, next_offset)| SourcePosition {
                partition,
                first_offset,
                next_offset,
            })
            .collect(),
    }
}

/// Flushes with several tenants, apps, label sets (with quotes, backslashes, unicode), an
/// average type, late data for an already written window, and frames that need escaping.
fn corpus(b: i64) -> Vec<WindowFlush> {
    let main: &[&str] = &["main", "run", "work"];
    let io: &[&str] = &["main", "run", "io::read"];
    let odd: &[&str] = &["main", "it's \"quoted\" \\ back\\slash", "火焰\tframe"];
    let gc: &[&str] = &["runtime.gcBgMarkWorker"];
    let labels_a: &[(&str, &str)] = &[("env", "prod"), ("region", "cn")];
    let labels_b: &[(&str, &str)] = &[("env", "dev's \"x\"\\"), ("pod", "p-1")];
    let mut out = Vec::new();
    for i in 0..12 {
        let w = b + i * 10;
        let mut items = vec![
            item("api", labels_a, w, &[]),
            item("api", labels_b, w, &[]),
            item("worker", &[], w, &[]),
        ];
        let stacks_a: Vec<(&[&str], i64)> = vec![(main, 100 + i), (io, 7 * i + 1)];
        let stacks_b: Vec<(&[&str], i64)> = vec![(odd, 3), (main, 1)];
        let stacks_w: Vec<(&[&str], i64)> = vec![(gc, 1000 * (i + 1))];
        items[0].stacks = Box::leak(stacks_a.into_boxed_slice());
        items[1].stacks = Box::leak(stacks_b.into_boxed_slice());
        items[2].stacks = Box::leak(stacks_w.into_boxed_slice());
        items.push(Item {
            ptype: heap(),
            uploads: 2 + (i as u32 % 3),
            ..item(
                "api",
                labels_a,
                w,
                Box::leak(vec![(main, 4096 * (i + 1))].into_boxed_slice()),
            )
        });
        items.push(Item {
            tenant: "team-b",
            ..item(
                "api",
                labels_a,
                w,
                Box::leak(vec![(io, 5)].into_boxed_slice()),
            )
        });
        out.push(flush(&items, &[(0, i * 100, i * 100 + 100)]));
    }
    // Late data for window 3 in its own flush: sums with what is stored.
    out.push(flush(
        &[
            item(
                "api",
                labels_a,
                b + 30,
                Box::leak(vec![(main, 11), (odd, 2)].into_boxed_slice()),
            ),
            Item {
                ptype: heap(),
                ..item(
                    "api",
                    labels_a,
                    b + 30,
                    Box::leak(vec![(main, 100)].into_boxed_slice()),
                )
            },
        ],
        &[(1, 0, 3)],
    ));
    // An embedded-mode flush (no positions).
    out.push(flush(
        &[item(
            "worker",
            &[],
            b + 50,
            Box::leak(vec![(gc, 1)].into_boxed_slice()),
        )],
        &[],
    ));
    out
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn assert_same(ch: &ClickhouseStore, lite: &SqliteStore, tenant: &str, from: i64, until: i64) {
    let ctx = format!("tenant {tenant} range [{from}, {until})");
    let a = ch.series(tenant, from, until).unwrap();
    let b = lite.series(tenant, from, until).unwrap();
    let show = |v: &[flamestream_store::StoredSeries]| -> Vec<String> {
        sorted(
            v.iter()
                .map(|s| format!("{} {:?} {:?}", s.id, s.key, s.aggregation))
                .collect(),
        )
    };
    assert_eq!(show(&a), show(&b), "series, {ctx}");
    let ids: Vec<i64> = a.iter().map(|s| s.id).collect();
    let ta = ch.stack_totals(&ids, from, until).unwrap();
    let tb = lite.stack_totals(&ids, from, until).unwrap();
    assert_eq!(
        sorted(ta.rows.clone()),
        sorted(tb.rows.clone()),
        "stack rows, {ctx}"
    );
    assert_eq!(
        sorted(ta.uploads.clone()),
        sorted(tb.uploads.clone()),
        "uploads, {ctx}"
    );
    assert_eq!(ta.stacks, tb.stacks, "stack frames, {ctx}");
    assert_eq!(
        sorted(ch.timeline(&ids, from, until).unwrap()),
        sorted(lite.timeline(&ids, from, until).unwrap()),
        "timeline, {ctx}"
    );
    for q in [
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"api\"}",
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"api\",env=\"prod\"}",
        "memory:inuse_space:bytes:space:bytes{service_name=\"api\"}",
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{}",
    ] {
        let sel = Selector::parse(q).unwrap();
        let ma = query::merge(ch, tenant, &sel, from, until).unwrap();
        let mb = query::merge(lite, tenant, &sel, from, until).unwrap();
        assert_eq!(
            ma.tree.flamebearer(1024),
            mb.tree.flamebearer(1024),
            "flamebearer {q}, {ctx}"
        );
        assert_eq!(
            query::timeline(ch, &ma.series, from, until).unwrap(),
            query::timeline(lite, &mb.series, from, until).unwrap(),
            "query timeline {q}, {ctx}"
        );
    }
}

fn migrate_creates_the_schema_and_is_idempotent(server: Server) {
    let db = TestDb::on(server);
    let version = db.store.ping().unwrap();
    assert!(
        version.split('.').next().unwrap().parse::<u32>().is_ok(),
        "{version}"
    );
    db.store.check_schema().unwrap();
    let again = db.store.migrate().unwrap();
    assert_eq!(again.len(), 7, "{again:?}");
    db.store.check_schema().unwrap();
    let tables = db
        .store
        .query_text(&format!(
            "SELECT name FROM system.tables WHERE database = '{}' ORDER BY name FORMAT TabSeparated",
            db.store.database()
        ))
        .unwrap();
    assert_eq!(
        tables,
        "batches\nsamples\nseries\nseries_windows\nstacks\nvoided_batches\n"
    );

    // Each server got its dialect: the extras only where the version has them.
    let samples = db
        .store
        .query_text(&format!(
            "SHOW CREATE TABLE `{}`.samples FORMAT TabSeparatedRaw",
            db.store.database()
        ))
        .unwrap();
    for extra in [
        "LowCardinality(String)",
        "CODEC(DoubleDelta, ZSTD(1))",
        "TTL window_start",
    ] {
        match server {
            Server::Modern => assert!(samples.contains(extra), "{extra} missing: {samples}"),
            Server::Debian => assert!(!samples.contains(extra), "{extra} on 18.x: {samples}"),
        }
    }

    // A database that was never migrated: writers are told what to do.
    let missing = ClickhouseStore::new(ClickhouseSettings {
        url: server.url(),
        database: random_name("fs_absent"),
        user: String::new(),
        password: String::new(),
        ttl_days: 0,
    })
    .unwrap();
    match missing.check_schema() {
        Err(StoreError::Other(m)) => assert!(m.contains("run `flamestream migrate`"), "{m}"),
        other => panic!("expected a migrate hint, got {other:?}"),
    }
}

fn sql_errors_carry_clickhouses_message(server: Server) {
    let db = TestDb::on(server);
    match db.store.query_text("SELECT * FROM no_such_table_here") {
        Err(StoreError::Other(m)) => assert!(m.contains("no_such_table_here"), "{m}"),
        other => panic!("expected Other, got {other:?}"),
    }
    // Client-side binding survives every awkward byte.
    let nasty = "a'b\\c\n\t\0\"; DROP DATABASE x; -- 火";
    let echoed = db
        .store
        .query_text(&format!(
            "SELECT {} FORMAT RowBinary",
            flamestream_store::clickhouse::sql::quote(nasty)
        ))
        .unwrap();
    assert_eq!(&echoed.as_bytes()[1..], nasty.as_bytes());
}

fn reads_match_sqlite_fed_the_same_flushes(server: Server) {
    let db = TestDb::on(server);
    let (lite, path) = sqlite();
    let mut cw = db.store.writer().unwrap();
    let mut lw = lite.writer().unwrap();
    let b = base_s();
    for f in corpus(b) {
        assert_eq!(cw.write(&f).unwrap(), WriteOutcome::Written);
        assert_eq!(lw.write(&f).unwrap(), WriteOutcome::Written);
    }
    assert_eq!(
        cw.positions("profiles.raw").unwrap(),
        lw.positions("profiles.raw").unwrap()
    );
    for tenant in ["anonymous", "team-b", "nobody"] {
        // The whole range, and ranges whose ends fall inside seconds.
        assert_same(&db.store, &lite, tenant, b * NS, (b + 120) * NS);
        assert_same(&db.store, &lite, tenant, (b - 7200) * NS, (b + 7200) * NS);
        assert_same(&db.store, &lite, tenant, b * NS - 1, (b + 120) * NS + 1);
    }
    // Partial ranges: SQLite lists series by first/last window (with 1 h of slack), ClickHouse
    // by committed windows in the range, so compare the data for the same ids.
    let all: Vec<i64> = lite
        .series("anonymous", b * NS, (b + 120) * NS)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    for (from, until) in [
        (b + 30, b + 31),
        (b + 25, b + 65),
        (b + 31, b + 40),
        (b + 119, b + 500),
    ] {
        let (from, until) = (from * NS, until * NS);
        let ta = db.store.stack_totals(&all, from, until).unwrap();
        let tb = lite.stack_totals(&all, from, until).unwrap();
        assert_eq!(sorted(ta.rows), sorted(tb.rows), "[{from}, {until})");
        assert_eq!(sorted(ta.uploads), sorted(tb.uploads));
        assert_eq!(ta.stacks, tb.stacks);
        assert_eq!(
            sorted(db.store.timeline(&all, from, until).unwrap()),
            sorted(lite.timeline(&all, from, until).unwrap())
        );
        // Every series ClickHouse lists has data in the range.
        for s in db.store.series("anonymous", from, until).unwrap() {
            let t = db.store.stack_totals(&[s.id], from, until).unwrap();
            assert!(!t.uploads.is_empty(), "{s:?} listed without data");
        }
    }
    let _ = std::fs::remove_file(path);
}

fn decide_semantics_and_positions(server: Server) {
    let db = TestDb::on(server);
    let mut w = db.store.writer().unwrap();
    let b = base_s();
    let main: &[&str] = &["main", "work"];
    let one = |first: i64, next: i64, part: i32| {
        flush(
            &[item("app", &[], b, &[(main, 10)])],
            &[(part, first, next)],
        )
    };
    let total = |store: &ClickhouseStore| -> i64 {
        let ids: Vec<i64> = store
            .series("anonymous", b * NS, (b + 10) * NS)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        store
            .stack_totals(&ids, b * NS, (b + 10) * NS)
            .unwrap()
            .rows
            .iter()
            .map(|r| r.2)
            .sum()
    };
    assert!(w.positions("profiles.raw").unwrap().is_empty());
    assert_eq!(w.write(&one(0, 10, 0)).unwrap(), WriteOutcome::Written);
    assert_eq!(
        w.write(&one(0, 10, 0)).unwrap(),
        WriteOutcome::AlreadyStored
    );
    assert_eq!(w.write(&one(3, 8, 0)).unwrap(), WriteOutcome::AlreadyStored);
    assert_eq!(
        w.write(&one(5, 15, 0)).unwrap(),
        WriteOutcome::Conflict {
            partition: 0,
            stored_next: 10
        }
    );
    // A second writer (a restarted process) sees the same positions.
    let mut w2 = db.store.writer().unwrap();
    assert_eq!(
        w2.write(&one(0, 10, 0)).unwrap(),
        WriteOutcome::AlreadyStored
    );
    assert_eq!(w2.write(&one(10, 20, 0)).unwrap(), WriteOutcome::Written);
    assert_eq!(w2.write(&one(0, 4, 1)).unwrap(), WriteOutcome::Written);
    assert_eq!(w2.write(&one(30, 40, 1)).unwrap(), WriteOutcome::Written); // a gap: warned
    assert_eq!(total(&db.store), 40);
    let pos = w.positions("profiles.raw").unwrap();
    assert_eq!(
        pos,
        vec![
            SourcePosition {
                partition: 0,
                first_offset: 20,
                next_offset: 20
            },
            SourcePosition {
                partition: 1,
                first_offset: 40,
                next_offset: 40
            },
        ]
    );
    assert!(w.positions("other.topic").unwrap().is_empty());
    // Flushes without positions are always written and never show up as positions.
    assert_eq!(
        w.write(&one(0, 0, 0).tap_positions(Vec::new())).unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(total(&db.store), 50);
    assert_eq!(w.positions("profiles.raw").unwrap(), pos);
    assert_eq!(w.kind(), "clickhouse");
}

trait TapPositions {
    fn tap_positions(self, p: Vec<SourcePosition>) -> Self;
}

impl TapPositions for WindowFlush {
    fn tap_positions(mut self, p: Vec<SourcePosition>) -> Self {
        self.positions = p;
        self
    }
}

fn orphaned_rows_of_an_uncommitted_write_are_never_counted(server: Server) {
    let db = TestDb::on(server);
    let (lite, path) = sqlite();
    let b = base_s();
    let mut w = db.store.writer().unwrap();
    let mut lw = lite.writer().unwrap();
    let f = flush(
        &[item("app", &[], b, &[(&["main", "work"], 10)])],
        &[(0, 0, 5)],
    );
    w.write(&f).unwrap();
    lw.write(&f).unwrap();
    // A writer that crashed after its data inserts and before its `batches` row: rows of a
    // committed series, and of a series (and tenant) that exists nowhere else.
    let d = db.store.database();
    let series_id = f.series[0].key.fingerprint();
    let (_, stack) = f.stack_text(f.series[0].samples.iter().next().unwrap().0);
    let stack_id = flamestream_model::flush::stack_id(&stack);
    let orphan: u64 = 0xdead_beef;
    for (tenant, sid) in [("anonymous", series_id), ("ghost", 42)] {
        db.store
            .query_text(&format!(
                "INSERT INTO `{d}`.samples VALUES ('{tenant}', {sid}, toDateTime({b}), {stack_id}, 1000000, {orphan})"
            ))
            .unwrap();
        db.store
            .query_text(&format!(
                "INSERT INTO `{d}`.series_windows VALUES ('{tenant}', {sid}, toDateTime({b}), 7, {orphan})"
            ))
            .unwrap();
        if sid == series_id {
            continue; // its series row exists already, identical (the id is a fingerprint)
        }
        db.store
            .query_text(&format!(
                "INSERT INTO `{d}`.series VALUES ('{tenant}', {sid}, 'ghost', 'process_cpu:cpu:nanoseconds:cpu:nanoseconds', '{{}}', 'sum')"
            ))
            .unwrap();
    }
    assert_same(&db.store, &lite, "anonymous", b * NS, (b + 10) * NS);
    assert!(db
        .store
        .series("ghost", b * NS, (b + 10) * NS)
        .unwrap()
        .is_empty());
    assert!(db
        .store
        .stack_totals(&[42], b * NS, (b + 10) * NS)
        .unwrap()
        .rows
        .is_empty());
    // The retry of the crashed write commits under a new batch id: counted once.
    let g = flush(
        &[item("app", &[], b, &[(&["main", "work"], 10)])],
        &[(0, 5, 9)],
    );
    w.write(&g).unwrap();
    lw.write(&g).unwrap();
    assert_same(&db.store, &lite, "anonymous", b * NS, (b + 10) * NS);
    let _ = std::fs::remove_file(path);
}

/// A private clickhouse-server started through `ops/clickhouse.sh`, on free ports, in a temp
/// state directory; stopped and deleted on drop.
struct PrivateServer {
    state: PathBuf,
    http_port: u16,
    tcp_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateServer {
    fn start() -> PrivateServer {
        let state = std::env::temp_dir().join(random_name("fs_ch_private"));
        let s = PrivateServer {
            state,
            http_port: free_port(),
            tcp_port: free_port(),
        };
        s.ops("start");
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn ops(&self, cmd: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ops/clickhouse.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(cmd)
            .env("FLAMESTREAM_OPS_STATE", &self.state)
            .env(
                "FLAMESTREAM_CLICKHOUSE_HTTP_PORT",
                self.http_port.to_string(),
            )
            .env("FLAMESTREAM_CLICKHOUSE_TCP_PORT", self.tcp_port.to_string())
            .output()
            .expect("run ops/clickhouse.sh");
        assert!(
            out.status.success(),
            "ops/clickhouse.sh {cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.ops("stop");
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn server_stopped_mid_stream_is_unavailable_then_writing_resumes_exactly() {
    Server::Debian.url(); // fail loudly like the others when the environment is not set up
    let server = PrivateServer::start();
    let db = TestDb::at(&server.url());
    let (lite, path) = sqlite();
    let mut w = db.store.writer().unwrap();
    let mut lw = lite.writer().unwrap();
    let b = base_s();
    let flushes = corpus(b);
    let (first, rest) = flushes.split_at(5);
    for f in first {
        assert_eq!(w.write(f).unwrap(), WriteOutcome::Written);
        lw.write(f).unwrap();
    }
    server.ops("stop");
    match w.write(&rest[0]) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("clickhouse"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(db.store.ping(), Err(StoreError::Unavailable(_))));
    assert!(matches!(
        db.store.series("anonymous", b * NS, (b + 120) * NS),
        Err(StoreError::Unavailable(_))
    ));
    server.ops("start");
    // The pipeline retries the same flush, then carries on.
    for f in rest {
        assert_eq!(w.write(f).unwrap(), WriteOutcome::Written);
        lw.write(f).unwrap();
    }
    // A replay of everything after a restart writes nothing twice.
    let mut again = db.store.writer().unwrap();
    for f in flushes.iter().filter(|f| !f.positions.is_empty()) {
        assert_eq!(again.write(f).unwrap(), WriteOutcome::AlreadyStored);
    }
    assert_same(&db.store, &lite, "anonymous", b * NS, (b + 120) * NS);
    drop(db);
    let _ = std::fs::remove_file(path);
}

fn overlapping_batches_of_a_rebalance_race_count_once(server: Server) {
    let db = TestDb::on(server);
    let mut first_owner = db.store.writer().unwrap();
    let mut second_owner = db.store.writer().unwrap();
    let b = base_s();
    let main: &[&str] = &["main", "work"];
    let total = |store: &ClickhouseStore| -> i64 {
        let ids: Vec<i64> = store
            .series("anonymous", b * NS, (b + 10) * NS)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        store
            .stack_totals(&ids, b * NS, (b + 10) * NS)
            .unwrap()
            .rows
            .iter()
            .map(|r| r.2)
            .sum()
    };
    // Both owners read stored position 10 before either committed: the old owner flushes
    // [10, 20) (10 uploads of value 1), the new owner [10, 30) (the same 10 and 10 more).
    let old = flush(&[item("app", &[], b, &[(main, 10)])], &[(0, 10, 20)]);
    let new = flush(&[item("app", &[], b, &[(main, 20)])], &[(0, 10, 30)]);
    first_owner.write_unchecked(&old).unwrap();
    second_owner.write_unchecked(&new).unwrap();
    assert_eq!(total(&db.store), 20, "the covered range counts once");
    assert_eq!(
        second_owner.positions("profiles.raw").unwrap()[0].next_offset,
        30
    );
    // The order of commits does not matter.
    let db2 = TestDb::on(server);
    let mut a = db2.store.writer().unwrap();
    let mut c = db2.store.writer().unwrap();
    c.write_unchecked(&new).unwrap();
    a.write_unchecked(&old).unwrap();
    assert_eq!(total(&db2.store), 20);
}
