//! Who attends an event: users, and guests the organizer added.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{attendances, events, profile_cards, users};
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attendances)]
pub struct AttendanceRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Option<Uuid>,
    pub guest_name: Option<String>,
    pub guest_email: Option<String>,
    pub status: String,
    pub role: String,
    pub share_profile: bool,
    pub share_profile_at: Option<DateTime<Utc>>,
    pub checkin_code: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An attendance with the attendee's name and, for users, their profile card.
#[derive(Debug, Clone, Queryable)]
pub struct AttendeeRow {
    pub attendance: AttendanceRow,
    pub display_name: Option<String>,
    pub card_email: Option<String>,
    pub card_phone: Option<String>,
    pub card_organization: Option<String>,
    pub card_headline: Option<String>,
    pub card_city: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = attendances)]
pub struct NewAttendance {
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Option<Uuid>,
    pub guest_name: Option<String>,
    pub guest_email: Option<String>,
    pub status: String,
    pub role: String,
    pub share_profile: bool,
    pub share_profile_at: Option<DateTime<Utc>>,
    pub checkin_code: String,
}

/// What adding an attendee led to.
pub enum Added {
    Attendance(Box<AttendanceRow>),
    /// The user already attends, or the id is taken.
    Duplicate,
    /// The check-in code collides; the caller draws another.
    CodeTaken,
}

pub fn create(conn: &mut PgConnection, attendance: &NewAttendance) -> Result<Added, ApiError> {
    let inserted = diesel::insert_into(attendances::table)
        .values(attendance)
        .returning(AttendanceRow::as_returning())
        .get_result(conn);
    match inserted {
        Ok(row) => Ok(Added::Attendance(Box::new(row))),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) => {
            if info.constraint_name() == Some("attendances_checkin_code_key") {
                Ok(Added::CodeTaken)
            } else {
                Ok(Added::Duplicate)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The event's attendees, in order of registration, when `organizer` runs the event.
pub fn list_for_organizer(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<AttendeeRow>, ApiError> {
    let mut select = attendances::table
        .inner_join(events::table)
        .left_join(users::table.on(users::id.nullable().eq(attendances::user_id)))
        .left_join(profile_cards::table.on(profile_cards::owner_id.nullable().eq(attendances::user_id)))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .order((attendances::created_at.asc(), attendances::id.asc()))
        .limit(limit + 1)
        .select((
            AttendanceRow::as_select(),
            users::display_name.nullable(),
            profile_cards::email.nullable(),
            profile_cards::phone.nullable(),
            profile_cards::organization.nullable(),
            profile_cards::headline.nullable(),
            profile_cards::city.nullable(),
        ))
        .into_boxed();
    if let Some((at, id)) = after {
        select = select.filter(
            attendances::created_at
                .gt(at)
                .or(attendances::created_at.eq(at).and(attendances::id.gt(id))),
        );
    }
    Ok(select.load(conn)?)
}

/// One attendance of an event `organizer` runs.
pub fn find_for_organizer(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    id: Uuid,
) -> Result<AttendanceRow, ApiError> {
    Ok(attendances::table
        .inner_join(events::table)
        .filter(attendances::id.eq(id))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .select(AttendanceRow::as_select())
        .first(conn)?)
}

/// Live attendances of the event that are not cancelled (for capacity).
pub fn count_taking_places(conn: &mut PgConnection, event_id: Uuid) -> Result<i64, ApiError> {
    Ok(attendances::table
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::deleted_at.is_null())
        .filter(attendances::status.eq_any(["registered", "checked_in"]))
        .filter(attendances::role.ne("organizer"))
        .count()
        .get_result(conn)?)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = attendances)]
pub struct AttendanceChanges {
    pub guest_name: Option<Option<String>>,
    pub guest_email: Option<Option<String>>,
    pub status: Option<String>,
    pub role: Option<String>,
    pub checked_in_at: Option<Option<DateTime<Utc>>>,
}

pub fn update(
    conn: &mut PgConnection,
    id: Uuid,
    changes: &AttendanceChanges,
) -> Result<AttendanceRow, ApiError> {
    Ok(diesel::update(
        attendances::table
            .filter(attendances::id.eq(id))
            .filter(attendances::deleted_at.is_null()),
    )
    .set((changes, attendances::updated_at.eq(diesel::dsl::now)))
    .returning(AttendanceRow::as_returning())
    .get_result(conn)?)
}

pub fn delete(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let n = diesel::update(
        attendances::table
            .filter(attendances::id.eq(id))
            .filter(attendances::deleted_at.is_null()),
    )
    .set((
        attendances::deleted_at.eq(diesel::dsl::now),
        attendances::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// The user's own attendances (for their export).
pub fn all_by_user(conn: &mut PgConnection, user: Uuid) -> Result<Vec<AttendanceRow>, ApiError> {
    Ok(attendances::table
        .filter(attendances::user_id.eq(user))
        .filter(attendances::deleted_at.is_null())
        .order(attendances::created_at.asc())
        .select(AttendanceRow::as_select())
        .load(conn)?)
}

/// Who already attends an event, as an import matches them: guests by their email (or
/// their name when they have none), users by their account email.
#[derive(Debug, Clone, Queryable)]
pub struct RosterRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub guest_name: Option<String>,
    pub guest_email: Option<String>,
    pub user_email: Option<String>,
}

/// The live attendances of an event (the caller has checked the organizer).
pub fn roster(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<RosterRow>, ApiError> {
    Ok(attendances::table
        .left_join(users::table.on(users::id.nullable().eq(attendances::user_id)))
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::deleted_at.is_null())
        .order((attendances::created_at.asc(), attendances::id.asc()))
        .select((
            attendances::id,
            attendances::user_id,
            attendances::guest_name,
            attendances::guest_email,
            users::email.nullable(),
        ))
        .load(conn)?)
}
