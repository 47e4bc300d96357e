//! `decode_folded` with a CPU type (values scaled by the sample rate) and a bytes type.
#![no_main]
#[path = "common.rs"]
mod common;

use flamestream_model::profile_type::type_for_suffix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = common::limits();
    for (suffix, rate) in [("cpu", 100), ("alloc_space", 0)] {
        let ty = type_for_suffix(suffix, rate).expect("known suffix");
        let _ = flamestream_formats::decode_folded(data, &ty, rate, &limits);
    }
});
