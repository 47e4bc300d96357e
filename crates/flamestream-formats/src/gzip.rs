//! The one capped gunzip. Every decompression in flamestream goes through this module, so a
//! gzip bomb is stopped at `max_decompressed_bytes` with bounded memory.

use crate::DecodeError;
use flamestream_model::LimitExceeded;
use flate2::read::MultiGzDecoder;
use std::borrow::Cow;
use std::io::Read;

/// The gzip magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Size of the scratch buffer [`gunzip_size_check`] inflates into.
const SCRATCH_BYTES: usize = 32 * 1024;

/// True when `bytes` start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// True when a `Content-Encoding` header value names gzip (`gzip`, `x-gzip`, any case).
pub fn content_encoding_is_gzip(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|v| {
        v.split(',')
            .any(|e| matches!(e.trim().to_ascii_lowercase().as_str(), "gzip" | "x-gzip"))
    })
}

fn limit(actual: u64, max: u64) -> DecodeError {
    DecodeError::Limit(LimitExceeded {
        limit: "max_decompressed_bytes",
        actual,
        max,
    })
}

fn gzip_error(e: &std::io::Error) -> DecodeError {
    DecodeError::Gzip(e.to_string().to_lowercase())
}

/// Returns `bytes` inflated when they are gzip, borrowed as they are otherwise. The result is
/// never larger than `cap` bytes: plain bodies over `cap` and gzip streams that inflate past it
/// are refused with [`LimitExceeded`] `max_decompressed_bytes`.
///
/// The gzip magic decides. `content_encoding_says_gzip` is honoured through the magic: a body
/// sent with `Content-Encoding: gzip` but without the magic is taken as already decoded by the
/// HTTP layer (actix-web inflates such bodies itself when its compression feature is on), and
/// the format decoder judges it.
///
/// Memory stays bounded: the output buffer grows in exact steps and never past `cap + 1`
/// bytes, where reading stops.
///
/// # Errors
/// [`DecodeError::Gzip`] for a corrupt stream, [`DecodeError::Limit`] past `cap`.
pub fn maybe_gunzip(
    bytes: &[u8],
    content_encoding_says_gzip: bool,
    cap: u64,
) -> Result<Cow<'_, [u8]>, DecodeError> {
    let _ = content_encoding_says_gzip;
    if !is_gzip(bytes) {
        if bytes.len() as u64 > cap {
            return Err(limit(bytes.len() as u64, cap));
        }
        return Ok(Cow::Borrowed(bytes));
    }
    gunzip_capped(bytes, cap).map(Cow::Owned)
}

/// Inflates a gzip stream (one or more members) into memory, refusing more than `cap` bytes.
///
/// # Errors
/// [`DecodeError::Gzip`] for a corrupt stream, [`DecodeError::Limit`] past `cap`.
pub fn gunzip_capped(bytes: &[u8], cap: u64) -> Result<Vec<u8>, DecodeError> {
    // The output grows in exact steps (the size the trailer announces, else a guess from the
    // input size; then doubling) and never past `cap + 1` bytes, the one byte that proves a
    // stream too large. One byte more than announced lets an honest stream end in one step.
    let cap_plus_one = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    let mut want = match announced_size(bytes) {
        Some(n) if n < cap => usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1),
        _ => bytes.len().saturating_mul(4).max(64 * 1024),
    }
    .min(cap_plus_one);
    let mut out: Vec<u8> = Vec::new();
    let mut dec = MultiGzDecoder::new(bytes);
    loop {
        out.try_reserve_exact(want - out.len())
            .map_err(|e| DecodeError::Gzip(format!("cannot reserve `{want}` bytes: {e}")))?;
        let step = (want - out.len()) as u64;
        (&mut dec)
            .take(step)
            .read_to_end(&mut out)
            .map_err(|e| gzip_error(&e))?;
        if out.len() < want {
            break; // end of the stream
        }
        if want >= cap_plus_one {
            return Err(limit(out.len() as u64, cap));
        }
        want = want.saturating_mul(2).min(cap_plus_one);
    }
    Ok(out)
}

/// What [`gunzip_size_check`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeCheck {
    /// The first bytes of the (inflated) payload, at most the `sniff` length asked for.
    pub head: Vec<u8>,
    /// The payload's size once inflated (equal to the input size when it was not gzip).
    pub inflated_bytes: u64,
    /// True when the input was gzip.
    pub was_gzip: bool,
}

