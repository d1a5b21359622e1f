//! Attendances: who may set which status, and what a status change does to the event's
//! places. The REST API (my attendance, the organizer's attendee list) and sync push decide
//! every status change with [`decide_status`], so a phone cannot do what the API refuses.
//!
//! Places are handed out one transaction at a time: every flow that takes or frees a place
//! locks the event's row first ([`lock_event`]), so concurrent joins never exceed the
//! capacity and a freed place goes to exactly one waitlisted person ([`free_places`]).

use chrono::{DateTime, Utc};
use diesel::{PgConnection, QueryResult};
use uuid::Uuid;

use crate::db;
use crate::db::attendances::{AttendanceChanges, AttendanceRow, TAKING_PLACES};
use crate::domain::InvalidValue;
use crate::error::ApiError;

/// Every status an attendance can have.
pub const STATUSES: [&str; 4] = ["registered", "waitlisted", "cancelled", "checked_in"];
/// The statuses an attendee may ask for on their own attendance.
pub const OWN_STATUSES: [&str; 2] = ["cancelled", "registered"];
/// Roles, the organizer's first: nobody is made organizer after the event is created.
pub const ROLES: [&str; 4] = ["organizer", "host", "speaker", "attendee"];

/// Who asks for a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The event's organizer, on any attendance of the event.
    Organizer,
    /// The attendee, on their own attendance.
    Attendee,
}

/// What happens to `checked_in_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckIn {
    Keep,
    Clear,
    /// Checked in now (the first check-in is kept: see [`decide_status`]).
    Now,
}

/// A status change the rules allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub status: &'static str,
    pub checked_in_at: CheckIn,
    /// The attendance held a place and no longer does: the waitlist moves up.
    pub frees_place: bool,
}

impl StatusChange {
    /// The changes to write, at `now`.
    pub fn columns(&self, now: DateTime<Utc>) -> AttendanceChanges {
        AttendanceChanges {
            status: Some(self.status.to_owned()),
            checked_in_at: match self.checked_in_at {
                CheckIn::Keep => None,
                CheckIn::Clear => Some(None),
                CheckIn::Now => Some(Some(now)),
            },
            ..Default::default()
        }
    }
}

/// The outcome of asking for a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing changes (already so, or a request that means "stay as I am").
    Unchanged,
    Change(StatusChange),
    /// Registering again after a cancellation: a place if one is free, else the waitlist
    /// (see [`Decision::resolve`]).
    Register,
}

impl Decision {
    /// The change, once the caller knows whether the event is full (it counts places with
    /// the event's row locked).
    pub fn resolve(self, full: bool) -> Option<StatusChange> {
        match self {
            Decision::Unchanged => None,
            Decision::Change(change) => Some(change),
            Decision::Register => Some(StatusChange {
                status: if full { "waitlisted" } else { "registered" },
                checked_in_at: CheckIn::Clear,
                frees_place: false,
            }),
        }
    }
}

/// The attendance as the rules need it.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub status: &'a str,
    pub role: &'a str,
}

fn takes_place(status: &str) -> bool {
    TAKING_PLACES.contains(&status)
}

fn invalid_status(requested: &str, allowed: &[&str]) -> ApiError {
    ApiError::invalid(
        "status",
        InvalidValue::new(
            "invalid_choice",
            format!("{requested:?} is not one of {}", allowed.join(", ")),
        ),
    )
}

fn organizer_attendance() -> ApiError {
    ApiError::Conflict {
        code: "organizer_attendance",
        detail: "The organizer's own attendance cannot be cancelled; delete the event instead.".into(),
    }
}

/// What asking for status `requested` on attendance `current` does, by `actor`.
///
/// - An attendee may only cancel (not once checked in: 409 `already_checked_in`) or register
///   again after cancelling (a place or the waitlist); registering while already registered
///   or waitlisted changes nothing: only a freed place moves someone off the waitlist. An
///   attendee never checks themselves in, nor gives themselves a place.
/// - The organizer may set any status: checking in keeps the first check-in time, any
///   other status clears it. The organizer's own attendance is never cancelled nor
///   waitlisted, and asks for nothing as an attendee's (409 `organizer_attendance`).
/// - A change that takes a held place away (cancelled, waitlisted) frees it for the
///   waitlist.
pub fn decide_status(actor: Actor, current: Current, requested: &str) -> Result<Decision, ApiError> {
    let requested = requested.trim();
    let allowed: &[&str] = match actor {
        Actor::Organizer => &STATUSES,
        Actor::Attendee => &OWN_STATUSES,
    };
    let Some(status) = allowed.iter().copied().find(|s| *s == requested) else {
        return Err(invalid_status(requested, allowed));
    };
    // The organizer's own attendance follows the event: its organizer never leaves it, and
    // as an attendee they have nothing to ask for.
    let leaves = status != current.status && !takes_place(status);
    if current.role == "organizer" && (actor == Actor::Attendee || leaves) {
        return Err(organizer_attendance());
    }
    if status == current.status {
        return Ok(Decision::Unchanged);
    }
    let frees_place = takes_place(current.status) && !takes_place(status);
    Ok(match (actor, status) {
        (Actor::Attendee, "cancelled") if current.status == "checked_in" => {
            return Err(ApiError::Conflict {
                code: "already_checked_in",
                detail: "A checked-in attendance cannot be cancelled.".into(),
            })
        }
        (Actor::Attendee, "registered") if current.status == "cancelled" => Decision::Register,
        (Actor::Attendee, "registered") => Decision::Unchanged,
        (_, "checked_in") => Decision::Change(StatusChange {
            status,
            checked_in_at: CheckIn::Now,
            frees_place,
        }),
        _ => Decision::Change(StatusChange {
            status,
            checked_in_at: CheckIn::Clear,
            frees_place,
        }),
    })
}

