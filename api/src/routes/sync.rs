//! Offline-first sync: push a device's queue of edits, pull what changed, list the merge's
//! automatic choices, and wait for changes. The protocol is described for mobile developers
//! in `docs/sync-protocol.md`.

use std::collections::HashSet;

use actix_web::http::header::{self, ContentType};
use actix_web::middleware::Compress;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, State};
use crate::auth::AuthUser;
use crate::db::sync::ConflictRow;
use crate::domain::synced::{millis, MIN_SCHEMA_VERSION, SCHEMA_VERSION};
use crate::error::{extract, ApiError};
use crate::sync::listener::Wake;
use crate::sync::pull::{self, PullPage};
use crate::sync::push::{self, PushAnswer, PushContext};

/// Push bodies may be up to 5 MiB.
pub const PUSH_LIMIT: usize = 5 * 1024 * 1024;
/// Pull pages hold 500 changes unless asked otherwise.
pub const DEFAULT_PULL_LIMIT: i64 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sync/push")
            .app_data(
                web::JsonConfig::default()
                    .limit(PUSH_LIMIT)
                    .error_handler(extract::json),
            )
            .route(web::post().to(push_changes)),
    )
    .service(
        web::resource("/sync/pull")
            .wrap(Compress::default())
            .route(web::get().to(pull_changes)),
    )
    .service(web::resource("/sync/conflicts").route(web::get().to(list_conflicts)))
    .service(web::resource("/sync/wait").route(web::get().to(wait_for_changes)));
}

/// Refuses a schema version this server does not speak: one it no longer supports, and one
/// newer than it knows (an app ahead of the server must not have its edits read by older
/// rules); both get 426, with the range accepted.
fn check_schema_version(version: i64) -> Result<(), ApiError> {
    let why = if version < MIN_SCHEMA_VERSION {
        "is no longer supported"
    } else if version > SCHEMA_VERSION {
        "is newer than this server knows"
    } else {
        return Ok(());
    };
    Err(ApiError::UpgradeRequired {
        code: "unsupported_schema_version",
        detail: format!(
            "Schema version {version} {why} (this server accepts {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}); use an app version that speaks one of them, then push and pull again."
        ),
    })
}

/// A push: the device's queued edits, oldest first.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushRequest {
    /// The device pushing (`POST /v1/devices` answers its id).
    pub device_id: Uuid,
    /// The app's sync schema version.
    #[schema(example = 1)]
    pub schema_version: i64,
    /// Mutations in the device's order (see docs/sync-protocol.md for their shape).
    #[schema(value_type = Vec<Object>)]
    pub mutations: Vec<Value>,
}

