//! Ingest routes: validate and cap each upload, wrap it in the envelope, publish it, and
//! answer 200 only once the transport holds it.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use flamestream_bus::envelope::{Endpoint, ENVELOPE_VERSION};
use flamestream_bus::{PublishError, RawUpload};
use flamestream_formats::{Format, UploadMeta};
use flamestream_model::time::parse_unix_time_ns;
use flamestream_model::{parse_name, Limits, DEFAULT_TENANT};
use flamestream_pipeline::metrics as m;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Registers the ingest routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/ingest", "/pyroscope/ingest", "/api/v1/profile/ingest"] {
        cfg.route(path, web::post().to(ingest));
    }
    // SDKs append the Connect path to PYROSCOPE_SERVER_ADDRESS, which users set to the root,
    // to `/pyroscope`, or (following DeepFlow's docs) to `/api/v1/profile`.
    for prefix in ["", "/pyroscope", "/api/v1/profile"] {
        cfg.route(
            &format!("{prefix}/push.v1.PusherService/Push"),
            web::post().to(push),
        );
    }
}

/// Now, ns since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The tenant of a request: a configured bearer token's tenant, else `X-Scope-OrgID`, else
/// `anonymous`.
///
/// # Errors
/// 401 when tokens are configured and the request has none that matches; 400 for a malformed
/// tenant id.
pub fn tenant(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let tokens = &state.config.ingest.tokens;
    if !tokens.is_empty() {
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "`Authorization: Bearer <token>` is required by this server",
                )
            })?;
        return tokens.get(token.trim()).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the bearer token is not known to this server",
            )
        });
    }
    match req
        .headers()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(DEFAULT_TENANT.to_string()),
        Some(t) => {
            let t = t.trim();
            if t.is_empty()
                || t.len() > 150
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                Err(ApiError::bad_request(
                    "invalid_tenant",
                    format!("`X-Scope-OrgID` = `{t}` is invalid: use up to 150 letters, digits, `-`, `_`, `.`"),
                ))
            } else {
                Ok(t.to_string())
            }
        }
    }
}

fn header(headers: &HeaderMap, name: actix_web::http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the body, refusing with 413 as soon as it passes `max` (before it is all read).
async fn read_capped(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: u64,
) -> Result<Bytes, ApiError> {
    let too_large = |actual: u64| {
        metrics::counter!(m::INGEST_REJECTED, "reason" => "max_body_bytes").increment(1);
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("`max_body_bytes` exceeded: {actual} > {max}"),
        )
    };
    if let Some(len) = header(req.headers(), CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()) {
        if len > max {
            return Err(too_large(len));
        }
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("bad_body", format!("cannot read the body: {e}")))?;
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn reject(format: &'static str, err: ApiError, reason: &'static str) -> ApiError {
    metrics::counter!(m::INGEST_REJECTED, "reason" => reason).increment(1);
    metrics::counter!(m::INGEST_REQUESTS, "format" => format, "status" => err.status.as_str().to_string()).increment(1);
    err
}

/// Resolves `from`/`until` (any unit; missing → now) and checks the accepted range.
fn time_range(
    params: &BTreeMap<String, String>,
    limits: &Limits,
    now: i64,
) -> Result<(i64, i64), ApiError> {
    let get = |k: &str| -> Result<Option<i64>, ApiError> {
        match params.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => parse_unix_time_ns(v)
                .map(Some)
                .map_err(|e| ApiError::bad_request("invalid_time", format!("`{k}`: {e}"))),
        }
    };
    let until = get("until")?.unwrap_or(now);
    let from = get("from")?.unwrap_or(until);
    let (from, until) = (from.min(until), from.max(until));
    let earliest = now - limits.max_past_secs as i64 * 1_000_000_000;
    let latest = now + limits.max_future_secs as i64 * 1_000_000_000;
    if from < earliest || until > latest {
        return Err(ApiError::bad_request(
            "out_of_range",
            format!(
                "profile time range is outside the accepted range: `from` must be within `max_past_secs` = {} s before now and `until` within `max_future_secs` = {} s after now",
                limits.max_past_secs, limits.max_future_secs
            ),
        ));
    }
    Ok((from, until))
}

