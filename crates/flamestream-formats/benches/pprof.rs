//! gunzip alone vs gunzip + pprof decode on the fixtures. The target: decode adds at most 2×
//! the gunzip time (gunzip + decode ≤ 3× gunzip).
//!
//! `cargo bench -p flamestream-formats --bench pprof`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use flamestream_formats::{decode_pprof, maybe_gunzip};
use flamestream_model::Limits;
use std::io::Read;

const FIXTURES: &[(&str, &str)] = &[
    (
        "sample.cpu",
        "google-pprof/internal/report/testdata/sample.cpu",
    ),
    (
        "alloc_objects",
        "parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz",
    ),
    (
        "profile-with-labels",
        "parca-dev-parca/pkg/query/testdata/profile-with-labels.pb.gz",
    ),
];

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, path) in FIXTURES {
        let gz = std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let mut g = c.benchmark_group(*name);
        g.bench_function("gunzip", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(black_box(&gz[..]))
                    .read_to_end(&mut out)
                    .expect("gunzip");
                out
            })
        });
        g.bench_function("maybe_gunzip", |b| {
            b.iter(|| {
                maybe_gunzip(black_box(&gz), false, limits.max_decompressed_bytes)
                    .expect("gunzip")
                    .len()
            })
        });
        g.bench_function("gunzip+decode", |b| {
            b.iter(|| {
                let data = maybe_gunzip(black_box(&gz), false, limits.max_decompressed_bytes)
                    .expect("gunzip");
                decode_pprof(&data, None, None, &limits).expect("decode")
            })
        });
        let data = maybe_gunzip(&gz, false, limits.max_decompressed_bytes)
            .expect("gunzip")
            .into_owned();
        g.bench_function("decode", |b| {
            b.iter(|| decode_pprof(black_box(&data), None, None, &limits).expect("decode"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
