//! Decoded profiles: frame names interned once per profile, stacks as frame-id paths
//! (root first) mapped to values.

use crate::{LabelSet, ProfileType};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// How the values of several uploads that fall in one window combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Values add up (CPU time, allocations, contentions).
    #[default]
    Sum,
    /// Values are instant readings (heap in use, goroutines): averaged over uploads.
    Average,
}

impl Aggregation {
    /// `sum` or `average`.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Average => "average",
        }
    }

    /// Parses `sum` / `average` (Pyroscope's `aggregationType`).
    pub fn parse(text: &str) -> Option<Aggregation> {
        match text {
            "sum" => Some(Aggregation::Sum),
            "average" | "avg" => Some(Aggregation::Average),
            _ => None,
        }
    }
}

/// Frame names, each stored once, addressed by a dense `u32` id.
#[derive(Debug, Clone, Default)]
pub struct FrameTable {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
}

impl FrameTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let boxed: Box<str> = name.into();
        self.names.push(boxed.clone());
        self.index.insert(boxed, id);
        id
    }

    /// The name of `id`.
    ///
    /// # Panics
    /// When `id` was not returned by this table.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no name was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Bytes held by the names (for memory accounting).
    pub fn name_bytes(&self) -> usize {
        self.names.iter().map(|n| n.len()).sum()
    }
}

/// Stacks (frame ids, root first) mapped to their summed values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackMap {
    map: FxHashMap<Box<[u32]>, i64>,
}

impl StackMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` to `stack`. Zero values are ignored.
    pub fn add(&mut self, stack: &[u32], value: i64) {
        if value == 0 {
            return;
        }
        if let Some(v) = self.map.get_mut(stack) {
            *v = v.saturating_add(value);
        } else {
            self.map.insert(stack.into(), value);
        }
    }

    /// Every `(stack, value)` pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u32], i64)> {
        self.map.iter().map(|(k, v)| (&**k, *v))
    }

    /// Number of distinct stacks.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no stack is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sum of all values.
    pub fn total(&self) -> i64 {
        self.map.values().fold(0i64, |a, v| a.saturating_add(*v))
    }

    /// Keeps only stacks whose value satisfies `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u32], i64) -> bool) {
        self.map.retain(|k, v| keep(k, *v));
    }

    /// Replaces each value by `f(value)`, dropping those that become zero.
    pub fn map_values(&mut self, mut f: impl FnMut(i64) -> i64) {
        self.map.retain(|_, v| {
            *v = f(*v);
            *v != 0
        });
    }
}

/// One series of a decoded profile: one profile type and the labels the profile itself carried.
#[derive(Debug, Clone)]
pub struct Series {
    /// The profile type of every value in `samples`.
    pub profile_type: ProfileType,
    /// How uploads combine within a window.
    pub aggregation: Aggregation,
    /// Labels from inside the profile (pprof string labels, JFR context labels); the upload's
    /// own labels are added later.
    pub labels: LabelSet,
    /// Stack → value.
    pub samples: StackMap,
}

impl Series {
    /// An empty series of `profile_type`.
    pub fn new(profile_type: ProfileType, aggregation: Aggregation, labels: LabelSet) -> Self {
        Series {
            profile_type,
            aggregation,
            labels,
            samples: StackMap::new(),
        }
    }
}

/// A decoded upload: frame names shared by all its series.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Frame names referenced by the stacks of every series.
    pub frames: FrameTable,
    /// One series per (profile type, in-profile label set).
    pub series: Vec<Series>,
}

impl Profile {
    /// Finds or creates the series of `(profile_type, labels)`, returning its index.
    pub fn series_index(
        &mut self,
        profile_type: &ProfileType,
        aggregation: Aggregation,
        labels: &LabelSet,
    ) -> usize {
        if let Some(i) = self
            .series
            .iter()
            .position(|s| &s.profile_type == profile_type && &s.labels == labels)
        {
            return i;
        }
        self.series.push(Series::new(
            profile_type.clone(),
            aggregation,
            labels.clone(),
        ));
        self.series.len() - 1
    }

    /// Total number of distinct stacks over all series.
    pub fn stack_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// The stacks of `series` as frame names, root first (for tests and debugging).
    pub fn named_stacks(&self, series: usize) -> Vec<(Vec<String>, i64)> {
        let mut out: Vec<(Vec<String>, i64)> = self.series[series]
            .samples
            .iter()
            .map(|(stack, v)| {
                (
                    stack
                        .iter()
                        .map(|&id| self.frames.name(id).to_string())
                        .collect(),
                    v,
                )
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_map_sums_duplicates_and_ignores_zero() {
        let mut m = StackMap::new();
        m.add(&[0, 1], 2);
        m.add(&[0, 1], 3);
        m.add(&[0, 2], 0);
        assert_eq!(m.len(), 1);
        assert_eq!(m.total(), 5);
    }

    #[test]
    fn frame_table_interns_once() {
        let mut t = FrameTable::new();
        assert_eq!(t.intern("main"), 0);
        assert_eq!(t.intern("work"), 1);
        assert_eq!(t.intern("main"), 0);
        assert_eq!(t.name(1), "work");
    }
}
