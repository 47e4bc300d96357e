//! One-pass inflate of a raw deflate stream (RFC 1951) straight into a caller's buffer, with
//! [libdeflate](https://github.com/ebiggers/libdeflate).
//!
//! libdeflate decodes a whole stream in one call, without a sliding window or an internal
//! output buffer: 1.4–2.1× faster than miniz_oxide on our pprof fixtures (`benches/README.md`),
//! most of it in building Huffman tables for small profiles. It cannot resume when the output
//! does not fit; [`Inflater::inflate_into`] then says so and the caller retries the stream with
//! a larger buffer (`flamestream-formats` bounds the retries and every size by its cap).
//!
//! This is the only crate of flamestream with `unsafe` code: the FFI calls below.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_deflate_decompress_ex,
    libdeflate_free_decompressor,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS as SUCCESS,
};
use std::ptr::NonNull;

/// Why a stream did not inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The bytes are not a valid deflate stream, or it is cut short.
    BadData,
    /// The stream holds more than the room given; nothing was appended.
    InsufficientSpace,
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InflateError::BadData => "corrupt or truncated deflate stream",
            InflateError::InsufficientSpace => "deflate stream larger than the room given",
        })
    }
}

impl std::error::Error for InflateError {}

/// A libdeflate decompressor (about 10 KiB of tables); reuse one per thread.
pub struct Inflater {
    raw: NonNull<libdeflate_decompressor>,
}

// SAFETY: the decompressor is plain memory owned by this value; libdeflate keeps no
// thread-local or global state, so it may move to another thread. It is not `Sync`: a call
// needs `&mut self`.
unsafe impl Send for Inflater {}

impl Inflater {
    /// A new decompressor.
    ///
    /// # Panics
    /// When libdeflate cannot allocate its tables (out of memory).
    pub fn new() -> Inflater {
        // SAFETY: no arguments; returns an owned pointer or null.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        Inflater {
            raw: NonNull::new(raw).expect("libdeflate_alloc_decompressor: out of memory"),
        }
    }

    /// Inflates the deflate stream at the start of `input`, appending its bytes to `out` but
    /// no further than `out.len() + room` (and never past `out`'s capacity). Returns how many
    /// bytes of `input` the stream took (what follows it, e.g. a gzip trailer, is left).
    ///
    /// # Errors
    /// [`InflateError::InsufficientSpace`] when the stream holds more than that room (`out`
    /// is then unchanged, the stream may be retried with more), [`InflateError::BadData`]
    /// when it is not a valid, complete stream.
    pub fn inflate_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<usize, InflateError> {
        let spare = out.spare_capacity_mut();
        let avail = spare.len().min(room);
        let mut read = 0usize;
        let mut written = 0usize;
        // SAFETY: `raw` is a live decompressor used by this call only (`&mut self`); `input`
        // is valid for `input.len()` bytes of reads; `spare` is valid for `avail` bytes of
        // reads and writes. libdeflate stays within those `avail` bytes; its short-offset copy
        // loop may read spare bytes it has not written yet, but those bytes never reach the
        // part it reports as written (and Rust never reads them: only the `written` bytes
        // become part of `out`, below). Both out pointers are valid `usize`s.
        let result = unsafe {
            libdeflate_deflate_decompress_ex(
                self.raw.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                spare.as_mut_ptr().cast(),
                avail,
                &mut read,
                &mut written,
            )
        };
        match result {
            SUCCESS => {
                // libdeflate reports no more than it was given; checked anyway, since
                // `set_len` below relies on it.
                assert!(
                    written <= avail && read <= input.len(),
                    "libdeflate overran"
                );
                let len = out.len() + written;
                // SAFETY: the `written` bytes after `out.len()` were initialised by the call
                // and lie within the capacity (`written <= avail <= spare.len()`).
                unsafe { out.set_len(len) };
                Ok(read)
            }
            INSUFFICIENT_SPACE => Err(InflateError::InsufficientSpace),
            _ => Err(InflateError::BadData),
        }
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater::new()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `libdeflate_alloc_decompressor` and is freed once, here.
        unsafe { libdeflate_free_decompressor(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflates_appends_and_reports_the_input_taken() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let mut input = deflate(&data);
        let stream_len = input.len();
        input.extend_from_slice(b"trailer!");
        let mut out = b"head".to_vec();
        out.reserve(data.len());
        let mut inflater = Inflater::new();
        let read = inflater.inflate_into(&input, &mut out, usize::MAX).unwrap();
        assert_eq!(read, stream_len);
        assert_eq!(&out[..4], b"head");
        assert_eq!(&out[4..], &data[..]);
    }

    #[test]
    fn too_little_room_leaves_the_buffer_alone_and_can_be_retried() {
        let data = vec![7u8; 100_000];
        let input = deflate(&data);
        let mut inflater = Inflater::new();
        let mut out = Vec::with_capacity(200_000);
        assert_eq!(
            inflater.inflate_into(&input, &mut out, 99_999),
            Err(InflateError::InsufficientSpace)
        );
        assert!(out.is_empty());
        // The capacity bounds the room too.
        let mut small = Vec::with_capacity(10);
        assert_eq!(
            inflater.inflate_into(&input, &mut small, usize::MAX),
            Err(InflateError::InsufficientSpace)
        );
        assert_eq!(
            inflater.inflate_into(&input, &mut out, 100_000),
            Ok(input.len())
        );
        assert_eq!(out, data);
    }

    #[test]
    fn corrupt_and_truncated_streams_are_bad_data() {
        let input = deflate(b"hello hello hello hello");
        let mut inflater = Inflater::new();
        let mut out = Vec::with_capacity(100);
        assert_eq!(
            inflater.inflate_into(&input[..input.len() - 2], &mut out, 100),
            Err(InflateError::BadData)
        );
        // Block type 3 is reserved.
        assert_eq!(
            inflater.inflate_into(&[0x07, 0, 0], &mut out, 100),
            Err(InflateError::BadData)
        );
        assert_eq!(
            inflater.inflate_into(&[], &mut out, 100),
            Err(InflateError::BadData)
        );
        assert!(out.is_empty());
    }
}
