//! The web UI: one self-contained page that lists apps and draws flame graphs from
//! `/pyroscope/render`.

use actix_web::{web, HttpResponse};

const INDEX_HTML: &str = include_str!("assets/index.html");

/// Registers the UI routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/ui", web::get().to(index));
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}
