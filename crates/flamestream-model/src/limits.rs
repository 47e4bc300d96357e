//! Every limit flamestream enforces, in one place, with defaults copied from the peers.

use serde::{Deserialize, Serialize};

/// Limits applied to every upload. All sizes are in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, as sent (compressed).
    pub max_body_bytes: u64,
    /// Largest profile after decompression.
    pub max_decompressed_bytes: u64,
    /// Most samples in one profile.
    pub max_samples: u64,
    /// Deepest stack kept; deeper stacks keep their root-most frames (pprof, folded) or
    /// leaf-most frames (JFR, as Pyroscope does), and are never rejected.
    pub max_stack_depth: usize,
    /// Most labels on one series.
    pub max_labels: usize,
    /// Longest label name.
    pub max_label_name_bytes: usize,
    /// Longest label value.
    pub max_label_value_bytes: usize,
    /// Longest frame name; longer names are truncated.
    pub max_symbol_bytes: usize,
    /// How far in the past an upload's `from` may lie.
    pub max_past_secs: u64,
    /// How far in the future an upload's `until` may lie.
    pub max_future_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_samples: 16_000,
            max_stack_depth: 1_000,
            max_labels: 30,
            max_label_name_bytes: 1_024,
            max_label_value_bytes: 2_048,
            max_symbol_bytes: 65_535,
            max_past_secs: 3_600,
            max_future_secs: 600,
        }
    }
}

/// A limit that an input went past: names the limit, the actual value and the maximum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{limit}` exceeded: {actual} > {max}")]
pub struct LimitExceeded {
    /// The limit's config key, e.g. `max_decompressed_bytes`.
    pub limit: &'static str,
    /// The value seen (or the value at which reading stopped).
    pub actual: u64,
    /// The configured maximum.
    pub max: u64,
}

impl LimitExceeded {
    /// Returns `Err` when `actual > max`.
    ///
    /// # Errors
    /// [`LimitExceeded`] naming `limit` when `actual` is larger than `max`.
    pub fn check(limit: &'static str, actual: u64, max: u64) -> Result<(), LimitExceeded> {
        if actual > max {
            Err(LimitExceeded { limit, actual, max })
        } else {
            Ok(())
        }
    }
}
