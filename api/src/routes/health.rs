//! Service routes outside `/api/v1`, without authentication.

use crate::error::ApiError;
use crate::extract::blocking;
use crate::metrics::Metrics;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use persistence::Backend;

/// The process is up.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "live" }))
}

/// The process can serve: the database answers.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    blocking(move || {
        db.ping().map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::unavailable()
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": backend })))
}

/// Prometheus metrics.
pub async fn metrics(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(state.db.pool_state()) + &state.answers.render())
}
