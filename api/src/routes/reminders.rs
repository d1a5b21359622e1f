//! Reminders: follow-ups due at a local time in a time zone.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, nullable, page_limit, Page, State};
use crate::auth::AuthUser;
use crate::db::reminders::{NewReminder, ReminderChanges, ReminderQuery, ReminderRow};
use crate::db::{self};
use crate::domain::reminders::{self, Completion};
use crate::domain::{optional_text, required_text, resolve_local, InvalidValue, Limits, TimeZone};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_reminders)
        .service(create_reminder)
        .service(get_reminder)
        .service(patch_reminder)
        .service(delete_reminder)
        .service(complete_reminder)
        .service(snooze_reminder);
}

/// Every N days, weeks or months.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// 1 to 365.
    pub every: i32,
    /// `days`, `weeks` or `months`.
    pub unit: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReminderView {
    pub id: Uuid,
    pub title: String,
    pub notes: String,
    pub contact_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    /// The wall-clock time as given, in `timezone`.
    #[schema(value_type = String, example = "2026-11-24T09:00:00")]
    pub due_local: NaiveDateTime,
    #[schema(example = "America/Montreal")]
    pub timezone: String,
    /// The instant `due_local` denotes in `timezone`.
    pub due_at: DateTime<Utc>,
    pub repeat: Option<Repeat>,
    pub snoozed_until: Option<DateTime<Utc>>,
    /// When it next fires: `snoozed_until` if later than `due_at`, else `due_at`.
    pub fires_at: DateTime<Utc>,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    pub completed_at: Option<DateTime<Utc>>,
    /// `manual`, or `keep_in_touch` for the reminder a contact's cadence keeps.
    pub origin: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn reminder_view(row: ReminderRow) -> ReminderView {
    let fires_at = match row.snoozed_until {
        Some(until) if until > row.due_at => until,
        _ => row.due_at,
    };
    ReminderView {
        id: row.id,
        title: row.title,
        notes: row.notes,
        contact_id: row.contact_id,
        event_id: row.event_id,
        due_local: row.due_local,
        timezone: row.timezone,
        due_at: row.due_at,
        repeat: row
            .repeat_every
            .zip(row.repeat_unit)
            .map(|(every, unit)| Repeat { every, unit }),
        snoozed_until: row.snoozed_until,
        fires_at,
        status: row.status,
        completed_at: row.completed_at,
        origin: row.origin,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    /// Create only: a client-chosen id.
    pub id: Option<Uuid>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub contact_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub event_id: Option<Option<Uuid>>,
    /// `YYYY-MM-DDTHH:MM[:SS]`, a wall-clock time in `timezone`.
    #[schema(example = "2026-11-24T09:00:00")]
    pub due_local: Option<String>,
    /// IANA zone; my account's zone when absent on create.
    #[schema(example = "America/Montreal")]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub repeat: Option<Option<Repeat>>,
    /// PATCH only: `open` or `cancelled` (use `/complete` to mark done).
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    /// Snooze until this instant.
    pub until: Option<DateTime<Utc>>,
    /// Or for this many minutes from now (1 to 525600).
    pub minutes: Option<i64>,
}

fn local_time(raw: &str) -> Result<NaiveDateTime, InvalidValue> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            InvalidValue::new(
                "invalid_local_time",
                format!("{raw:?} is not a local date-time such as 2026-11-24T09:00:00 (no offset)"),
            )
        })
}

fn repeat(r: &Repeat) -> Result<(i32, String), InvalidValue> {
    reminders::repeat(i64::from(r.every), &r.unit)
}

fn check_links(
    conn: &mut PgConnection,
    owner: Uuid,
    contact: Option<Option<Uuid>>,
    event: Option<Option<Uuid>>,
) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if let Some(Some(contact_id)) = contact {
        if !db::contacts::exists_for_owner(conn, owner, contact_id)? {
            errors.add("contact_id", "unknown_contact", "no contact of yours has this id");
        }
    }
    if let Some(Some(event_id)) = event {
        if let Err(diesel::result::Error::NotFound) = db::events::find_by_id_for_member(conn, owner, event_id)
        {
            errors.add("event_id", "unknown_event", "no event of yours has this id");
        }
    }
    errors.into_result()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReminderListQuery {
    /// `open`, `done` or `cancelled`.
    pub status: Option<String>,
    pub contact_id: Option<Uuid>,
    /// Only reminders due before this instant.
    pub due_before: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// My reminders, soonest due first.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), params(ReminderListQuery), responses(
    (status = 200, body = inline(Page<ReminderView>)),
))]
#[get("/reminders")]
async fn list_reminders(
    state: State,
    auth: AuthUser,
    query: web::Query<ReminderListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    if let Some(status) = &query.status {
        if !["open", "done", "cancelled"].contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_status",
                "status must be open, done or cancelled",
            ));
        }
    }
    let filter = ReminderQuery {
        status: query.status,
        contact_id: query.contact_id,
        due_before: query.due_before,
        after: cursor::pair(query.cursor.as_deref())?,
        limit,
    };
    let owner = auth.user_id;
    let rows = state
        .db
        .run(move |conn| Ok(db::reminders::list_by_owner(conn, owner, &filter)?))
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| cursor::of_pair(&r.due_at, &r.id),
        reminder_view,
    )))
}

