//! Connect `PushRequest` (`/push.v1.PusherService/Push`): protobuf (`application/proto`,
//! `application/protobuf`, `application/x-protobuf`) or protojson (`application/json`), gzip
//! sniffed or announced. Each `raw_profile` is a pprof (gzip sniffed), decoded by
//! [`crate::pprof::decode_pprof`]. When a series carries `__name__`, it names the profile-type
//! kind of every series decoded from its samples (Pyroscope does the same).

use crate::gzip::maybe_gunzip;
use crate::pprof::decode_pprof;
use crate::{DecodeError, PushSeries};
use flamestream_model::Limits;
use serde::Deserialize;

/// `push.v1.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The series pushed.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<RawProfileSeries>,
}

/// `push.v1.RawProfileSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawProfileSeries {
    /// Labels, including `__name__` and `service_name`.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    /// The profiles of this series.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<RawSample>,
}

/// `push.v1.RawSample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawSample {
    /// A pprof, possibly gzipped.
    #[prost(bytes = "vec", tag = "1")]
    pub raw_profile: Vec<u8>,
    /// A client-chosen id.
    #[prost(string, tag = "2")]
    pub id: String,
}

/// `types.v1.LabelPair`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<JsonLabel>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonLabel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct JsonSample {
    #[serde(default, rename = "rawProfile", alias = "raw_profile")]
    raw_profile: String,
}

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        format: "push",
        detail: detail.into(),
    }
}

/// Decodes standard or URL-safe base64, with or without padding (what protojson accepts).
///
/// # Errors
/// A message naming the offending byte.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (i, &c) in bytes.iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'\r' | b'\n' => continue,
            _ => {
                return Err(format!(
                    "invalid base64 byte `{}` at `{i}`",
                    c.escape_ascii()
                ))
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("base64 text has a dangling character".into());
    }
    Ok(out)
}

/// Labels and raw profiles of one pushed series.
type RawSeries = (Vec<(String, String)>, Vec<Vec<u8>>);

enum Body {
    Proto,
    Json,
}

fn body_kind(content_type: Option<&str>, body: &[u8]) -> Result<Body, DecodeError> {
    let ct = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match ct.as_str() {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => Ok(Body::Proto),
        "application/json" => Ok(Body::Json),
        "" | "application/octet-stream" => Ok(
            if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                Body::Json
            } else {
                Body::Proto
            },
        ),
        other => Err(invalid(format!(
            "content type `{other}` is not supported: use application/proto or application/json"
        ))),
    }
}

/// Decodes a `PushRequest` body (see [`crate::decode_push`]).
///
/// # Errors
/// [`DecodeError`] naming the reason; an undecodable sample fails the request, naming the
/// series and sample.
pub fn decode(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    limits: &Limits,
) -> Result<Vec<PushSeries>, DecodeError> {
    let gz = crate::gzip::content_encoding_is_gzip(content_encoding);
    let body = maybe_gunzip(body, gz, limits.max_decompressed_bytes)?;
    let series: Vec<RawSeries> = match body_kind(content_type, &body)? {
        Body::Proto => {
            let req = <PushRequest as prost::Message>::decode(&body[..])
                .map_err(|e| invalid(format!("not a protobuf PushRequest: {e}")))?;
            req.series
                .into_iter()
                .map(|s| {
                    (
                        s.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                        s.samples.into_iter().map(|x| x.raw_profile).collect(),
                    )
                })
                .collect()
        }
        Body::Json => {
            let req: JsonRequest = serde_json::from_slice(&body)
                .map_err(|e| invalid(format!("not a json PushRequest: {e}")))?;
            let mut out = Vec::with_capacity(req.series.len());
            for (si, s) in req.series.into_iter().enumerate() {
                let mut raws = Vec::with_capacity(s.samples.len());
                for (i, x) in s.samples.into_iter().enumerate() {
                    raws.push(base64_decode(&x.raw_profile).map_err(|e| {
                        invalid(format!("series `{si}` sample `{i}` `rawProfile`: {e}"))
                    })?);
                }
                out.push((
                    s.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                    raws,
                ));
            }
            out
        }
    };
    let mut out = Vec::with_capacity(series.len());
    for (si, (labels, raws)) in series.into_iter().enumerate() {
        let kind = labels
            .iter()
            .find(|(k, v)| k == "__name__" && !v.is_empty())
            .map(|(_, v)| v.clone());
        let mut profiles = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            let raw = maybe_gunzip(raw, false, limits.max_decompressed_bytes)?;
            let mut p = decode_pprof(&raw, None, None, limits).map_err(|e| match e {
                DecodeError::Invalid { detail, .. } => {
                    invalid(format!("series `{si}` sample `{i}`: {detail}"))
                }
                other => other,
            })?;
            if let Some(kind) = &kind {
                for s in &mut p.series {
                    s.profile_type.parts_mut().name.clone_from(kind);
                }
            }
            profiles.push(p);
        }
        out.push(PushSeries { labels, profiles });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_variants() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(
            base64_decode("-_8").unwrap(),
            base64_decode("+/8=").unwrap()
        );
        assert!(base64_decode("a").is_err());
        assert!(base64_decode("a$bc").is_err());
        assert_eq!(base64_decode("").unwrap(), b"");
    }
}
