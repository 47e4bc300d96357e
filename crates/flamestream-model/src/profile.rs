//! Decoded profiles: frame names interned once per profile, stacks as frame-id paths
//! (root first) mapped to values.

use crate::{LabelSet, ProfileType};
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

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
///
/// All names live in one string arena; a hash table of ids finds a name by its hash. Interning
/// a new name costs no allocation of its own (the arena and vectors grow geometrically),
/// looking one up costs one hash and one compare.
#[derive(Debug, Clone, Default)]
pub struct FrameTable {
    /// Every name, back to back.
    text: String,
    /// Id → end offset of its name in `text` (the start is the previous id's end).
    ends: Vec<u32>,
    /// The ids, found by the hash of their name.
    index: hashbrown::HashTable<u32>,
}

/// The name of `id` in a table's `text` and `ends`.
#[inline]
fn name_in<'t>(text: &'t str, ends: &[u32], id: u32) -> &'t str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &text[start..ends[id] as usize]
}

#[inline]
fn hash_name(name: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(name)
}

impl FrameTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `names` names of `bytes` bytes in total.
    pub fn with_capacity(names: usize, bytes: usize) -> Self {
        let mut t = Self::default();
        t.reserve(names, bytes);
        t
    }

    /// Makes room for `names` more names of `bytes` more bytes in total.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(names);
        let (text, ends) = (&self.text, &self.ends);
        self.index
            .reserve(names, |&id| hash_name(name_in(text, ends, id)));
    }

    /// Frees the names' spare capacity (the index keeps its own).
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// The id of `name`, adding it when new.
    ///
    /// # Panics
    /// When the table would hold more than 4 GiB of names or `u32::MAX` ids.
    pub fn intern(&mut self, name: &str) -> u32 {
        let h = hash_name(name);
        let Self { text, ends, index } = self;
        if let Some(&id) = index.find(h, |&id| name_in(text, ends, id) == name) {
            return id;
        }
        let new = u32::try_from(ends.len())
            .ok()
            .filter(|&i| i != u32::MAX)
            .expect("frame table holds fewer than u32::MAX names");
        text.push_str(name);
        ends.push(u32::try_from(text.len()).expect("frame names fit in 4 GiB"));
        index.insert_unique(h, new, |&id| hash_name(name_in(text, ends, id)));
        new
    }

    /// The name of `id`.
    ///
    /// # Panics
    /// When `id` was not returned by this table.
    #[inline]
    pub fn name(&self, id: u32) -> &str {
        name_in(&self.text, &self.ends, id)
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no name was interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held by the names (for memory accounting).
    pub fn name_bytes(&self) -> usize {
        self.text.len()
    }
}

/// Stacks (frame ids, root first) mapped to their summed values.
///
/// Every stack's frames live back to back in one arena, its entry (hash, span, value) in a
/// vector, and a hash table maps a stack to its entry: adding a new stack costs no allocation of
/// its own (the arena and vectors grow geometrically), dropping a map frees three buffers
/// whatever its size, and a caller that adds one stack to several maps can hash it once
/// ([`StackMap::hash_stack`], [`StackMap::add_hashed`]).
#[derive(Clone, Default)]
pub struct StackMap {
    /// The frames of every stack, back to back. Several maps may share one arena (a decoder
    /// hands every series of a profile the same one, [`StackMap::with_shared_frames`]); the
    /// first new stack added to a shared arena copies it (copy on write).
    frames: Arc<Vec<u32>>,
    /// Frames of the stacks this map holds (the arena may hold more when shared).
    frame_total: usize,
    /// One entry per distinct stack, in insertion order.
    entries: Vec<StackEntry>,
    /// Stack hash → index into `entries`.
    table: hashbrown::HashTable<u32>,
}

#[derive(Debug, Clone, Copy)]
struct StackEntry {
    hash: u64,
    start: usize,
    len: u32,
    value: i64,
}