/// Creates a reminder due at `due_local` in `timezone`. A local time that occurs twice
/// (clocks going back) means its first occurrence; one that never occurs (clocks going
/// forward) is refused with `nonexistent_local_time`.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), request_body = ReminderInput, responses(
    (status = 201, body = ReminderView),
    (status = 422, body = crate::error::Problem),
))]
#[post("/reminders")]
async fn create_reminder(
    state: State,
    auth: AuthUser,
    body: web::Json<ReminderInput>,
) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let row = state
        .db
        .transaction(move |conn| {
            let input = body.into_inner();
            let user = db::users::find(conn, owner)?;
            let mut errors = FieldErrors::new();
            let title = match &input.title {
                Some(t) => errors.check("title", required_text(t, Limits::TITLE)),
                None => {
                    errors.add("title", "required", "must not be empty");
                    None
                }
            };
            let notes = match &input.notes {
                Some(Some(n)) => errors
                    .check("notes", optional_text(n, Limits::LONG))
                    .map(Option::unwrap_or_default),
                _ => Some(String::new()),
            };
            let zone = errors.check(
                "timezone",
                TimeZone::parse(input.timezone.as_deref().unwrap_or(&user.timezone)),
            );
            let local = match &input.due_local {
                Some(l) => errors.check("due_local", local_time(l)),
                None => {
                    errors.add("due_local", "required", "must be given");
                    None
                }
            };
            let due_at = match (local, zone) {
                (Some(l), Some(z)) => errors.check("due_local", resolve_local(l, z)),
                _ => None,
            };
            let rep = match &input.repeat {
                Some(Some(r)) => errors.check("repeat", repeat(r)).map(Some),
                _ => Some(None),
            };
            if input.status.is_some() {
                errors.add("status", "not_allowed", "a new reminder is open");
            }
            errors.into_result()?;
            check_links(conn, owner, input.contact_id, input.event_id)?;
            let (Some(title), Some(notes), Some(zone), Some(local), Some(due_at), Some(rep)) =
                (title, notes, zone, local, due_at, rep)
            else {
                return Err(ApiError::internal("validated reminder incomplete"));
            };
            let new = NewReminder {
                id: super::id_or_new(input.id),
                owner_id: owner,
                contact_id: input.contact_id.flatten(),
                event_id: input.event_id.flatten(),
                title,
                notes,
                due_local: local,
                timezone: zone.name().to_string(),
                due_at,
                repeat_every: rep.as_ref().map(|r| r.0),
                repeat_unit: rep.map(|r| r.1),
                origin: "manual".into(),
            };
            db::reminders::create(conn, &new)?.ok_or_else(super::id_taken)
        })
        .await?;
    Ok(HttpResponse::Created().json(reminder_view(row)))
}

/// One reminder.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), responses(
    (status = 200, body = ReminderView),
    (status = 404, body = crate::error::Problem),
))]
#[get("/reminders/{id}")]
async fn get_reminder(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .run(move |conn| Ok(db::reminders::find_by_id_and_owner(conn, owner, id)?))
        .await?;
    Ok(HttpResponse::Ok().json(reminder_view(row)))
}

