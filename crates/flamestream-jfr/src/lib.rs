//! Java Flight Recorder parser: turns a (gunzipped) JFR recording into a
//! [`flamestream_model::Profile`], one series per profile type and context label set.

use flamestream_model::{Limits, Profile};

/// Why a recording could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JfrError {
    /// Not a JFR file, or a structure that does not parse.
    #[error("jfr recording is invalid: {0}")]
    Invalid(String),
    /// A limit was exceeded.
    #[error(transparent)]
    Limit(#[from] flamestream_model::LimitExceeded),
}

/// Parses `jfr` (uncompressed) with an optional uncompressed `LabelsSnapshot` protobuf.
///
/// # Errors
/// [`JfrError`] naming what is wrong.
pub fn decode(jfr: &[u8], labels_snapshot: Option<&[u8]>, sample_rate: u32, limits: &Limits) -> Result<Profile, JfrError> {
    let _ = (jfr, labels_snapshot, sample_rate, limits);
    Err(JfrError::Invalid("not yet implemented".into()))
}