/// Streams `bytes` through the inflater into a fixed scratch buffer, counting bytes, and keeps
/// the first `sniff` bytes for format sniffing. Memory is bounded by the scratch buffer plus
/// `sniff`, whatever the input inflates to. Plain (non-gzip) input is only measured.
///
/// # Errors
/// [`DecodeError::Gzip`] for a corrupt stream, [`DecodeError::Limit`] past `cap`.
pub fn gunzip_size_check(bytes: &[u8], cap: u64, sniff: usize) -> Result<SizeCheck, DecodeError> {
    if !is_gzip(bytes) {
        if bytes.len() as u64 > cap {
            return Err(limit(bytes.len() as u64, cap));
        }
        return Ok(SizeCheck {
            head: bytes[..bytes.len().min(sniff)].to_vec(),
            inflated_bytes: bytes.len() as u64,
            was_gzip: false,
        });
    }
    let mut dec = MultiGzDecoder::new(bytes);
    let mut scratch = vec![0u8; SCRATCH_BYTES];
    let mut head = Vec::with_capacity(sniff.min(SCRATCH_BYTES));
    let mut total: u64 = 0;
    loop {
        match dec.read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => {
                if head.len() < sniff {
                    let take = (sniff - head.len()).min(n);
                    head.extend_from_slice(&scratch[..take]);
                }
                total += n as u64;
                if total > cap {
                    return Err(limit(total, cap));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(gzip_error(&e)),
        }
    }
    Ok(SizeCheck {
        head,
        inflated_bytes: total,
        was_gzip: true,
    })
}

/// The uncompressed size a gzip stream's trailer announces (ISIZE: the last member's size mod
/// 2^32), `None` for input too short to have one.
fn announced_size(bytes: &[u8]) -> Option<u64> {
    let at = bytes.len().checked_sub(4)?;
    Some(u64::from(u32::from_le_bytes([
        bytes[at],
        bytes[at + 1],
        bytes[at + 2],
        bytes[at + 3],
    ])))
}

/// The cheap check the ingest edge runs: for gzip input, the size the stream announces in its
/// trailer (ISIZE, the last member's uncompressed size mod 2^32) must be within `cap`, and only
/// the first `sniff` bytes are inflated (for format sniffing). Plain input is only measured.
///
/// A stream whose trailer lies is caught later by the decoder's capped gunzip
/// ([`maybe_gunzip`]), with the same bounded memory; this check costs nothing near the size of
/// the profile, so the edge stays as fast as the transport.
///
/// # Errors
/// [`DecodeError::Limit`] when the announced size is past `cap`, [`DecodeError::Gzip`] when the
/// beginning of the stream is corrupt.
pub fn gunzip_sniff(bytes: &[u8], cap: u64, sniff: usize) -> Result<SizeCheck, DecodeError> {
    if !is_gzip(bytes) {
        return gunzip_size_check(bytes, cap, sniff);
    }
    let announced = announced_size(bytes).unwrap_or(0);
    if announced > cap {
        return Err(limit(announced, cap));
    }
    let mut dec = MultiGzDecoder::new(bytes);
    let mut head = vec![0u8; sniff];
    let mut filled = 0;
    while filled < sniff {
        match dec.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(gzip_error(&e)),
        }
    }
    head.truncate(filled);
    // Whether `head` is the whole payload: only when inflation ended before `sniff` bytes.
    let inflated_bytes = if filled < sniff {
        filled as u64
    } else {
        announced.max(filled as u64 + 1)
    };
    Ok(SizeCheck {
        head,
        inflated_bytes,
        was_gzip: true,
    })
}

