//! Pyroscope profile type ids (`kind:sample_type:unit:period_type:period_unit`) and the
//! app-name suffix table used by tree-based formats.

use crate::Aggregation;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Why a profile type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileTypeError {
    /// An app suffix that names no profile type.
    #[error("unknown profile type suffix `{0}`: use one of cpu, itimer, wall, inuse_objects, inuse_space, alloc_objects, alloc_space, goroutines, mutex_count, mutex_duration, block_count, block_duration, lock_count, lock_duration, exceptions, live")]
    UnknownSuffix(String),
    /// A profile type id without five `:`-separated parts.
    #[error(
        "profile type `{0}` is invalid: expected `kind:sample_type:unit:period_type:period_unit`"
    )]
    InvalidId(String),
}

/// A profile type, e.g. Go CPU `process_cpu:cpu:nanoseconds:cpu:nanoseconds`.
///
/// Its parts are shared ([`ProfileTypeParts`] behind an `Arc`, read through `Deref`): every
/// series, series key and window of a type holds the same five strings, and a copy costs a
/// reference count, not five allocations.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileType(Arc<ProfileTypeParts>);

/// The five parts of a [`ProfileType`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProfileTypeParts {
    /// The kind, e.g. `process_cpu`, `memory`, `wall`.
    pub name: String,
    /// The sample type, e.g. `cpu`, `alloc_space`.
    pub sample_type: String,
    /// The sample unit, e.g. `nanoseconds`, `bytes`, `count`.
    pub sample_unit: String,
    /// The period type, e.g. `cpu`, `space`.
    pub period_type: String,
    /// The period unit.
    pub period_unit: String,
}

impl std::ops::Deref for ProfileType {
    type Target = ProfileTypeParts;

    fn deref(&self) -> &ProfileTypeParts {
        &self.0
    }
}

impl From<ProfileTypeParts> for ProfileType {
    fn from(parts: ProfileTypeParts) -> Self {
        ProfileType(Arc::new(parts))
    }
}

impl fmt::Debug for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileType")
            .field("name", &self.name)
            .field("sample_type", &self.sample_type)
            .field("sample_unit", &self.sample_unit)
            .field("period_type", &self.period_type)
            .field("period_unit", &self.period_unit)
            .finish()
    }
}

impl Serialize for ProfileType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ProfileType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ProfileTypeParts::deserialize(deserializer).map(ProfileType::from)
    }
}

impl ProfileType {
    /// Builds a type from its five parts.
    pub fn new(
        name: &str,
        sample_type: &str,
        sample_unit: &str,
        period_type: &str,
        period_unit: &str,
    ) -> Self {
        ProfileTypeParts {
            name: name.into(),
            sample_type: sample_type.into(),
            sample_unit: sample_unit.into(),
            period_type: period_type.into(),
            period_unit: period_unit.into(),
        }
        .into()
    }

    /// The parts, to change (copied first when other types share them).
    pub fn parts_mut(&mut self) -> &mut ProfileTypeParts {
        Arc::make_mut(&mut self.0)
    }

    /// Parses `kind:sample_type:unit:period_type:period_unit`.
    ///
    /// # Errors
    /// [`ProfileTypeError::InvalidId`] when there are not five non-empty parts.
    pub fn parse(id: &str) -> Result<Self, ProfileTypeError> {
        let parts: Vec<&str> = id.split(':').collect();
        if parts.len() != 5 || parts[..3].iter().any(|p| p.is_empty()) {
            return Err(ProfileTypeError::InvalidId(id.to_string()));
        }
        Ok(ProfileType::new(
            parts[0], parts[1], parts[2], parts[3], parts[4],
        ))
    }

    /// The id, `kind:sample_type:unit:period_type:period_unit`.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// The units word Pyroscope's flamebearer metadata uses (`samples`, `objects`, `bytes`…).
    pub fn flamebearer_units(&self) -> &'static str {
        match self.sample_unit.as_str() {
            "bytes" => "bytes",
            "nanoseconds" => "samples",
            "count" if self.sample_type.contains("objects") || self.sample_type == "live" => {
                "objects"
            }
            "count" if self.sample_type == "goroutines" || self.sample_type == "goroutine" => {
                "goroutines"
            }
            "count" if self.sample_type == "contentions" => "lock_samples",
            _ => "samples",
        }
    }
}

