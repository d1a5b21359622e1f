//! Attending an event: joining by code, my own attendance (consent, cancelling), the
//! organizer's check-in at the door, and exchanging cards with another attendee.
//!
//! Places are handed out one transaction at a time: every flow that takes or frees a place
//! locks the event's row first, so concurrent joins never exceed the capacity and a freed
//! place goes to exactly one waitlisted person.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::attendees::{attendee_view, own_attendance_view, AttendeeView, OwnAttendanceView};
use super::contacts::{contact_view, ContactView};
use super::State;
use crate::auth::AuthUser;
use crate::db::attendances::{Added, AttendanceRow, NewAttendance, SharedCard, TAKING_PLACES};
use crate::db::contacts::{ContactChanges, ContactRow, NewContact};
use crate::db::{self};
use crate::domain::attendances::{self, Actor};
use crate::domain::{InvalidValue, TimeZone};
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // A resource taking every method, so another method on this fixed path is 405 with its
    // `Allow`, not a request for the event of id "join".
    cfg.service(
        web::resource("/events/join")
            .route(web::post().to(join_event))
            .default_service(web::to(super::unmatched)),
    )
    .service(get_my_attendance)
    .service(patch_my_attendance)
    .service(check_in)
    .service(exchange);
}

/// The caller's address, for the per-address guessing limit.
fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A code as people type it: spaces and dashes dropped, upper-cased.
fn typed_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// A join code: six characters of the unambiguous alphabet.
fn join_code(raw: &str) -> Result<String, InvalidValue> {
    let code = typed_code(raw);
    if code.chars().count() == crate::domain::JOIN_CODE_LEN
        && code.bytes().all(|b| crate::domain::CODE_ALPHABET.contains(&b))
    {
        Ok(code)
    } else {
        Err(InvalidValue::new(
            "invalid_join_code",
            "a join code is 6 letters and digits, such as K7QM3X",
        ))
    }
}

