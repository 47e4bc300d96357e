//! Min-of-N timing of gunzip vs gunzip + pprof decode (less noisy than criterion's means on a
//! shared machine). The budget: gunzip + decode ≤ 3× gunzip.
//! Run with `cargo test --release -p flamestream-formats --test ratio -- --ignored --nocapture`.

use flamestream_formats::{decode_pprof, maybe_gunzip};
use flamestream_model::Limits;
use std::io::Read;
use std::time::{Duration, Instant};

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn min_time(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
#[ignore]
fn decode_to_gunzip_ratio() {
    let limits = Limits::default();
    // `RATIO_FILTER=labels` times only the fixtures whose path contains `labels`.
    let filter = std::env::var("RATIO_FILTER").unwrap_or_default();
    for path in [
        "google-pprof/internal/report/testdata/sample.cpu",
        "parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
        "parca-dev-parca/pkg/query/testdata/profile-with-labels.pb.gz",
        "parca-dev-parca/pkg/parca/testdata/labels.pb.gz",
        "parca-dev-parca/pkg/query/testdata/fgprof.pb.gz",
    ] {
        if !path.contains(filter.as_str()) {
            continue;
        }
        let Ok(gz) = std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        )) else {
            continue;
        };
        let n: usize = std::env::var("RATIO_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let g = min_time(n, || {
            std::hint::black_box(gunzip(&gz));
        });
        let d = min_time(n, || {
            let raw = maybe_gunzip(&gz, false, limits.max_decompressed_bytes).unwrap();
            std::hint::black_box(decode_pprof(&raw, None, None, &limits).unwrap());
        });
        eprintln!(
            "{path}: gunzip {g:?}, gunzip+decode {d:?}, ratio {:.2}",
            d.as_secs_f64() / g.as_secs_f64()
        );
    }
}
