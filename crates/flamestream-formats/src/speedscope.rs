//! speedscope JSON (`https://www.speedscope.app/file-format-schema.json`): `shared.frames[].name`
//! and `profiles[]` of type `sampled` (`samples` = frame-index stacks root first, `weights`) or
//! `evented` (`O`/`C` events with `at`). All profiles of a file are summed into one series.
//!
//! Units → profile type:
//! - `none` (or absent): counts; the type comes from the app suffix like the other tree-based
//!   formats (CPU/wall counts are scaled by `1e9 / sampleRate`).
//! - `nanoseconds`, `microseconds`, `milliseconds`, `seconds`: converted to nanoseconds, stored
//!   as `wall:wall:nanoseconds:wall:nanoseconds` when the app suffix names wall time, otherwise
//!   as `process_cpu:cpu:nanoseconds:cpu:nanoseconds` (no sample-rate scaling: they are times).
//! - `bytes`: the app suffix's type when it is a bytes type (`inuse_space`, `alloc_space`, …),
//!   otherwise `memory:alloc_space:bytes:space:bytes`.
//!
//! Evented profiles: the time between two consecutive events is added to the stack open
//! between them. Fractional weights are rounded; negative weights are dropped.

use crate::builder::{tree_type, Builder};
use crate::DecodeError;
use flamestream_model::profile_type::{type_for_suffix, SuffixType};
use flamestream_model::{Aggregation, AppName, Limits, Profile, ProfileType};
use serde::Deserialize;

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        format: "speedscope",
        detail: detail.into(),
    }
}

#[derive(Deserialize)]
struct File {
    shared: Shared,
    #[serde(default)]
    profiles: Vec<SProfile>,
}

#[derive(Deserialize)]
struct Shared {
    frames: Vec<Frame>,
}

#[derive(Deserialize)]
struct Frame {
    name: String,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum SProfile {
    #[serde(rename = "sampled")]
    Sampled {
        #[serde(default)]
        unit: Option<String>,
        samples: Vec<Vec<usize>>,
        #[serde(default)]
        weights: Option<Vec<f64>>,
    },
    #[serde(rename = "evented")]
    Evented {
        #[serde(default)]
        unit: Option<String>,
        events: Vec<Event>,
    },
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    at: f64,
    frame: usize,
}

/// How values of a unit are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Counts, scaled by the sample rate for CPU/wall types.
    Count,
    /// A multiplier to nanoseconds.
    Time(f64),
    Bytes,
}

fn unit(text: Option<&str>) -> Result<Unit, DecodeError> {
    Ok(match text.unwrap_or("none") {
        "none" | "" => Unit::Count,
        "nanoseconds" => Unit::Time(1.0),
        "microseconds" => Unit::Time(1e3),
        "milliseconds" => Unit::Time(1e6),
        "seconds" => Unit::Time(1e9),
        "bytes" => Unit::Bytes,
        other => {
            return Err(invalid(format!(
                "unit `{other}` is not one of none, nanoseconds, microseconds, milliseconds, seconds, bytes"
            )))
        }
    })
}

fn type_for(
    unit: Unit,
    app: &AppName,
    sample_rate: u32,
    aggregation_type: Option<&str>,
) -> Result<SuffixType, DecodeError> {
    let suffix_type = type_for_suffix(app.suffix().unwrap_or("cpu"), 100).ok();
    Ok(match unit {
        Unit::Count => tree_type(app, sample_rate, aggregation_type)?,
        Unit::Time(_) => {
            let kind = match suffix_type {
                Some(t) if t.profile_type.name == "wall" => "wall",
                _ => "cpu",
            };
            let name = if kind == "wall" {
                "wall"
            } else {
                "process_cpu"
            };
            SuffixType {
                profile_type: ProfileType::new(name, kind, "nanoseconds", kind, "nanoseconds"),
                scale_by_sample_rate: false,
                aggregation: Aggregation::Sum,
            }
        }
        Unit::Bytes => match suffix_type {
            Some(t) if t.profile_type.sample_unit == "bytes" => t,
            _ => SuffixType {
                profile_type: ProfileType::new("memory", "alloc_space", "bytes", "space", "bytes"),
                scale_by_sample_rate: false,
                aggregation: Aggregation::Sum,
            },
        },
    })
}

/// Rounds a non-negative finite value to `i64` (saturating); `None` for negative or NaN.
fn rounded(v: f64) -> Option<i64> {
    (v.is_finite() && v >= 0.0).then(|| v.round() as i64)
}

