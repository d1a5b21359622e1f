//! Operations: liveness, readiness, metrics.

use actix_web::{get, http::header, web, HttpResponse};

use super::State;
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "The database does not answer", body = crate::error::Problem),
))]
#[get("/readyz")]
async fn readyz(state: State) -> Result<HttpResponse, ApiError> {
    state
        .db
        .run(|conn| crate::db::ping(conn).map_err(|_| ApiError::Unavailable))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Prometheus text exposition.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Metrics", content_type = "text/plain")))]
#[get("/metrics")]
async fn metrics(state: State) -> Result<HttpResponse, ApiError> {
    let queue = state
        .db
        .run(|conn| Ok(crate::db::push_jobs::queue_depths(conn)?))
        .await?;
    let body = state.metrics.render(state.db.pool_state(), &queue)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(body))
}
