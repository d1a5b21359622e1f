//! The account itself: profile and card, export, erasure.

use actix_web::{delete, get, patch, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{nullable, object, State};
use crate::auth::AuthUser;
use crate::db::users::{CardChanges, ProfileCardRow, UserChanges, UserRow};
use crate::db::{self};
use crate::domain::{optional_text, parse_set, required_text, Email, Limits, Link, Phone, Region, TimeZone};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_me)
        .service(patch_me)
        .service(export_me)
        .service(delete_me);
}

/// What a user shows others at events.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    pub headline: Option<String>,
    pub organization: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub links: Vec<String>,
    pub city: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub timezone: String,
    pub locale: String,
    /// Default region for phone numbers typed without a country code.
    pub region: Option<String>,
    pub card: CardView,
    pub created_at: DateTime<Utc>,
}

pub fn card_view(card: ProfileCardRow) -> CardView {
    CardView {
        headline: card.headline,
        organization: card.organization,
        email: card.email,
        phone: card.phone,
        links: card.links,
        city: card.city,
    }
}

pub fn user_view(user: UserRow, card: ProfileCardRow) -> UserView {
    UserView {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        timezone: user.timezone,
        locale: user.locale,
        region: user.region,
        card: card_view(card),
        created_at: user.created_at,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardPatch {
    #[serde(default, deserialize_with = "nullable")]
    pub headline: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub organization: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub links: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: Option<Option<String>>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    pub display_name: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "object")]
    pub card: Option<CardPatch>,
}

async fn load(state: &State, user_id: Uuid) -> Result<UserView, ApiError> {
    let (user, card) = state
        .db
        .run(move |conn| {
            Ok((
                db::users::find(conn, user_id)?,
                db::users::find_card(conn, user_id)?,
            ))
        })
        .await?;
    Ok(user_view(user, card))
}

/// My account and profile card.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = UserView)))]
#[get("/me")]
async fn get_me(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load(&state, auth.user_id).await?))
}

/// Changes my settings and profile card.
#[utoipa::path(tag = "me", security(("bearer" = [])), request_body = MePatch, responses(
    (status = 200, body = UserView),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/me")]
async fn patch_me(state: State, auth: AuthUser, body: web::Json<MePatch>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user_id = auth.user_id;
    let current = state
        .db
        .run(move |conn| Ok(db::users::find(conn, user_id)?))
        .await?;
    let mut errors = FieldErrors::new();
    let mut user = UserChanges::default();
    if let Some(name) = &body.display_name {
        user.display_name = errors.check("display_name", required_text(name, Limits::NAME));
    }
    if let Some(tz) = &body.timezone {
        user.timezone = errors
            .check("timezone", TimeZone::parse(tz))
            .map(|z| z.name().to_string());
    }
    if let Some(l) = &body.locale {
        user.locale = errors.check("locale", super::auth::locale(l));
    }
    if let Some(region) = &body.region {
        user.region = match region {
            None => Some(None),
            Some(r) => errors
                .check("region", Region::parse(r))
                .map(|r| Some(r.code().to_string())),
        };
    }
    let region = match &user.region {
        Some(r) => r.as_deref().and_then(|r| Region::parse(r).ok()),
        None => current.region.as_deref().and_then(|r| Region::parse(r).ok()),
    };
    let mut card = CardChanges::default();
    if let Some(patch) = body.card {
        let text = |errors: &mut FieldErrors, field: &str, v: Option<Option<String>>, max| match v {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => errors.check(field, optional_text(&s, max)),
        };
        card.headline = text(&mut errors, "card.headline", patch.headline, Limits::SHORT);
        card.organization = text(
            &mut errors,
            "card.organization",
            patch.organization,
            Limits::SHORT,
        );
        card.city = text(&mut errors, "card.city", patch.city, Limits::SHORT);
        card.email = match patch.email {
            None => None,
            Some(None) => Some(None),
            Some(Some(e)) if e.trim().is_empty() => Some(None),
            Some(Some(e)) => errors
                .check("card.email", Email::parse(&e))
                .map(|e| Some(e.into_inner())),
        };
        card.phone = match patch.phone {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) if p.trim().is_empty() => Some(None),
            Some(Some(p)) => errors
                .check("card.phone", Phone::parse(&p, region))
                .map(|p| Some(p.into_inner())),
        };
        card.links = match patch.links {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(links)) => parse_set(&mut errors, "card.links", &links, 20, Link::parse)
                .map(|v| v.into_iter().map(Link::into_inner).collect()),
        };
    }
    errors.into_result()?;
    state
        .db
        .transaction(move |conn| {
            db::users::update(conn, user_id, &user)?;
            Ok(crate::domain::profile::update_card(conn, user_id, &card)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(load(&state, user_id).await?))
}

/// Everything stored about me, as one JSON document: my records, the merge's conflicts on
/// them, the pushes sent to my devices, my sessions (without secrets) and my calendar feed.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, description = "All my data", body = Object)))]
#[get("/me/export")]
async fn export_me(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = auth.user_id;
    let all = state
        .db
        .run(move |conn| Ok(db::export::everything(conn, user_id)?))
        .await?;
    let body = serde_json::json!({
        "exported_at": Utc::now(),
        "user": user_view(all.user, all.card),
        "devices": all.devices.into_iter().map(super::devices::device_view).collect::<Vec<_>>(),
        "contacts": all.contacts.into_iter().map(super::contacts::contact_view).collect::<Vec<_>>(),
        "interactions": all.interactions.into_iter().map(super::interactions::interaction_view).collect::<Vec<_>>(),
        "reminders": all.reminders.into_iter().map(super::reminders::reminder_view).collect::<Vec<_>>(),
        "events": all.events.into_iter().map(|e| super::events::event_view(e, true)).collect::<Vec<_>>(),
        "attendances": all.attendances.into_iter().map(super::attendees::own_attendance_view).collect::<Vec<_>>(),
        "conflicts": all.conflicts.into_iter().map(super::sync::conflict_view).collect::<Vec<_>>(),
        "pushes": all.pushes,
        "sessions": all.sessions,
        "calendar_feed": all.calendar_feed.map(|feed| serde_json::json!({
            "active": feed.revoked_at.is_none(),
            "created_at": feed.created_at,
            "revoked_at": feed.revoked_at,
            "content_changed_at": feed.content_changed_at,
        })),
    });
    Ok(HttpResponse::Ok()
        .insert_header((
            "content-disposition",
            "attachment; filename=\"carnet-export.json\"",
        ))
        .json(body))
}

/// Erases my account and everything I own. All my tokens stop working at once; the places I
/// held at others' events go to their waitlists.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 204, description = "Erased")))]
#[delete("/me")]
async fn delete_me(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let user_id = auth.user_id;
    state
        .db
        .transaction(move |conn| Ok(crate::domain::profile::erase(conn, user_id)?))
        .await?;
    tracing::info!(%user_id, "account erased");
    Ok(HttpResponse::NoContent().finish())
}