impl StackMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `stacks` stacks.
    pub fn with_capacity(stacks: usize) -> Self {
        let mut m = Self::default();
        m.reserve(stacks);
        m
    }

    /// Makes room for `stacks` more stacks.
    pub fn reserve(&mut self, stacks: usize) {
        self.entries.reserve(stacks);
        let entries = &self.entries;
        self.table.reserve(stacks, |&i| entries[i as usize].hash);
    }

    /// Makes room for `frames` more frames in the stacks added next.
    pub fn reserve_frames(&mut self, frames: usize) {
        self.own_frames().reserve(frames);
    }

    /// An empty map with room for `stacks` stacks whose frames are spans of `frames`, an arena
    /// shared with other maps ([`StackMap::add_span`]).
    pub fn with_shared_frames(frames: Arc<Vec<u32>>, stacks: usize) -> Self {
        let mut m = StackMap {
            frames,
            ..Self::default()
        };
        m.reserve(stacks);
        m
    }

    /// Adds `value` to the stack `frames[start..start + len]` of the shared arena this map was
    /// made with, whose [`StackMap::hash_stack`] is `hash`, without copying its frames. Zero
    /// values are ignored. Only for a map filled from its shared arena: after a stack was
    /// added by [`StackMap::add`] or the map was rebuilt ([`StackMap::retain`]), the map has
    /// an arena of its own and offsets into the shared one mean nothing.
    /// A span outside the arena is ignored.
    pub fn add_span(&mut self, hash: u64, start: usize, len: u32, value: i64) {
        if value == 0 {
            return;
        }
        let Some(stack) = self.frames.get(start..start.saturating_add(len as usize)) else {
            return;
        };
        debug_assert_eq!(
            hash,
            Self::hash_stack(stack),
            "add_span: hash of another stack"
        );
        match self.find(hash, stack) {
            Some(i) => self.add_at(i, value),
            None => self.push_entry(hash, start, len, value),
        }
    }

    /// The hash under which `stack` is stored: the same for every map, so a stack added to
    /// several maps is hashed once.
    #[inline]
    pub fn hash_stack(stack: &[u32]) -> u64 {
        // The frames' bytes only: their hash covers their length already, so the length
        // prefix of `Hash for [u32]` would be one more step in every stack's hash.
        let mut h = rustc_hash::FxHasher::default();
        Hash::hash_slice(stack, &mut h);
        h.finish()
    }

    /// The arena, made this map's own first when it is shared: only this map's stacks are
    /// copied (compacted), never the whole shared arena.
    fn own_frames(&mut self) -> &mut Vec<u32> {
        if Arc::get_mut(&mut self.frames).is_none() {
            let mut own = Vec::with_capacity(self.frame_total);
            for e in &mut self.entries {
                let start = own.len();
                own.extend_from_slice(&self.frames[e.start..e.start + e.len as usize]);
                e.start = start;
            }
            self.frames = Arc::new(own);
        }
        Arc::get_mut(&mut self.frames).expect("the arena was just made this map's own")
    }

    #[inline]
    fn stack_of(&self, e: &StackEntry) -> &[u32] {
        &self.frames[e.start..e.start + e.len as usize]
    }

    #[inline]
    fn find(&self, hash: u64, stack: &[u32]) -> Option<usize> {
        self.table
            .find(hash, |&i| {
                let e = &self.entries[i as usize];
                e.hash == hash && self.stack_of(e) == stack
            })
            .map(|&i| i as usize)
    }

    /// The value of `stack`, when held.
    pub fn get(&self, stack: &[u32]) -> Option<i64> {
        self.find(Self::hash_stack(stack), stack)
            .map(|i| self.entries[i].value)
    }

    /// Adds `value` to `stack`. Zero values are ignored.
    #[inline]
    pub fn add(&mut self, stack: &[u32], value: i64) {
        if value == 0 {
            return;
        }
        self.add_hashed(Self::hash_stack(stack), stack, value);
    }

    /// Adds `value` to `stack`, whose [`StackMap::hash_stack`] is `hash` (a contract: the
    /// hash is stored with the stack and handed out by [`StackMap::iter_hashed`], which the
    /// aggregator trusts). Zero values are ignored.
    pub fn add_hashed(&mut self, hash: u64, stack: &[u32], value: i64) {
        if value == 0 {
            return;
        }
        debug_assert_eq!(
            hash,
            Self::hash_stack(stack),
            "add_hashed: hash of another stack"
        );
        if let Some(i) = self.find(hash, stack) {
            self.add_at(i, value);
            return;
        }
        if self.entries.len() >= u32::MAX as usize {
            // Four billion distinct stacks: far beyond every limit; keep the map consistent.
            return;
        }
        // Stacks are cut to `max_stack_depth` long before they reach u32::MAX frames.
        let len = u32::try_from(stack.len()).unwrap_or(u32::MAX);
        let frames = self.own_frames();
        let start = frames.len();
        frames.extend_from_slice(&stack[..len as usize]);
        self.push_entry(hash, start, len, value);
    }

    /// Adds `value` to entry `i`.
    #[inline]
    fn add_at(&mut self, i: usize, value: i64) {
        let v = &mut self.entries[i].value;
        *v = v.saturating_add(value);
    }

    /// Indexes a new entry for the stack at `frames[start..start + len]`; ignored past
    /// `u32::MAX - 1` entries.
    fn push_entry(&mut self, hash: u64, start: usize, len: u32, value: i64) {
        let Some(i) = u32::try_from(self.entries.len())
            .ok()
            .filter(|&i| i != u32::MAX)
        else {
            return;
        };
        self.entries.push(StackEntry {
            hash,
            start,
            len,
            value,
        });
        self.frame_total += len as usize;
        let entries = &self.entries;
        self.table
            .insert_unique(hash, i, |&j| entries[j as usize].hash);
    }

    /// Adds `value` to `stack` when the map holds it; returns whether it did. Never stores a
    /// new stack (so never copies a shared arena): for deltas against a previous profile.
    pub fn add_existing(&mut self, stack: &[u32], value: i64) -> bool {
        match self.find(Self::hash_stack(stack), stack) {
            Some(i) => {
                self.add_at(i, value);
                true
            }
            None => false,
        }
    }

    /// Every `(stack, value)` pair, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u32], i64)> {
        self.entries.iter().map(|e| (self.stack_of(e), e.value))
    }

    /// Every `(hash, stack, value)`, in insertion order: `hash` is the stack's
    /// [`StackMap::hash_stack`] (as the callers of [`StackMap::add_hashed`] and
    /// [`StackMap::add_span`] promise), so a caller that keeps the stack as it is need not
    /// hash it again.
    pub fn iter_hashed(&self) -> impl Iterator<Item = (u64, &[u32], i64)> {
        self.entries
            .iter()
            .map(|e| (e.hash, self.stack_of(e), e.value))
    }

    /// Number of distinct stacks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no stack is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Frames held over all stacks (for memory accounting).
    pub fn frame_count(&self) -> usize {
        self.frame_total
    }

    /// Sum of all values.
    pub fn total(&self) -> i64 {
        self.entries
            .iter()
            .fold(0i64, |a, e| a.saturating_add(e.value))
    }

    /// Keeps only stacks whose value satisfies `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u32], i64) -> bool) {
        self.rebuild(|stack, v| keep(stack, v).then_some(v));
    }

    /// Replaces each value by `f(value)`, dropping those that become zero.
    pub fn map_values(&mut self, mut f: impl FnMut(i64) -> i64) {
        self.rebuild(|_, v| Some(f(v)).filter(|&v| v != 0));
    }

    /// Rebuilds the map from the entries `f` keeps, with their new values.
    fn rebuild(&mut self, mut f: impl FnMut(&[u32], i64) -> Option<i64>) {
        let old = std::mem::take(self);
        let mut kept_frames = 0;
        let mut kept: Vec<StackEntry> = Vec::with_capacity(old.entries.len());
        for e in &old.entries {
            if let Some(value) = f(old.stack_of(e), e.value) {
                kept_frames += e.len as usize;
                kept.push(StackEntry { value, ..*e });
            }
        }
        self.reserve(kept.len());
        let mut frames = Vec::with_capacity(kept_frames);
        for e in kept {
            let start = frames.len();
            frames.extend_from_slice(old.stack_of(&e));
            self.push_entry(e.hash, start, e.len, e.value);
        }
        self.frames = Arc::new(frames);
    }
}

