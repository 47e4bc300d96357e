//! gunzip alone vs gunzip + decode + aggregate, per fixture. The ratio of the two is what the
//! performance budget (≤ 4×) is about.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flamestream_jfr::decode;
use flamestream_model::Limits;
use std::hint::black_box;
use std::io::Read;
use std::path::Path;

const FIXTURES: &[&str] = &[
    "example.jfr.gz",
    "async-profiler.jfr.gz",
    "cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz",
];

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(gz.len() * 4);
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/grafana-jfr-parser/parser/testdata");
    let limits = Limits::default();
    let mut group = c.benchmark_group("jfr");
    for name in FIXTURES {
        let gz = std::fs::read(dir.join(name)).unwrap();
        group.throughput(Throughput::Bytes(gz.len() as u64));
        group.bench_with_input(BenchmarkId::new("gunzip", name), &gz, |b, gz| {
            b.iter(|| black_box(gunzip(gz)).len())
        });
        group.bench_with_input(BenchmarkId::new("gunzip_decode", name), &gz, |b, gz| {
            b.iter(|| {
                let raw = gunzip(gz);
                let p = decode(&raw, None, 100, &limits).unwrap();
                black_box(p.stack_count())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
