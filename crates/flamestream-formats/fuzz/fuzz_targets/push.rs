//! `decode_push` as protobuf and as JSON.
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_formats::decode_push;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = common::limits();
    let _ = decode_push(data, Some("application/proto"), None, &limits);
    let _ = decode_push(data, Some("application/json"), None, &limits);
    let _ = decode_push(data, None, Some("gzip"), &limits);
});
