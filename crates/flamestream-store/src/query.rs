//! The store-agnostic query path: selectors in, call trees, timelines and label sets out.

use crate::flamegraph::CallTree;
use crate::selector::{matches_all, Matcher, Selector};
use crate::{Reader, StoreError, StoredSeries};
use flamestream_model::Aggregation;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// The merged data of one selector over one range.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The call tree.
    pub tree: CallTree,
    /// The series that matched.
    pub series: Vec<StoredSeries>,
}

/// The series of `tenant` that `selector` selects in `[from_ns, until_ns)`.
///
/// # Errors
/// [`StoreError`] from the store.
pub fn select_series(
    reader: &dyn Reader,
    tenant: &str,
    selector: &Selector,
    from_ns: i64,
    until_ns: i64,
) -> Result<Vec<StoredSeries>, StoreError> {
    Ok(reader
        .series(tenant, from_ns, until_ns)?
        .into_iter()
        .filter(|s| selector.matches(&s.key))
        .collect())
}

/// Merges every matching series into one call tree. Sum types add up; average types (heap
/// in use, goroutines) are averaged over each series' uploads, then added across series.
///
/// # Errors
/// [`StoreError`] from the store.
pub fn merge(
    reader: &dyn Reader,
    tenant: &str,
    selector: &Selector,
    from_ns: i64,
    until_ns: i64,
) -> Result<Merged, StoreError> {
    let series = select_series(reader, tenant, selector, from_ns, until_ns)?;
    let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
    let totals = reader.stack_totals(&ids, from_ns, until_ns)?;
    let averaged: FxHashMap<i64, i64> = series
        .iter()
        .filter(|s| s.aggregation == Aggregation::Average)
        .map(|s| {
            let uploads = totals
                .uploads
                .iter()
                .find(|(id, _)| *id == s.id)
                .map_or(1, |(_, n)| (*n).max(1));
            (s.id, uploads)
        })
        .collect();
    let mut per_stack: FxHashMap<i64, i64> = FxHashMap::default();
    for &(series_id, stack_id, value) in &totals.rows {
        let v = match averaged.get(&series_id) {
            Some(n) => value / n,
            None => value,
        };
        *per_stack.entry(stack_id).or_default() += v;
    }
    let mut tree = CallTree::new();
    let mut stack_ids: Vec<&i64> = per_stack.keys().collect();
    stack_ids.sort_unstable();
    for stack_id in stack_ids {
        if let Some(frames) = totals.stacks.get(stack_id) {
            tree.add(frames.split('\n'), per_stack[stack_id]);
        }
    }
    Ok(Merged { tree, series })
}

/// A timeline: one value per step from `start_s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// First step, seconds since the epoch.
    pub start_s: i64,
    /// Step length in seconds.
    pub step_s: i64,
    /// One value per step.
    pub samples: Vec<i64>,
}

/// The step Pyroscope's UI expects for a range: at least 10 s, at most ~300 points.
pub fn timeline_step_s(from_ns: i64, until_ns: i64) -> i64 {
    let range_s = ((until_ns - from_ns) / 1_000_000_000).max(1);
    let raw = (range_s + 299) / 300;
    (((raw + 9) / 10) * 10).max(10)
}

/// The per-step totals of `series`.
///
/// # Errors
/// [`StoreError`] from the store.
pub fn timeline(
    reader: &dyn Reader,
    series: &[StoredSeries],
    from_ns: i64,
    until_ns: i64,
) -> Result<Timeline, StoreError> {
    let step_s = timeline_step_s(from_ns, until_ns);
    let start_s = (from_ns / 1_000_000_000).div_euclid(step_s) * step_s;
    let end_s = until_ns.div_euclid(1_000_000_000);
    let n = ((end_s - start_s) / step_s + 1).clamp(1, 100_000) as usize;
    let mut samples = vec![0i64; n];
    let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
    let average: BTreeSet<i64> = series
        .iter()
        .filter(|s| s.aggregation == Aggregation::Average)
        .map(|s| s.id)
        .collect();
    for (window_ns, series_id, value, uploads) in reader.timeline(&ids, from_ns, until_ns)? {
        let v = if average.contains(&series_id) {
            value / uploads.max(1)
        } else {
            value
        };
        let idx = ((window_ns / 1_000_000_000 - start_s) / step_s) as usize;
        if let Some(slot) = samples.get_mut(idx) {
            *slot += v;
        }
    }
    Ok(Timeline {
        start_s,
        step_s,
        samples,
    })
}

/// Label names present on `tenant`'s series in the range (including `service_name` and
/// `__name__`), optionally restricted by matchers.
///
/// # Errors
/// [`StoreError`] from the store.
pub fn label_names(
    reader: &dyn Reader,
    tenant: &str,
    matchers: &[Matcher],
    from_ns: i64,
    until_ns: i64,
) -> Result<Vec<String>, StoreError> {
    let mut names = BTreeSet::new();
    for s in reader.series(tenant, from_ns, until_ns)? {
        if !matches_all(matchers, &s.key) {
            continue;
        }
        names.insert("__name__".to_string());
        names.insert("service_name".to_string());
        for (k, _) in s.key.labels.iter() {
            names.insert(k.to_string());
        }
    }
    Ok(names.into_iter().collect())
}

/// Values of `name` on `tenant`'s series in the range. `__name__` lists profile type ids,
/// `service_name` the apps.
///
/// # Errors
/// [`StoreError`] from the store.
pub fn label_values(
    reader: &dyn Reader,
    tenant: &str,
    name: &str,
    matchers: &[Matcher],
    from_ns: i64,
    until_ns: i64,
) -> Result<Vec<String>, StoreError> {
    let mut values = BTreeSet::new();
    for s in reader.series(tenant, from_ns, until_ns)? {
        if !matches_all(matchers, &s.key) {
            continue;
        }
        let v = match name {
            "__name__" | "__profile_type__" => Some(s.key.profile_type.id()),
            "service_name" => Some(s.key.service_name.clone()),
            other => s.key.labels.get(other).map(str::to_string),
        };
        if let Some(v) = v {
            values.insert(v);
        }
    }
    Ok(values.into_iter().collect())
}
