//! Events, as their organizer manages them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{attendances, events};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: Uuid,
    pub organizer_id: Uuid,
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
    pub visibility: String,
    pub attendee_list_visibility: String,
    pub join_code: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub id: Uuid,
    pub organizer_id: Uuid,
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
    pub visibility: String,
    pub attendee_list_visibility: String,
    pub join_code: String,
}

/// What creating an event led to.
pub enum Created {
    Event(Box<EventRow>),
    /// The id is taken (by this user or someone else).
    IdTaken,
    /// The join code collides with an open event; the caller draws another.
    CodeTaken,
}

/// Inserts the event and its organizer's own attendance, in one transaction.
pub fn create(
    conn: &mut PgConnection,
    event: &NewEvent,
    organizer_checkin_code: &str,
) -> QueryResult<Created> {
    let outcome = conn.transaction(|conn| {
        let row = diesel::insert_into(events::table)
            .values(event)
            .returning(EventRow::as_returning())
            .get_result(conn)?;
        diesel::insert_into(attendances::table)
            .values((
                attendances::id.eq(Uuid::now_v7()),
                attendances::event_id.eq(row.id),
                attendances::user_id.eq(event.organizer_id),
                attendances::role.eq("organizer"),
                attendances::status.eq("registered"),
                attendances::checkin_code.eq(organizer_checkin_code),
            ))
            .execute(conn)?;
        Ok::<_, diesel::result::Error>(row)
    });
    match outcome {
        Ok(row) => Ok(Created::Event(Box::new(row))),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) => match info.constraint_name() {
            Some("events_join_code_key") => Ok(Created::CodeTaken),
            Some("attendances_checkin_code_key") => Ok(Created::CodeTaken),
            _ => Ok(Created::IdTaken),
        },
        Err(e) => Err(e),
    }
}