impl fmt::Display for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit
        )
    }
}

/// What an app suffix means for a tree-based upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuffixType {
    /// The profile type the values belong to.
    pub profile_type: ProfileType,
    /// True when values are sample counts to multiply by `1e9 / sampleRate` ns.
    pub scale_by_sample_rate: bool,
    /// How values of several uploads in one window combine.
    pub aggregation: Aggregation,
}

/// True when `suffix` is in the table of [`type_for_suffix`].
pub fn is_known_suffix(suffix: &str) -> bool {
    type_for_suffix(suffix, 100).is_ok()
}

/// The profile type named by an app suffix (`None` → `cpu`). `sample_rate == 0` leaves CPU and
/// wall values as `samples:count`.
///
/// # Errors
/// [`ProfileTypeError::UnknownSuffix`] naming the suffix.
pub fn type_for_suffix(suffix: &str, sample_rate: u32) -> Result<SuffixType, ProfileTypeError> {
    let timed = |kind: &str, st: &str| {
        if sample_rate == 0 {
            SuffixType {
                profile_type: ProfileType::new(kind, "samples", "count", st, "nanoseconds"),
                scale_by_sample_rate: false,
                aggregation: Aggregation::Sum,
            }
        } else {
            SuffixType {
                profile_type: ProfileType::new(kind, st, "nanoseconds", st, "nanoseconds"),
                scale_by_sample_rate: true,
                aggregation: Aggregation::Sum,
            }
        }
    };
    let plain =
        |kind: &str, st: &str, unit: &str, pt: &str, pu: &str, agg: Aggregation| SuffixType {
            profile_type: ProfileType::new(kind, st, unit, pt, pu),
            scale_by_sample_rate: false,
            aggregation: agg,
        };
    use Aggregation::{Average, Sum};
    Ok(match suffix {
        "cpu" | "itimer" => timed("process_cpu", "cpu"),
        "wall" | "seconds" | "milliseconds" | "microseconds" | "nanoseconds" => {
            timed("wall", "wall")
        }
        "inuse_objects" => plain(
            "memory",
            "inuse_objects",
            "count",
            "space",
            "bytes",
            Average,
        ),
        "inuse_space" => plain("memory", "inuse_space", "bytes", "space", "bytes", Average),
        "alloc_objects" | "alloc_in_new_tlab_objects" | "alloc_outside_tlab_objects" => {
            plain("memory", suffix, "count", "space", "bytes", Sum)
        }
        "alloc_space" | "alloc_in_new_tlab_bytes" | "alloc_outside_tlab_bytes" => {
            plain("memory", suffix, "bytes", "space", "bytes", Sum)
        }
        "live" => plain("memory", "live", "count", "objects", "count", Average),
        "goroutines" => plain(
            "goroutine",
            "goroutines",
            "count",
            "goroutine",
            "count",
            Average,
        ),
        "mutex_count" => plain("mutex", "contentions", "count", "mutex", "count", Sum),
        "mutex_duration" => plain("mutex", "delay", "nanoseconds", "mutex", "count", Sum),
        "block_count" | "lock_count" => {
            plain("block", "contentions", "count", "block", "count", Sum)
        }
        "block_duration" | "lock_duration" => {
            plain("block", "delay", "nanoseconds", "block", "count", Sum)
        }
        "exceptions" => plain("exceptions", "samples", "count", "exceptions", "count", Sum),
        other => return Err(ProfileTypeError::UnknownSuffix(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips() {
        let id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
        assert_eq!(ProfileType::parse(id).unwrap().id(), id);
        assert!(ProfileType::parse("cpu").is_err());
    }

    #[test]
    fn suffixes() {
        assert_eq!(
            type_for_suffix("cpu", 100).unwrap().profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(
            type_for_suffix("cpu", 0).unwrap().profile_type.id(),
            "process_cpu:samples:count:cpu:nanoseconds"
        );
        assert_eq!(
            type_for_suffix("inuse_space", 100).unwrap().aggregation,
            Aggregation::Average
        );
        assert!(
            matches!(type_for_suffix("bogus", 100), Err(ProfileTypeError::UnknownSuffix(s)) if s == "bogus")
        );
    }
}
