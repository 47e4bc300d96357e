//! The aggregator's pure core: merges decoded uploads per (tenant, app, profile type, label
//! set) and window, separately for each source partition, and hands each partition's data
//! over as one [`WindowFlush`] covering an offset range.
//!
//! Windows are epoch-aligned and chosen by the upload's `from` time only, so the same upload
//! always lands in the same window, whichever process decodes it and whenever. Keeping
//! partitions apart lets a store accept or refuse a partition's range as a unit, and lets a
//! process drop exactly the data of a partition that a rebalance took away.

use crate::decode::DecodedUpload;
use flamestream_model::{
    Aggregation, FrameTable, SeriesKey, SourcePosition, StackMap, StackTable, Window, WindowFlush,
    WindowSeries,
};
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::BTreeMap;
use std::sync::Arc;

struct Entry {
    aggregation: Aggregation,
    uploads: u32,
    /// Stack id (in the unit's [`StackTable`]) → summed value.
    samples: FxHashMap<u32, i64>,
}

/// One partition's open data. Frames and stacks are stored once for all its series-windows
/// (the series of one heap profile share most stacks); each series keeps only ids and values.
#[derive(Default)]
struct Unit {
    frames: FrameTable,
    stack_table: StackTable,
    series: FxHashMap<(SeriesKey, i64), Entry>,
    range: Option<(i64, i64)>,
    stacks: usize,
}

/// Merges uploads until [`Aggregator::take`] is called.
pub struct Aggregator {
    window_ns: i64,
    units: BTreeMap<i32, Unit>,
    samples_added: u64,
}

impl Aggregator {
    /// An empty aggregator with windows of `window_secs`.
    pub fn new(window_secs: u64) -> Self {
        Aggregator {
            window_ns: (window_secs.max(1) as i64) * 1_000_000_000,
            units: BTreeMap::new(),
            samples_added: 0,
        }
    }

    /// Merges `upload`; `position` is its source `(partition, offset)` when the transport is
    /// durable (`None`: partition 0, no range recorded).
    pub fn add(&mut self, mut upload: DecodedUpload, position: Option<(i32, i64)>) {
        let window = Window::containing(upload.from_ns, self.window_ns).start_ns;
        let unit = self.units.entry(position.map_or(0, |p| p.0)).or_default();
        let mut remap: Vec<u32> = Vec::new();
        let mut stack_buf: Vec<u32> = Vec::new();
        for part in &mut upload.parts {
            remap.clear();
            // Whether the upload's frame ids are the partition's as they are.
            let same_ids = unit.frames.is_empty();
            if same_ids {
                // A fresh partition (the first upload of its window): it takes the upload's
                // frame table as it is, ids unchanged, instead of interning every name again.
                // Without the decoder's spare room: the window holds it until it is flushed.
                unit.frames = std::mem::take(&mut part.profile.frames);
                unit.frames.shrink_to_fit();
            }
            let part = &*part;
            let profile = &part.profile;
            if !same_ids {
                remap.resize(profile.frames.len(), u32::MAX);
            }
            if unit.stack_table.is_empty() {
                // A fresh partition: it will hold at least the stacks of this upload's largest
                // series (the others mostly share them).
                if let Some(s) = profile.series.iter().max_by_key(|s| s.samples.len()) {
                    unit.stack_table
                        .reserve(s.samples.len(), s.samples.frame_count());
                }
            }
            for series in &profile.series {
                let mut labels = part.labels.clone();
                labels.extend(&series.labels);
                let key = SeriesKey {
                    tenant: upload.tenant.clone(),
                    service_name: part.service_name.clone(),
                    profile_type: series.profile_type.clone(),
                    labels,
                };
                let entry = unit.series.entry((key, window)).or_insert_with(|| Entry {
                    aggregation: series.aggregation,
                    uploads: 0,
                    samples: FxHashMap::default(),
                });
                entry.uploads += 1;
                if entry.samples.is_empty() {
                    // A new series-window: it will hold at least this upload's stacks.
                    entry.samples.reserve(series.samples.len());
                }
                for (hash, stack, value) in series.samples.iter_hashed() {
                    if value == 0 {
                        continue;
                    }
                    let (hash, stack) = if same_ids {
                        // The stack and its hash as the decoder made them.
                        (hash, stack)
                    } else {
                        stack_buf.clear();
                        for &id in stack {
                            let mapped = &mut remap[id as usize];
                            if *mapped == u32::MAX {
                                *mapped = unit.frames.intern(profile.frames.name(id));
                            }
                            stack_buf.push(*mapped);
                        }
                        (StackMap::hash_stack(&stack_buf), &stack_buf[..])
                    };
                    // Four billion distinct stacks in one partition's window: far past
                    // `max_open_stacks`, which flushes long before.
                    let Some(id) = unit.stack_table.intern_hashed(hash, stack) else {
                        continue;
                    };
                    match entry.samples.entry(id) {
                        MapEntry::Occupied(mut e) => {
                            let v = e.get_mut();
                            *v = v.saturating_add(value);
                        }
                        MapEntry::Vacant(e) => {
                            e.insert(value);
                            unit.stacks += 1;
                        }
                    }
                    self.samples_added += 1;
                }
            }
        }
        if let Some((partition, offset)) = position {
            self.record_position(partition, offset);
        }
    }

    /// Records that `offset` of `partition` is covered by the next flush (also for messages
    /// that carried no data, so the store's positions move past them).
    pub fn record_position(&mut self, partition: i32, offset: i64) {
        let unit = self.units.entry(partition).or_default();
        unit.range = Some(match unit.range {
            None => (offset, offset + 1),
            Some((first, next)) => (first.min(offset), next.max(offset + 1)),
        });
    }