/// Applies a batch of mutations: each is `applied`, `duplicate` (already applied) or
/// `rejected` (with a problem object; consumed, so the queue moves on).
#[utoipa::path(post, path = "/sync/push", tag = "sync", security(("bearer" = [])), request_body = PushRequest, responses(
    (status = 200, body = PushAnswer),
    (status = 404, description = "Not one of my devices", body = crate::error::Problem),
    (status = 413, description = "Body over 5 MiB", body = crate::error::Problem),
    (status = 422, description = "Too many mutations in one batch", body = crate::error::Problem),
    (status = 426, description = "Schema version no longer supported", body = crate::error::Problem),
))]
pub async fn push_changes(
    state: State,
    auth: AuthUser,
    body: web::Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_schema_version(body.schema_version)?;
    let max = state.settings.sync_max_batch;
    if body.mutations.len() > max {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            format!("A push carries at most {max} mutations; send the rest in the next one."),
        ));
    }
    let app = state.clone();
    let user = auth.user_id;
    let answer = state
        .db
        .run(move |conn| {
            let now_ms = millis(Utc::now());
            let retention_ms = u64::try_from(app.settings.sync_retention.as_millis()).unwrap_or(u64::MAX);
            let ctx = PushContext {
                user,
                device: body.device_id,
                now_ms,
                replay_horizon_ms: now_ms.saturating_sub(retention_ms),
                max_skew_ms: u64::try_from(app.settings.sync_max_skew.as_millis()).unwrap_or(u64::MAX),
                schema: &app.sync.schema,
            };
            push::push(conn, &ctx, body.mutations)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    pub device_id: Uuid,
    /// The `cursor` of the previous pull; none to start from the beginning.
    pub cursor: Option<String>,
    /// Changes per page: 500 by default, at most 1000 (larger asks are capped).
    pub limit: Option<i64>,
    /// The app's sync schema version (1 when left out).
    pub schema_version: Option<i64>,
}

/// The current state of every record in my scope changed after the cursor, a page at a time.
#[utoipa::path(get, path = "/sync/pull", tag = "sync", security(("bearer" = [])), params(PullQuery), responses(
    (status = 200, body = PullPage, headers(
        ("Link" = String, description = "While `has_more`: `<address of the next page>; rel=\"next\"`"),
    )),
    (status = 400, body = crate::error::Problem),
    (status = 404, description = "Not one of my devices", body = crate::error::Problem),
    (status = 410, description = "Cursor older than the tombstone retention: resync", body = crate::error::Problem),
    (status = 426, body = crate::error::Problem),
))]
pub async fn pull_changes(
    state: State,
    auth: AuthUser,
    req: HttpRequest,
    query: web::Query<PullQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    check_schema_version(query.schema_version.unwrap_or(SCHEMA_VERSION))?;
    let limit = match query.limit {
        None => DEFAULT_PULL_LIMIT,
        Some(n) if n >= 1 => n.min(state.settings.sync_max_pull),
        Some(_) => return Err(ApiError::bad_request("invalid_limit", "limit must be at least 1")),
    };
    let cursor = pull::decode_cursor(query.cursor.as_deref())?;
    let app = state.clone();
    let user = auth.user_id;
    let device = query.device_id;
    let (body, next) = state
        .db
        .run(move |conn| {
            let page = pull::pull(conn, &app.sync.schema, user, device, cursor, limit)?;
            let next = page.has_more.then(|| page.cursor.clone());
            Ok((page.to_json()?, next))
        })
        .await?;
    let mut answer = HttpResponse::Ok();
    answer.content_type(ContentType::json());
    if let Some(next) = next {
        // The next page's address (RFC 8288), so a client can ask for it before it has read
        // this one. The cursor is URL-safe base64.
        let mut link = format!("<{}?device_id={device}&cursor={next}&limit={limit}", req.path());
        if let Some(version) = query.schema_version {
            link.push_str(&format!("&schema_version={version}"));
        }
        link.push_str(">; rel=\"next\"");
        answer.insert_header((header::LINK, link));
    }
    Ok(answer.body(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    pub device_id: Uuid,
    /// The cursor of the device's last pull.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitAnswer {
    /// True as soon as something in my scope changed after the cursor: pull now. False when
    /// the wait timed out: wait again.
    pub changed: bool,
}

/// Long poll: answers as soon as my scope changes after the cursor, or after the configured
/// timeout (25 s by default) with `changed: false`. Notifications only prompt a look at the
/// change feed, so `changed: true` is never answered for changes the cursor already holds.
#[utoipa::path(get, path = "/sync/wait", tag = "sync", security(("bearer" = [])), params(WaitQuery), responses(
    (status = 200, body = WaitAnswer),
    (status = 404, description = "Not one of my devices", body = crate::error::Problem),
    (status = 410, body = crate::error::Problem),
))]
pub async fn wait_for_changes(
    state: State,
    auth: AuthUser,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let cursor = pull::decode_cursor(query.cursor.as_deref())?;
    let user = auth.user_id;
    let device = query.device_id;
    // Subscribed before looking, so a change committed meanwhile still wakes us.
    let mut notifications = state.sync.notifier.subscribe();
    let check = move |conn: &mut diesel::PgConnection| -> Result<(bool, Vec<Uuid>), ApiError> {
        crate::db::sync::device_last_mutation(conn, user, device)?.ok_or(ApiError::NotFound)?;
        let after = pull::check_horizon(cursor.clone(), crate::db::sync::horizon(conn)?)?;
        let (events, _) = crate::db::sync::scope_events(conn, user)?;
        Ok((pull::changed_since(conn, user, &events, after)?, events))
    };
    let (changed, events) = state.db.run(check.clone()).await?;
    if changed {
        return Ok(HttpResponse::Ok().json(WaitAnswer { changed: true }));
    }
    let mut interest: HashSet<Uuid> = events.into_iter().chain([user]).collect();
    let deadline = tokio::time::sleep(state.settings.sync_wait_timeout);
    tokio::pin!(deadline);
    let changed = loop {
        tokio::select! {
            received = notifications.recv() => match received {
                // A notification can come from a commit the cursor already covers: the
                // listener forwards it up to a poll interval late, after a quick pull. So
                // it only says "look": the feed says whether anything changed after the
                // cursor, and `changed: true` always means a pull will bring something.
                Ok(Wake::Scope(id)) if interest.contains(&id) => {}
                Ok(Wake::Scope(_)) => continue,
                // Notifications were missed (the listener reconnected, or this waiter fell
                // behind): look at the feed too, rather than guess.
                Ok(Wake::Recheck) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break false,
            },
            _ = &mut deadline => break false,
        }
        let (changed, events) = state.db.run(check.clone()).await?;
        if changed {
            break true;
        }
        interest = events.into_iter().chain([user]).collect();
    };
    Ok(HttpResponse::Ok().json(WaitAnswer { changed }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictQuery {
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    pub limit: Option<i64>,
}

/// One automatic choice of the merge.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictView {
    pub id: i64,
    pub collection: String,
    pub record_id: Uuid,
    pub field: String,
    /// `overwrite`, `text_overlap` or `delete_edit`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub kept: Value,
    #[schema(value_type = Object)]
    pub lost: Value,
    pub lost_stamp: String,
    /// The device that made the losing write (32 hex digits; all zeros: the server, for
    /// edits made through the REST API).
    pub lost_device: String,
    pub at: DateTime<Utc>,
}

pub(crate) fn conflict_view(row: ConflictRow) -> ConflictView {
    ConflictView {
        id: row.id,
        collection: row.collection,
        record_id: row.record_id,
        field: row.field,
        kind: row.kind,
        kept: row.kept,
        lost: row.lost,
        lost_stamp: row.lost_stamp,
        lost_device: row.lost_device,
        at: row.at,
    }
}

/// The merge's automatic choices on my records, newest first.
#[utoipa::path(get, path = "/sync/conflicts", tag = "sync", security(("bearer" = [])), params(ConflictQuery), responses(
    (status = 200, body = inline(Page<ConflictView>)),
    (status = 400, body = crate::error::Problem),
))]
pub async fn list_conflicts(
    state: State,
    auth: AuthUser,
    query: web::Query<ConflictQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = super::page_limit(query.limit)?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(raw) => Some(
            URL_SAFE_NO_PAD
                .decode(raw)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_cursor", "The cursor is not one this API gave out.")
                })?,
        ),
    };
    let user = auth.user_id;
    let rows = state
        .db
        .run(move |conn| Ok(crate::db::sync::list_conflicts(conn, user, before, limit)?))
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| URL_SAFE_NO_PAD.encode(r.id.to_string()),
        conflict_view,
    )))
}
