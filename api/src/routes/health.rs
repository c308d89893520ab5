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

/// The process can serve: the database answers. On PostgreSQL, `coordination` says whether
/// this server hears the other servers' commits (`coordinated`) or not (`degraded`: it still
/// answers correctly, reading every list from the database, while its listener reconnects).
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "stopping" }))
        );
    }
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
    let coordination = match state.db.changes().coordination() {
        None => "single_server",
        Some(c) if c.listening => "coordinated",
        Some(_) => "degraded",
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ready",
        "database": backend,
        "coordination": coordination,
    })))
}

/// Prometheus metrics.
pub async fn metrics(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            metrics.render(state.db.pool_state())
                + &state.cache.render()
                + &listener_metrics(state.db.changes().coordination()),
        )
}

/// The PostgreSQL listener's state, for `/metrics` (nothing on SQLite).
fn listener_metrics(coordination: Option<persistence::Coordination>) -> String {
    let Some(c) = coordination else {
        return String::new();
    };
    format!(
        "# HELP pg_listener_up Whether this server hears the other servers' commits.\n\
         # TYPE pg_listener_up gauge\n\
         pg_listener_up {}\n\
         # HELP pg_listener_reconnections_total Connections of the listener made again after one was lost.\n\
         # TYPE pg_listener_reconnections_total counter\n\
         pg_listener_reconnections_total {}\n",
        u8::from(c.listening),
        c.reconnections
    )
}
