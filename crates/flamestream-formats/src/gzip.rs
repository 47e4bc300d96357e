//! The one capped gunzip. Every decompression in flamestream goes through this module, so a
//! gzip bomb is stopped at `max_decompressed_bytes` with bounded memory.

use crate::DecodeError;
use flamestream_inflate::{InflateError, Inflater};
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
/// The whole body is in memory, so each member is inflated in one call straight into the
/// output buffer (libdeflate through `flamestream-inflate`: no sliding-window copy, no reader
/// layers, no zero-filling), sized from the size the trailer announces; the header fields,
/// CRC-32 and size of every member are checked as `flate2::read::MultiGzDecoder` checks them
/// (the `gunzip` fuzz target compares the two). libdeflate decodes a few reserved codes zlib refuses (length symbols 286/287, distance
/// symbols 30/31, a one-codeword Huffman code's unused half); such a stream is accepted only
/// when the member's CRC-32 and size match what was decoded.
///
/// # Errors
/// [`DecodeError::Gzip`] for a corrupt stream, [`DecodeError::Limit`] past `cap`.
pub fn gunzip_capped(bytes: &[u8], cap: u64) -> Result<Vec<u8>, DecodeError> {
    let cap_plus_one = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    // The first buffer: the size the trailer announces (one byte more lets an honest stream
    // end in one step; `cap + 1` bytes prove a stream too large). A trailer announcing more
    // than deflate's 1032:1 can give, or more than the cap, is not trusted.
    let want = match announced_size(bytes) {
        Some(n) if n < cap => usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1),
        _ => usize::MAX,
    }
    .min(most_from(bytes.len()))
    .min(cap_plus_one);
    let mut out: Vec<u8> = Vec::new();
    reserve_to(&mut out, want)?;
    INFLATER.with_borrow_mut(|inflater| {
        let inflater = inflater.get_or_insert_with(Inflater::new);
        inflate_members(bytes, cap, cap_plus_one, out, inflater)
    })
}

thread_local! {
    /// One inflater per thread (~10 KiB of tables), made on first use.
    static INFLATER: std::cell::RefCell<Option<Inflater>> = const { std::cell::RefCell::new(None) };
}

/// The most bytes `n` bytes of deflate data can inflate to (1032:1: a 258-byte match in two
/// bits), plus the one byte that proves a stream too large.
fn most_from(n: usize) -> usize {
    n.saturating_mul(1032).saturating_add(1)
}

fn inflate_members(
    bytes: &[u8],
    cap: u64,
    cap_plus_one: usize,
    mut out: Vec<u8>,
    inflater: &mut Inflater,
) -> Result<Vec<u8>, DecodeError> {
    let mut pos = 0usize;
    loop {
        pos += member_header(&bytes[pos..])?;
        let member_start = out.len();
        // A member inflates in one call, or not at all when the buffer is too small: then the
        // buffer grows (to what the rest of the input can hold at most, then to the cap) and
        // the member is inflated again. So a lying trailer costs at most two more passes, each
        // bounded by the cap; a bomb stops after inflating `cap + 1` bytes.
        let read = loop {
            // Only this member's output is visible to the inflater: a back-reference may not
            // reach into the previous member (flate2 refuses such streams too).
            match inflater.inflate_into(&bytes[pos..], &mut out, cap_plus_one - member_start) {
                Ok(read) => break read,
                Err(InflateError::InsufficientSpace) => {
                    let most = member_start
                        .saturating_add(most_from(bytes.len() - pos))
                        .min(cap_plus_one);
                    let next = if out.capacity() < most {
                        most
                    } else if out.capacity() < cap_plus_one {
                        cap_plus_one
                    } else {
                        // `cap + 1` bytes and more to come.
                        return Err(limit(cap_plus_one as u64, cap));
                    };
                    reserve_to(&mut out, next)?;
                }
                Err(InflateError::BadData) => {
                    return Err(DecodeError::Gzip(
                        "corrupt or truncated deflate stream".into(),
                    ))
                }
            }
        };
        pos += read;
        if out.len() as u64 > cap {
            return Err(limit(out.len() as u64, cap));
        }
        let trailer = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| DecodeError::Gzip("unexpected end of gzip stream: no trailer".into()))?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        let member = &out[member_start..];
        if crc != crc32fast::hash(member) || size != member.len() as u32 {
            return Err(DecodeError::Gzip(
                "corrupt gzip stream does not have a matching checksum".into(),
            ));
        }
        pos += 8;
        if pos >= bytes.len() {
            break;
        }
    }
    Ok(out)
}

/// Makes room for `len` bytes in all (not zero-filled: the inflater writes before it reads),
/// refusing politely when memory is short.
fn reserve_to(out: &mut Vec<u8>, len: usize) -> Result<(), DecodeError> {
    out.try_reserve_exact(len.saturating_sub(out.len()))
        .map_err(|e| DecodeError::Gzip(format!("cannot reserve `{len}` bytes: {e}")))
}

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0b1110_0000;

