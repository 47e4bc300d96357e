//! Shared helpers of the fuzz targets (included with `#[path]`).
#![allow(dead_code)]

use flamestream_formats::{Format, UploadMeta};
use flamestream_model::{parse_name, AppName, Limits};

/// Limits a little tighter than the defaults so that one input stays fast, but with every
/// limit still reachable.
pub fn limits() -> Limits {
    Limits {
        max_decompressed_bytes: 1 << 20,
        max_samples: 4_000,
        max_stack_depth: 200,
        max_symbol_bytes: 256,
        ..Limits::default()
    }
}

pub fn app(name: &str) -> AppName {
    parse_name(name, &Limits::default()).expect("valid app name")
}

pub fn meta<'a>(format: Format, app: &'a AppName, content_type: Option<&'a str>) -> UploadMeta<'a> {
    UploadMeta {
        format,
        content_type,
        content_encoding: None,
        app,
        sample_rate: 100,
        aggregation_type: None,
        units: None,
    }
}
