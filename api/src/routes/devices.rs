//! A user's phones and browsers, which sync and receive pushes.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{nullable, State};
use crate::auth::AuthUser;
use crate::db::devices::{DeviceChanges, DeviceRow, NewDevice};
use crate::db::{self};
use crate::domain::{optional_text, required_text, InvalidValue, Limits};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_devices)
        .service(create_device)
        .service(patch_device)
        .service(delete_device);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// The id sync requests name as `device_id`.
    pub id: Uuid,
    pub platform: String,
    pub name: String,
    pub push_provider: Option<String>,
    /// Whether a push token is registered (the token itself is never echoed).
    pub has_push_token: bool,
    pub app_version: Option<String>,
    /// False once the push provider reported the token invalid, or the user turned it off.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn device_view(row: DeviceRow) -> DeviceView {
    DeviceView {
        id: row.id,
        platform: row.platform,
        name: row.name,
        push_provider: row.push_provider,
        has_push_token: row.push_token.is_some(),
        app_version: row.app_version,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCreate {
    /// A client-chosen id (UUID), or none for a new one.
    pub id: Option<Uuid>,
    /// `ios`, `android` or `web`.
    pub platform: String,
    pub name: String,
    /// `fcm`, `apns` or `webhook`.
    pub push_provider: Option<String>,
    pub push_token: Option<String>,
    pub app_version: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub push_provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub push_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub app_version: Option<Option<String>>,
    pub active: Option<bool>,
}

fn platform(raw: &str) -> Result<String, InvalidValue> {
    match raw.trim() {
        p @ ("ios" | "android" | "web") => Ok(p.into()),
        other => Err(InvalidValue::new(
            "invalid_choice",
            format!("{other:?} is not one of ios, android, web"),
        )),
    }
}

fn provider(raw: &str) -> Result<String, InvalidValue> {
    match raw.trim() {
        p @ ("fcm" | "apns" | "webhook") => Ok(p.into()),
        other => Err(InvalidValue::new(
            "invalid_choice",
            format!("{other:?} is not one of fcm, apns, webhook"),
        )),
    }
}

fn token(raw: &str) -> Result<Option<String>, InvalidValue> {
    optional_text(raw, 4096)
}

/// My devices.
#[utoipa::path(tag = "devices", security(("bearer" = [])), responses((status = 200, body = Vec<DeviceView>)))]
#[get("/devices")]
async fn list_devices(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .run(move |conn| Ok(db::devices::list_by_owner(conn, auth.user_id)?))
        .await?;
    let items: Vec<_> = rows.into_iter().map(device_view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "next_cursor": null })))
}

/// Registers a device; answers its `id`, which sync requests name.
#[utoipa::path(tag = "devices", security(("bearer" = [])), request_body = DeviceCreate, responses(
    (status = 201, body = DeviceView),
    (status = 409, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/devices")]
async fn create_device(
    state: State,
    auth: AuthUser,
    body: web::Json<DeviceCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::new();
    let platform = errors.check("platform", platform(&body.platform));
    let name = errors.check("name", required_text(&body.name, Limits::NAME));
    let push_provider = body
        .push_provider
        .as_deref()
        .and_then(|p| errors.check("push_provider", provider(p)));
    let push_token = body
        .push_token
        .as_deref()
        .and_then(|t| errors.check("push_token", token(t)).flatten());
    let app_version = body
        .app_version
        .as_deref()
        .and_then(|v| errors.check("app_version", optional_text(v, 50)).flatten());
    if push_token.is_some() && push_provider.is_none() && body.push_provider.is_none() {
        errors.add(
            "push_provider",
            "required",
            "a push token needs its push_provider",
        );
    }
    let device = errors.finish(|| {
        Some(NewDevice {
            id: super::id_or_new(body.id),
            owner_id: auth.user_id,
            platform: platform?,
            name: name?,
            push_provider,
            push_token,
            app_version,
        })
    })?;
    let row = state
        .db
        .run(move |conn| Ok(db::devices::create(conn, &device)?))
        .await?
        .ok_or_else(super::id_taken)?;
    Ok(HttpResponse::Created().json(device_view(row)))
}

/// Renames a device, changes its push token, or turns it off (`active: false`).
#[utoipa::path(tag = "devices", security(("bearer" = [])), request_body = DevicePatch, responses(
    (status = 200, body = DeviceView),
    (status = 404, body = crate::error::Problem),
))]
#[patch("/devices/{id}")]
async fn patch_device(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<DevicePatch>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::new();
    let mut changes = DeviceChanges::default();
    if let Some(name) = &body.name {
        changes.name = errors.check("name", required_text(name, Limits::NAME));
    }
    changes.push_provider = match &body.push_provider {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => errors.check("push_provider", provider(p)).map(Some),
    };
    changes.push_token = match &body.push_token {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => errors.check("push_token", token(t)),
    };
    changes.app_version = match &body.app_version {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) => errors.check("app_version", optional_text(v, 50)),
    };
    if let Some(active) = body.active {
        changes.active = Some(active);
        changes.deactivated_at = Some((!active).then(Utc::now));
    } else if changes.push_token.as_ref().is_some_and(Option::is_some) {
        // A new token revives a device the provider had given up on.
        changes.active = Some(true);
        changes.deactivated_at = Some(None);
    }
    errors.into_result()?;
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            // As on create: a push token needs its provider, whichever of the two the patch names.
            let current = db::devices::find_by_id_and_owner(conn, owner, id)?;
            let provider = changes.push_provider.clone().unwrap_or(current.push_provider);
            let has_token = match &changes.push_token {
                Some(t) => t.is_some(),
                None => current.push_token.is_some(),
            };
            if has_token && provider.is_none() {
                return Err(ApiError::invalid(
                    "push_provider",
                    InvalidValue::new("required", "a push token needs its push_provider"),
                ));
            }
            Ok(db::devices::update(conn, owner, id, &changes)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(device_view(row)))
}

/// Forgets a device.
#[utoipa::path(tag = "devices", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/devices/{id}")]
async fn delete_device(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    state
        .db
        .run(move |conn| Ok(db::devices::delete(conn, owner, id)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
