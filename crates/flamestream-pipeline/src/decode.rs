//! The decoder's pure core: a raw upload envelope in, decoded profiles with their series
//! identity out.

use flamestream_bus::envelope::Endpoint;
use flamestream_bus::RawUpload;
use flamestream_formats::{decode_push, decode_upload, DecodeError, Format, UploadMeta};
use flamestream_model::{parse_name, LabelSet, Limits, Profile};

/// One decoded profile and whom it belongs to.
#[derive(Debug, Clone)]
pub struct DecodedPart {
    /// The app.
    pub service_name: String,
    /// Labels of the upload (name labels, spy, edge labels); series labels are inside.
    pub labels: LabelSet,
    /// The profile.
    pub profile: Profile,
}

/// A decoded upload, ready for the aggregator.
#[derive(Debug, Clone)]
pub struct DecodedUpload {
    /// Tenant.
    pub tenant: String,
    /// Start of the profiled range (ns); picks the window.
    pub from_ns: i64,
    /// The decoded profiles (one for `/ingest`, one per sample for Push).
    pub parts: Vec<DecodedPart>,
    /// The format, for metric labels.
    pub format: &'static str,
}

/// Why an envelope could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeFailure {
    /// The envelope itself is not ours.
    #[error("envelope is invalid: {0}")]
    Envelope(String),
    /// The upload's profile did not decode.
    #[error("{format} upload: {error}")]
    Profile {
        /// Format label.
        format: &'static str,
        /// The decoder's error.
        error: DecodeError,
    },
}

impl DecodeFailure {
    /// `(format, reason)` metric labels.
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            DecodeFailure::Envelope(_) => ("unknown", "envelope"),
            DecodeFailure::Profile { format, error } => (format, error.reason()),
        }
    }
}

/// Decodes one envelope.
///
/// # Errors
/// [`DecodeFailure`] naming the reason.
pub fn decode_envelope(
    upload: &RawUpload,
    limits: &Limits,
) -> Result<DecodedUpload, DecodeFailure> {
    let mut base = LabelSet::new();
    for (k, v) in &upload.extra_labels {
        base.insert(k.as_str(), v.as_str());
    }
    if upload.endpoint == Endpoint::Push as i32 {
        let series = decode_push(
            &upload.body,
            non_empty(&upload.content_type),
            non_empty(&upload.content_encoding),
            limits,
        )
        .map_err(|error| DecodeFailure::Profile {
            format: "push",
            error,
        })?;
        let mut parts = Vec::new();
        for s in series {
            let mut labels = base.clone();
            let mut service_name = String::from("unknown");
            for (k, v) in &s.labels {
                match k.as_str() {
                    "service_name" => service_name = v.clone(),
                    k if k.starts_with("__") => {}
                    k if flamestream_model::labels::validate_label(k, v, limits).is_ok() => {
                        labels.insert(k, v.as_str());
                    }
                    _ => {}
                }
            }
            for profile in s.profiles {
                parts.push(DecodedPart {
                    service_name: service_name.clone(),
                    labels: labels.clone(),
                    profile,
                });
            }
        }
        return Ok(DecodedUpload {
            tenant: upload.tenant.clone(),
            from_ns: upload.from_ns,
            parts,
            format: "push",
        });
    }

    let format = Format::detect(upload.param("format"), non_empty(&upload.content_type)).map_err(
        |error| DecodeFailure::Profile {
            format: "unknown",
            error,
        },
    )?;
    let fmt = format.as_str();
    let app = parse_name(upload.param("name").unwrap_or(""), limits)
        .map_err(|e| DecodeFailure::Envelope(e.to_string()))?;
    let meta = UploadMeta {
        format,
        content_type: non_empty(&upload.content_type),
        content_encoding: non_empty(&upload.content_encoding),
        app: &app,
        sample_rate: sample_rate(upload.param("sampleRate")),
        aggregation_type: upload.param("aggregationType"),
        units: upload.param("units").or(upload.param("unit")),
    };
    let profile = decode_upload(&meta, &upload.body, limits)
        .map_err(|error| DecodeFailure::Profile { format: fmt, error })?;
    let mut labels = base;
    labels.extend(&app.labels);
    if let Some(spy) = upload.param("spyName").filter(|s| !s.is_empty()) {
        labels.insert("pyroscope_spy", spy);
    }
    Ok(DecodedUpload {
        tenant: upload.tenant.clone(),
        from_ns: upload.from_ns,
        parts: vec![DecodedPart {
            service_name: app.service_name().to_string(),
            labels,
            profile,
        }],
        format: fmt,
    })
}

/// `sampleRate` with Pyroscope's default of 100 Hz.
pub fn sample_rate(param: Option<&str>) -> u32 {
    param.and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