    /// Forgets everything held for `partition` (it was revoked, or must be re-read).
    pub fn drop_partition(&mut self, partition: i32) {
        self.units.remove(&partition);
    }

    /// Distinct (series, window, stack) entries held.
    pub fn open_stacks(&self) -> usize {
        self.units.values().map(|u| u.stacks).sum()
    }

    /// Series-windows held.
    pub fn open_series(&self) -> usize {
        self.units.values().map(|u| u.series.len()).sum()
    }

    /// Samples merged since the last call.
    pub fn take_samples_added(&mut self) -> u64 {
        std::mem::take(&mut self.samples_added)
    }

    /// True when there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Everything held, one flush per partition; the aggregator starts empty again.
    pub fn take(&mut self, source: &str) -> Vec<WindowFlush> {
        std::mem::take(&mut self.units)
            .into_iter()
            .filter(|(_, u)| !u.series.is_empty() || u.range.is_some())
            .map(|(partition, unit)| {
                // Every series of the flush refers to the unit's one frame arena.
                let (arena, spans) = unit.stack_table.into_parts();
                let arena = Arc::new(arena);
                let mut series: Vec<WindowSeries> = unit
                    .series
                    .into_iter()
                    .map(|((key, window_start_ns), e)| {
                        let mut samples =
                            StackMap::with_shared_frames(arena.clone(), e.samples.len());
                        for (id, value) in e.samples {
                            let (start, len, hash) = spans[id as usize];
                            samples.add_span(hash, start, len, value);
                        }
                        WindowSeries {
                            key,
                            window_start_ns,
                            aggregation: e.aggregation,
                            uploads: e.uploads,
                            samples,
                        }
                    })
                    .collect();
                series
                    .sort_by(|a, b| (&a.key, a.window_start_ns).cmp(&(&b.key, b.window_start_ns)));
                WindowFlush {
                    frames: unit.frames,
                    series,
                    source: source.to_string(),
                    positions: unit
                        .range
                        .map(|(first_offset, next_offset)| SourcePosition {
                            partition,
                            first_offset,
                            next_offset,
                        })
                        .into_iter()
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodedPart;
    use flamestream_model::{LabelSet, Profile, ProfileType};

    fn upload(from_s: i64, stacks: &[(&[&str], i64)]) -> DecodedUpload {
        let mut profile = Profile::default();
        let pt = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap();
        let i = profile.series_index(&pt, Aggregation::Sum, &LabelSet::new());
        for (frames, v) in stacks {
            let ids: Vec<u32> = frames.iter().map(|f| profile.frames.intern(f)).collect();
            profile.series[i].samples.add(&ids, *v);
        }
        DecodedUpload {
            tenant: "t".into(),
            from_ns: from_s * 1_000_000_000,
            parts: vec![DecodedPart {
                service_name: "app".into(),
                labels: LabelSet::from_pairs([("env", "dev")]),
                profile,
            }],
            format: "folded",
        }
    }

    #[test]
    fn merges_within_a_window_splits_windows_and_keeps_partitions_apart() {
        let mut a = Aggregator::new(10);
        a.add(upload(100, &[(&["a", "b"], 1)]), Some((0, 5)));
        a.add(
            upload(105, &[(&["a", "b"], 2), (&["a", "c"], 5)]),
            Some((0, 6)),
        );
        a.add(upload(111, &[(&["a", "b"], 4)]), Some((0, 7)));
        a.add(upload(101, &[(&["a", "b"], 8)]), Some((1, 0)));
        let flushes = a.take("topic");
        assert!(a.is_empty());
        assert_eq!(flushes.len(), 2);
        let p0 = &flushes[0];
        assert_eq!(
            p0.positions,
            vec![SourcePosition {
                partition: 0,
                first_offset: 5,
                next_offset: 8
            }]
        );
        assert_eq!(p0.series.len(), 2);
        let w100 = &p0.series[0];
        assert_eq!(w100.window_start_ns, 100_000_000_000);
        assert_eq!(w100.uploads, 2);
        assert_eq!(w100.samples.total(), 8);
        assert_eq!(p0.series[1].samples.total(), 4);
        let (_, text) = p0.stack_text(w100.samples.iter().find(|(_, v)| *v == 5).unwrap().0);
        assert_eq!(text, "a\nc");
        assert_eq!(flushes[1].series[0].samples.total(), 8);
        assert_eq!(flushes[1].positions[0].partition, 1);
    }

    #[test]
    fn a_fresh_partition_takes_the_first_frame_table_and_maps_later_ones() {
        let mut a = Aggregator::new(10);
        // Frame ids differ between the uploads: x=0 y=1, then z=0 y=1 x=2.
        a.add(upload(100, &[(&["x", "y"], 1)]), Some((0, 0)));
        a.add(
            upload(101, &[(&["z", "y", "x"], 2), (&["x", "y"], 4)]),
            Some((0, 1)),
        );
        let flushes = a.take("t");
        let flush = &flushes[0];
        let mut stacks: Vec<(String, i64)> = flush.series[0]
            .samples
            .iter()
            .map(|(stack, v)| (flush.stack_text(stack).1, v))
            .collect();
        stacks.sort();
        assert_eq!(
            stacks,
            vec![("x\ny".to_string(), 5), ("z\ny\nx".to_string(), 2)]
        );
    }

    #[test]
    fn a_dropped_partition_is_forgotten() {
        let mut a = Aggregator::new(10);
        a.add(upload(100, &[(&["a"], 1)]), Some((0, 0)));
        a.add(upload(100, &[(&["a"], 1)]), Some((1, 0)));
        a.drop_partition(1);
        let flushes = a.take("t");
        assert_eq!(flushes.len(), 1);
        assert_eq!(flushes[0].positions[0].partition, 0);
    }
}