/// The event, when `organizer` runs it.
pub fn find_by_id_and_organizer(conn: &mut PgConnection, organizer: Uuid, id: Uuid) -> QueryResult<EventRow> {
    events::table
        .filter(events::id.eq(id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .select(EventRow::as_select())
        .first(conn)
}

/// The event, when `user` organises it or attends it (any attendance not cancelled).
pub fn find_by_id_for_member(conn: &mut PgConnection, user: Uuid, id: Uuid) -> QueryResult<EventRow> {
    events::table
        .filter(events::id.eq(id))
        .filter(events::deleted_at.is_null())
        .filter(
            events::organizer_id.eq(user).or(diesel::dsl::exists(
                attendances::table
                    .filter(attendances::event_id.eq(events::id))
                    .filter(attendances::user_id.eq(user))
                    .filter(attendances::deleted_at.is_null())
                    .filter(attendances::status.ne("cancelled")),
            )),
        )
        .select(EventRow::as_select())
        .first(conn)
}

/// The events `user` organises or attends, soonest first, after the cursor `(starts_at, id)`.
pub fn list_for_member(
    conn: &mut PgConnection,
    user: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut select = events::table
        .filter(events::deleted_at.is_null())
        .filter(
            events::organizer_id.eq(user).or(diesel::dsl::exists(
                attendances::table
                    .filter(attendances::event_id.eq(events::id))
                    .filter(attendances::user_id.eq(user))
                    .filter(attendances::deleted_at.is_null())
                    .filter(attendances::status.ne("cancelled")),
            )),
        )
        .order((events::starts_at.asc(), events::id.asc()))
        .limit(limit + 1)
        .select(EventRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        select = select.filter(
            events::starts_at
                .gt(at)
                .or(events::starts_at.eq(at).and(events::id.gt(id))),
        );
    }
    select.load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = events)]
pub struct EventChanges {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub venue: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub timezone: Option<String>,
    pub capacity: Option<Option<i32>>,
    pub visibility: Option<String>,
    pub attendee_list_visibility: Option<String>,
}

pub fn update(
    conn: &mut PgConnection,
    organizer: Uuid,
    id: Uuid,
    changes: &EventChanges,
) -> QueryResult<EventRow> {
    let row = diesel::update(
        events::table
            .filter(events::id.eq(id))
            .filter(events::organizer_id.eq(organizer))
            .filter(events::deleted_at.is_null()),
    )
    .set((changes, events::updated_at.eq(diesel::dsl::now)))
    .returning(EventRow::as_returning())
    .get_result(conn)?;
    Ok(row)
}

/// Marks the event deleted (its join code is freed); its attendances go with it.
pub fn delete(conn: &mut PgConnection, organizer: Uuid, id: Uuid) -> QueryResult<()> {
    conn.transaction(|conn| {
        let n = diesel::update(
            events::table
                .filter(events::id.eq(id))
                .filter(events::organizer_id.eq(organizer))
                .filter(events::deleted_at.is_null()),
        )
        .set((
            events::deleted_at.eq(diesel::dsl::now),
            events::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(diesel::result::Error::NotFound);
        }
        diesel::update(
            attendances::table
                .filter(attendances::event_id.eq(id))
                .filter(attendances::deleted_at.is_null()),
        )
        .set((
            attendances::deleted_at.eq(diesel::dsl::now),
            attendances::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
        Ok(())
    })
}

pub fn all_by_organizer(conn: &mut PgConnection, organizer: Uuid) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .order(events::starts_at.asc())
        .select(EventRow::as_select())
        .load(conn)
}

/// The open event with this join code, its row locked until the transaction ends (joins and
/// cancellations of one event take places one at a time).
pub fn lock_by_join_code(conn: &mut PgConnection, code: &str) -> QueryResult<Option<EventRow>> {
    events::table
        .filter(events::join_code.eq(code))
        .filter(events::deleted_at.is_null())
        .select(EventRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// The event, when `organizer` runs it, its row locked until the transaction ends.
pub fn lock_by_id_and_organizer(conn: &mut PgConnection, organizer: Uuid, id: Uuid) -> QueryResult<EventRow> {
    events::table
        .filter(events::id.eq(id))
        .filter(events::organizer_id.eq(organizer))
        .filter(events::deleted_at.is_null())
        .select(EventRow::as_select())
        .for_update()
        .first(conn)
}

/// Locks the live event's row for a change of places; answers its capacity, `None` when
/// there is no such live event.
pub fn lock_capacity(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Option<i32>>> {
    events::table
        .filter(events::id.eq(id))
        .filter(events::deleted_at.is_null())
        .select(events::capacity)
        .for_update()
        .first(conn)
        .optional()
}

/// Locks, in id order, the rows of the events these attendances belong to, so a writer
/// that then locks the attendances takes the locks in the order the organizer flows do
/// (event first).
pub fn lock_of_attendances(conn: &mut PgConnection, attendance_ids: &[Uuid]) -> QueryResult<Vec<Uuid>> {
    events::table
        .filter(
            events::id.eq_any(
                attendances::table
                    .filter(attendances::id.eq_any(attendance_ids))
                    .select(attendances::event_id),
            ),
        )
        .order(events::id.asc())
        .select(events::id)
        .for_update()
        .load(conn)
}

/// The event, when `user` has an attendance at it (cancelled ones included: a cancelled
/// attendee may register again), its row locked until the transaction ends.
pub fn lock_for_attendee(conn: &mut PgConnection, user: Uuid, id: Uuid) -> QueryResult<EventRow> {
    events::table
        .filter(events::id.eq(id))
        .filter(events::deleted_at.is_null())
        .filter(diesel::dsl::exists(
            attendances::table
                .filter(attendances::event_id.eq(events::id))
                .filter(attendances::user_id.eq(user))
                .filter(attendances::deleted_at.is_null()),
        ))
        .select(EventRow::as_select())
        .for_update()
        .first(conn)
}

/// The live events run by someone else where `user` holds a place, their rows locked in id
/// order until the transaction ends, so erasing the account can hand those places on.
pub fn lock_where_holding_place(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::deleted_at.is_null())
        .filter(events::organizer_id.ne(user))
        .filter(diesel::dsl::exists(
            attendances::table
                .filter(attendances::event_id.eq(events::id))
                .filter(attendances::user_id.eq(user))
                .filter(attendances::deleted_at.is_null())
                .filter(attendances::status.eq_any(super::attendances::TAKING_PLACES)),
        ))
        .order(events::id.asc())
        .select(EventRow::as_select())
        .for_update()
        .load(conn)
}

/// Gives the event `organizer` runs a new join code; the old one stops working at once.
/// `Ok(None)` when another open event holds `code` (the caller draws another).
pub fn set_join_code(
    conn: &mut PgConnection,
    organizer: Uuid,
    id: Uuid,
    code: &str,
) -> QueryResult<Option<EventRow>> {
    let outcome = conn.transaction(|conn| {
        diesel::update(
            events::table
                .filter(events::id.eq(id))
                .filter(events::organizer_id.eq(organizer))
                .filter(events::deleted_at.is_null()),
        )
        .set((
            events::join_code.eq(code),
            events::updated_at.eq(diesel::dsl::now),
        ))
        .returning(EventRow::as_returning())
        .get_result(conn)
    });
    match outcome {
        Ok(row) => Ok(Some(row)),
        Err(e) if super::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}
