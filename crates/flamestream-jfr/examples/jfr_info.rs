//! Prints the series flamestream decodes from JFR recordings (gzipped or not): profile type,
//! labels, stack count and total, or the error. With `--summary`, only how many of the files
//! produce each profile type and how many are refused: that tells whether a fuzz corpus holds
//! the events of every kind. With `--stacks`, each series' stacks as collapsed lines
//! (`root;…;leaf value`), to see the frame names a recording gives.
//!
//! `cargo run -p flamestream-jfr --example jfr_info -- [--summary|--stacks] FILE_OR_DIR...`

use flamestream_model::Limits;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

fn files(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut dir: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap_or_else(|e| panic!("cannot list {a}: {e}"))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            dir.sort();
            out.extend(dir);
        } else {
            out.push(p);
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let summary = args.iter().any(|a| a == "--summary");
    let stacks = args.iter().any(|a| a == "--stacks");
    let paths = files(
        &args
            .into_iter()
            .filter(|a| a != "--summary" && a != "--stacks")
            .collect::<Vec<_>>(),
    );
    let limits = Limits {
        max_samples: u64::MAX,
        ..Limits::default()
    };
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = 0usize;
    for path in &paths {
        let Ok(raw) = std::fs::read(path) else {
            continue; // removed meanwhile (a fuzzer reducing its corpus)
        };
        let data = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out) {
                Ok(_) => out,
                Err(_) => raw,
            }
        } else {
            raw
        };
        match flamestream_jfr::decode(&data, None, 100, &limits) {
            Ok(profile) => {
                if !summary {
                    println!("== {} ({} bytes)", path.display(), data.len());
                }
                let mut seen = std::collections::BTreeSet::new();
                for s in &profile.series {
                    if summary {
                        seen.insert(s.profile_type.to_string());
                    } else {
                        println!(
                            "  {} {} stacks={} total={}",
                            s.profile_type,
                            s.labels,
                            s.samples.len(),
                            s.samples.total()
                        );
                        if stacks {
                            for (stack, v) in s.samples.iter() {
                                let names: Vec<&str> =
                                    stack.iter().map(|&f| profile.frames.name(f)).collect();
                                println!("    {} {v}", names.join(";"));
                            }
                        }
                    }
                }
                for t in seen {
                    *types.entry(t).or_default() += 1;
                }
            }
            Err(e) => {
                refused += 1;
                if !summary {
                    println!("== {} ({} bytes): {e}", path.display(), data.len());
                }
            }
        }
    }
    if summary {
        println!("{} files, {refused} refused", paths.len());
        for (t, n) in types {
            println!("{n:8} {t}");
        }
    }
}
