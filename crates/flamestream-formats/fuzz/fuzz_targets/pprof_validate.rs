//! `validate_upload` for every format; the first byte picks the format and whether the body is
//! sent as multipart.
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_formats::{validate_upload, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let limits = common::limits();
    let app = common::app("fuzz.cpu");
    let format = Format::ALL[usize::from(sel & 7) % Format::ALL.len()];
    let ct = if sel & 8 != 0 {
        Some("multipart/form-data; boundary=B")
    } else {
        None
    };
    let _ = validate_upload(&common::meta(format, &app, ct), body, &limits);
});
