//! Min-of-N timing of gunzip vs gunzip + decode (less noisy than criterion's means on a shared
//! machine). Run with `cargo test --release -p flamestream-jfr --test ratio -- --ignored --nocapture`.

use flamestream_jfr::decode;
use flamestream_model::Limits;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(gz.len() * 4);
    flate2::read::GzDecoder::new(gz)
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/grafana-jfr-parser/parser/testdata");
    let limits = Limits::default();
    // `RATIO_FILTER=example` times only the fixtures whose name contains `example`.
    let filter = std::env::var("RATIO_FILTER").unwrap_or_default();
    for name in [
        "example.jfr.gz",
        "async-profiler.jfr.gz",
        "cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz",
    ] {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let gz = std::fs::read(dir.join(name)).unwrap();
        let n = if gz.len() > 1_000_000 { 30 } else { 100 };
        let g = min_time(n, || {
            std::hint::black_box(gunzip(&gz));
        });
        let d = min_time(n, || {
            let raw = gunzip(&gz);
            std::hint::black_box(decode(&raw, None, 100, &limits).unwrap());
        });
        eprintln!(
            "{name}: gunzip {g:?}, gunzip+decode {d:?}, ratio {:.2}",
            d.as_secs_f64() / g.as_secs_f64()
        );
    }
}
