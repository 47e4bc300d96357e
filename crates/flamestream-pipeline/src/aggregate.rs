//! The aggregator's pure core: merges decoded uploads per (tenant, app, profile type, label
//! set) and window, and hands everything over at once as a [`WindowFlush`].
//!
//! Windows are epoch-aligned and chosen by the upload's `from` time only, so the same upload
//! always lands in the same window, whichever process decodes it and whenever.

use crate::decode::DecodedUpload;
use flamestream_model::{
    Aggregation, FrameTable, SeriesKey, SourcePosition, StackMap, Window, WindowFlush, WindowSeries,
};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

struct Entry {
    aggregation: Aggregation,
    uploads: u32,
    samples: StackMap,
}

/// Merges uploads until [`Aggregator::take`] is called.
pub struct Aggregator {
    window_ns: i64,
    frames: FrameTable,
    series: FxHashMap<(SeriesKey, i64), Entry>,
    positions: BTreeMap<i32, i64>,
    stacks: usize,
    samples_added: u64,
}

impl Aggregator {
    /// An empty aggregator with windows of `window_secs`.
    pub fn new(window_secs: u64) -> Self {
        Aggregator {
            window_ns: (window_secs.max(1) as i64) * 1_000_000_000,
            frames: FrameTable::new(),
            series: FxHashMap::default(),
            positions: BTreeMap::new(),
            stacks: 0,
            samples_added: 0,
        }
    }

    /// Merges `upload`; `position` is its source `(partition, offset)` when the transport is
    /// durable.
    pub fn add(&mut self, upload: &DecodedUpload, position: Option<(i32, i64)>) {
        let window = Window::containing(upload.from_ns, self.window_ns).start_ns;
        let mut remap: Vec<u32> = Vec::new();
        let mut stack_buf: Vec<u32> = Vec::new();
        for part in &upload.parts {
            let profile = &part.profile;
            remap.clear();
            remap.resize(profile.frames.len(), u32::MAX);
            for series in &profile.series {
                let mut labels = part.labels.clone();
                labels.extend(&series.labels);
                let key = SeriesKey {
                    tenant: upload.tenant.clone(),
                    service_name: part.service_name.clone(),
                    profile_type: series.profile_type.clone(),
                    labels,
                };
                let entry = self.series.entry((key, window)).or_insert_with(|| Entry {
                    aggregation: series.aggregation,
                    uploads: 0,
                    samples: StackMap::new(),
                });
                entry.uploads += 1;
                for (stack, value) in series.samples.iter() {
                    stack_buf.clear();
                    for &id in stack {
                        let mapped = &mut remap[id as usize];
                        if *mapped == u32::MAX {
                            *mapped = self.frames.intern(profile.frames.name(id));
                        }
                        stack_buf.push(*mapped);
                    }
                    let before = entry.samples.len();
                    entry.samples.add(&stack_buf, value);
                    self.stacks += entry.samples.len() - before;
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
        let next = self.positions.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Distinct (series, window, stack) entries held.
    pub fn open_stacks(&self) -> usize {
        self.stacks
    }

    /// Series-windows held.
    pub fn open_series(&self) -> usize {
        self.series.len()
    }

    /// Samples merged since the last call.
    pub fn take_samples_added(&mut self) -> u64 {
        std::mem::take(&mut self.samples_added)
    }

    /// True when there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.positions.is_empty()
    }

    /// Everything held, as one flush for `source`; the aggregator starts empty again.
    pub fn take(&mut self, source: &str) -> WindowFlush {
        let series = std::mem::take(&mut self.series);
        let mut out: Vec<WindowSeries> = series
            .into_iter()
            .map(|((key, window_start_ns), e)| WindowSeries {
                key,
                window_start_ns,
                aggregation: e.aggregation,
                uploads: e.uploads,
                samples: e.samples,
            })
            .collect();
        out.sort_by(|a, b| (&a.key, a.window_start_ns).cmp(&(&b.key, b.window_start_ns)));
        self.stacks = 0;
        WindowFlush {
            frames: std::mem::take(&mut self.frames),
            series: out,
            source: source.to_string(),
            positions: std::mem::take(&mut self.positions)
                .into_iter()
                .map(|(partition, next_offset)| SourcePosition {
                    partition,
                    next_offset,
                })
                .collect(),
        }
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
    fn merges_within_a_window_and_splits_across_windows() {
        let mut a = Aggregator::new(10);
        a.add(&upload(100, &[(&["a", "b"], 1)]), Some((0, 5)));
        a.add(
            &upload(105, &[(&["a", "b"], 2), (&["a", "c"], 3)]),
            Some((0, 6)),
        );
        a.add(&upload(111, &[(&["a", "b"], 4)]), Some((1, 0)));
        let flush = a.take("topic");
        assert_eq!(flush.series.len(), 2);
        let w100 = &flush.series[0];
        assert_eq!(w100.window_start_ns, 100_000_000_000);
        assert_eq!(w100.uploads, 2);
        assert_eq!(w100.samples.total(), 6);
        assert_eq!(flush.series[1].samples.total(), 4);
        assert_eq!(
            flush.positions,
            vec![
                SourcePosition {
                    partition: 0,
                    next_offset: 7
                },
                SourcePosition {
                    partition: 1,
                    next_offset: 1
                }
            ]
        );
        assert!(a.is_empty());
        let (_, text) = flush.stack_text(w100.samples.iter().find(|(_, v)| *v == 3).unwrap().0);
        assert_eq!(text, "a\nc");
    }
}
