//! `perftools.profiles.Profile` (pprof) decoding.
//!
//! - Every sample type becomes its own series; the profile type is derived like Pyroscope does
//!   (see [`profile_type_for`]).
//! - Go's CPU `samples:count` is dropped when `cpu:nanoseconds` is present.
//! - `inuse_*` and goroutine counts are [`Aggregation::Average`], everything else `Sum`;
//!   `sample_type_config` may override the aggregation and rename a sample type
//!   (`display-name`).
//! - With `prev_profile`, cumulative sample types store `profile − prev_profile` per stack;
//!   stacks whose delta is ≤ 0 are dropped.
//! - Stacks are emitted root first; inlined lines of a location expand to several frames;
//!   unsymbolized locations are named `0x<address>`.
//! - String sample labels become series labels; invalid or reserved names (and values over
//!   `max_label_value_bytes`) drop the label, not the upload; numeric labels are ignored.
//! - Limits: more than `max_samples` samples is an error; stacks deeper than `max_stack_depth`
//!   keep their `max_stack_depth` frames closest to the root (the leaf side is cut, so the
//!   flame graph's upper part stays mergeable with shallower stacks); names longer than
//!   `max_symbol_bytes` are truncated.
//! - Zero and negative values are dropped.

mod decode;
pub mod proto;

use crate::DecodeError;
use flamestream_model::{Aggregation, Limits, Profile, ProfileType, ProfileTypeParts};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

pub use decode::decode_series;

/// One entry of the multipart `sample_type_config` JSON, keyed by the pprof sample type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SampleTypeEntry {
    /// Display units (`samples`, `objects`, `bytes`, `lock_samples`…). Informational: the unit
    /// stored is the pprof `ValueType` unit.
    pub units: Option<String>,
    /// `sum` or `average`; overrides the default aggregation.
    pub aggregation: Option<String>,
    /// A new name for the sample type (e.g. `mutex_count` for `contentions`).
    #[serde(rename = "display-name", alias = "display_name")]
    pub display_name: Option<String>,
    /// Values only grow over the process lifetime; with `prev_profile`, store the delta.
    pub cumulative: bool,
    /// Values are sampled (informational).
    pub sampled: bool,
}

/// The multipart `sample_type_config` part: sample type → [`SampleTypeEntry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleTypeConfig {
    /// Entries by pprof sample type name.
    pub entries: HashMap<String, SampleTypeEntry>,
}

impl SampleTypeConfig {
    /// Parses the JSON of a `sample_type_config` part.
    ///
    /// # Errors
    /// [`DecodeError::Invalid`] (format `pprof`) when the JSON does not parse.
    pub fn parse(json: &[u8]) -> Result<Self, DecodeError> {
        let entries: HashMap<String, SampleTypeEntry> =
            serde_json::from_slice(json).map_err(|e| DecodeError::Invalid {
                format: "pprof",
                detail: format!("`sample_type_config` is not valid json: {e}"),
            })?;
        Ok(SampleTypeConfig { entries })
    }

    /// The entry of a pprof sample type.
    pub fn get(&self, sample_type: &str) -> Option<&SampleTypeEntry> {
        self.entries.get(sample_type)
    }
}

/// Pyroscope's default for sample types the client did not configure: Go's allocation and
/// contention counters are cumulative.
fn default_cumulative(sample_type: &str) -> bool {
    matches!(
        sample_type,
        "alloc_objects" | "alloc_space" | "contentions" | "delay"
    )
}

/// The resolved type of one pprof sample type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTypeInfo {
    /// The profile type its values are stored under.
    pub profile_type: ProfileType,
    /// How uploads combine in a window.
    pub aggregation: Aggregation,
    /// True when values are cumulative (delta against `prev_profile`).
    pub cumulative: bool,
}

