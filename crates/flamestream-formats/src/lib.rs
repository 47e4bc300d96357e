//! Decoders for every upload format flamestream accepts, each a pure function from bytes to a
//! [`Profile`], and the one capped gunzip every decompression goes through.
//!
//! Entry points:
//! - [`decode_upload`]: an `/ingest` upload (any `format`, raw, gzipped or multipart).
//! - [`decode_push`]: a Connect `PushRequest` (`/push.v1.PusherService/Push`).
//! - [`validate_upload`]: the cheap check the ingest edge runs before it answers 200.

pub mod builder;
pub mod folded;
pub mod gzip;
pub mod multipart;
pub mod pprof;
pub mod push;
pub mod speedscope;
pub mod tree;
pub mod trie;
mod varint;

pub use builder::tree_type;
pub use folded::{decode_folded, decode_lines};
pub use gzip::{gunzip_size_check, gunzip_sniff, maybe_gunzip, SizeCheck};
pub use pprof::{decode_pprof, SampleTypeConfig};
pub use speedscope::decode_speedscope;
pub use tree::decode_tree;
pub use trie::decode_trie;

use flamestream_model::{AppName, LimitExceeded, Limits, Profile};
use multipart::{find_part, Part};

/// The `format` of an `/ingest` upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `perftools.profiles.Profile` protobuf (usually gzipped), raw or as multipart `profile`.
    Pprof,
    /// Java Flight Recorder, raw or as multipart `jfr` + `labels`.
    Jfr,
    /// `frame;frame count` lines (the default).
    Folded,
    /// One stack per line, each counted once.
    Lines,
    /// Varint radix trie of folded keys.
    Trie,
    /// Varint tree of frames with self values.
    Tree,
    /// speedscope JSON.
    Speedscope,
}

impl Format {
    /// The `format` parameter's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pprof => "pprof",
            Format::Jfr => "jfr",
            Format::Folded => "folded",
            Format::Lines => "lines",
            Format::Trie => "trie",
            Format::Tree => "tree",
            Format::Speedscope => "speedscope",
        }
    }

    /// Every format, for metric label sets.
    pub const ALL: [Format; 7] = [
        Format::Pprof,
        Format::Jfr,
        Format::Folded,
        Format::Lines,
        Format::Trie,
        Format::Tree,
        Format::Speedscope,
    ];

    /// Chooses the format from the `format` parameter and the `Content-Type` header:
    /// an explicit `format` wins; `binary/octet-stream+trie|+tree` name trie/tree; a multipart
    /// body without `format` is pprof (pyroscope-go); otherwise folded.
    ///
    /// # Errors
    /// [`DecodeError::UnknownFormat`] for a `format` value not in the list.
    pub fn detect(format: Option<&str>, content_type: Option<&str>) -> Result<Format, DecodeError> {
        if let Some(f) = format.filter(|f| !f.is_empty()) {
            return match f {
                "pprof" => Ok(Format::Pprof),
                "jfr" => Ok(Format::Jfr),
                "folded" | "collapsed" => Ok(Format::Folded),
                "lines" => Ok(Format::Lines),
                "trie" => Ok(Format::Trie),
                "tree" => Ok(Format::Tree),
                "speedscope" => Ok(Format::Speedscope),
                other => Err(DecodeError::UnknownFormat(other.to_string())),
            };
        }
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.contains("+trie") {
            Ok(Format::Trie)
        } else if ct.contains("+tree") {
            Ok(Format::Tree)
        } else if ct.starts_with("multipart/form-data") {
            Ok(Format::Pprof)
        } else {
            Ok(Format::Folded)
        }
    }
}

/// What the decoder needs to know about an `/ingest` upload besides its body.
#[derive(Debug, Clone)]
pub struct UploadMeta<'a> {
    /// The format chosen by [`Format::detect`].
    pub format: Format,
    /// `Content-Type` as received (multipart boundary lives here).
    pub content_type: Option<&'a str>,
    /// `Content-Encoding` as received (`gzip` honoured; gzip magic is sniffed regardless).
    pub content_encoding: Option<&'a str>,
    /// The parsed `name` (its suffix names the type of tree formats).
    pub app: &'a AppName,
    /// `sampleRate` in Hz (default 100); CPU/wall counts become `count × 1e9 / rate` ns.
    pub sample_rate: u32,
    /// `aggregationType` (`sum`/`average`), if sent.
    pub aggregation_type: Option<&'a str>,
    /// `units` / `unit`, if sent.
    pub units: Option<&'a str>,
}