/// The length of the gzip member header at the start of `bytes` (RFC 1952: magic, method 8,
/// no reserved flag, optional extra field, name, comment and header CRC, which is checked).
fn member_header(bytes: &[u8]) -> Result<usize, DecodeError> {
    let bad = || DecodeError::Gzip("invalid gzip header".into());
    let short = || DecodeError::Gzip("unexpected end of gzip stream in a header".into());
    let fixed = bytes.get(..10).ok_or_else(short)?;
    if fixed[0] != GZIP_MAGIC[0] || fixed[1] != GZIP_MAGIC[1] || fixed[2] != 8 {
        return Err(bad());
    }
    let flags = fixed[3];
    if flags & FRESERVED != 0 {
        return Err(bad());
    }
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = bytes.get(at..at + 2).ok_or_else(short)?;
        at += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        if at > bytes.len() {
            return Err(short());
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let nul = bytes[at..].iter().position(|&b| b == 0).ok_or_else(short)?;
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        let stored = bytes.get(at..at + 2).ok_or_else(short)?;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        if stored != crc32fast::hash(&bytes[..at]) as u16 {
            return Err(DecodeError::Gzip(
                "corrupt gzip stream does not have a matching checksum".into(),
            ));
        }
        at += 2;
    }
    Ok(at)
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
    fn one_pass_inflate_reads_every_header_field_and_checks_each_member() {
        use std::io::Write;
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut enc = flate2::GzBuilder::new()
            .filename("profile.pb")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let named = enc.finish().unwrap();
        assert_eq!(&*maybe_gunzip(&named, false, 1 << 20).unwrap(), &data[..]);

        // A trailer announcing fewer bytes than the member holds: the buffer grows, and the
        // size check of the member then refuses the lie.
        let mut lying = gzip(&data);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(
            maybe_gunzip(&lying, false, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));

        // Members of several sizes, then garbage after the last one.
        let mut members = gzip(&data[..1000]);
        members.extend(gzip(b""));
        members.extend(gzip(&data[1000..]));
        assert_eq!(&*maybe_gunzip(&members, false, 1 << 20).unwrap(), &data[..]);
        members.push(0);
        assert!(matches!(
            maybe_gunzip(&members, false, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));

        // A member whose match reaches back into the previous member is refused (flate2's
        // MultiGzDecoder refuses it too): fixed-Huffman block, one match of length 5 at
        // distance 5, end of block; CRC and size of "world".
        let block = [0x03, 0x13, 0x00];
        // The block really is that back-reference: after "hello world" it gives "world".
        use miniz_oxide::inflate::TINFLStatus;
        use miniz_oxide::inflate::{self, core::inflate_flags, core::DecompressorOxide};
        let mut out = b"hello world\0\0\0\0\0".to_vec();
        let (status, _, produced) = inflate::core::decompress(
            &mut DecompressorOxide::default(),
            &block,
            &mut out,
            11,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        assert_eq!((status, produced), (TINFLStatus::Done, 5));
        assert_eq!(&out, b"hello worldworld");
        let mut back = gzip(b"hello world");
        back.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        back.extend_from_slice(&block);
        back.extend_from_slice(&crc32fast::hash(b"world").to_le_bytes());
        back.extend_from_slice(&5u32.to_le_bytes());
        assert!(flate2::read::MultiGzDecoder::new(&back[..])
            .read_to_end(&mut Vec::new())
            .is_err());
        assert!(matches!(
            maybe_gunzip(&back, false, 100),
            Err(DecodeError::Gzip(_))
        ));

        // Header CRC (FHCRC): checked.
        let mut hcrc = gzip(b"abc");
        hcrc[3] |= FHCRC;
        let crc = crc32fast::hash(&hcrc[..10]) as u16;
        hcrc.splice(10..10, crc.to_le_bytes());
        assert_eq!(&*maybe_gunzip(&hcrc, false, 100).unwrap(), b"abc");
        hcrc[10] ^= 1;
        assert!(matches!(
            maybe_gunzip(&hcrc, false, 100),
            Err(DecodeError::Gzip(_))
        ));
        // Reserved flags and other methods are refused.
        let mut reserved = gzip(b"abc");
        reserved[3] |= 0x20;
        assert!(maybe_gunzip(&reserved, false, 100).is_err());
    }

    /// Found by the `gunzip` fuzz target: a fixed-Huffman block using the reserved
    /// literal/length symbol 286, which libdeflate decodes as length 258 and zlib (and flate2)
    /// refuse. The member's CRC-32 and size match what libdeflate decodes, so the bytes are the
    /// sender's: accepted. The edge's streamed size check (flate2) refuses it.
    #[test]
    fn libdeflate_accepts_a_reserved_length_symbol_zlib_refuses() {
        let gz = [
            0x1f, 0x8b, 0x08, 0x00, 0x31, 0xf9, 0x08, 0x6b, 0x02, 0xff, 0x4b, 0x49, 0x4d, 0x4b,
            0x19, 0x47, 0xc4, 0x21, 0x00, 0xf9, 0xa8, 0x85, 0xf5, 0x2c, 0x01, 0x00, 0x00,
        ];
        let out = maybe_gunzip(&gz, false, 1 << 20).unwrap();
        assert_eq!(&*out, b"def".repeat(100));
        assert!(MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut Vec::new())
            .is_err());
        assert!(matches!(
            gunzip_size_check(&gz, 1 << 20, 16),
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
