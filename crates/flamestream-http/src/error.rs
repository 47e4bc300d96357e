//! The one mapping from errors to HTTP answers: JSON `{"code","message"}`, and `Retry-After`
//! on 429/503.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_name`, `too_large`.
    pub code: &'static str,
    /// What went wrong and what to do, lowercase, values in backticks.
    pub message: String,
    /// Seconds to wait, for 429/503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 500 for store failures (the message names the store error).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            r.insert_header(("Retry-After", secs.to_string()));
        }
        r.json(Body {
            code: self.code,
            message: &self.message,
        })
    }
}

impl From<flamestream_formats::DecodeError> for ApiError {
    fn from(e: flamestream_formats::DecodeError) -> Self {
        let (status, code) = if e.is_too_large() {
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        } else if e.is_bad_request() {
            (StatusCode::BAD_REQUEST, "bad_request")
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "undecodable_profile")
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<flamestream_store::StoreError> for ApiError {
    fn from(e: flamestream_store::StoreError) -> Self {
        match e {
            flamestream_store::StoreError::Unavailable(m) => {
                ApiError::unavailable("store_unavailable", m, 5)
            }
            other => ApiError::internal(format!("store error: {other}")),
        }
    }
}
