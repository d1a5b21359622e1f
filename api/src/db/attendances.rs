//! Who attends an event: users, and guests the organizer added.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{attendances, events, profile_cards, users};

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

/// The columns of an [`AttendeeRow`], for queries joining `users` and `profile_cards` on the
/// attendance's user.
type AttendeeColumns = (
    diesel::dsl::AsSelect<AttendanceRow, diesel::pg::Pg>,
    diesel::dsl::Nullable<users::display_name>,
    diesel::dsl::Nullable<profile_cards::email>,
    diesel::dsl::Nullable<profile_cards::phone>,
    diesel::dsl::Nullable<profile_cards::organization>,
    diesel::dsl::Nullable<profile_cards::headline>,
    diesel::dsl::Nullable<profile_cards::city>,
);

fn attendee_columns() -> AttendeeColumns {
    (
        AttendanceRow::as_select(),
        users::display_name.nullable(),
        profile_cards::email.nullable(),
        profile_cards::phone.nullable(),
        profile_cards::organization.nullable(),
        profile_cards::headline.nullable(),
        profile_cards::city.nullable(),
    )
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

pub fn create(conn: &mut PgConnection, attendance: &NewAttendance) -> QueryResult<Added> {
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
        Err(e) => Err(e),
    }
}

/// The event's attendees, in order of registration, when `organizer` runs the event.
pub fn list_for_organizer(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AttendeeRow>> {
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
        .select(attendee_columns())
        .into_boxed();
    if let Some((at, id)) = after {
        select = select.filter(listed_after(at, id));
    }
    select.load(conn)
}

/// Attendances listed after (`at`, `id`) in the attendee lists' order (joined, then id).
#[diesel::dsl::auto_type]
fn listed_after(at: DateTime<Utc>, id: Uuid) -> _ {
    attendances::created_at
        .gt(at)
        .or(attendances::created_at.eq(at).and(attendances::id.gt(id)))
}

/// One attendance of an event `organizer` runs.
pub fn find_for_organizer(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    id: Uuid,
) -> QueryResult<AttendanceRow> {
    attendances::table
        .inner_join(events::table)
        .filter(attendances::id.eq(id))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .select(AttendanceRow::as_select())
        .first(conn)
}

/// Live attendances of the event that are not cancelled (for capacity).
pub fn count_taking_places(conn: &mut PgConnection, event_id: Uuid) -> QueryResult<i64> {
    attendances::table
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::deleted_at.is_null())
        .filter(attendances::status.eq_any(["registered", "checked_in"]))
        .filter(attendances::role.ne("organizer"))
        .count()
        .get_result(conn)
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

/// Changes attendance `id` of the event (whose organizer or attendee the caller checked).
pub fn update(
    conn: &mut PgConnection,
    event_id: Uuid,
    id: Uuid,
    changes: &AttendanceChanges,
) -> QueryResult<AttendanceRow> {
    diesel::update(
        attendances::table
            .filter(attendances::id.eq(id))
            .filter(attendances::event_id.eq(event_id))
            .filter(attendances::deleted_at.is_null()),
    )
    .set((changes, attendances::updated_at.eq(diesel::dsl::now)))
    .returning(AttendanceRow::as_returning())
    .get_result(conn)
}

/// Removes attendance `id` of the event (whose organizer the caller checked).
pub fn delete(conn: &mut PgConnection, event_id: Uuid, id: Uuid) -> QueryResult<()> {
    let n = diesel::update(
        attendances::table
            .filter(attendances::id.eq(id))
            .filter(attendances::event_id.eq(event_id))
            .filter(attendances::deleted_at.is_null()),
    )
    .set((
        attendances::deleted_at.eq(diesel::dsl::now),
        attendances::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}

/// The user's own attendances (for their export).
pub fn all_by_user(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<AttendanceRow>> {
    attendances::table
        .filter(attendances::user_id.eq(user))
        .filter(attendances::deleted_at.is_null())
        .order(attendances::created_at.asc())
        .select(AttendanceRow::as_select())
        .load(conn)
}

/// Statuses that hold a place at the event.
pub const TAKING_PLACES: [&str; 2] = ["registered", "checked_in"];

/// The user's attendance at the event, live or removed by the organizer (`true` when
/// removed): a user has one attendance row per event, which a new join brings back.
pub fn find_by_event_and_user_any(
    conn: &mut PgConnection,
    event_id: Uuid,
    user: Uuid,
) -> QueryResult<Option<(AttendanceRow, bool)>> {
    attendances::table
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::user_id.eq(user))
        .select((AttendanceRow::as_select(), attendances::deleted_at.is_not_null()))
        .first(conn)
        .optional()
}

/// Brings back an attendance (cancelled or removed) with `status`; a removed one comes back
/// without consent and without its old check-in.
pub fn rejoin(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    was_removed: bool,
) -> QueryResult<AttendanceRow> {
    let target = attendances::table.filter(attendances::id.eq(id));
    let row = if was_removed {
        diesel::update(target)
            .set((
                attendances::status.eq(status),
                attendances::deleted_at.eq(None::<DateTime<Utc>>),
                attendances::checked_in_at.eq(None::<DateTime<Utc>>),
                attendances::share_profile.eq(false),
                attendances::share_profile_at.eq(None::<DateTime<Utc>>),
                attendances::role.eq("attendee"),
                attendances::updated_at.eq(diesel::dsl::now),
            ))
            .returning(AttendanceRow::as_returning())
            .get_result(conn)?
    } else {
        diesel::update(target)
            .set((
                attendances::status.eq(status),
                attendances::checked_in_at.eq(None::<DateTime<Utc>>),
                attendances::updated_at.eq(diesel::dsl::now),
            ))
            .returning(AttendanceRow::as_returning())
            .get_result(conn)?
    };
    Ok(row)
}

/// `user`'s own live attendance at a live event, whatever its status.
pub fn find_by_event_and_user(
    conn: &mut PgConnection,
    user: Uuid,
    event_id: Uuid,
) -> QueryResult<AttendanceRow> {
    attendances::table
        .inner_join(events::table)
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::user_id.eq(user))
        .filter(attendances::deleted_at.is_null())
        .filter(events::deleted_at.is_null())
        .select(AttendanceRow::as_select())
        .first(conn)
}

/// Records `user`'s consent to share their profile card at this event, or its withdrawal,
/// with the time of the decision. Answers the row unchanged when the choice is the same.
pub fn set_consent(conn: &mut PgConnection, user: Uuid, id: Uuid, share: bool) -> QueryResult<AttendanceRow> {
    let target = attendances::table
        .filter(attendances::id.eq(id))
        .filter(attendances::user_id.eq(user))
        .filter(attendances::deleted_at.is_null());
    let changed = diesel::update(target.filter(attendances::share_profile.ne(share)))
        .set((
            attendances::share_profile.eq(share),
            attendances::share_profile_at.eq(diesel::dsl::now),
            attendances::updated_at.eq(diesel::dsl::now),
        ))
        .returning(AttendanceRow::as_returning())
        .get_result(conn)
        .optional()?;
    match changed {
        Some(row) => Ok(row),
        None => Ok(target.select(AttendanceRow::as_select()).first(conn)?),
    }
}

/// Moves waitlisted attendances to registered, first in line first, while the event has
/// free places (all of them when it has no capacity). Call it with the event row locked
/// (see `events::lock_*`), so two transactions never hand out the same place. Answers the
/// promoted attendances' ids.
pub fn promote_waitlisted(
    conn: &mut PgConnection,
    event_id: Uuid,
    capacity: Option<i32>,
) -> QueryResult<Vec<Uuid>> {
    let free = match capacity {
        Some(capacity) => i64::from(capacity) - count_taking_places(conn, event_id)?,
        None => i64::MAX,
    };
    if free <= 0 {
        return Ok(Vec::new());
    }
    let first: Vec<Uuid> = attendances::table
        .filter(attendances::event_id.eq(event_id))
        .filter(attendances::deleted_at.is_null())
        .filter(attendances::status.eq("waitlisted"))
        .order((
            attendances::waitlisted_at.asc(),
            attendances::created_at.asc(),
            attendances::id.asc(),
        ))
        .limit(free)
        .select(attendances::id)
        .load(conn)?;
    if first.is_empty() {
        return Ok(first);
    }
    diesel::update(attendances::table.filter(attendances::id.eq_any(&first)))
        .set((
            attendances::status.eq("registered"),
            attendances::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(first)
}

/// One attendance of an event `organizer` runs, with the attendee's name and card.
pub fn find_attendee_for_organizer(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    id: Uuid,
) -> QueryResult<AttendeeRow> {
    attendances::table
        .inner_join(events::table)
        .left_join(users::table.on(users::id.nullable().eq(attendances::user_id)))
        .left_join(profile_cards::table.on(profile_cards::owner_id.nullable().eq(attendances::user_id)))
        .filter(attendances::id.eq(id))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .select(attendee_columns())
        .first(conn)
}

/// The attendance holding this check-in code at an event `organizer` runs.
pub fn find_by_checkin_code(
    conn: &mut PgConnection,
    organizer: Uuid,
    event_id: Uuid,
    code: &str,
) -> QueryResult<Option<AttendanceRow>> {
    attendances::table
        .inner_join(events::table)
        .filter(attendances::checkin_code.eq(code))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .select(AttendanceRow::as_select())
        .first(conn)
        .optional()
}

/// Checks the attendance in; a second check-in keeps the first time.
pub fn check_in(conn: &mut PgConnection, event_id: Uuid, id: Uuid) -> QueryResult<AttendanceRow> {
    diesel::update(
        attendances::table
            .filter(attendances::id.eq(id))
            .filter(attendances::event_id.eq(event_id))
            .filter(attendances::deleted_at.is_null()),
    )
    .set((
        attendances::status.eq("checked_in"),
        attendances::checked_in_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("COALESCE(attendances.checked_in_at, now())")),
        attendances::updated_at.eq(diesel::dsl::now),
    ))
    .returning(AttendanceRow::as_returning())
    .get_result(conn)
}

/// The event's attendees as one of its attendees may see them: users who consented to
/// share their card and hold a place. Empty unless `user` attends the event (not
/// cancelled) and its organizer opened the list to attendees.
pub fn list_consenting_for_attendee(
    conn: &mut PgConnection,
    user: Uuid,
    event_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AttendeeRow>> {
    if !holds_attendance(conn, user, event_id, &["registered", "checked_in", "waitlisted"])? {
        return Ok(Vec::new());
    }
    let mut select = attendances::table
        .inner_join(events::table)
        .inner_join(users::table.on(users::id.nullable().eq(attendances::user_id)))
        .left_join(profile_cards::table.on(profile_cards::owner_id.nullable().eq(attendances::user_id)))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::deleted_at.is_null())
        .filter(events::attendee_list_visibility.eq("attendees"))
        .filter(attendances::deleted_at.is_null())
        .filter(attendances::share_profile.eq(true))
        .filter(attendances::status.eq_any(TAKING_PLACES))
        .order((attendances::created_at.asc(), attendances::id.asc()))
        .limit(limit + 1)
        .select(attendee_columns())
        .into_boxed();
    if let Some((at, id)) = after {
        select = select.filter(listed_after(at, id));
    }
    select.load(conn)
}

/// The card an attendee shares at an event, for a contact exchange.
#[derive(Debug, Clone, Queryable)]
pub struct SharedCard {
    pub user_id: Uuid,
    pub display_name: String,
    pub headline: Option<String>,
    pub organization: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub links: Option<Vec<String>>,
    pub city: Option<String>,
}

/// The card of attendance `id` at the event, when `user` holds a place there too and the
/// attendee (another user, holding a place) consented to share it.
pub fn find_shared_card(
    conn: &mut PgConnection,
    user: Uuid,
    event_id: Uuid,
    id: Uuid,
) -> QueryResult<SharedCard> {
    if !holds_attendance(conn, user, event_id, &TAKING_PLACES)? {
        return Err(diesel::result::Error::NotFound);
    }
    attendances::table
        .inner_join(events::table)
        .inner_join(users::table.on(users::id.nullable().eq(attendances::user_id)))
        .left_join(profile_cards::table.on(profile_cards::owner_id.nullable().eq(attendances::user_id)))
        .filter(attendances::id.eq(id))
        .filter(attendances::event_id.eq(event_id))
        .filter(events::deleted_at.is_null())
        .filter(attendances::deleted_at.is_null())
        .filter(attendances::share_profile.eq(true))
        .filter(attendances::status.eq_any(TAKING_PLACES))
        .filter(users::id.ne(user))
        .select((
            users::id,
            users::display_name,
            profile_cards::headline.nullable(),
            profile_cards::organization.nullable(),
            profile_cards::email.nullable(),
            profile_cards::phone.nullable(),
            profile_cards::links.nullable(),
            profile_cards::city.nullable(),
        ))
        .first(conn)
}

/// True when `user` has a live attendance at the event with one of `statuses`.
fn holds_attendance(
    conn: &mut PgConnection,
    user: Uuid,
    event_id: Uuid,
    statuses: &[&str],
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        attendances::table
            .filter(attendances::event_id.eq(event_id))
            .filter(attendances::user_id.eq(user))
            .filter(attendances::deleted_at.is_null())
            .filter(attendances::status.eq_any(statuses)),
    ))
    .get_result(conn)
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
pub fn roster(conn: &mut PgConnection, event_id: Uuid) -> QueryResult<Vec<RosterRow>> {
    attendances::table
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
        .load(conn)
}
