//! Shared pieces of flamestream's benchmarks: the fixtures, the path that is measured
//! (flamestream's capped gunzip + decode + aggregate), its baseline (a plain gunzip of the same
//! bytes) and the timing helpers that turn interleaved rounds into median ratios.
//!
//! Every figure these benches report is a ratio against a baseline measured in the same run,
//! because the machines they run on are small and shared: absolute times move by tens of
//! percent from one minute to the next, ratios of interleaved measurements much less.

use flamestream_formats::{decode_upload, maybe_gunzip, DecodeError, Format, UploadMeta};
use flamestream_model::{parse_name, AppName, Limits};
use flamestream_pipeline::aggregate::Aggregator;
use flamestream_pipeline::decode::{DecodedPart, DecodedUpload};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The format of a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// gzipped `perftools.profiles.Profile`.
    Pprof,
    /// gzipped Java Flight Recorder recording.
    Jfr,
}

impl Kind {
    /// The `format` parameter of an `/ingest` upload.
    pub fn format_param(self) -> &'static str {
        match self {
            Kind::Pprof => "pprof",
            Kind::Jfr => "jfr",
        }
    }
}

/// One fixture file, relative to the repository root.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// Short name for tables.
    pub name: &'static str,
    /// What it is (`go-cpu`, `go-heap`, `jfr`).
    pub what: &'static str,
    /// Format.
    pub kind: Kind,
    /// Path from the repository root.
    pub path: &'static str,
}

/// The Go pprof fixtures (CPU and heap).
pub const PPROF_FIXTURES: &[Fixture] = &[
    Fixture {
        name: "sample.cpu",
        what: "go-cpu",
        kind: Kind::Pprof,
        path: "tests/fixtures/google-pprof/internal/report/testdata/sample.cpu",
    },
    Fixture {
        name: "fib.pb.gz",
        what: "go-cpu",
        kind: Kind::Pprof,
        path: "tests/fixtures/parca-dev-parca/pkg/query/testdata/fib.pb.gz",
    },
    Fixture {
        name: "alloc_objects.pb.gz",
        what: "go-heap",
        kind: Kind::Pprof,
        path: "tests/fixtures/parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
    },
];

const JFR_DIR: &str = "crates/flamestream-jfr/tests/fixtures/grafana-jfr-parser/parser/testdata";

/// The JFR fixtures.
pub const JFR_FIXTURES: &[Fixture] = &[
    Fixture {
        name: "example.jfr.gz",
        what: "jfr",
        kind: Kind::Jfr,
        path: "crates/flamestream-jfr/tests/fixtures/grafana-jfr-parser/parser/testdata/example.jfr.gz",
    },
    Fixture {
        name: "async-profiler.jfr.gz",
        what: "jfr",
        kind: Kind::Jfr,
        path: "crates/flamestream-jfr/tests/fixtures/grafana-jfr-parser/parser/testdata/async-profiler.jfr.gz",
    },
    Fixture {
        name: "cortex-cpu_lock0_alloc0.jfr.gz",
        what: "jfr",
        kind: Kind::Jfr,
        path: "crates/flamestream-jfr/tests/fixtures/grafana-jfr-parser/parser/testdata/cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz",
    },
];

/// Every fixture: pprof first, then JFR.
pub fn all_fixtures() -> impl Iterator<Item = &'static Fixture> {
    PPROF_FIXTURES.iter().chain(JFR_FIXTURES)
}

/// The repository root (the parent of `benches/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// The workspace's `target/` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

impl Fixture {
    /// Absolute path.
    pub fn full_path(&self) -> PathBuf {
        repo_root().join(self.path)
    }

    /// The file's bytes.
    ///
    /// # Panics
    /// When the file cannot be read (the message names it).
    pub fn load(&self) -> Vec<u8> {
        let p = self.full_path();
        std::fs::read(&p).unwrap_or_else(|e| panic!("fixture `{}`: {e}", p.display()))
    }
}

/// The kind of a file from its content: gzip or plain, then JFR magic `FLR\0` or pprof.
pub fn sniff_kind(bytes: &[u8]) -> Kind {
    let head: Vec<u8> = if flamestream_formats::gzip::is_gzip(bytes) {
        let mut head = vec![0u8; 4];
        let mut dec = flate2::read::MultiGzDecoder::new(bytes);
        let _ = dec.read_exact(&mut head);
        head
    } else {
        bytes.iter().take(4).copied().collect()
    };
    if head == b"FLR\0" {
        Kind::Jfr
    } else {
        Kind::Pprof
    }
}

/// A JFR fixture path by file name (for the memory bench's extra files).
pub fn jfr_path(file: &str) -> PathBuf {
    repo_root().join(JFR_DIR).join(file)
}

/// The baseline: a plain gunzip of the same bytes (`flate2::read::MultiGzDecoder` into a
/// `Vec`), no cap, no decoding.
///
/// # Panics
/// When the bytes are not gzip.
pub fn plain_gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .expect("fixture gunzips");
    out
}

/// What flamestream does with one upload after the edge: capped gunzip, decode, aggregate.
pub struct Ingest {
    /// The limits (defaults: 4 MiB decompressed cap, 16 000 samples …).
    pub limits: Limits,
    app: AppName,
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest::new()
    }
}

