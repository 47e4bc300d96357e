//! gunzip alone (the baseline) vs flamestream's gunzip + decode + aggregate, per fixture:
//! Go CPU and heap pprof (goal ≤ 3.0×, stretch 2.0×) and JFR (goal ≤ 4×).
//!
//! ```sh
//! cargo bench -p flamestream-benches --bench decode
//! ```
//!
//! Criterion reports the absolute times of both sides; after it, a timing loop of interleaved
//! rounds prints the ratio per fixture (median of the per-round ratios) and writes the same
//! table to `target/bench-ratios.txt`. `FLAMESTREAM_BENCH_ROUNDS` (default 21) and
//! `FLAMESTREAM_BENCH_ROUND_MS` (default 150) size that loop.

use criterion::{BenchmarkId, Criterion, Throughput};
use flamestream_benches::{
    all_fixtures, compare, fmt_ns, plain_gunzip, target_dir, verdict, Ingest, Kind,
};
use flamestream_pipeline::aggregate::Aggregator;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// The allocator of the `flamestream` binary, so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn criterion_benches(c: &mut Criterion) {
    let ingest = Ingest::new();
    for f in all_fixtures() {
        let gz = f.load();
        // Not `pprof` / `jfr`: the per-crate benches use those groups, and criterion would
        // compare against their saved results.
        let group_name = match f.kind {
            Kind::Pprof => "e2e-decode-pprof",
            Kind::Jfr => "e2e-decode-jfr",
        };
        let mut g = c.benchmark_group(group_name);
        g.throughput(Throughput::Bytes(gz.len() as u64));
        g.bench_with_input(BenchmarkId::new("gunzip", f.name), &gz, |b, gz| {
            b.iter(|| plain_gunzip(black_box(gz)).len())
        });
        g.bench_with_input(
            BenchmarkId::new("gunzip+decode+aggregate", f.name),
            &gz,
            |b, gz| b.iter(|| ingest.decode_aggregate_cold(f.kind, black_box(gz))),
        );
        g.finish();
    }
}

/// flamestream's capped gunzip alone (`gunzip_capped`, 4 MiB cap).
fn own_gunzip(gz: &[u8]) -> usize {
    flamestream_formats::gzip::gunzip_capped(gz, 4 * 1024 * 1024)
        .expect("fixture gunzips")
        .len()
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ratio table from our own interleaved loop.
fn ratio_table() -> String {
    let rounds = env_num("FLAMESTREAM_BENCH_ROUNDS", 21) as usize;
    let per_round = Duration::from_millis(env_num("FLAMESTREAM_BENCH_ROUND_MS", 150));
    let ingest = Ingest::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "decode ratios: flamestream (capped gunzip + decode + aggregate) / plain gunzip of the same bytes"
    );
    let _ = writeln!(
        out,
        "{rounds} interleaved rounds of ~{} ms per side; median of per-round ratios [min–max]; \
         cold = fresh aggregator per upload, warm = one aggregator, flushed every 64 uploads; \
         own gunzip = flamestream's one-pass capped gunzip alone, ÷ own = ours cold ÷ that",
        per_round.as_millis()
    );
    let _ = writeln!(
        out,
        "{:<36} {:>9} {:>9} {:>10} {:>10} {:>18} {:>8} {:>10} {:>9} {:>6} {:>8}",
        "fixture",
        "gz bytes",
        "raw bytes",
        "gunzip",
        "ours cold",
        "ratio cold",
        "warm",
        "own gunzip",
        "÷ own",
        "goal",
        "verdict"
    );
    for f in all_fixtures() {
        let gz = f.load();
        let raw_len = plain_gunzip(&gz).len();
        let cold = compare(
            rounds,
            per_round,
            || {
                black_box(plain_gunzip(black_box(&gz)));
            },
            || {
                black_box(ingest.decode_aggregate_cold(f.kind, black_box(&gz)));
            },
        );
        let mut agg = Aggregator::new(10);
        let mut offset = 0i64;
        let warm = compare(
            rounds.div_ceil(2),
            per_round,
            || {
                black_box(plain_gunzip(black_box(&gz)));
            },
            || {
                offset += 1;
                black_box(ingest.decode_aggregate(f.kind, black_box(&gz), &mut agg, offset));
                if offset % 64 == 0 {
                    black_box(agg.take("bench"));
                }
            },
        );
        // The stricter view: the same work against flamestream's own one-pass gunzip alone
        // (inflating into a buffer sized from the trailer, as the decoder does), so the share
        // of the ratio that comes from a faster gunzip rather than a faster decoder shows.
        let own = compare(
            rounds.div_ceil(2),
            per_round,
            || {
                black_box(own_gunzip(black_box(&gz)));
            },
            || {
                black_box(ingest.decode_aggregate_cold(f.kind, black_box(&gz)));
            },
        );
        let (goal, stretch) = match f.kind {
            Kind::Pprof => (3.0, Some(2.0)),
            Kind::Jfr => (4.0, None),
        };
        let v = if stretch.is_some_and(|s| cold.ratio <= s) {
            "met+stretch"
        } else {
            verdict(cold.ratio <= goal)
        };
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>9} {:>10} {:>10} {:>18} {:>7.2}× {:>10} {:>8.2}× {:>5}× {:>8}",
            format!("{} ({})", f.name, f.what),
            gz.len(),
            raw_len,
            fmt_ns(cold.baseline_ns),
            fmt_ns(cold.measured_ns),
            format!(
                "{:.2}× [{:.2}–{:.2}]",
                cold.ratio, cold.ratio_min, cold.ratio_max
            ),
            warm.ratio,
            fmt_ns(own.baseline_ns),
            own.ratio,
            goal,
            v
        );
    }
    out
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only the criterion
    // smoke run above happens.
    if std::env::args().any(|a| a == "--bench") {
        let table = ratio_table();
        println!("\n{table}");
        let path = target_dir().join("bench-ratios.txt");
        match std::fs::write(&path, &table) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
}
