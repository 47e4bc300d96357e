//! The labels snapshot: the input is split at its first byte into a `LabelsSnapshot` and a
//! recording, so both the snapshot parser and the label building of the decoder are reached.
#![no_main]

use flamestream_jfr::{decode, parse_labels_snapshot};
use flamestream_model::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_labels_snapshot(data);
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (snapshot, jfr) = rest.split_at(n);
    let _ = decode(jfr, Some(snapshot), 100, &Limits::default());
});
