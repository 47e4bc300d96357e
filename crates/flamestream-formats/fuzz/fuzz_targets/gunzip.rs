//! The capped gunzip: `maybe_gunzip` (libdeflate, one call per member) and
//! `gunzip_size_check` (flate2's streaming `MultiGzDecoder`, as the edge runs it) with a small
//! cap, checking that the cap holds and that both agree on every stream flate2 accepts.
//!
//! One divergence is allowed, in one direction only. libdeflate decodes a few things zlib and
//! flate2 refuse (its `deflate_decompress.c` says so): the reserved literal/length symbols 286
//! and 287 (as length 258), the reserved distance symbols 30 and 31, and an incomplete Huffman
//! code of one 1-bit codeword read through its unused half. `maybe_gunzip` may then accept what
//! `gunzip_size_check` refuses — each member's CRC-32 and size still vouch for every byte
//! (this fuzz target found the first case: `gzip.rs`, test
//! `libdeflate_accepts_a_reserved_length_symbol_zlib_refuses`). The other way, refusing what
//! flate2 accepts, would lose uploads, and fails.
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
        // The allowed divergence (above): accepted with matching checksums, within the cap.
        (Ok(out), Err(DecodeError::Gzip(_))) => assert!(out.len() as u64 <= CAP),
        (a, b) => panic!("maybe_gunzip {a:?} and gunzip_size_check {b:?} disagree"),
    }
});
