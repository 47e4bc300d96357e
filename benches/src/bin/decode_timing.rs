//! Times flamestream's capped gunzip + decode + aggregate over files, the counterpart of
//! `benches/go-pprof` (Go's `profile.Parse`) for `benches/compare-go-pprof.sh`.
//!
//! ```sh
//! cargo run --profile production -p flamestream-benches --bin decode_timing -- -n 2000 -r 5 FILE...
//! ```
//!
//! Prints one line per file: `<file>\t<ns/op>` (the median of `-r` rounds of `-n` calls, after
//! one warm-up round). Without files it times the Go pprof fixtures.

use clap::Parser;
use flamestream_benches::{median, ns_per_op, sniff_kind, Ingest, PPROF_FIXTURES};
use std::hint::black_box;
use std::path::PathBuf;

/// The allocator of the `flamestream` binary, so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "ns/op of flamestream's gunzip + decode + aggregate per file")]
struct Args {
    /// Calls per round.
    #[arg(short = 'n', long, default_value_t = 1000)]
    iterations: u64,
    /// Rounds (the median is printed).
    #[arg(short = 'r', long, default_value_t = 5)]
    rounds: usize,
    /// Profiles (gzipped or plain pprof or JFR); default: the Go pprof fixtures.
    files: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let files: Vec<PathBuf> = if args.files.is_empty() {
        PPROF_FIXTURES.iter().map(|f| f.full_path()).collect()
    } else {
        args.files
    };
    let ingest = Ingest::new();
    for path in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
        let kind = sniff_kind(&bytes);
        ingest
            .decode(kind, &bytes)
            .map_err(|e| anyhow::anyhow!("`{}` does not decode: {e}", path.display()))?;
        let mut run = || {
            black_box(ingest.decode_aggregate_cold(kind, black_box(&bytes)));
        };
        ns_per_op(args.iterations, &mut run);
        let rounds: Vec<f64> = (0..args.rounds.max(1))
            .map(|_| ns_per_op(args.iterations, &mut run))
            .collect();
        println!("{}\t{:.0}", path.display(), median(&rounds));
    }
    Ok(())
}