/// Why an upload could not be decoded. [`DecodeError::reason`] is the metric label and
/// [`DecodeError::is_too_large`] tells 413 from 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `format` value flamestream does not know.
    #[error("unknown format `{0}`: use pprof, jfr, folded, lines, trie, tree or speedscope")]
    UnknownFormat(String),
    /// A limit was exceeded (decompressed size, samples …).
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// gzip data that does not inflate.
    #[error("gzip body is corrupt: {0}")]
    Gzip(String),
    /// A multipart body that cannot be split, or lacks the part the format needs.
    #[error("multipart body is invalid: {0}")]
    Multipart(String),
    /// Bytes that are not the announced format.
    #[error("{format} body is invalid: {detail}")]
    Invalid {
        /// The format that was expected.
        format: &'static str,
        /// What was wrong, with the offending value.
        detail: String,
    },
    /// The profile type could not be determined (e.g. unknown app suffix).
    #[error("{0}")]
    ProfileType(String),
}

impl DecodeError {
    /// A short, fixed reason for metrics: `unknown_format`, `limit_<name>`, `gzip`, `multipart`,
    /// `invalid_<format>`, `profile_type`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::UnknownFormat(_) => "unknown_format",
            DecodeError::Limit(l) => l.limit,
            DecodeError::Gzip(_) => "gzip",
            DecodeError::Multipart(_) => "multipart",
            DecodeError::Invalid { format, .. } => match *format {
                "pprof" => "invalid_pprof",
                "jfr" => "invalid_jfr",
                "folded" => "invalid_folded",
                "lines" => "invalid_lines",
                "trie" => "invalid_trie",
                "tree" => "invalid_tree",
                "speedscope" => "invalid_speedscope",
                "push" => "invalid_push",
                _ => "invalid",
            },
            DecodeError::ProfileType(_) => "profile_type",
        }
    }

    /// True for size limits (HTTP 413); everything else is 422 (or 400 for request errors).
    pub fn is_too_large(&self) -> bool {
        matches!(self, DecodeError::Limit(l) if l.limit.ends_with("_bytes"))
    }

    /// True for errors in the request itself rather than the profile (HTTP 400).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            DecodeError::UnknownFormat(_) | DecodeError::ProfileType(_)
        )
    }
}

/// Decodes one `/ingest` upload.
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn decode_upload(
    meta: &UploadMeta<'_>,
    body: &[u8],
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    decode_upload_with_stats(meta, body, limits).map(|(p, _)| p)
}

/// What a decoder noticed besides the profile, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Lines of a `folded` body skipped for lack of a valid count or stack.
    pub skipped_lines: u64,
}

/// Multipart part names.
pub mod parts {
    /// pprof profile (pyroscope-go).
    pub const PROFILE: &str = "profile";
    /// The previous cumulative pprof profile.
    pub const PREV_PROFILE: &str = "prev_profile";
    /// JSON sample type configuration.
    pub const SAMPLE_TYPE_CONFIG: &str = "sample_type_config";
    /// JFR recording (pyroscope-java).
    pub const JFR: &str = "jfr";
    /// `LabelsSnapshot` protobuf of a JFR upload.
    pub const LABELS: &str = "labels";
}

fn required<'p, 'a>(all: &'p [Part<'a>], name: &str) -> Result<&'p Part<'a>, DecodeError> {
    find_part(all, name).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        DecodeError::Multipart(format!(
            "part `{name}` is missing (parts sent: `{}`)",
            names.join(",")
        ))
    })
}

/// The part holding the payload of a format sent as multipart: `profile` / `jfr`, else the
/// first part.
fn payload_part<'p, 'a>(format: Format, all: &'p [Part<'a>]) -> Result<&'p Part<'a>, DecodeError> {
    match format {
        Format::Pprof => required(all, parts::PROFILE),
        Format::Jfr => required(all, parts::JFR),
        _ => find_part(all, parts::PROFILE)
            .or_else(|| all.first())
            .ok_or_else(|| DecodeError::Multipart("the body has no parts".into())),
    }
}

fn jfr_error(e: flamestream_jfr::JfrError) -> DecodeError {
    match e {
        flamestream_jfr::JfrError::Invalid(detail) => DecodeError::Invalid {
            format: "jfr",
            detail,
        },
        flamestream_jfr::JfrError::Limit(l) => DecodeError::Limit(l),
    }
}

