//! `flamestream_jfr::decode` without a labels snapshot, with a fixed valid snapshot, and with
//! the options (no line numbers, tick conversion) flipped.
#![no_main]

use flamestream_jfr::{decode, decode_with, DecodeOptions};
use flamestream_model::Limits;
use libfuzzer_sys::fuzz_target;

/// `contexts {1: {labels {1: 2}}}, strings {1: "k", 2: "v"}`.
const SNAPSHOT: &[u8] = &[
    0x0a, 0x0a, 0x08, 0x01, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x05, 0x08, 0x01,
    0x12, 0x01, b'k', 0x12, 0x05, 0x08, 0x02, 0x12, 0x01, b'v',
];

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_stack_depth: 64,
        max_symbol_bytes: 128,
        ..Limits::default()
    };
    let plain = decode(data, None, 100, &limits);
    let labelled = decode(data, Some(SNAPSHOT), 0, &limits);
    // Labels only add work: a recording refused without them is refused with them.
    assert!(
        plain.is_ok() || labelled.is_err(),
        "{plain:?} vs {labelled:?}"
    );
    let opts = DecodeOptions {
        line_numbers: false,
        convert_ticks: true,
    };
    let _ = decode_with(data, None, 100, &limits, &opts);
});