#[cfg(test)]
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_refuses_a_bomb_by_its_trailer_without_inflating_it() {
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        let err = gunzip_sniff(&bomb, 4 * 1024 * 1024, 64).unwrap_err();
        assert!(
            err.to_string()
                .contains("`max_decompressed_bytes` exceeded: 67108864 > 4194304"),
            "{err}"
        );
    }

    #[test]
    fn sniff_reads_only_the_head_and_knows_when_it_is_complete() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let check = gunzip_sniff(&gzip(&data), 1 << 20, 16).unwrap();
        assert_eq!(check.head, data[..16]);
        assert!(check.inflated_bytes > 16, "head is not the whole payload");
        let small = gunzip_sniff(&gzip(b"abc"), 1 << 20, 16).unwrap();
        assert_eq!(small.head, b"abc");
        assert_eq!(small.inflated_bytes, 3);
    }

    #[test]
    fn a_lying_trailer_passes_the_sniff_but_not_the_decoder_cap() {
        let mut bomb = gzip(&vec![0u8; 8 * 1024 * 1024]);
        let n = bomb.len();
        bomb[n - 4..].copy_from_slice(&100u32.to_le_bytes());
        assert!(gunzip_sniff(&bomb, 4 * 1024 * 1024, 16).is_ok());
        assert!(matches!(
            maybe_gunzip(&bomb, true, 4 * 1024 * 1024),
            Err(DecodeError::Limit(_))
        ));
    }

    #[test]
    fn plain_bodies_are_borrowed() {
        let out = maybe_gunzip(b"a;b 1", false, 100).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(&*out, b"a;b 1");
    }

    #[test]
    fn plain_bodies_over_the_cap_are_refused() {
        let err = maybe_gunzip(&[b'x'; 11], false, 10).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Limit(LimitExceeded {
                limit: "max_decompressed_bytes",
                actual: 11,
                max: 10
            })
        );
    }

    #[test]
    fn gzip_is_sniffed_and_inflated() {
        let gz = gzip(b"hello world");
        assert_eq!(&*maybe_gunzip(&gz, false, 100).unwrap(), b"hello world");
        // exactly at the cap is fine
        assert_eq!(&*maybe_gunzip(&gz, true, 11).unwrap(), b"hello world");
        assert!(matches!(
            maybe_gunzip(&gz, true, 10),
            Err(DecodeError::Limit(_))
        ));
    }

    #[test]
    fn concatenated_members_are_read() {
        let mut gz = gzip(b"abc");
        gz.extend(gzip(b"def"));
        assert_eq!(&*maybe_gunzip(&gz, false, 100).unwrap(), b"abcdef");
    }

    #[test]
    fn gzip_bomb_is_stopped_at_the_cap() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let gz = gzip(&zeros);
        assert!(gz.len() < 64 * 1024, "bomb is {} bytes", gz.len());
        let cap = 1024 * 1024;
        match maybe_gunzip(&gz, false, cap) {
            Err(DecodeError::Limit(l)) => {
                assert_eq!(l.limit, "max_decompressed_bytes");
                assert_eq!(l.max, cap);
                assert!(l.actual > cap && l.actual <= cap + 1, "actual {}", l.actual);
            }
            other => panic!("expected a limit error, got {other:?}"),
        }
        match gunzip_size_check(&gz, cap, 16) {
            Err(DecodeError::Limit(l)) => {
                assert_eq!(l.limit, "max_decompressed_bytes");
                assert!(l.actual > cap && l.actual <= cap + SCRATCH_BYTES as u64);
            }
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn size_check_keeps_the_head() {
        let gz = gzip(b"0123456789");
        let c = gunzip_size_check(&gz, 100, 4).unwrap();
        assert_eq!(c.head, b"0123");
        assert_eq!(c.inflated_bytes, 10);
        assert!(c.was_gzip);
        let c = gunzip_size_check(b"xy", 100, 4).unwrap();
        assert_eq!(c.head, b"xy");
        assert!(!c.was_gzip);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut gz = gzip(b"hello world hello world");
        let n = gz.len();
        gz[n - 6] ^= 0xff; // break the crc
        assert!(matches!(
            maybe_gunzip(&gz, false, 100),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(
            maybe_gunzip(&gz[..12], false, 100),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(
            gunzip_size_check(&gz, 100, 4),
            Err(DecodeError::Gzip(_))
        ));
    }

    #[test]
    fn content_encoding_values() {
        assert!(content_encoding_is_gzip(Some("gzip")));
        assert!(content_encoding_is_gzip(Some("GZIP")));
        assert!(content_encoding_is_gzip(Some("identity, gzip")));
        assert!(!content_encoding_is_gzip(Some("br")));
        assert!(!content_encoding_is_gzip(None));
    }
}
