//! Interactions: calls, texts, lunches with a contact. Logging one moves the contact's
//! `last_interaction_at` and its keep-in-touch reminder.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, nullable, page_limit, Page, State};
use crate::auth::AuthUser;
use crate::db::interactions::{InteractionChanges, InteractionRow, NewInteraction};
use crate::db::{self};
use crate::domain::{contacts, optional_text, InvalidValue, Limits};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_interactions)
        .service(create_interaction)
        .service(patch_interaction)
        .service(delete_interaction);
}

use crate::domain::choices::INTERACTION_KINDS as KINDS;

#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionView {
    pub id: Uuid,
    pub contact_id: Uuid,
    /// call, sms, email, meeting, meal, message, social or other.
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub notes: String,
    pub event_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn interaction_view(row: InteractionRow) -> InteractionView {
    InteractionView {
        id: row.id,
        contact_id: row.contact_id,
        kind: row.kind,
        occurred_at: row.occurred_at,
        notes: row.notes,
        event_id: row.event_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionInput {
    /// Create only: a client-chosen id.
    pub id: Option<Uuid>,
    pub kind: Option<String>,
    /// RFC 3339 instant; now when absent on create.
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub event_id: Option<Option<Uuid>>,
}

fn kind(raw: &str) -> Result<String, InvalidValue> {
    let k = raw.trim();
    if KINDS.contains(&k) {
        Ok(k.to_string())
    } else {
        Err(InvalidValue::new(
            "invalid_choice",
            format!("{k:?} is not one of {}", KINDS.join(", ")),
        ))
    }
}

fn parse(input: &InteractionInput, errors: &mut FieldErrors) -> InteractionChanges {
    InteractionChanges {
        kind: input.kind.as_deref().and_then(|k| errors.check("kind", kind(k))),
        occurred_at: input.occurred_at,
        notes: match &input.notes {
            None => None,
            Some(None) => Some(String::new()),
            Some(Some(n)) => errors
                .check("notes", optional_text(n, Limits::LONG))
                .map(Option::unwrap_or_default),
        },
        event_id: input.event_id,
    }
}

fn check_event(conn: &mut PgConnection, owner: Uuid, event_id: Option<Option<Uuid>>) -> Result<(), ApiError> {
    if let Some(Some(event_id)) = event_id {
        if let Err(diesel::result::Error::NotFound) = db::events::find_by_id_for_member(conn, owner, event_id)
        {
            return Err(ApiError::invalid(
                "event_id",
                InvalidValue::new("unknown_event", "no event of yours has this id"),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InteractionListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A contact's interactions, newest first.
#[utoipa::path(tag = "interactions", security(("bearer" = [])), params(InteractionListQuery), responses(
    (status = 200, body = inline(Page<InteractionView>)),
    (status = 404, body = crate::error::Problem),
))]
#[get("/contacts/{id}/interactions")]
async fn list_interactions(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    query: web::Query<InteractionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = cursor::pair(query.cursor.as_deref())?;
    let (owner, contact_id) = (auth.user_id, id.into_inner());
    let rows = state
        .db
        .run(move |conn| {
            db::contacts::find_by_id_and_owner(conn, owner, contact_id)?;
            Ok(db::interactions::list_for_contact(
                conn, owner, contact_id, after, limit,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| cursor::of_pair(&r.occurred_at, &r.id),
        interaction_view,
    )))
}

/// Logs an interaction with a contact.
#[utoipa::path(tag = "interactions", security(("bearer" = [])), request_body = InteractionInput, responses(
    (status = 201, body = InteractionView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/contacts/{id}/interactions")]
async fn create_interaction(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<InteractionInput>,
) -> Result<HttpResponse, ApiError> {
    let (owner, contact_id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            db::contacts::find_by_id_and_owner(conn, owner, contact_id)?;
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            if input.kind.is_none() {
                errors.add("kind", "required", "must be given");
            }
            let c = parse(&input, &mut errors);
            errors.into_result()?;
            check_event(conn, owner, c.event_id)?;
            let new = NewInteraction {
                id: super::id_or_new(input.id),
                owner_id: owner,
                contact_id,
                kind: c.kind.unwrap_or_default(),
                occurred_at: c.occurred_at.unwrap_or_else(Utc::now),
                notes: c.notes.unwrap_or_default(),
                event_id: c.event_id.flatten(),
            };
            let row = db::interactions::create(conn, &new)?.ok_or_else(super::id_taken)?;
            contacts::after_interactions_changed(conn, owner, contact_id)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(interaction_view(row)))
}

/// Changes an interaction.
#[utoipa::path(tag = "interactions", security(("bearer" = [])), request_body = InteractionInput, responses(
    (status = 200, body = InteractionView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/interactions/{id}")]
async fn patch_interaction(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<InteractionInput>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            db::interactions::find_by_id_and_owner(conn, owner, id)?;
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            if input.id.is_some_and(|given| given != id) {
                errors.add("id", "immutable", "the id of an interaction cannot change");
            }
            let changes = parse(&input, &mut errors);
            errors.into_result()?;
            check_event(conn, owner, changes.event_id)?;
            let row = crate::domain::contacts::update_interaction(conn, owner, id, &changes)?;
            contacts::after_interactions_changed(conn, owner, row.contact_id)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(interaction_view(row)))
}

/// Deletes an interaction.
#[utoipa::path(tag = "interactions", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/interactions/{id}")]
async fn delete_interaction(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    state
        .db
        .transaction(move |conn| {
            let contact_id = db::interactions::delete(conn, owner, id)?;
            contacts::after_interactions_changed(conn, owner, contact_id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
