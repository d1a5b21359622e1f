//! Operations: liveness, readiness, metrics, for `carnet serve` (under its API) and for
//! `carnet worker` (on its own small server, `CARNET_WORKER_LISTEN`).

use actix_web::{get, http::header, web, HttpResponse};

use super::State;
use crate::config::PushSettings;
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    healthz_answer().await
}

/// The database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "The database does not answer", body = crate::error::Problem),
))]
#[get("/readyz")]
async fn readyz(state: State) -> Result<HttpResponse, ApiError> {
    database_answers(&state.db).await?;
    Ok(ready())
}

/// 503 `unavailable` unless the database answers.
async fn database_answers(db: &Db) -> Result<(), ApiError> {
    db.run(|conn| crate::db::ping(conn).map_err(|_| ApiError::Unavailable))
        .await
}

fn ready() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Metrics", content_type = "text/plain")))]
#[get("/metrics")]
async fn metrics(state: State) -> Result<HttpResponse, ApiError> {
    metrics_answer(&state.db, &state.metrics).await
}

async fn metrics_answer(db: &Db, registry: &Metrics) -> Result<HttpResponse, ApiError> {
    let queue = db
        .run(|conn| Ok(crate::db::push_jobs::queue_depths(conn)?))
        .await?;
    let body = registry.render(db.pool_state(), &queue)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(body))
}

/// What the operations server of `carnet worker` reads.
pub struct WorkerOps {
    pub db: Db,
    pub metrics: Metrics,
    pub push: PushSettings,
}

/// The routes of `carnet worker`'s operations server.
pub fn worker_configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz_answer))
        .route("/readyz", web::get().to(worker_readyz))
        .route("/metrics", web::get().to(worker_metrics));
}

async fn healthz_answer() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and every provider's due jobs have a live worker
/// process able to send them (this one or another); else 503 `push_not_ready`, naming them.
async fn worker_readyz(ops: web::Data<WorkerOps>) -> Result<HttpResponse, ApiError> {
    database_answers(&ops.db).await?;
    let stranded = crate::jobs::readiness::stranded(&ops.db, &ops.push).await?;
    if stranded.is_empty() {
        return Ok(ready());
    }
    let named: Vec<String> = stranded
        .iter()
        .map(|s| {
            format!(
                "{} ({} due, the oldest for {:.0} s)",
                s.provider, s.queued, s.waiting_secs
            )
        })
        .collect();
    Err(ApiError::NotReady {
        code: "push_not_ready",
        detail: format!(
            "Pushes wait with no running worker able to send them: {}. Start a worker with these providers' credentials.",
            named.join(", ")
        ),
    })
}

async fn worker_metrics(ops: web::Data<WorkerOps>) -> Result<HttpResponse, ApiError> {
    metrics_answer(&ops.db, &ops.metrics).await
}