/// Decodes one `/ingest` upload and reports decoder statistics (skipped folded lines).
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn decode_upload_with_stats(
    meta: &UploadMeta<'_>,
    body: &[u8],
    limits: &Limits,
) -> Result<(Profile, DecodeStats), DecodeError> {
    LimitExceeded::check("max_body_bytes", body.len() as u64, limits.max_body_bytes)?;
    let cap = limits.max_decompressed_bytes;
    let body = maybe_gunzip(
        body,
        gzip::content_encoding_is_gzip(meta.content_encoding),
        cap,
    )?;
    if !multipart::is_multipart(meta.content_type) {
        return decode_payload(meta, &body, limits);
    }
    let all = multipart::parse(&body, meta.content_type.unwrap_or_default())?;
    let part = payload_part(meta.format, &all)?;
    let data = maybe_gunzip(part.data, false, cap)?;
    match meta.format {
        Format::Pprof => {
            let prev = find_part(&all, parts::PREV_PROFILE)
                .map(|p| maybe_gunzip(p.data, false, cap))
                .transpose()?;
            let config = find_part(&all, parts::SAMPLE_TYPE_CONFIG)
                .map(|p| maybe_gunzip(p.data, false, cap))
                .transpose()?
                .filter(|c| !c.iter().all(u8::is_ascii_whitespace))
                .map(|c| SampleTypeConfig::parse(&c))
                .transpose()?;
            let p = decode_pprof(&data, prev.as_deref(), config.as_ref(), limits)?;
            Ok((p, DecodeStats::default()))
        }
        Format::Jfr => {
            let labels = find_part(&all, parts::LABELS)
                .map(|p| maybe_gunzip(p.data, false, cap))
                .transpose()?;
            let p = flamestream_jfr::decode(&data, labels.as_deref(), meta.sample_rate, limits)
                .map_err(jfr_error)?;
            Ok((p, DecodeStats::default()))
        }
        _ => decode_payload(meta, &data, limits),
    }
}

/// Decodes a payload that is neither gzip nor multipart any more.
fn decode_payload(
    meta: &UploadMeta<'_>,
    data: &[u8],
    limits: &Limits,
) -> Result<(Profile, DecodeStats), DecodeError> {
    let none = DecodeStats::default();
    let rate = meta.sample_rate;
    match meta.format {
        Format::Pprof => Ok((decode_pprof(data, None, None, limits)?, none)),
        Format::Jfr => Ok((
            flamestream_jfr::decode(data, None, rate, limits).map_err(jfr_error)?,
            none,
        )),
        Format::Speedscope => Ok((
            decode_speedscope(data, meta.app, rate, meta.aggregation_type, limits)?,
            none,
        )),
        Format::Folded | Format::Lines | Format::Trie | Format::Tree => {
            let ty = tree_type(meta.app, rate, meta.aggregation_type)?;
            match meta.format {
                Format::Folded => {
                    let (p, skipped_lines) = decode_folded(data, &ty, rate, limits)?;
                    Ok((p, DecodeStats { skipped_lines }))
                }
                Format::Lines => Ok((decode_lines(data, &ty, rate, limits)?, none)),
                Format::Trie => Ok((decode_trie(data, &ty, rate, limits)?, none)),
                _ => Ok((decode_tree(data, &ty, rate, limits)?, none)),
            }
        }
    }
}

/// Bytes of the inflated payload kept for sniffing by [`validate_upload`].
pub const SNIFF_BYTES: usize = 4096;

/// Cheap validation run by the ingest edge before it answers 200: format and multipart shape,
/// gzip integrity and the decompressed-size cap (streamed, bounded memory), the first bytes of
/// the payload look like the format. It does not build a profile.
///
/// What "look like" means: pprof — the top-level protobuf fields in the first
/// [`SNIFF_BYTES`] are Profile fields 1–14 with their wire types; jfr — the magic `FLR\0`;
/// speedscope — `{` first; trie/tree — the first record's varints parse; folded/lines — valid
/// UTF-8. For tree formats the app suffix must name a profile type.
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn validate_upload(
    meta: &UploadMeta<'_>,
    body: &[u8],
    limits: &Limits,
) -> Result<(), DecodeError> {
    LimitExceeded::check("max_body_bytes", body.len() as u64, limits.max_body_bytes)?;
    let cap = limits.max_decompressed_bytes;
    if matches!(
        meta.format,
        Format::Folded | Format::Lines | Format::Trie | Format::Tree
    ) {
        tree_type(meta.app, meta.sample_rate, meta.aggregation_type)?;
    }
    if !multipart::is_multipart(meta.content_type) {
        let check = gunzip_sniff(body, cap, SNIFF_BYTES)?;
        return sniff(meta.format, &check);
    }
    // A multipart body gzipped as a whole must be inflated to be split; memory stays capped.
    let body = if gzip::is_gzip(body) {
        gunzip_size_check(body, cap, 0)?;
        maybe_gunzip(body, true, cap)?
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    let all = multipart::parse(&body, meta.content_type.unwrap_or_default())?;
    let part = payload_part(meta.format, &all)?;
    let check = gunzip_sniff(part.data, cap, SNIFF_BYTES)?;
    sniff(meta.format, &check)?;
    for other in all.iter().filter(|p| !std::ptr::eq(*p, part)) {
        let check = gunzip_sniff(other.data, cap, SNIFF_BYTES)?;
        if meta.format == Format::Pprof && other.name == parts::PREV_PROFILE {
            sniff(Format::Pprof, &check)?;
        }
    }
    Ok(())
}

fn sniff_error(format: Format, detail: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        format: format.as_str(),
        detail: detail.into(),
    }
}

