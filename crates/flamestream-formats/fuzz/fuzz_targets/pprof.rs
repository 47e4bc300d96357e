//! `decode_upload` with format `pprof` (raw or gzipped body), and `decode_pprof` with the input
//! split into a profile and a `prev_profile` (exercises the cumulative delta path).
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_formats::{decode_pprof, decode_upload, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = common::limits();
    let app = common::app("fuzz");
    let _ = decode_upload(&common::meta(Format::Pprof, &app, None), data, &limits);
    if data.len() > 2 {
        let cut = usize::from(data[0]) * data.len() / 256;
        let (cur, prev) = data[1..].split_at(cut.min(data.len() - 1));
        let _ = decode_pprof(cur, Some(prev), None, &limits);
    }
});
