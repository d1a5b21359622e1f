//! Events: created and managed by their organizer, visible to their attendees.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, instant, nullable, nullable_instant, page_limit, Page, State};
use crate::auth::AuthUser;
use crate::db::events::{Created, EventChanges, EventRow, NewEvent};
use crate::db::{self};
use crate::domain::{
    new_checkin_code, new_join_code, optional_text, required_text, InvalidValue, Limits, TimeZone,
};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_events)
        .service(create_event)
        .service(get_event)
        .service(patch_event)
        .service(delete_event)
        .service(regenerate_join_code);
}

use crate::domain::choices::{ATTENDEE_LIST_VISIBILITIES, EVENT_KINDS as KINDS, EVENT_VISIBILITIES};

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub organizer_id: Uuid,
    /// apero, colunching, jelly, round_table, conference, meetup or other.
    pub kind: String,
    pub title: String,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub timezone: String,
    pub capacity: Option<i32>,
    /// public, unlisted or private.
    pub visibility: String,
    /// Who may see the attendee list: `organizer` or `attendees`.
    pub attendee_list_visibility: String,
    /// The code people join with; shown to the organizer only.
    pub join_code: Option<String>,
    pub is_organizer: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn event_view(row: EventRow, is_organizer: bool) -> EventView {
    EventView {
        id: row.id,
        organizer_id: row.organizer_id,
        kind: row.kind,
        title: row.title,
        description: row.description,
        venue: row.venue,
        address: row.address,
        city: row.city,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        timezone: row.timezone,
        capacity: row.capacity,
        visibility: row.visibility,
        attendee_list_visibility: row.attendee_list_visibility,
        join_code: is_organizer.then_some(row.join_code),
        is_organizer,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Create only: a client-chosen id.
    pub id: Option<Uuid>,
    pub kind: Option<String>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub venue: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "instant")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable_instant")]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// IANA zone of the venue; my account's zone when absent on create.
    pub timezone: Option<String>,
    /// 1 to 100000 places, or null for no limit.
    #[serde(default, deserialize_with = "nullable")]
    pub capacity: Option<Option<i32>>,
    pub visibility: Option<String>,
    pub attendee_list_visibility: Option<String>,
}

