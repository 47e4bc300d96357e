//! `decode_speedscope` with a CPU app and a bytes app.
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_formats::decode_speedscope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = common::limits();
    for (name, rate) in [("fuzz.cpu", 100), ("fuzz.inuse_space", 0)] {
        let app = common::app(name);
        let _ = decode_speedscope(data, &app, rate, None, &limits);
    }
});
