//! flamestream's HTTP surface.
//!
//! | route | what |
//! |---|---|
//! | `POST /ingest`, `/pyroscope/ingest`, `/api/v1/profile/ingest` | Pyroscope/DeepFlow uploads |
//! | `POST /push.v1.PusherService/Push` | Connect Push API |
//! | `GET /pyroscope/render` | flamebearer JSON |
//! | `GET /pyroscope/labels`, `/pyroscope/label-values` | label names and values |
//! | `POST /v1/profile/ProfileTracing` | DeepFlow's query contract |
//! | `GET /metrics`, `/healthz`, `/ready` | operations |
//! | `GET /` | the web UI |

pub mod error;
pub mod ingest;
pub mod ops;
pub mod query;
pub mod state;
pub mod ui;

pub use error::ApiError;
pub use state::AppState;

use actix_web::web;

/// Registers the routes of the roles `state` runs.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state.clone());
    cfg.app_data(web::PayloadConfig::new(usize::MAX));
    // Malformed query strings and JSON bodies get the same JSON error shape as everything else.
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::bad_request(
            "invalid_query_string",
            format!("the query string is invalid: {err}"),
        )
        .into()
    }));
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(|err, _| {
                ApiError::bad_request("invalid_json", format!("the JSON body is invalid: {err}"))
                    .into()
            }),
    );
    ops::configure(cfg);
    if state.publisher.is_some() {
        ingest::configure(cfg);
    }
    if state.reader.is_some() {
        query::configure(cfg);
        ui::configure(cfg);
    }
}