/// Decodes a speedscope file.
///
/// # Errors
/// [`DecodeError::Invalid`] (format `speedscope`) for bad JSON, unknown units, frame indices out
/// of range or unbalanced events; [`DecodeError::ProfileType`] for an unknown app suffix with
/// unit `none`; [`DecodeError::Limit`] `max_samples`.
pub fn decode_speedscope(
    body: &[u8],
    app: &AppName,
    sample_rate: u32,
    aggregation_type: Option<&str>,
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    let file: File =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not speedscope json: {e}")))?;
    let first_unit = match file.profiles.first() {
        Some(SProfile::Sampled { unit: u, .. }) | Some(SProfile::Evented { unit: u, .. }) => {
            unit(u.as_deref())?
        }
        None => Unit::Count,
    };
    let ty = type_for(first_unit, app, sample_rate, aggregation_type)?;
    let mut b = Builder::new(&ty, sample_rate, limits);
    let mut ids: Vec<u32> = vec![u32::MAX; file.shared.frames.len()];
    let mut frame = |b: &mut Builder, i: usize| -> Result<u32, DecodeError> {
        let slot = ids.get_mut(i).ok_or_else(|| {
            invalid(format!(
                "frame index `{i}` is out of range: `shared.frames` has `{}` entries",
                file.shared.frames.len()
            ))
        })?;
        if *slot == u32::MAX {
            *slot = b.frame(&file.shared.frames[i].name);
        }
        Ok(*slot)
    };
    let mut stack: Vec<u32> = Vec::new();
    for (pi, p) in file.profiles.iter().enumerate() {
        match p {
            SProfile::Sampled {
                unit: u,
                samples,
                weights,
            } => {
                let u = unit(u.as_deref())?;
                if u != first_unit {
                    return Err(invalid(format!(
                        "profile `{pi}` has a different unit than profile `0`"
                    )));
                }
                if let Some(w) = weights {
                    if w.len() != samples.len() {
                        return Err(invalid(format!(
                            "profile `{pi}` has `{}` samples but `{}` weights",
                            samples.len(),
                            w.len()
                        )));
                    }
                }
                for (si, s) in samples.iter().enumerate() {
                    let w = weights
                        .as_ref()
                        .and_then(|w| w.get(si))
                        .copied()
                        .unwrap_or(1.0);
                    stack.clear();
                    for &f in s {
                        stack.push(frame(&mut b, f)?);
                    }
                    match u {
                        Unit::Count => {
                            if let Some(n) = rounded(w) {
                                b.add_ids(&stack, n as u64)?;
                            }
                        }
                        Unit::Time(scale) => {
                            if let Some(v) = rounded(w * scale) {
                                b.count_sample()?;
                                b.add_value(&stack, v);
                            }
                        }
                        Unit::Bytes => {
                            if let Some(v) = rounded(w) {
                                b.count_sample()?;
                                b.add_value(&stack, v);
                            }
                        }
                    }
                }
            }
            SProfile::Evented { unit: u, events } => {
                let u = unit(u.as_deref())?;
                if u != first_unit {
                    return Err(invalid(format!(
                        "profile `{pi}` has a different unit than profile `0`"
                    )));
                }
                let scale = match u {
                    Unit::Time(s) => s,
                    Unit::Count | Unit::Bytes => 1.0,
                };
                stack.clear();
                let mut last = None::<f64>;
                for (ei, e) in events.iter().enumerate() {
                    if !e.at.is_finite() {
                        return Err(invalid(format!(
                            "event `{ei}` of profile `{pi}` has a non-finite `at`"
                        )));
                    }
                    if let Some(prev) = last {
                        if e.at < prev {
                            return Err(invalid(format!(
                                "event `{ei}` of profile `{pi}` is out of order: `at` {} < {prev}",
                                e.at
                            )));
                        }
                        if !stack.is_empty() && e.at > prev {
                            if let Some(v) = rounded((e.at - prev) * scale) {
                                if u == Unit::Count {
                                    b.add_ids(&stack, v as u64)?;
                                } else {
                                    b.count_sample()?;
                                    b.add_value(&stack, v);
                                }
                            }
                        }
                    }
                    last = Some(e.at);
                    let id = frame(&mut b, e.frame)?;
                    match e.kind.as_str() {
                        "O" => stack.push(id),
                        "C" => {
                            if stack.last() != Some(&id) {
                                return Err(invalid(format!(
                                    "event `{ei}` of profile `{pi}` closes frame `{}` which is not the innermost open frame",
                                    e.frame
                                )));
                            }
                            stack.pop();
                        }
                        other => {
                            return Err(invalid(format!(
                                "event `{ei}` of profile `{pi}` has type `{other}`: expected `O` or `C`"
                            )))
                        }
                    }
                }
            }
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::parse_name;
    use proptest::prelude::*;

    fn app(name: &str) -> AppName {
        parse_name(name, &Limits::default()).unwrap()
    }

    fn decode(json: &str, name: &str) -> Result<Profile, DecodeError> {
        decode_speedscope(json.as_bytes(), &app(name), 100, None, &Limits::default())
    }

    fn stacks(p: &Profile) -> Vec<(String, i64)> {
        p.named_stacks(0)
            .into_iter()
            .map(|(f, v)| (f.join(";"), v))
            .collect()
    }

    const SAMPLED: &str = r#"{"$schema":"https://www.speedscope.app/file-format-schema.json",
        "shared":{"frames":[{"name":"main"},{"name":"work","file":"w.py","line":3},{"name":"idle"}]},
        "profiles":[{"type":"sampled","name":"t1","unit":"UNIT","startValue":0,"endValue":4,
                     "samples":[[0,1],[0,2],[0,1]],"weights":[1,2,3]}]}"#;

    #[test]
    fn sampled_counts_follow_the_app_suffix() {
        let p = decode(&SAMPLED.replace("UNIT", "none"), "app").unwrap();
        assert_eq!(
            p.series[0].profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(
            stacks(&p),
            vec![
                ("main;idle".into(), 20_000_000),
                ("main;work".into(), 40_000_000)
            ]
        );
        assert!(matches!(
            decode(&SAMPLED.replace("UNIT", "none"), "com.example.shop"),
            Err(DecodeError::ProfileType(_))
        ));
    }

    #[test]
    fn sampled_times_become_nanoseconds() {
        let p = decode(&SAMPLED.replace("UNIT", "milliseconds"), "app.wall").unwrap();
        assert_eq!(
            p.series[0].profile_type.id(),
            "wall:wall:nanoseconds:wall:nanoseconds"
        );
        assert_eq!(
            stacks(&p),
            vec![
                ("main;idle".into(), 2_000_000),
                ("main;work".into(), 4_000_000)
            ]
        );
        let p = decode(&SAMPLED.replace("UNIT", "seconds"), "com.example.shop").unwrap();
        assert_eq!(
            p.series[0].profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
    }

    #[test]
    fn sampled_bytes() {
        let p = decode(&SAMPLED.replace("UNIT", "bytes"), "app").unwrap();
        assert_eq!(
            p.series[0].profile_type.id(),
            "memory:alloc_space:bytes:space:bytes"
        );
        let p = decode(&SAMPLED.replace("UNIT", "bytes"), "app.inuse_space").unwrap();
        assert_eq!(
            p.series[0].profile_type.id(),
            "memory:inuse_space:bytes:space:bytes"
        );
        assert_eq!(p.series[0].samples.total(), 6);
    }

    #[test]
    fn evented_time_goes_to_the_open_stack() {
        let json = r#"{"shared":{"frames":[{"name":"a"},{"name":"b"}]},
          "profiles":[{"type":"evented","name":"x","unit":"microseconds","startValue":0,"endValue":10,
            "events":[{"type":"O","frame":0,"at":0},{"type":"O","frame":1,"at":2},
                      {"type":"C","frame":1,"at":5},{"type":"C","frame":0,"at":10}]}]}"#;
        let p = decode(json, "app").unwrap();
        assert_eq!(stacks(&p), vec![("a".into(), 7_000), ("a;b".into(), 3_000)]);
    }

    #[test]
    fn bad_files_say_why() {
        let bad_index = SAMPLED.replace("UNIT", "none").replace("[0,2]", "[0,9]");
        assert!(
            matches!(decode(&bad_index, "app"), Err(DecodeError::Invalid { detail, .. }) if detail.contains("`9`"))
        );
        assert!(matches!(
            decode(&SAMPLED.replace("UNIT", "parsecs"), "app"),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            decode("{", "app"),
            Err(DecodeError::Invalid {
                format: "speedscope",
                ..
            })
        ));
        let unbalanced = r#"{"shared":{"frames":[{"name":"a"},{"name":"b"}]},
          "profiles":[{"type":"evented","unit":"none","events":[{"type":"O","frame":0,"at":0},{"type":"C","frame":1,"at":1}]}]}"#;
        assert!(matches!(
            decode(unbalanced, "app"),
            Err(DecodeError::Invalid { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_speedscope(&body, &app("x"), 100, None, &Limits::default());
        }

        #[test]
        fn structured_never_panics(frames in 0usize..4, stacks in proptest::collection::vec(proptest::collection::vec(0usize..6, 0..5), 0..5), w in proptest::collection::vec(-1e20f64..1e20, 0..6)) {
            let names: Vec<String> = (0..frames).map(|i| format!("{{\"name\":\"f{i}\"}}")).collect();
            let json = format!(
                "{{\"shared\":{{\"frames\":[{}]}},\"profiles\":[{{\"type\":\"sampled\",\"unit\":\"seconds\",\"samples\":{},\"weights\":{}}}]}}",
                names.join(","),
                serde_json::to_string(&stacks).unwrap(),
                serde_json::to_string(&w).unwrap()
            );
            let _ = decode(&json, "x");
        }
    }
}
