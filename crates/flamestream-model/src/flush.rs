//! What an aggregator hands a store: the merged series of one flush, and the source positions
//! (partition, next offset) that the flush covers.

use crate::{Aggregation, FrameTable, LabelSet, ProfileType, StackMap};

/// The identity of a stored series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Tenant from `X-Scope-OrgID`.
    pub tenant: String,
    /// The app (`service_name`), without its profile-type suffix.
    pub service_name: String,
    /// Profile type of the values.
    pub profile_type: ProfileType,
    /// Labels of the upload and of the profile, merged.
    pub labels: LabelSet,
}

impl SeriesKey {
    /// A stable 63-bit id used as a storage key (non-negative so it fits signed columns).
    pub fn fingerprint(&self) -> i64 {
        let mut text = String::with_capacity(64);
        text.push_str(&self.tenant);
        text.push('\0');
        text.push_str(&self.service_name);
        text.push('\0');
        text.push_str(&self.profile_type.id());
        text.push('\0');
        text.push_str(&self.labels.to_string());
        (xxhash_rust::xxh3::xxh3_64(text.as_bytes()) >> 1) as i64
    }
}

/// One series in one window.
#[derive(Debug, Clone)]
pub struct WindowSeries {
    /// Which series.
    pub key: SeriesKey,
    /// Window start, ns since the epoch.
    pub window_start_ns: i64,
    /// How values combine across uploads.
    pub aggregation: Aggregation,
    /// Number of uploads merged into `samples`.
    pub uploads: u32,
    /// Stack (ids into the flush's frame table) → summed value.
    pub samples: StackMap,
}

/// A source range: a flush covers offsets `[first_offset, next_offset)` of `partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourcePosition {
    /// Partition (0 for the in-process queue).
    pub partition: i32,
    /// The first offset covered (for stored positions: equal to `next_offset`).
    pub first_offset: i64,
    /// The first offset not covered.
    pub next_offset: i64,
}

/// Everything an aggregator flushes at once: with a durable source, the data of one partition's
/// offset range, so that a store can accept or refuse it as a unit.
#[derive(Debug, Clone, Default)]
pub struct WindowFlush {
    /// Frame names referenced by every series.
    pub frames: FrameTable,
    /// Merged series, one per (key, window).
    pub series: Vec<WindowSeries>,
    /// The source the positions belong to (e.g. the Kafka topic), for idempotent writes.
    pub source: String,
    /// Ranges covered, at most one per partition (empty for the in-process queue).
    pub positions: Vec<SourcePosition>,
}

impl WindowFlush {
    /// The frames of `stack` joined root first by `\n` (the stored form), and its 63-bit id.
    pub fn stack_text(&self, stack: &[u32]) -> (i64, String) {
        let mut text = String::new();
        for (i, &id) in stack.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(self.frames.name(id));
        }
        (stack_id(&text), text)
    }

    /// Number of (series, stack) rows.
    pub fn row_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// The 63-bit id of a stack in its stored form (frames joined by `\n`, root first).
pub fn stack_id(text: &str) -> i64 {
    (xxhash_rust::xxh3::xxh3_64(text.as_bytes()) >> 1) as i64
}