/// `from` of every upload: a fixed second, so that every upload falls in the same window.
pub const FROM_NS: i64 = 1_700_000_000 * 1_000_000_000;

impl Ingest {
    /// Default limits and the app `bench{env=bench}`.
    pub fn new() -> Ingest {
        let limits = Limits::default();
        let app = parse_name("bench{env=bench}", &limits).expect("valid name");
        Ingest { limits, app }
    }

    /// Capped gunzip + decode into the aggregator's input, the way the decode actor does it:
    /// pprof through [`flamestream_formats::decode_upload`] with format `pprof`, JFR through
    /// the capped gunzip and [`flamestream_jfr::decode`].
    ///
    /// # Errors
    /// The decoder's error.
    pub fn decode(&self, kind: Kind, gz: &[u8]) -> Result<DecodedUpload, DecodeError> {
        let profile = match kind {
            Kind::Pprof => {
                let meta = UploadMeta {
                    format: Format::Pprof,
                    content_type: None,
                    content_encoding: None,
                    app: &self.app,
                    sample_rate: 100,
                    aggregation_type: None,
                    units: None,
                };
                decode_upload(&meta, gz, &self.limits)?
            }
            Kind::Jfr => {
                let raw = maybe_gunzip(gz, false, self.limits.max_decompressed_bytes)?;
                flamestream_jfr::decode(&raw, None, 100, &self.limits).map_err(|e| {
                    DecodeError::Invalid {
                        format: "jfr",
                        detail: e.to_string(),
                    }
                })?
            }
        };
        Ok(DecodedUpload {
            tenant: "anonymous".into(),
            from_ns: FROM_NS,
            parts: vec![DecodedPart {
                service_name: self.app.service_name().to_string(),
                labels: self.app.labels.clone(),
                profile,
            }],
            format: kind.format_param(),
        })
    }

    /// [`Ingest::decode`] then [`Aggregator::add`] at `(partition 0, offset)`; returns the
    /// stacks the aggregator holds afterwards.
    ///
    /// # Panics
    /// When the fixture does not decode.
    pub fn decode_aggregate(
        &self,
        kind: Kind,
        gz: &[u8],
        aggregator: &mut Aggregator,
        offset: i64,
    ) -> usize {
        let upload = self.decode(kind, gz).expect("fixture decodes");
        aggregator.add(upload, Some((0, offset)));
        aggregator.open_stacks()
    }

    /// One upload into a fresh 10 s aggregator (the cold case: every frame and stack is new);
    /// returns the stacks held.
    pub fn decode_aggregate_cold(&self, kind: Kind, gz: &[u8]) -> usize {
        let mut a = Aggregator::new(10);
        self.decode_aggregate(kind, gz, &mut a, 0)
    }
}

/// Nanoseconds per call of `f` over `iters` calls.
pub fn ns_per_op(iters: u64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters.max(1) as f64
}

/// How many calls of `f` take about `target` (at least 1).
pub fn calibrate(target: Duration, mut f: impl FnMut()) -> u64 {
    let t = Instant::now();
    f();
    let once = t.elapsed().max(Duration::from_nanos(100));
    ((target.as_nanos() / once.as_nanos()) as u64).max(1)
}

/// The median (NaN for an empty slice).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The result of [`compare`]: medians over interleaved rounds.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// Median ns/op of the baseline.
    pub baseline_ns: f64,
    /// Median ns/op of the measured path.
    pub measured_ns: f64,
    /// Median of the per-round ratios measured / baseline.
    pub ratio: f64,
    /// Smallest and largest per-round ratio.
    pub ratio_min: f64,
    /// See `ratio_min`.
    pub ratio_max: f64,
    /// Rounds run.
    pub rounds: usize,
    /// Calls per round of each side.
    pub baseline_iters: u64,
    /// See `baseline_iters`.
    pub measured_iters: u64,
}

/// Runs `baseline` and `measured` in `rounds` interleaved rounds of about `per_round` each
/// (after one warm-up round) and reports medians. Interleaving makes both sides see the same
/// noise from other processes on the machine.
pub fn compare(
    rounds: usize,
    per_round: Duration,
    mut baseline: impl FnMut(),
    mut measured: impl FnMut(),
) -> Comparison {
    let bi = calibrate(per_round, &mut baseline);
    let mi = calibrate(per_round, &mut measured);
    ns_per_op(bi, &mut baseline);
    ns_per_op(mi, &mut measured);
    let (mut b, mut m, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let bn = ns_per_op(bi, &mut baseline);
        let mn = ns_per_op(mi, &mut measured);
        b.push(bn);
        m.push(mn);
        r.push(mn / bn);
    }
    Comparison {
        baseline_ns: median(&b),
        measured_ns: median(&m),
        ratio: median(&r),
        ratio_min: r.iter().copied().fold(f64::INFINITY, f64::min),
        ratio_max: r.iter().copied().fold(0.0, f64::max),
        rounds: r.len(),
        baseline_iters: bi,
        measured_iters: mi,
    }
}

/// `12.3 µs` style.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// `met` / `NOT met`.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// Percentile `p` (0–100) of sorted `values` (nearest rank).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
