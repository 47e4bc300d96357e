//! Multipart bodies: `multipart::parse` directly, then `decode_upload` with a multipart content
//! type for the format picked by the first byte (pprof with `prev_profile` and
//! `sample_type_config`, jfr with `labels`, and the tree formats).
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_formats::{decode_upload, multipart, Format};
use libfuzzer_sys::fuzz_target;

const CT: &str = "multipart/form-data; boundary=B";

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let _ = multipart::parse(body, CT);
    let _ = multipart::parse(body, "multipart/form-data; boundary=\"quoted b\"");
    let limits = common::limits();
    let app = common::app("fuzz.cpu");
    let format = Format::ALL[usize::from(sel) % Format::ALL.len()];
    let _ = decode_upload(&common::meta(format, &app, Some(CT)), body, &limits);
});