/// A check-in code as read from a QR code or typed at the door.
fn checkin_code(raw: &str) -> Result<String, InvalidValue> {
    let code = typed_code(raw);
    if (1..=64).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(InvalidValue::new(
            "invalid_checkin_code",
            "a check-in code is letters and digits",
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    /// The event's join code, as the organizer shared it (case, spaces and dashes ignored).
    #[schema(example = "K7QM3X")]
    pub code: String,
}

enum Joined {
    New(AttendanceRow),
    Again(AttendanceRow),
    UnknownCode,
    Throttled(u64),
    CodeCollision,
}

/// Registers me at the event with this join code. Past its capacity I am waitlisted, and
/// promoted when a place frees. Joining again answers the same attendance (200); a
/// cancelled or removed attendance registers again. Wrong codes are counted per user and
/// per client address; past the limit, every attempt gets 429 with `Retry-After` until
/// the oldest counted failure leaves the window.
#[utoipa::path(post, path = "/events/join", tag = "events", security(("bearer" = [])), request_body = JoinInput, responses(
    (status = 201, description = "Registered or waitlisted", body = OwnAttendanceView),
    (status = 200, description = "Already attending: the same attendance", body = OwnAttendanceView),
    (status = 422, description = "Malformed or unknown code (`invalid_join_code`, `unknown_join_code`)", body = crate::error::Problem),
    (status = 429, description = "Too many wrong codes", body = crate::error::Problem),
))]
async fn join_event(
    state: State,
    auth: AuthUser,
    req: HttpRequest,
    body: web::Json<JoinInput>,
) -> Result<HttpResponse, ApiError> {
    let code = join_code(&body.code).map_err(|e| ApiError::invalid("code", e))?;
    let me = auth.user_id;
    let ip = client_ip(&req);
    let window = chrono::Duration::from_std(state.settings.join_window).unwrap_or_default();
    let (max_user, max_ip) = (
        state.settings.join_max_failures_per_user,
        state.settings.join_max_failures_per_ip,
    );
    for _ in 0..8 {
        let (code, ip) = (code.clone(), ip.clone());
        let joined = state
            .db
            .transaction(move |conn| {
                db::join_code_failures::serialize_for_user(conn, me)?;
                let now = Utc::now();
                let blocking =
                    db::join_code_failures::blocking_failure(conn, me, &ip, now - window, max_user, max_ip)?;
                if let Some(failed_at) = blocking {
                    let wait = (failed_at + window - now).num_seconds().max(0) as u64 + 1;
                    return Ok(Joined::Throttled(wait));
                }
                let Some(event) = db::events::lock_by_join_code(conn, &code)? else {
                    db::join_code_failures::record(conn, me, &ip)?;
                    return Ok(Joined::UnknownCode);
                };
                match db::attendances::find_by_event_and_user_any(conn, event.id, me)? {
                    Some((row, false)) if row.status != "cancelled" => Ok(Joined::Again(row)),
                    Some((row, removed)) => {
                        let status = attendances::new_registration_status(conn, event.id, event.capacity)?;
                        Ok(Joined::Again(db::attendances::rejoin(
                            conn, row.id, status, removed,
                        )?))
                    }
                    None => {
                        let status = attendances::new_registration_status(conn, event.id, event.capacity)?;
                        let added = db::attendances::create(
                            conn,
                            &NewAttendance {
                                id: Uuid::now_v7(),
                                event_id: event.id,
                                user_id: Some(me),
                                guest_name: None,
                                guest_email: None,
                                status: status.into(),
                                role: "attendee".into(),
                                share_profile: false,
                                share_profile_at: None,
                                checkin_code: crate::domain::new_checkin_code(),
                            },
                        )?;
                        Ok(match added {
                            Added::Attendance(row) => Joined::New(*row),
                            Added::CodeTaken | Added::Duplicate => Joined::CodeCollision,
                        })
                    }
                }
            })
            .await?;
        return match joined {
            Joined::New(row) => Ok(HttpResponse::Created().json(own_attendance_view(row))),
            Joined::Again(row) => Ok(HttpResponse::Ok().json(own_attendance_view(row))),
            Joined::UnknownCode => Err(ApiError::invalid(
                "code",
                InvalidValue::new("unknown_join_code", "no open event has this join code"),
            )),
            Joined::Throttled(retry_after_secs) => Err(ApiError::TooManyRequests { retry_after_secs }),
            Joined::CodeCollision => continue,
        };
    }
    Err(ApiError::internal("could not draw a free check-in code"))
}