impl PartialEq for StackMap {
    /// Equal when both hold the same stacks with the same values, whatever the order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.entries.iter().all(|e| {
                other
                    .find(e.hash, self.stack_of(e))
                    .is_some_and(|i| other.entries[i].value == e.value)
            })
    }
}

impl Eq for StackMap {}

impl std::fmt::Debug for StackMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Distinct stacks (frame ids, root first), each stored once and addressed by a dense `u32`
/// id: the aggregator's per-partition stack store, shared by the series of a window.
///
/// Frames live back to back in one arena; [`StackTable::into_parts`] hands the arena over as
/// the shared frames of [`StackMap`]s ([`StackMap::with_shared_frames`]) without copying.
#[derive(Clone, Default)]
pub struct StackTable {
    frames: Vec<u32>,
    /// Id → (start in `frames`, length, hash).
    stacks: Vec<(usize, u32, u64)>,
    /// Hash → id.
    table: hashbrown::HashTable<u32>,
}

impl StackTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for `stacks` more stacks of `frames` frames in total.
    pub fn reserve(&mut self, stacks: usize, frames: usize) {
        self.frames.reserve(frames);
        self.stacks.reserve(stacks);
        let spans = &self.stacks;
        self.table.reserve(stacks, |&j| spans[j as usize].2);
    }

    /// The id of `stack`, whose [`StackMap::hash_stack`] is `hash`, adding it when new;
    /// `None` only past `u32::MAX - 1` stacks.
    pub fn intern_hashed(&mut self, hash: u64, stack: &[u32]) -> Option<u32> {
        let found = self.table.find(hash, |&i| {
            let (start, len, h) = self.stacks[i as usize];
            h == hash && &self.frames[start..start + len as usize] == stack
        });
        if let Some(&i) = found {
            return Some(i);
        }
        let id = u32::try_from(self.stacks.len())
            .ok()
            .filter(|&i| i != u32::MAX)?;
        let len = u32::try_from(stack.len()).ok()?;
        self.stacks.push((self.frames.len(), len, hash));
        self.frames.extend_from_slice(stack);
        let stacks = &self.stacks;
        self.table
            .insert_unique(hash, id, |&j| stacks[j as usize].2);
        Some(id)
    }

    /// The frames of stack `id`.
    ///
    /// # Panics
    /// When `id` was not returned by this table.
    pub fn get(&self, id: u32) -> &[u32] {
        let (start, len, _) = self.stacks[id as usize];
        &self.frames[start..start + len as usize]
    }

    /// Number of distinct stacks.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// True when no stack is held.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// The frame arena and, per id, `(start, length, hash)` of its stack in it.
    pub fn into_parts(self) -> (Vec<u32>, Vec<(usize, u32, u64)>) {
        (self.frames, self.stacks)
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
    fn stack_map_retain_map_values_and_equality() {
        let mut m = StackMap::with_capacity(2);
        for i in 0..1000u32 {
            m.add(&[i, i + 1, i + 2], i64::from(i) - 500);
        }
        m.add(&[], 7);
        m.add(&[], 1);
        assert_eq!(m.get(&[]), Some(8));
        assert_eq!(m.len(), 1000); // the zero value at i = 500 is ignored
        m.retain(|s, v| s.is_empty() || v > 0);
        assert_eq!(m.len(), 500);
        assert_eq!(m.get(&[501, 502, 503]), Some(1));
        assert_eq!(m.get(&[499, 500, 501]), None);
        m.map_values(|v| v - 1);
        assert_eq!(m.len(), 499);
        assert_eq!(m.get(&[501, 502, 503]), None);
        m.add(&[501, 502, 503], 3);
        assert_eq!(m.get(&[501, 502, 503]), Some(3));
        let mut other = StackMap::new();
        let mut pairs: Vec<(Vec<u32>, i64)> = m.iter().map(|(s, v)| (s.to_vec(), v)).collect();
        pairs.reverse();
        for (s, v) in &pairs {
            other.add(s, *v);
        }
        assert_eq!(m, other);
        other.add(&[1], 1);
        assert_ne!(m, other);
    }

    #[test]
    fn shared_frames_are_spans_until_a_new_stack_copies_them() {
        let arena = Arc::new(vec![1, 2, 3, 1, 2]);
        let h = |s: &[u32]| StackMap::hash_stack(s);
        let mut a = StackMap::with_shared_frames(arena.clone(), 2);
        let mut b = StackMap::with_shared_frames(arena.clone(), 2);
        a.add_span(h(&[1, 2, 3]), 0, 3, 5);
        a.add_span(h(&[1, 2]), 3, 2, 1);
        a.add_span(h(&[1, 2]), 0, 2, 1); // the same frames elsewhere in the arena: one stack
        b.add_span(h(&[2, 3]), 1, 2, 7);
        b.add_span(h(&[9]), 4, 9, 7); // outside the arena: ignored
        assert_eq!(a.get(&[1, 2, 3]), Some(5));
        assert_eq!(a.get(&[1, 2]), Some(2));
        assert_eq!((a.len(), a.frame_count()), (2, 5));
        assert_eq!((b.len(), b.frame_count()), (1, 2));
        a.add(&[4], 1); // copy on write: b and the arena are untouched
        assert_eq!(a.get(&[4]), Some(1));
        assert_eq!(b.get(&[2, 3]), Some(7));
        assert_eq!(*arena, vec![1, 2, 3, 1, 2]);
        b.retain(|_, v| v > 10);
        assert!(b.is_empty());
        let mut c = StackMap::new();
        c.add(&[1, 2, 3], 5);
        c.add(&[1, 2], 2);
        c.add(&[4], 1);
        assert_eq!(a, c);
    }

    #[test]
    fn stack_table_interns_each_stack_once() {
        let mut t = StackTable::new();
        let h = |s: &[u32]| StackMap::hash_stack(s);
        assert_eq!(t.intern_hashed(h(&[1, 2]), &[1, 2]), Some(0));
        assert_eq!(t.intern_hashed(h(&[1]), &[1]), Some(1));
        assert_eq!(t.intern_hashed(h(&[1, 2]), &[1, 2]), Some(0));
        assert_eq!(t.intern_hashed(h(&[]), &[]), Some(2));
        assert_eq!((t.len(), t.get(0), t.get(2)), (3, &[1u32, 2][..], &[][..]));
        let (frames, spans) = t.into_parts();
        assert_eq!(frames, vec![1, 2, 1]);
        assert_eq!(spans[1].0, 2);
    }

    #[test]
    fn frame_table_interns_once() {
        let mut t = FrameTable::new();
        assert_eq!(t.intern("main"), 0);
        assert_eq!(t.intern("work"), 1);
        assert_eq!(t.intern("main"), 0);
        assert_eq!(t.name(1), "work");
        assert_eq!(t.name(0), "main");
        assert_eq!(t.len(), 2);
        assert_eq!(t.name_bytes(), 8);
    }

    #[test]
    fn frame_table_keeps_empty_and_many_names_apart() {
        let mut t = FrameTable::with_capacity(4, 16);
        assert!(t.is_empty());
        assert_eq!(t.intern(""), 0);
        let ids: Vec<u32> = (0..10_000).map(|i| t.intern(&format!("f{i}"))).collect();
        assert_eq!(t.intern(""), 0);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(id, i as u32 + 1);
            assert_eq!(t.name(id), format!("f{i}"));
            assert_eq!(t.intern(&format!("f{i}")), id);
        }
        assert_eq!(t.len(), 10_001);
        assert_eq!(t.name(0), "");
    }
}