async fn publish(state: &AppState, key: &str, upload: RawUpload) -> Result<(), ApiError> {
    let publisher = state.publisher.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this process does not run the ingest role",
        )
    })?;
    let transport = publisher.transport();
    let started = Instant::now();
    let result = publisher.publish(key, &upload).await;
    metrics::histogram!(m::BUS_PUBLISH_DURATION, "transport" => transport)
        .record(started.elapsed().as_secs_f64());
    result.map_err(|e| {
        metrics::counter!(m::BUS_PUBLISH_FAILURES, "transport" => transport, "reason" => e.reason()).increment(1);
        let retry = state.config.ingest.retry_after_secs;
        match e {
            PublishError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
            PublishError::Full { .. } => ApiError::unavailable("overloaded", e.to_string(), retry),
            PublishError::Unavailable(_) => ApiError::unavailable("unavailable", e.to_string(), retry),
        }
    })
}

/// `POST /ingest` (and aliases).
async fn ingest(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<BTreeMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let params = params.into_inner();
    let limits = &state.config.limits;
    let content_type = header(req.headers(), CONTENT_TYPE)
        .unwrap_or("")
        .to_string();
    let content_encoding = header(req.headers(), CONTENT_ENCODING)
        .unwrap_or("")
        .to_string();
    let format = Format::detect(
        params.get("format").map(String::as_str),
        Some(&content_type),
    )
    .map_err(|e| {
        reject(
            "unknown",
            ApiError::bad_request("unknown_format", e.to_string()),
            "unknown_format",
        )
    })?;
    let fmt = format.as_str();
    let tenant = tenant(&req, &state).map_err(|e| reject(fmt, e, "tenant"))?;
    let app = parse_name(params.get("name").map_or("", String::as_str), limits).map_err(|e| {
        reject(
            fmt,
            ApiError::bad_request("invalid_name", e.to_string()),
            "invalid_name",
        )
    })?;
    let now = now_ns();
    let (from_ns, until_ns) =
        time_range(&params, limits, now).map_err(|e| reject(fmt, e, "time_range"))?;
    let body = read_capped(&req, payload, limits.max_body_bytes)
        .await
        .inspect_err(|e| {
            metrics::counter!(m::INGEST_REQUESTS, "format" => fmt, "status" => e.status.as_str().to_string())
                .increment(1);
        })?;
    metrics::counter!(m::INGEST_RECEIVED_BYTES, "format" => fmt).increment(body.len() as u64);
    if body.is_empty() {
        return Err(reject(
            fmt,
            ApiError::bad_request("empty_body", "the body is empty: send a profile"),
            "empty_body",
        ));
    }

    // Cheap validation off the event loop: multipart shape, gzip integrity and the
    // decompressed cap (streamed), and the first bytes of the payload.
    let check = {
        let body = body.clone();
        let ct = content_type.clone();
        let ce = content_encoding.clone();
        let limits = limits.clone();
        let app = app.clone();
        let sample_rate =
            flamestream_pipeline::decode::sample_rate(params.get("sampleRate").map(String::as_str));
        web::block(move || {
            let meta = UploadMeta {
                format,
                content_type: Some(&ct).filter(|s| !s.is_empty()).map(String::as_str),
                content_encoding: Some(&ce).filter(|s| !s.is_empty()).map(String::as_str),
                app: &app,
                sample_rate,
                aggregation_type: None,
                units: None,
            };
            flamestream_formats::validate_upload(&meta, &body, &limits)
        })
        .await
        .map_err(|e| {
            ApiError::unavailable("overloaded", format!("validation pool is busy: {e}"), 1)
        })?
    };
    if let Err(e) = check {
        let reason = e.reason();
        return Err(reject(fmt, ApiError::from(e), reason));
    }

    let mut extra_labels = BTreeMap::new();
    for (k, v) in &state.config.ingest.extra_labels {
        extra_labels.insert(k.clone(), v.clone());
    }
    let upload = RawUpload {
        version: ENVELOPE_VERSION,
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.clone(),
        received_at_ns: now,
        endpoint: Endpoint::Ingest as i32,
        params,
        content_type,
        content_encoding,
        body,
        extra_labels,
        from_ns,
        until_ns,
    };
    let key = format!("{tenant}/{}", app.service_name());
    if let Err(e) = publish(&state, &key, upload).await {
        metrics::counter!(m::INGEST_REQUESTS, "format" => fmt, "status" => e.status.as_str().to_string()).increment(1);
        return Err(e);
    }
    metrics::counter!(m::INGEST_REQUESTS, "format" => fmt, "status" => "200").increment(1);
    metrics::histogram!(m::INGEST_REQUEST_DURATION, "format" => fmt)
        .record(started.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok().finish())
}