/// Checks that the first bytes of a payload look like `format`.
fn sniff(format: Format, check: &SizeCheck) -> Result<(), DecodeError> {
    let head = &check.head[..];
    let complete = check.inflated_bytes == head.len() as u64;
    match format {
        Format::Pprof => sniff_pprof(head, complete).map_err(|d| sniff_error(format, d)),
        Format::Jfr => {
            if head.starts_with(b"FLR\0") {
                Ok(())
            } else {
                Err(sniff_error(
                    format,
                    format!(
                        "not a jfr recording: starts with `{}` instead of the magic `FLR\\0`",
                        head[..head.len().min(4)].escape_ascii()
                    ),
                ))
            }
        }
        Format::Speedscope => {
            let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
            match text.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => Ok(()),
                Some(b) => Err(sniff_error(
                    format,
                    format!("not speedscope json: starts with `{}`", b.escape_ascii()),
                )),
                None if complete => Err(sniff_error(format, "the body is empty")),
                None => Ok(()),
            }
        }
        Format::Trie | Format::Tree => {
            if head.is_empty() {
                return Ok(());
            }
            let mut r = varint::Reader::new(head);
            match trie::node(&mut r) {
                Ok(n) => trie::check_children(n.children, &r)
                    .or(if complete { Err(()) } else { Ok(()) })
                    .map_err(|()| {
                        sniff_error(
                            format,
                            "the first record claims more children than the body holds",
                        )
                    }),
                Err(varint::WireError::Truncated) if !complete => Ok(()),
                Err(e) => Err(sniff_error(
                    format,
                    format!("the first record does not parse: {e}"),
                )),
            }
        }
        Format::Folded | Format::Lines => match std::str::from_utf8(head) {
            Ok(_) => Ok(()),
            // A character cut by the sniff window is fine.
            Err(e) if e.error_len().is_none() && !complete => Ok(()),
            Err(e) => Err(sniff_error(
                format,
                format!("not utf-8 text: invalid byte at `{}`", e.valid_up_to()),
            )),
        },
    }
}

/// Walks the top-level fields of the first bytes of a pprof: each must be a Profile field
/// (1–14) with its wire type. A value cut by the sniff window ends the walk.
fn sniff_pprof(head: &[u8], complete: bool) -> Result<(), String> {
    use varint::{WT_LEN, WT_VARINT};
    let mut r = varint::Reader::new(head);
    while !r.is_empty() {
        let at = r.position();
        let (field, wt) = match r.key() {
            Ok(k) => k,
            Err(varint::WireError::Truncated) if !complete => return Ok(()),
            Err(e) => return Err(format!("not a protobuf: {e} at byte `{at}`")),
        };
        let ok = match field {
            1..=6 | 11 => wt == WT_LEN,
            7..=10 | 12 | 14 => wt == WT_VARINT,
            13 => wt == WT_VARINT || wt == WT_LEN,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "not a pprof profile: field `{field}` with wire type `{wt}` at byte `{at}`"
            ));
        }
        match r.skip(wt) {
            Ok(()) => {}
            Err(varint::WireError::Truncated) if !complete => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "not a protobuf: {e} in field `{field}` at byte `{at}`"
                ))
            }
        }
    }
    Ok(())
}

/// Truncates a frame name to at most `max` bytes, on a character boundary.
pub(crate) fn truncate_symbol(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One series of a Connect `PushRequest`: its labels (including `__name__` and
/// `service_name`) and the decoded profile of each of its samples.
#[derive(Debug, Clone)]
pub struct PushSeries {
    /// Labels as sent.
    pub labels: Vec<(String, String)>,
    /// One decoded profile per `RawSample`.
    pub profiles: Vec<Profile>,
}

/// Decodes a Connect `PushRequest` (`application/proto` or `application/json`, gzip or not).
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn decode_push(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    limits: &Limits,
) -> Result<Vec<PushSeries>, DecodeError> {
    LimitExceeded::check("max_body_bytes", body.len() as u64, limits.max_body_bytes)?;
    push::decode(body, content_type, content_encoding, limits)
}

#[cfg(test)]
mod tests;