/// My attendance at the event, with the `checkin_code` I show at the door (as a QR code).
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = OwnAttendanceView),
    (status = 404, body = crate::error::Problem),
))]
#[get("/events/{id}/attendance")]
async fn get_my_attendance(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .run(move |conn| Ok(db::attendances::find_by_event_and_user(conn, me, event_id)?))
        .await?;
    Ok(HttpResponse::Ok().json(own_attendance_view(row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyAttendancePatch {
    /// My consent to show my profile card to the organizer and the other attendees; the
    /// time of the decision is recorded (`share_profile_at`). `false` withdraws it.
    pub share_profile: Option<bool>,
    /// `cancelled` frees my place (the first waitlisted person gets it); `registered` after
    /// a cancellation registers me again (waitlisted when the event is full).
    pub status: Option<String>,
}

/// Changes my attendance: consent to share my card, cancel, or register again.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = MyAttendancePatch, responses(
    (status = 200, body = OwnAttendanceView),
    (status = 404, body = crate::error::Problem),
    (status = 409, description = "`organizer_attendance` or `already_checked_in`", body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/events/{id}/attendance")]
async fn patch_my_attendance(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<MyAttendancePatch>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    let input = body.into_inner();
    let row = state
        .db
        .transaction(move |conn| {
            let event = db::events::lock_for_attendee(conn, me, event_id)?;
            let mut row = db::attendances::find_by_event_and_user(conn, me, event_id)?;
            if let Some(share) = input.share_profile {
                row = db::attendances::set_consent(conn, me, row.id, share)?;
            }
            if let Some(status) = input.status.as_deref() {
                row = attendances::change_status(conn, Actor::Attendee, event.capacity, row, status)?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(own_attendance_view(row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinInput {
    /// The attendee's `checkin_code`, read from their QR code or typed.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinView {
    #[serde(flatten)]
    pub attendee: AttendeeView,
    /// True when this attendance was already checked in (the first time is kept).
    pub already_checked_in: bool,
}

/// Checks an attendee in at the door, by the code of their attendance. Organizer only:
/// anyone else gets 404. Checking in twice is harmless and keeps the first time.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = CheckinInput, responses(
    (status = 200, body = CheckinView),
    (status = 404, body = crate::error::Problem),
    (status = 409, description = "`attendance_cancelled` or `attendance_waitlisted`", body = crate::error::Problem),
    (status = 422, description = "Malformed or unknown code (`unknown_checkin_code`)", body = crate::error::Problem),
))]
#[post("/events/{id}/checkin")]
async fn check_in(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<CheckinInput>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    let raw = body.into_inner().code;
    let view = state
        .db
        .transaction(move |conn| {
            db::events::find_by_id_and_organizer(conn, me, event_id)?;
            let code = checkin_code(&raw).map_err(|e| ApiError::invalid("code", e))?;
            let attendance =
                db::attendances::find_by_checkin_code(conn, me, event_id, &code)?.ok_or_else(|| {
                    ApiError::invalid(
                        "code",
                        InvalidValue::new(
                            "unknown_checkin_code",
                            "no attendance of this event has this check-in code",
                        ),
                    )
                })?;
            match attendance.status.as_str() {
                "cancelled" => {
                    return Err(ApiError::Conflict {
                        code: "attendance_cancelled",
                        detail: "This attendance was cancelled; register it again before checking in.".into(),
                    })
                }
                "waitlisted" => {
                    return Err(ApiError::Conflict {
                        code: "attendance_waitlisted",
                        detail: "This person is on the waitlist; give them a place before checking in."
                            .into(),
                    })
                }
                _ => {}
            }
            let already_checked_in = attendance.status == "checked_in";
            db::attendances::check_in(conn, event_id, attendance.id)?;
            let row = db::attendances::find_attendee_for_organizer(conn, me, event_id, attendance.id)?;
            Ok(CheckinView {
                attendee: attendee_view(row),
                already_checked_in,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeInput {
    /// The attendance `id` of the other attendee, as the attendee list shows it.
    pub attendee_id: Uuid,
}

/// The contact fields taken from a shared card; set fields keep what the contact had.
fn card_changes(card: &SharedCard, existing: Option<&ContactRow>) -> ContactChanges {
    fn merged(existing: Option<&Vec<String>>, extra: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut all = existing.cloned().unwrap_or_default();
        for value in extra {
            if !all.contains(&value) {
                all.push(value);
            }
        }
        all
    }
    ContactChanges {
        name: Some(card.display_name.clone()),
        organization: Some(card.organization.clone()),
        job_title: Some(card.headline.clone()),
        city: Some(card.city.clone()),
        emails: Some(merged(
            existing.map(|c| &c.emails),
            card.email.iter().map(|e| e.to_lowercase()),
        )),
        phones: Some(merged(existing.map(|c| &c.phones), card.phone.iter().cloned())),
        links: Some(merged(
            existing.map(|c| &c.links),
            card.links.iter().flatten().cloned(),
        )),
        ..Default::default()
    }
}

/// Adds the attendee's shared card to my contacts, linked to the event (`met_at_event_id`,
/// `how_we_met` naming it). Both of us must hold a place at the event and the other must
/// have consented to share their card; otherwise 404 (as when the attendee does not
/// exist). Doing it again updates the same contact from the card (201 then 200).
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = ExchangeInput, responses(
    (status = 201, description = "Contact created", body = ContactView),
    (status = 200, description = "The contact of an earlier exchange, updated", body = ContactView),
    (status = 404, body = crate::error::Problem),
    (status = 409, description = "`not_attending`: I am waitlisted or cancelled", body = crate::error::Problem),
))]
#[post("/events/{id}/exchange")]
async fn exchange(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ExchangeInput>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    let attendee_id = body.into_inner().attendee_id;
    let (row, created) = state
        .db
        .transaction(move |conn| {
            let event = db::events::find_by_id_for_member(conn, me, event_id)?;
            let mine = db::attendances::find_by_event_and_user(conn, me, event_id)?;
            if !TAKING_PLACES.contains(&mine.status.as_str()) {
                return Err(ApiError::Conflict {
                    code: "not_attending",
                    detail: "Only attendees holding a place can exchange cards.".into(),
                });
            }
            let card = db::attendances::find_shared_card(conn, me, event_id, attendee_id)?;
            if let Some(existing) = db::contacts::find_exchanged(conn, me, event_id, card.user_id)? {
                let changes = card_changes(&card, Some(&existing));
                return Ok((
                    crate::domain::contacts::update(conn, me, existing.id, &changes)?,
                    false,
                ));
            }
            let c = card_changes(&card, None);
            let user = db::users::find(conn, me)?;
            let zone = TimeZone::parse(&event.timezone).or_else(|_| TimeZone::parse("UTC"));
            let first_met_on = zone
                .ok()
                .map(|z| event.starts_at.with_timezone(&z.tz()).date_naive());
            let how_we_met = if user.locale.starts_with("fr") {
                format!("Rencontre à l'événement « {} »", event.title)
            } else {
                format!("Met at the event \"{}\"", event.title)
            };
            let new = NewContact {
                id: Uuid::now_v7(),
                owner_id: me,
                name: c.name.clone().unwrap_or_default(),
                organization: c.organization.clone().flatten(),
                job_title: c.job_title.clone().flatten(),
                city: c.city.clone().flatten(),
                emails: c.emails.clone().unwrap_or_default(),
                phones: c.phones.clone().unwrap_or_default(),
                links: c.links.clone().unwrap_or_default(),
                tags: Vec::new(),
                notes: String::new(),
                how_we_met,
                met_at_event_id: Some(event_id),
                first_met_on,
                they_brought: String::new(),
                i_can_offer: String::new(),
                met_in_person: true,
                keep_in_touch_days: None,
                starred: false,
            };
            match db::contacts::create_exchanged(conn, &new, card.user_id)? {
                Some(row) => Ok((row, true)),
                None => {
                    let existing = db::contacts::find_exchanged(conn, me, event_id, card.user_id)?
                        .ok_or_else(|| ApiError::internal("exchanged contact vanished"))?;
                    let changes = card_changes(&card, Some(&existing));
                    Ok((
                        crate::domain::contacts::update(conn, me, existing.id, &changes)?,
                        false,
                    ))
                }
            }
        })
        .await?;
    let view = contact_view(row);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn join_codes_are_read_as_people_type_them() {
        assert_eq!(join_code(" k7q-m3x ").unwrap(), "K7QM3X");
        assert_eq!(join_code("K7Q M3X").unwrap(), "K7QM3X");
        for bad in [
            "", "K7QM3", "K7QM3XY", "K7QM30", "K7QMOX", "K7QM1X", "K7QMIX", "K7QM3É",
        ] {
            assert_eq!(join_code(bad).unwrap_err().code, "invalid_join_code", "{bad:?}");
        }
    }

    #[test]
    fn checkin_codes_ignore_case_and_separators() {
        assert_eq!(checkin_code("abcd-2345 xy").unwrap(), "ABCD2345XY");
        assert!(checkin_code("").is_err());
        assert!(checkin_code("ABC/DEF").is_err());
        assert!(checkin_code(&"A".repeat(65)).is_err());
    }
}
