//! Golden test: every `*_expected_collapsed.txt.gz` of grafana/jfr-parser's test data must be
//! reproduced line for line from its recording (sample rate 100, labels ignored, identical
//! stacks summed, zero stacks omitted, lines sorted).

use flamestream_jfr::decode;
use flamestream_model::{Limits, Profile};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grafana-jfr-parser/parser/testdata")
}

fn gunzip(path: &Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

fn labels_file(jfr: &str) -> Option<&'static str> {
    match jfr {
        "dump1" => Some("dump1.labels.pb.gz"),
        "dump2" => Some("dump2.labels.pb.gz"),
        "new_spancontext" => Some("new_spancontext.labels.gz"),
        _ => None,
    }
}

/// The sample type that shares a line with `st` in the golden files, and its position.
fn partner(st: &str) -> Option<(String, usize)> {
    if let Some(p) = st.strip_suffix("_objects") {
        return Some((format!("{p}_bytes"), 0));
    }
    if let Some(p) = st.strip_suffix("_bytes") {
        return Some((format!("{p}_objects"), 1));
    }
    match st {
        "contentions" => Some(("delay".into(), 0)),
        "delay" => Some(("contentions".into(), 1)),
        _ => None,
    }
}

/// Metric key (as in the golden file names) → collapsed lines.
pub fn collapsed(profile: &Profile) -> BTreeMap<String, Vec<String>> {
    let mut units: HashMap<String, String> = HashMap::new();
    for s in &profile.series {
        units.insert(
            format!("{}/{}", s.profile_type.name, s.profile_type.sample_type),
            s.profile_type.sample_unit.clone(),
        );
    }
    let mut groups: BTreeMap<String, BTreeMap<String, [i64; 2]>> = BTreeMap::new();
    let mut widths: HashMap<String, usize> = HashMap::new();
    for s in &profile.series {
        let t = &s.profile_type;
        let (key, slot, width) = match partner(&t.sample_type) {
            Some((other, pos)) => {
                let other_unit = units
                    .get(&format!("{}/{other}", t.name))
                    .cloned()
                    .unwrap_or_else(|| {
                        if pos == 0 {
                            "bytes".into()
                        } else {
                            "count".into()
                        }
                    });
                let mine = format!("{}__{}", t.sample_type, t.sample_unit);
                let theirs = format!("{other}__{other_unit}");
                let pair = if pos == 0 {
                    format!("{mine}+{theirs}")
                } else {
                    format!("{theirs}+{mine}")
                };
                (format!("{}_{pair}", t.name), pos, 2)
            }
            None => (
                format!("{}_{}__{}", t.name, t.sample_type, t.sample_unit),
                0,
                1,
            ),
        };
        widths.insert(key.clone(), width);
        let g = groups.entry(key).or_default();
        for (stack, v) in s.samples.iter() {
            let name: Vec<&str> = stack.iter().map(|&f| profile.frames.name(f)).collect();
            g.entry(name.join(";")).or_insert([0, 0])[slot] += v;
        }
    }
    groups
        .into_iter()
        .map(|(k, stacks)| {
            let w = widths[&k];
            let mut lines: Vec<String> = stacks
                .into_iter()
                .filter(|(_, v)| v.iter().any(|&x| x != 0))
                .map(|(s, v)| {
                    if w == 1 {
                        format!("{s} [{}]", v[0])
                    } else {
                        format!("{s} [{} {}]", v[0], v[1])
                    }
                })
                .collect();
            lines.sort();
            (k, lines)
        })
        .collect()
}

#[test]
fn golden_collapsed_outputs_match() {
    let dir = testdata();
    let mut jfrs: Vec<String> = Vec::new();
    let mut goldens: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".jfr.gz") {
            jfrs.push(stem.to_string());
        } else if name.ends_with("_expected_collapsed.txt.gz") {
            goldens.push(name);
        }
    }
    jfrs.sort_by_key(|j| std::cmp::Reverse(j.len()));
    goldens.sort();
    assert!(
        goldens.len() >= 40,
        "fixtures missing: {} golden files",
        goldens.len()
    );

    let mut cache: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    for g in &goldens {
        let jfr = jfrs
            .iter()
            .find(|j| {
                g.strip_prefix(j.as_str())
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|r| {
                        r.split('_')
                            .next()
                            .is_some_and(|i| i.parse::<u32>().is_ok())
                    })
            })
            .unwrap_or_else(|| panic!("no recording for {g}"));
        let rest = &g[jfr.len() + 1..];
        let rest = &rest[rest.find('_').unwrap() + 1..];
        let metric = rest
            .strip_suffix("_expected_collapsed.txt.gz")
            .unwrap()
            .trim_end_matches("_event_with_type_zero_with_truncated_frame")
            .to_string();
        let ours = cache.entry(jfr.clone()).or_insert_with(|| {
            let data = gunzip(&dir.join(format!("{jfr}.jfr.gz")));
            let labels = labels_file(jfr).map(|l| gunzip(&dir.join(l)));
            let profile = decode(&data, labels.as_deref(), 100, &Limits::default())
                .unwrap_or_else(|e| panic!("{jfr}: {e}"));
            collapsed(&profile)
        });
        let expected_text = String::from_utf8(gunzip(&dir.join(g))).unwrap();
        let expected: Vec<&str> = expected_text.lines().filter(|l| !l.is_empty()).collect();
        let Some(actual) = ours.get(&metric) else {
            failures.push(format!(
                "{g}: profile `{metric}` missing; have {:?}",
                ours.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        if actual
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied())
        {
            passed += 1;
            continue;
        }
        let only_expected: Vec<_> = expected
            .iter()
            .filter(|l| !actual.iter().any(|a| a == *l))
            .take(3)
            .collect();
        let only_actual: Vec<_> = actual
            .iter()
            .filter(|a| !expected.contains(&a.as_str()))
            .take(3)
            .collect();
        failures.push(format!(
            "{g}: {} expected lines, {} actual\n  only expected: {only_expected:#?}\n  only actual: {only_actual:#?}",
            expected.len(),
            actual.len()
        ));
    }
    eprintln!("golden: {passed} passed, {} failed", failures.len());
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} golden files differ",
        failures.len()
    );
}
