//! Shared by the tree-based formats (folded, lines, trie, tree, speedscope): the profile type an
//! app suffix names, value scaling by `sampleRate`, and a one-series profile builder that
//! enforces `max_samples`, `max_stack_depth` and `max_symbol_bytes`.

use crate::{truncate_symbol, DecodeError};
use flamestream_model::profile_type::{type_for_suffix, SuffixType};
use flamestream_model::{Aggregation, AppName, LabelSet, LimitExceeded, Limits, Profile};

/// The profile type of a tree-based upload: the app suffix (none → `cpu`) through
/// [`type_for_suffix`], with `aggregationType` overriding the aggregation when it parses.
///
/// # Errors
/// [`DecodeError::ProfileType`] naming an unknown suffix.
pub fn tree_type(
    app: &AppName,
    sample_rate: u32,
    aggregation_type: Option<&str>,
) -> Result<SuffixType, DecodeError> {
    let suffix = app.suffix().unwrap_or("cpu");
    let mut ty = type_for_suffix(suffix, sample_rate)
        .map_err(|e| DecodeError::ProfileType(e.to_string()))?;
    if let Some(agg) = aggregation_type.and_then(|a| Aggregation::parse(&a.to_ascii_lowercase())) {
        ty.aggregation = agg;
    }
    Ok(ty)
}

/// Builds a one-series profile from stacks given as frame names or frame ids.
pub(crate) struct Builder {
    profile: Profile,
    series: usize,
    scale: bool,
    sample_rate: u32,
    samples: u64,
    max_samples: u64,
    max_depth: usize,
    max_symbol: usize,
    stack: Vec<u32>,
}

impl Builder {
    pub(crate) fn new(ty: &SuffixType, sample_rate: u32, limits: &Limits) -> Self {
        let mut profile = Profile::default();
        let series = profile.series_index(&ty.profile_type, ty.aggregation, &LabelSet::new());
        Builder {
            profile,
            series,
            scale: ty.scale_by_sample_rate && sample_rate > 0,
            sample_rate,
            samples: 0,
            max_samples: limits.max_samples,
            max_depth: limits.max_stack_depth,
            max_symbol: limits.max_symbol_bytes,
            stack: Vec::with_capacity(64),
        }
    }

    /// The value stored for a count: `count × 1e9 / sampleRate` for CPU/wall types.
    pub(crate) fn value(&self, count: u64) -> i64 {
        let v = if self.scale {
            u128::from(count) * 1_000_000_000 / u128::from(self.sample_rate)
        } else {
            u128::from(count)
        };
        i64::try_from(v).unwrap_or(i64::MAX)
    }

    /// Interns a frame name (truncated to `max_symbol_bytes`).
    pub(crate) fn frame(&mut self, name: &str) -> u32 {
        self.profile
            .frames
            .intern(truncate_symbol(name, self.max_symbol))
    }

    /// Counts one sample against `max_samples`.
    pub(crate) fn count_sample(&mut self) -> Result<(), DecodeError> {
        self.samples += 1;
        LimitExceeded::check("max_samples", self.samples, self.max_samples)?;
        Ok(())
    }

    /// Adds a stack of frame names (root first) with a raw count (scaled here).
    pub(crate) fn add_names<'a>(
        &mut self,
        frames: impl Iterator<Item = &'a str>,
        count: u64,
    ) -> Result<(), DecodeError> {
        self.count_sample()?;
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        for f in frames {
            if stack.len() >= self.max_depth {
                break;
            }
            stack.push(self.frame(f));
        }
        let v = self.value(count);
        self.profile.series[self.series].samples.add(&stack, v);
        self.stack = stack;
        Ok(())
    }

    /// Adds a stack of frame ids (root first) with a raw count (scaled here). Deeper stacks keep
    /// their root-most `max_stack_depth` frames.
    pub(crate) fn add_ids(&mut self, stack: &[u32], count: u64) -> Result<(), DecodeError> {
        self.count_sample()?;
        let v = self.value(count);
        self.add_value(stack, v);
        Ok(())
    }

    /// Adds an already scaled value to a stack of frame ids, without counting a sample.
    pub(crate) fn add_value(&mut self, stack: &[u32], value: i64) {
        let stack = &stack[..stack.len().min(self.max_depth)];
        self.profile.series[self.series].samples.add(stack, value);
    }

    /// The profile; a series without stacks is dropped.
    pub(crate) fn finish(mut self) -> Profile {
        self.profile.series.retain(|s| !s.samples.is_empty());
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::parse_name;

    fn app(name: &str) -> AppName {
        parse_name(name, &Limits::default()).unwrap()
    }

    #[test]
    fn suffixes_name_types() {
        assert_eq!(
            tree_type(&app("shop"), 100, None)
                .unwrap()
                .profile_type
                .id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(
            tree_type(&app("shop.alloc_space"), 100, None)
                .unwrap()
                .profile_type
                .sample_type,
            "alloc_space"
        );
        assert_eq!(
            tree_type(&app("shop.cpu"), 100, Some("average"))
                .unwrap()
                .aggregation,
            Aggregation::Average
        );
        match tree_type(&app("com.example.shop"), 100, None) {
            Err(DecodeError::ProfileType(m)) => assert!(m.contains("`shop`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpu_counts_are_scaled_by_the_sample_rate() {
        let ty = tree_type(&app("a.cpu"), 100, None).unwrap();
        let b = Builder::new(&ty, 100, &Limits::default());
        assert_eq!(b.value(3), 30_000_000);
        let ty = tree_type(&app("a.cpu"), 0, None).unwrap();
        let b = Builder::new(&ty, 0, &Limits::default());
        assert_eq!(b.value(3), 3);
        let ty = tree_type(&app("a.alloc_objects"), 100, None).unwrap();
        let b = Builder::new(&ty, 100, &Limits::default());
        assert_eq!(b.value(3), 3);
        assert_eq!(b.value(u64::MAX), i64::MAX);
    }
}
