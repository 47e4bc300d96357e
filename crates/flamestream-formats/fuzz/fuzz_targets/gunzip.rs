//! The capped gunzip: `maybe_gunzip` and `gunzip_size_check` with a small cap, checking that
//! the cap holds and that both agree.
#![no_main]

use flamestream_formats::{gunzip_size_check, maybe_gunzip, DecodeError};
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let full = maybe_gunzip(data, true, CAP);
    let check = gunzip_size_check(data, CAP, 16);
    match (&full, &check) {
        (Ok(out), Ok(c)) => {
            assert!(out.len() as u64 <= CAP);
            assert_eq!(out.len() as u64, c.inflated_bytes);
            assert_eq!(&out[..out.len().min(16)], &c.head[..]);
        }
        (Err(DecodeError::Limit(_)), Err(DecodeError::Limit(_))) => {}
        (Err(DecodeError::Gzip(_)), Err(_)) | (Err(_), Err(DecodeError::Gzip(_))) => {}
        (a, b) => panic!("maybe_gunzip {a:?} and gunzip_size_check {b:?} disagree"),
    }
});
