//! Prints what a pprof file holds: sample types, period type, sample count, label keys and the
//! series flamestream decodes from it. `cargo run -p flamestream-formats --example pprof_info -- FILE`

use flamestream_formats::pprof::proto;
use flamestream_model::Limits;
use prost::Message;
use std::collections::BTreeSet;

fn main() {
    for path in std::env::args().skip(1) {
        let raw = std::fs::read(&path).expect("read");
        let data = flamestream_formats::maybe_gunzip(&raw, false, u64::MAX).expect("gunzip");
        println!("== {path} ({} bytes inflated)", data.len());
        match proto::Profile::decode(&data[..]) {
            Ok(p) => {
                let s = |i: i64| p.string_table.get(i as usize).cloned().unwrap_or_default();
                let types: Vec<String> = p
                    .sample_type
                    .iter()
                    .map(|t| format!("{}:{}", s(t.r#type), s(t.unit)))
                    .collect();
                let pt = p
                    .period_type
                    .as_ref()
                    .map(|t| format!("{}:{}", s(t.r#type), s(t.unit)));
                let keys: BTreeSet<String> = p
                    .sample
                    .iter()
                    .flat_map(|x| {
                        x.label.iter().map(|l| {
                            format!("{}{}", s(l.key), if l.str != 0 { "(str)" } else { "(num)" })
                        })
                    })
                    .collect();
                println!("types {types:?} period {pt:?} samples {} locations {} functions {} labels {keys:?}", p.sample.len(), p.location.len(), p.function.len());
            }
            Err(e) => println!("prost: {e}"),
        }
        let limits = Limits {
            max_samples: u64::MAX,
            ..Limits::default()
        };
        match flamestream_formats::decode_pprof(&data, None, None, &limits) {
            Ok(p) => {
                for s in &p.series {
                    println!(
                        "  {} {:?} {} stacks={} total={}",
                        s.profile_type,
                        s.aggregation,
                        s.labels,
                        s.samples.len(),
                        s.samples.total()
                    );
                }
            }
            Err(e) => println!("  error: {e}"),
        }
    }
}
