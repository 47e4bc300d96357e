//! Pure types shared by every flamestream crate: no IO, no async.
//!
//! - [`name`]: the `app{k=v}` grammar of the ingest `name` parameter.
//! - [`labels`]: sorted label sets and their validation.
//! - [`profile_type`]: Pyroscope profile type ids and the app-suffix table.
//! - [`profile`]: decoded profiles: interned frames and stack → value maps.
//! - [`time`]: Unix times whose unit is told by their digit count.
//! - [`window`]: epoch-aligned, half-open aggregation windows.
//! - [`limits`]: every configurable limit, with the peers' defaults.

pub mod flush;
pub mod labels;
pub mod limits;
pub mod name;
pub mod profile;
pub mod profile_type;
pub mod time;
pub mod window;

pub use flush::{SeriesKey, SourcePosition, WindowFlush, WindowSeries};
pub use labels::{LabelError, LabelSet};
pub use limits::{LimitExceeded, Limits};
pub use name::{parse_name, AppName, NameError};
pub use profile::{Aggregation, FrameTable, Profile, Series, StackMap, StackTable};
pub use profile_type::{ProfileType, ProfileTypeError, ProfileTypeParts};
pub use window::Window;

/// The tenant used when a request names none (`X-Scope-OrgID` absent).
pub const DEFAULT_TENANT: &str = "anonymous";