/// Connect error body: `{"code": "invalid_argument", "message": "..."}`.
fn connect_error(e: ApiError) -> ApiError {
    let code = match e.status.as_u16() {
        400 | 422 => "invalid_argument",
        401 => "unauthenticated",
        413 | 429 => "resource_exhausted",
        503 => "unavailable",
        404 => "unimplemented",
        _ => "internal",
    };
    ApiError { code, ..e }
}

/// `POST /push.v1.PusherService/Push` (Connect unary, proto or JSON).
async fn push(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let limits = &state.config.limits;
    let tenant = tenant(&req, &state).map_err(|e| connect_error(reject("push", e, "tenant")))?;
    let content_type = header(req.headers(), CONTENT_TYPE)
        .unwrap_or("application/proto")
        .to_string();
    let content_encoding = header(req.headers(), CONTENT_ENCODING)
        .unwrap_or("")
        .to_string();
    let body = read_capped(&req, payload, limits.max_body_bytes)
        .await
        .map_err(connect_error)?;
    metrics::counter!(m::INGEST_RECEIVED_BYTES, "format" => "push").increment(body.len() as u64);
    let check = {
        let body = body.clone();
        let ct = content_type.clone();
        let ce = content_encoding.clone();
        let limits = limits.clone();
        web::block(move || {
            flamestream_formats::decode_push(
                &body,
                Some(&ct),
                Some(&ce).filter(|s| !s.is_empty()).map(String::as_str),
                &limits,
            )
            .map(|series| {
                series
                    .iter()
                    .find_map(|s| {
                        s.labels
                            .iter()
                            .find(|(k, _)| k == "service_name")
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap_or_else(|| "unknown".to_string())
            })
        })
        .await
        .map_err(|e| {
            ApiError::unavailable("overloaded", format!("validation pool is busy: {e}"), 1)
        })?
    };
    let service = match check {
        Ok(service) => service,
        Err(e) => {
            let reason = e.reason();
            return Err(connect_error(reject("push", ApiError::from(e), reason)));
        }
    };
    let now = now_ns();
    let upload = RawUpload {
        version: ENVELOPE_VERSION,
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.clone(),
        received_at_ns: now,
        endpoint: Endpoint::Push as i32,
        params: BTreeMap::new(),
        content_type,
        content_encoding,
        body,
        extra_labels: state.config.ingest.extra_labels.clone(),
        from_ns: now,
        until_ns: now,
    };
    if let Err(e) = publish(&state, &format!("{tenant}/{service}"), upload).await {
        metrics::counter!(m::INGEST_REQUESTS, "format" => "push", "status" => e.status.as_str().to_string()).increment(1);
        return Err(connect_error(e));
    }
    metrics::counter!(m::INGEST_REQUESTS, "format" => "push", "status" => "200").increment(1);
    metrics::histogram!(m::INGEST_REQUEST_DURATION, "format" => "push")
        .record(started.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok()
        .content_type("application/proto")
        .body(Vec::<u8>::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_units_and_bounds() {
        let limits = Limits::default();
        let now = 1_700_000_000_000_000_000;
        let mut p = BTreeMap::new();
        p.insert("from".to_string(), "1699999990".to_string());
        p.insert("until".to_string(), "1700000000000".to_string());
        assert_eq!(
            time_range(&p, &limits, now).unwrap(),
            (now - 10_000_000_000, now)
        );
        p.insert("from".to_string(), "1600000000".to_string());
        let e = time_range(&p, &limits, now).unwrap_err();
        assert_eq!(e.code, "out_of_range");
        assert!(e.message.contains("max_past_secs"));
    }
}