/// The attendee's consent to show their card: its time is recorded with it.
pub fn consent_time(share: bool, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    share.then_some(now)
}

/// Locks the event's row for a change of places; answers its capacity (`None` when the
/// event is gone).
pub fn lock_event(conn: &mut PgConnection, event_id: Uuid) -> QueryResult<Option<Option<i32>>> {
    db::events::lock_capacity(conn, event_id)
}

/// Whether the event has no free place. Call with the event locked.
pub fn is_full(conn: &mut PgConnection, event_id: Uuid, capacity: Option<i32>) -> QueryResult<bool> {
    Ok(match capacity {
        Some(capacity) => db::attendances::count_taking_places(conn, event_id)? >= i64::from(capacity),
        None => false,
    })
}

/// The status a new registration gets: a place while there is one, else the waitlist.
/// Call with the event locked.
pub fn new_registration_status(
    conn: &mut PgConnection,
    event_id: Uuid,
    capacity: Option<i32>,
) -> Result<&'static str, ApiError> {
    Ok(if is_full(conn, event_id, capacity)? {
        "waitlisted"
    } else {
        "registered"
    })
}

/// Hands the event's free places to the waitlist, first in line first. Call with the event
/// locked, after any change that frees places (a cancellation, a removal, a larger capacity).
pub fn free_places(conn: &mut PgConnection, event_id: Uuid, capacity: Option<i32>) -> QueryResult<Vec<Uuid>> {
    db::attendances::promote_waitlisted(conn, event_id, capacity)
}

/// Applies `requested` to attendance `row` of the event (locked by the caller, with
/// `capacity`): decides, writes, and moves the waitlist when a place freed. The REST
/// routes' one way to change a status.
pub fn change_status(
    conn: &mut PgConnection,
    actor: Actor,
    capacity: Option<i32>,
    row: AttendanceRow,
    requested: &str,
) -> Result<AttendanceRow, ApiError> {
    let decision = decide_status(
        actor,
        Current {
            status: &row.status,
            role: &row.role,
        },
        requested,
    )?;
    let full = decision == Decision::Register && is_full(conn, row.event_id, capacity)?;
    let Some(change) = decision.resolve(full) else {
        return Ok(row);
    };
    let mut columns = change.columns(Utc::now());
    if change.checked_in_at == CheckIn::Now && row.checked_in_at.is_some() {
        columns.checked_in_at = None;
    }
    let updated = db::attendances::update(conn, row.event_id, row.id, &columns)?;
    if change.frees_place {
        free_places(conn, row.event_id, capacity)?;
    }
    Ok(updated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attendee(status: &str) -> Current<'_> {
        Current {
            status,
            role: "attendee",
        }
    }

    fn code(e: ApiError) -> String {
        e.problem().code.to_string()
    }

    #[test]
    fn an_attendee_never_takes_a_place_or_checks_in_alone() {
        assert_eq!(
            decide_status(Actor::Attendee, attendee("waitlisted"), "registered").unwrap(),
            Decision::Unchanged
        );
        for status in ["checked_in", "waitlisted"] {
            let e = decide_status(Actor::Attendee, attendee("registered"), status).unwrap_err();
            assert_eq!(code(e), "validation_failed");
        }
        assert_eq!(
            decide_status(Actor::Attendee, attendee("cancelled"), "registered").unwrap(),
            Decision::Register
        );
        assert_eq!(Decision::Register.resolve(true).unwrap().status, "waitlisted");
    }

    #[test]
    fn cancelling_a_place_frees_it_but_not_after_check_in() {
        let change = decide_status(Actor::Attendee, attendee("registered"), "cancelled").unwrap();
        assert!(matches!(change, Decision::Change(c) if c.frees_place && c.checked_in_at == CheckIn::Clear));
        let waiting = decide_status(Actor::Attendee, attendee("waitlisted"), "cancelled").unwrap();
        assert!(matches!(waiting, Decision::Change(c) if !c.frees_place));
        let e = decide_status(Actor::Attendee, attendee("checked_in"), "cancelled").unwrap_err();
        assert_eq!(code(e), "already_checked_in");
    }

    #[test]
    fn the_organizer_sets_any_status_but_never_cancels_their_own() {
        let check_in = decide_status(Actor::Organizer, attendee("waitlisted"), "checked_in").unwrap();
        assert!(matches!(check_in, Decision::Change(c) if c.checked_in_at == CheckIn::Now));
        let demote = decide_status(Actor::Organizer, attendee("checked_in"), "waitlisted").unwrap();
        assert!(matches!(demote, Decision::Change(c) if c.frees_place));
        let own = Current {
            status: "registered",
            role: "organizer",
        };
        assert_eq!(
            code(decide_status(Actor::Organizer, own, "cancelled").unwrap_err()),
            "organizer_attendance"
        );
        assert_eq!(
            code(decide_status(Actor::Attendee, own, "cancelled").unwrap_err()),
            "organizer_attendance"
        );
        assert_eq!(
            code(decide_status(Actor::Organizer, attendee("registered"), "gone").unwrap_err()),
            "validation_failed"
        );
    }
}
