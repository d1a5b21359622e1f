//! An event's attendees, as its organizer manages them.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, nullable, page_limit, Page, State};
use crate::auth::AuthUser;
use crate::db::attendances::{Added, AttendanceChanges, AttendanceRow, AttendeeRow, NewAttendance};
use crate::db::{self};
use crate::domain::attendances::{self, Actor, ROLES};
use crate::domain::{required_text, Email, InvalidValue, Limits};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_attendees)
        .service(add_attendee)
        .service(patch_attendee)
        .service(delete_attendee);
}

/// An attendee as the organizer sees them. Contact details appear only when the attendee
/// consented to share their profile (guests: the details the organizer entered).
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendeeView {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: String,
    pub is_guest: bool,
    /// registered, waitlisted, cancelled or checked_in.
    pub status: String,
    /// organizer, host, speaker or attendee.
    pub role: String,
    pub share_profile: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
    pub headline: Option<String>,
    pub city: Option<String>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub fn attendee_view(row: AttendeeRow) -> AttendeeView {
    let a = row.attendance;
    let is_guest = a.user_id.is_none();
    let shows = a.share_profile && !is_guest;
    let detail = |v: Option<String>| if shows { v } else { None };
    AttendeeView {
        id: a.id,
        user_id: a.user_id,
        name: row.display_name.or(a.guest_name).unwrap_or_default(),
        is_guest,
        status: a.status,
        role: a.role,
        share_profile: a.share_profile,
        email: if is_guest {
            a.guest_email
        } else {
            detail(row.card_email)
        },
        phone: detail(row.card_phone),
        organization: detail(row.card_organization),
        headline: detail(row.card_headline),
        city: detail(row.card_city),
        checked_in_at: a.checked_in_at,
        created_at: a.created_at,
    }
}

/// My own attendance, with the check-in code I show at the door.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnAttendanceView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub status: String,
    pub role: String,
    pub share_profile: bool,
    pub share_profile_at: Option<DateTime<Utc>>,
    pub checkin_code: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub fn own_attendance_view(a: AttendanceRow) -> OwnAttendanceView {
    OwnAttendanceView {
        id: a.id,
        event_id: a.event_id,
        status: a.status,
        role: a.role,
        share_profile: a.share_profile,
        share_profile_at: a.share_profile_at,
        checkin_code: a.checkin_code,
        checked_in_at: a.checked_in_at,
        created_at: a.created_at,
    }
}

/// A guest the organizer adds by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestInput {
    pub name: String,
    pub email: Option<String>,
    /// attendee by default.
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendeePatch {
    pub status: Option<String>,
    pub role: Option<String>,
    /// Guests only.
    pub name: Option<String>,
    /// Guests only.
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttendeeListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The attendees of an event, in order of registration. Its organizer sees everyone; an
/// attendee sees the attendees who consented to share their card and hold a place, when
/// the event's `attendee_list_visibility` is `attendees`; anyone else gets 404.
#[utoipa::path(tag = "events", security(("bearer" = [])), params(AttendeeListQuery), responses(
    (status = 200, body = inline(Page<AttendeeView>)),
    (status = 404, body = crate::error::Problem),
))]
#[get("/events/{id}/attendees")]
async fn list_attendees(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    query: web::Query<AttendeeListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = cursor::pair(query.cursor.as_deref())?;
    let (me, event_id) = (auth.user_id, id.into_inner());
    let (organizer, rows) = state
        .db
        .run(move |conn| {
            let event = db::events::find_by_id_for_member(conn, me, event_id)?;
            if event.organizer_id == me {
                Ok((
                    true,
                    db::attendances::list_for_organizer(conn, me, event_id, after, limit)?,
                ))
            } else if event.attendee_list_visibility == "attendees" {
                let rows = db::attendances::list_consenting_for_attendee(conn, me, event_id, after, limit)?;
                Ok((false, rows))
            } else {
                Err(ApiError::NotFound)
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| cursor::of_pair(&r.attendance.created_at, &r.attendance.id),
        |r| {
            let mut view = attendee_view(r);
            if !organizer {
                // Attendees see who is there, not the door log.
                view.checked_in_at = None;
            }
            view
        },
    )))
}