fn choice(raw: &str, allowed: &[&str]) -> Result<String, InvalidValue> {
    let v = raw.trim();
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(InvalidValue::new(
            "invalid_choice",
            format!("{v:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

fn parse(input: &EventInput, errors: &mut FieldErrors) -> EventChanges {
    let text = |errors: &mut FieldErrors, field: &str, v: &Option<Option<String>>, max| match v {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => errors.check(field, optional_text(s, max)),
    };
    EventChanges {
        kind: input
            .kind
            .as_deref()
            .and_then(|k| errors.check("kind", choice(k, &KINDS))),
        title: input
            .title
            .as_deref()
            .and_then(|t| errors.check("title", required_text(t, Limits::TITLE))),
        description: text(errors, "description", &input.description, Limits::LONG),
        venue: text(errors, "venue", &input.venue, Limits::SHORT),
        address: text(errors, "address", &input.address, Limits::SHORT),
        city: text(errors, "city", &input.city, Limits::SHORT),
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        timezone: input.timezone.as_deref().and_then(|z| {
            errors
                .check("timezone", TimeZone::parse(z))
                .map(|z| z.name().to_string())
        }),
        capacity: match input.capacity {
            None => None,
            Some(None) => Some(None),
            Some(Some(c)) if (1..=100_000).contains(&c) => Some(Some(c)),
            Some(Some(_)) => {
                errors.add("capacity", "out_of_range", "must be between 1 and 100000");
                None
            }
        },
        visibility: input
            .visibility
            .as_deref()
            .and_then(|v| errors.check("visibility", choice(v, &EVENT_VISIBILITIES))),
        attendee_list_visibility: input
            .attendee_list_visibility
            .as_deref()
            .and_then(|v| errors.check("attendee_list_visibility", choice(v, &ATTENDEE_LIST_VISIBILITIES))),
    }
}

fn check_times(starts: DateTime<Utc>, ends: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    match ends {
        Some(ends) if ends < starts => Err(ApiError::invalid(
            "ends_at",
            InvalidValue::new("before_start", "must not be before starts_at"),
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The events I organise or attend, soonest first.
#[utoipa::path(tag = "events", security(("bearer" = [])), params(EventListQuery), responses(
    (status = 200, body = inline(Page<EventView>)),
))]
#[get("/events")]
async fn list_events(
    state: State,
    auth: AuthUser,
    query: web::Query<EventListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = cursor::pair(query.cursor.as_deref())?;
    let me = auth.user_id;
    let rows = state
        .db
        .run(move |conn| Ok(db::events::list_for_member(conn, me, after, limit)?))
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| cursor::of_pair(&r.starts_at, &r.id),
        |r| {
            let mine = r.organizer_id == me;
            event_view(r, mine)
        },
    )))
}

/// Creates an event I organise; it answers its `join_code`.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = EventInput, responses(
    (status = 201, body = EventView),
    (status = 409, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/events")]
async fn create_event(
    state: State,
    auth: AuthUser,
    body: web::Json<EventInput>,
) -> Result<HttpResponse, ApiError> {
    let me = auth.user_id;
    let input = body.into_inner();
    let mut errors = FieldErrors::new();
    for (field, missing) in [
        ("kind", input.kind.is_none()),
        ("title", input.title.is_none()),
        ("starts_at", input.starts_at.is_none()),
    ] {
        if missing {
            errors.add(field, "required", "must be given");
        }
    }
    let e = parse(&input, &mut errors);
    errors.into_result()?;
    let starts_at = input
        .starts_at
        .ok_or_else(|| ApiError::internal("starts_at missing"))?;
    check_times(starts_at, e.ends_at.flatten())?;
    let id = super::id_or_new(input.id);
    for _ in 0..8 {
        let timezone = e.timezone.clone();
        let new = NewEvent {
            id,
            organizer_id: me,
            kind: e.kind.clone().unwrap_or_default(),
            title: e.title.clone().unwrap_or_default(),
            description: e.description.clone().flatten(),
            venue: e.venue.clone().flatten(),
            address: e.address.clone().flatten(),
            city: e.city.clone().flatten(),
            starts_at,
            ends_at: e.ends_at.flatten(),
            timezone: String::new(),
            capacity: e.capacity.flatten(),
            visibility: e.visibility.clone().unwrap_or_else(|| "private".into()),
            attendee_list_visibility: e
                .attendee_list_visibility
                .clone()
                .unwrap_or_else(|| "attendees".into()),
            join_code: new_join_code(),
        };
        let outcome = state
            .db
            .run(move |conn| {
                let mut new = new;
                new.timezone = match timezone {
                    Some(z) => z,
                    None => db::users::find(conn, me)?.timezone,
                };
                Ok(db::events::create(conn, &new, &new_checkin_code())?)
            })
            .await?;
        match outcome {
            Created::Event(row) => return Ok(HttpResponse::Created().json(event_view(*row, true))),
            Created::IdTaken => return Err(super::id_taken()),
            Created::CodeTaken => continue,
        }
    }
    Err(ApiError::internal("could not draw a free join code"))
}

/// An event I organise or attend.
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = EventView),
    (status = 404, body = crate::error::Problem),
))]
#[get("/events/{id}")]
async fn get_event(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (me, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .run(move |conn| Ok(db::events::find_by_id_for_member(conn, me, id)?))
        .await?;
    let mine = row.organizer_id == me;
    Ok(HttpResponse::Ok().json(event_view(row, mine)))
}

/// Changes an event I organise.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = EventInput, responses(
    (status = 200, body = EventView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/events/{id}")]
async fn patch_event(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<EventInput>,
) -> Result<HttpResponse, ApiError> {
    let (me, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            let current = db::events::lock_by_id_and_organizer(conn, me, id)?;
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            if input.id.is_some_and(|given| given != id) {
                errors.add("id", "immutable", "the id of an event cannot change");
            }
            let changes = parse(&input, &mut errors);
            errors.into_result()?;
            let starts = changes.starts_at.unwrap_or(current.starts_at);
            let ends = changes.ends_at.unwrap_or(current.ends_at);
            check_times(starts, ends)?;
            let row = crate::domain::events::update(conn, me, id, &changes)?;
            if changes.capacity.is_some() {
                // More places (or no limit any more): the waitlist moves up.
                crate::domain::attendances::free_places(conn, id, row.capacity)?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(event_view(row, true)))
}

/// Deletes an event I organise, with its attendance list.
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/events/{id}")]
async fn delete_event(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (me, id) = (auth.user_id, id.into_inner());
    state
        .db
        .run(move |conn| Ok(db::events::delete(conn, me, id)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives an event I organise a new join code (the old one stops working at once) and
/// answers the event with it.
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = EventView),
    (status = 404, body = crate::error::Problem),
))]
#[post("/events/{id}/join_code")]
async fn regenerate_join_code(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (me, id) = (auth.user_id, id.into_inner());
    for _ in 0..8 {
        let code = new_join_code();
        let row = state
            .db
            .run(move |conn| Ok(db::events::set_join_code(conn, me, id, &code)?))
            .await?;
        if let Some(row) = row {
            return Ok(HttpResponse::Ok().json(event_view(row, true)));
        }
    }
    Err(ApiError::internal("could not draw a free join code"))
}