fn clean(part: &str, fallback: &str) -> String {
    let part = part.trim();
    if part.is_empty() {
        return fallback.to_string();
    }
    if part.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        // The usual name (`cpu`, `nanoseconds`): nothing to replace.
        return part.to_string();
    }
    part.chars()
        .map(|c| {
            if c == ':' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The profile-type kind (`process_cpu`, `memory`, `wall`, `mutex`, `block`, `goroutine`,
/// `exceptions`) of a sample type, from its (display) name and the period type, the way
/// Pyroscope names pprof uploads. Unknown sample types fall back to the period type, then to
/// the sample type itself.
pub fn kind_for(sample_type: &str, period_type: &str) -> String {
    // Lowercase copies only when there is something to lower (Go's names are lowercase).
    fn lower(s: &str) -> Cow<'_, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    }
    let (st, pt) = (lower(sample_type), lower(period_type));
    let (st, pt) = (st.as_ref(), pt.as_ref());
    let kind = if st == "wall" || pt.starts_with("wall") {
        "wall"
    } else if st.contains("cpu") || pt == "cpu" || st == "itimer" || pt == "itimer" {
        "process_cpu"
    } else if st.starts_with("alloc_")
        || st.starts_with("inuse_")
        || matches!(
            st,
            "space" | "objects" | "live" | "malloc_objects" | "malloc_bytes"
        )
        || matches!(pt, "space" | "objects")
    {
        "memory"
    } else if st.starts_with("mutex_") || pt == "mutex" {
        "mutex"
    } else if st.starts_with("block_") || st.starts_with("lock_") || pt == "block" {
        "block"
    } else if matches!(st, "contentions" | "delay") {
        // Go's mutex and block profiles both use period type `contentions`; only a
        // `sample_type_config` display name tells them apart. Pyroscope defaults to mutex.
        "mutex"
    } else if st.starts_with("goroutine") || pt.starts_with("goroutine") {
        "goroutine"
    } else if st == "exceptions" || pt == "exceptions" {
        "exceptions"
    } else if !pt.is_empty() {
        return clean(pt, "unknown");
    } else {
        return clean(st, "unknown");
    };
    kind.to_string()
}

/// Resolves one pprof sample type (`sample_type:unit`, period `period_type:period_unit`)
/// against the optional `sample_type_config`.
pub fn profile_type_for(
    sample_type: &str,
    unit: &str,
    period_type: &str,
    period_unit: &str,
    config: Option<&SampleTypeConfig>,
) -> SampleTypeInfo {
    let key = [sample_type, unit, period_type, period_unit];
    if config.is_some() || key.iter().map(|k| k.len()).sum::<usize>() > RECENT_TYPE_MAX_BYTES {
        return make_profile_type(sample_type, unit, period_type, period_unit, config);
    }
    RECENT_TYPES.with_borrow_mut(|recent| {
        if let Some((_, info)) = recent.iter().find(|(k, _)| k.iter().eq(key.iter())) {
            return info.clone();
        }
        let info = make_profile_type(sample_type, unit, period_type, period_unit, None);
        if recent.len() >= RECENT_TYPES_MAX {
            recent.clear();
        }
        recent.push((key.map(String::from), info.clone()));
        info
    })
}

/// How many sample types [`RECENT_TYPES`] remembers.
const RECENT_TYPES_MAX: usize = 32;

/// The longest type [`RECENT_TYPES`] remembers (its four names together), so that it holds a
/// few KiB at most whatever senders name their types.
const RECENT_TYPE_MAX_BYTES: usize = 256;

thread_local! {
    /// The sample types this thread named last (without a `sample_type_config`): a sender
    /// repeats the same few in every upload, and a hit costs four string compares instead of
    /// building the type's five strings again. Emptied when full.
    static RECENT_TYPES: std::cell::RefCell<Vec<([String; 4], SampleTypeInfo)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn make_profile_type(
    sample_type: &str,
    unit: &str,
    period_type: &str,
    period_unit: &str,
    config: Option<&SampleTypeConfig>,
) -> SampleTypeInfo {
    let entry = config.and_then(|c| c.get(sample_type));
    let name = entry
        .and_then(|e| e.display_name.as_deref())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(sample_type);
    let st = clean(name, "samples");
    let kind = kind_for(&st, period_type);
    let default_agg = if st.starts_with("inuse_") || st.starts_with("goroutine") {
        Aggregation::Average
    } else {
        Aggregation::Sum
    };
    let aggregation = entry
        .and_then(|e| e.aggregation.as_deref())
        .and_then(Aggregation::parse)
        .unwrap_or(default_agg);
    let cumulative = match entry {
        Some(e) => e.cumulative,
        None => default_cumulative(sample_type),
    };
    SampleTypeInfo {
        profile_type: ProfileTypeParts {
            name: kind,
            sample_type: st,
            sample_unit: clean(unit, "count"),
            period_type: clean(period_type, ""),
            period_unit: clean(period_unit, ""),
        }
        .into(),
        aggregation,
        cumulative,
    }
}

/// Decodes an uncompressed pprof profile, with an optional uncompressed `prev_profile` and
/// `sample_type_config`.
///
/// # Errors
/// [`DecodeError::Invalid`] (format `pprof`) for bytes that are not a valid profile (ids out of
/// range, truncated messages, non-protobuf data), [`DecodeError::Limit`] for `max_samples`.
pub fn decode_pprof(
    data: &[u8],
    prev: Option<&[u8]>,
    config: Option<&SampleTypeConfig>,
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    let mut profile = Profile::default();
    let cur = decode_series(data, &mut profile.frames, config, limits)?;
    let prev = match prev {
        Some(p) if cur.iter().any(|s| s.cumulative) => {
            Some(decode_series(p, &mut profile.frames, config, limits)?)
        }
        _ => None,
    };
    for mut s in cur {
        if s.cumulative {
            if let Some(prev) = &prev {
                let mut matched = false;
                for p in prev.iter().filter(|p| {
                    p.series.profile_type == s.series.profile_type
                        && p.series.labels == s.series.labels
                }) {
                    matched = true;
                    // Only stacks the current profile holds: one only in `prev` would come out
                    // negative and be dropped below anyway (and adding it would copy the arena
                    // the series of this profile share).
                    for (stack, v) in p.series.samples.iter() {
                        s.series.samples.add_existing(stack, v.saturating_neg());
                    }
                }
                if matched {
                    s.series.samples.retain(|_, v| v > 0);
                }
            }
        }
        if !s.series.samples.is_empty() {
            profile.series.push(s.series);
        }
    }
    Ok(profile)
}

#[cfg(test)]
mod tests;