/// Adds a guest to an event I organise. Past the capacity, the guest is waitlisted.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = GuestInput, responses(
    (status = 201, body = AttendeeView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/events/{id}/attendees")]
async fn add_attendee(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<GuestInput>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    let input = body.into_inner();
    let mut errors = FieldErrors::new();
    let name = errors.check("name", required_text(&input.name, Limits::NAME));
    let email = match input.email.as_deref() {
        Some(e) if !e.trim().is_empty() => errors
            .check("email", Email::parse(e))
            .map(|e| Some(e.into_inner())),
        _ => Some(None),
    };
    let role = errors.check(
        "role",
        choice(input.role.as_deref().unwrap_or("attendee"), &ROLES[1..]),
    );
    let (name, email, role) = errors.finish(|| Some((name?, email?, role?)))?;
    for _ in 0..8 {
        let (name, email, role) = (name.clone(), email.clone(), role.clone());
        let outcome = state
            .db
            .transaction(move |conn| {
                let event = db::events::lock_by_id_and_organizer(conn, me, event_id)?;
                let status = attendances::new_registration_status(conn, event_id, event.capacity)?;
                let added = db::attendances::create(
                    conn,
                    &NewAttendance {
                        id: Uuid::now_v7(),
                        event_id,
                        user_id: None,
                        guest_name: Some(name.clone()),
                        guest_email: email.clone(),
                        status: status.into(),
                        role,
                        share_profile: false,
                        share_profile_at: None,
                        checkin_code: crate::domain::new_checkin_code(),
                    },
                )?;
                Ok(match added {
                    Added::Attendance(a) => Some(AttendeeRow {
                        attendance: *a,
                        display_name: None,
                        card_email: None,
                        card_phone: None,
                        card_organization: None,
                        card_headline: None,
                        card_city: None,
                    }),
                    Added::CodeTaken | Added::Duplicate => None,
                })
            })
            .await?;
        if let Some(row) = outcome {
            return Ok(HttpResponse::Created().json(attendee_view(row)));
        }
    }
    Err(ApiError::internal("could not draw a free check-in code"))
}

/// Changes an attendance of an event I organise: status, role, a guest's name or email.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = AttendeePatch, responses(
    (status = 200, body = OwnAttendanceView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/events/{id}/attendees/{attendance_id}")]
async fn patch_attendee(
    state: State,
    auth: AuthUser,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<AttendeePatch>,
) -> Result<HttpResponse, ApiError> {
    let me = auth.user_id;
    let (event_id, attendance_id) = path.into_inner();
    let row = state
        .db
        .transaction(move |conn| {
            let event = db::events::lock_by_id_and_organizer(conn, me, event_id)?;
            let current = db::attendances::find_for_organizer(conn, me, event_id, attendance_id)?;
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            let mut changes = AttendanceChanges::default();
            if let Some(r) = input.role.as_deref() {
                if current.role == "organizer" {
                    // Demoting the organizer would route around the delete rule below.
                    if r.trim() != "organizer" {
                        return Err(ApiError::Conflict {
                            code: "organizer_attendance",
                            detail: "The organizer's own role cannot change.".into(),
                        });
                    }
                } else {
                    // As when a guest is added: nobody else becomes organizer.
                    changes.role = errors.check("role", choice(r, &ROLES[1..]));
                }
            }
            if current.user_id.is_some() && (input.name.is_some() || input.email.is_some()) {
                errors.add(
                    "name",
                    "not_a_guest",
                    "only a guest's name and email can be changed",
                );
            }
            if let Some(n) = &input.name {
                changes.guest_name = errors.check("name", required_text(n, Limits::NAME)).map(Some);
            }
            changes.guest_email = match &input.email {
                None => None,
                Some(None) => Some(None),
                Some(Some(e)) => errors
                    .check("email", Email::parse(e))
                    .map(|e| Some(e.into_inner())),
            };
            errors.into_result()?;
            let mut row = current;
            if changes.role.is_some() || changes.guest_name.is_some() || changes.guest_email.is_some() {
                row = db::attendances::update(conn, event_id, attendance_id, &changes)?;
            }
            match input.status.as_deref() {
                Some(status) => {
                    attendances::change_status(conn, Actor::Organizer, event.capacity, row, status)
                }
                None => Ok(row),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(own_attendance_view(row)))
}

/// Removes someone from an event I organise; a place they held goes to the waitlist.
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 204, description = "Removed"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/events/{id}/attendees/{attendance_id}")]
async fn delete_attendee(
    state: State,
    auth: AuthUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let me = auth.user_id;
    let (event_id, attendance_id) = path.into_inner();
    state
        .db
        .transaction(move |conn| {
            let event = db::events::lock_by_id_and_organizer(conn, me, event_id)?;
            let current = db::attendances::find_for_organizer(conn, me, event_id, attendance_id)?;
            if current.role == "organizer" && current.user_id == Some(me) {
                return Err(ApiError::Conflict {
                    code: "organizer_attendance",
                    detail: "The organizer's own attendance cannot be removed; delete the event instead."
                        .into(),
                });
            }
            db::attendances::delete(conn, event_id, attendance_id)?;
            if db::attendances::TAKING_PLACES.contains(&current.status.as_str()) {
                attendances::free_places(conn, event_id, event.capacity)?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
