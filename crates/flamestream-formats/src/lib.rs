//! Decoders for every upload format flamestream accepts, each a pure function from bytes to a
//! [`Profile`], and the one capped gunzip every decompression goes through.
//!
//! Entry points:
//! - [`decode_upload`]: an `/ingest` upload (any `format`, raw, gzipped or multipart).
//! - [`decode_push`]: a Connect `PushRequest` (`/push.v1.PusherService/Push`).
//! - [`validate_upload`]: the cheap check the ingest edge runs before it answers 200.

use flamestream_model::{AppName, LimitExceeded, Limits, Profile};

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
        matches!(self, DecodeError::UnknownFormat(_) | DecodeError::ProfileType(_))
    }
}

/// Decodes one `/ingest` upload.
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn decode_upload(meta: &UploadMeta<'_>, body: &[u8], limits: &Limits) -> Result<Profile, DecodeError> {
    let _ = (meta, body, limits);
    Err(DecodeError::UnknownFormat("not yet implemented".into()))
}

/// Cheap validation run by the ingest edge before it answers 200: format and multipart shape,
/// gzip integrity and the decompressed-size cap (streamed, bounded memory), the first bytes of
/// the payload look like the format. It does not build a profile.
///
/// # Errors
/// [`DecodeError`] naming the reason or the limit.
pub fn validate_upload(meta: &UploadMeta<'_>, body: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    let _ = (meta, body, limits);
    Ok(())
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
    let _ = (body, content_type, content_encoding, limits);
    Err(DecodeError::UnknownFormat("push not yet implemented".into()))
}