/// Changes a reminder; a new `due_local` or `timezone` recomputes `due_at` and ends a snooze.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), request_body = ReminderInput, responses(
    (status = 200, body = ReminderView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/reminders/{id}")]
async fn patch_reminder(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ReminderInput>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            let current = db::reminders::find_by_id_and_owner(conn, owner, id)?;
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            let mut changes = ReminderChanges::default();
            if input.id.is_some_and(|given| given != id) {
                errors.add("id", "immutable", "the id of a reminder cannot change");
            }
            if let Some(t) = &input.title {
                changes.title = errors.check("title", required_text(t, Limits::TITLE));
            }
            changes.notes = match &input.notes {
                None => None,
                Some(None) => Some(String::new()),
                Some(Some(n)) => errors
                    .check("notes", optional_text(n, Limits::LONG))
                    .map(Option::unwrap_or_default),
            };
            changes.contact_id = input.contact_id;
            changes.event_id = input.event_id;
            let zone = match &input.timezone {
                Some(z) => errors.check("timezone", TimeZone::parse(z)),
                None => TimeZone::parse(&current.timezone).ok(),
            };
            let local = match &input.due_local {
                Some(l) => errors.check("due_local", local_time(l)),
                None => Some(current.due_local),
            };
            if input.timezone.is_some() || input.due_local.is_some() {
                if let (Some(l), Some(z)) = (local, zone) {
                    changes.due_at = errors.check("due_local", resolve_local(l, z));
                    changes.due_local = Some(l);
                    changes.timezone = Some(z.name().to_string());
                    changes.snoozed_until = Some(None);
                }
            }
            match &input.repeat {
                None => {}
                Some(None) => {
                    changes.repeat_every = Some(None);
                    changes.repeat_unit = Some(None);
                }
                Some(Some(r)) => {
                    if let Some((every, unit)) = errors.check("repeat", repeat(r)) {
                        changes.repeat_every = Some(Some(every));
                        changes.repeat_unit = Some(Some(unit));
                    }
                }
            }
            match input.status.as_deref() {
                None => {}
                Some("open") => {
                    changes.status = Some("open".into());
                    changes.completed_at = Some(None);
                }
                Some("cancelled") => {
                    changes.status = Some("cancelled".into());
                    changes.completed_at = Some(Some(Utc::now()));
                }
                Some(_) => errors.add(
                    "status",
                    "invalid_choice",
                    "status must be open or cancelled; use /complete to mark done",
                ),
            }
            errors.into_result()?;
            check_links(conn, owner, changes.contact_id, changes.event_id)?;
            Ok(crate::domain::reminders::update(conn, owner, id, &changes)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(reminder_view(row)))
}

/// Deletes a reminder.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/reminders/{id}")]
async fn delete_reminder(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    state
        .db
        .run(move |conn| Ok(db::reminders::delete(conn, owner, id)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Marks a reminder done. A repeating one moves to its next occurrence after now instead
/// and stays open.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), responses(
    (status = 200, body = ReminderView),
    (status = 404, body = crate::error::Problem),
))]
#[post("/reminders/{id}/complete")]
async fn complete_reminder(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            let current = db::reminders::find_by_id_and_owner(conn, owner, id)?;
            let repeat = current.repeat_every.zip(current.repeat_unit.as_deref());
            let completion = reminders::completion(
                &current.status,
                current.due_local,
                &current.timezone,
                repeat,
                Utc::now(),
            );
            let changes = match completion {
                Completion::Next { local, at } => ReminderChanges {
                    due_local: Some(local),
                    due_at: Some(at),
                    snoozed_until: Some(None),
                    ..Default::default()
                },
                Completion::Done { at } => ReminderChanges {
                    status: Some("done".into()),
                    completed_at: Some(Some(at)),
                    ..Default::default()
                },
            };
            Ok(crate::domain::reminders::update(conn, owner, id, &changes)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(reminder_view(row)))
}

/// Snoozes a reminder until an instant, or for some minutes.
#[utoipa::path(tag = "reminders", security(("bearer" = [])), request_body = SnoozeRequest, responses(
    (status = 200, body = ReminderView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/reminders/{id}/snooze")]
async fn snooze_reminder(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<SnoozeRequest>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let now = Utc::now();
    let until = match (body.until, body.minutes) {
        (Some(until), None) if until > now => until,
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "until",
                InvalidValue::new("in_the_past", "must be in the future"),
            ))
        }
        (None, Some(m)) if (1..=525_600).contains(&m) => now + chrono::Duration::minutes(m),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "minutes",
                InvalidValue::new("out_of_range", "must be between 1 and 525600"),
            ))
        }
        _ => {
            return Err(ApiError::invalid(
                "until",
                InvalidValue::new("required", "give either until (an instant) or minutes"),
            ))
        }
    };
    let row = state
        .db
        .transaction(move |conn| {
            let current = db::reminders::find_by_id_and_owner(conn, owner, id)?;
            if current.status != "open" {
                return Err(ApiError::Conflict {
                    code: "reminder_closed",
                    detail: format!(
                        "This reminder is {}; only open reminders can be snoozed.",
                        current.status
                    ),
                });
            }
            let changes = ReminderChanges {
                snoozed_until: Some(Some(until)),
                ..Default::default()
            };
            Ok(crate::domain::reminders::update(conn, owner, id, &changes)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(reminder_view(row)))
}
