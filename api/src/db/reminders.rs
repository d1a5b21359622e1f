//! Follow-ups, and the one open "keep in touch" reminder a contact's cadence keeps.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::reminders;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reminders)]
pub struct ReminderRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub title: String,
    pub notes: String,
    pub due_local: NaiveDateTime,
    pub timezone: String,
    pub due_at: DateTime<Utc>,
    pub repeat_every: Option<i32>,
    pub repeat_unit: Option<String>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub status: String,
    pub completed_at: Option<DateTime<Utc>>,
    pub origin: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reminders)]
pub struct NewReminder {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub title: String,
    pub notes: String,
    pub due_local: NaiveDateTime,
    pub timezone: String,
    pub due_at: DateTime<Utc>,
    pub repeat_every: Option<i32>,
    pub repeat_unit: Option<String>,
    pub origin: String,
}

/// Inserts a reminder; `Ok(None)` when the id is already taken.
pub fn create(conn: &mut PgConnection, reminder: &NewReminder) -> QueryResult<Option<ReminderRow>> {
    diesel::insert_into(reminders::table)
        .values(reminder)
        .on_conflict(reminders::id)
        .do_nothing()
        .returning(ReminderRow::as_returning())
        .get_result(conn)
        .optional()
}

pub fn find_by_id_and_owner(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<ReminderRow> {
    reminders::table
        .filter(reminders::id.eq(id))
        .filter(reminders::owner_id.eq(owner))
        .filter(reminders::deleted_at.is_null())
        .select(ReminderRow::as_select())
        .first(conn)
}

#[derive(Debug, Default)]
pub struct ReminderQuery {
    /// `open`, `done` or `cancelled`; all when `None`.
    pub status: Option<String>,
    pub contact_id: Option<Uuid>,
    /// Only reminders due before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Keyset cursor `(due_at, id)` of the previous page's last row.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A page of the owner's reminders, soonest due first.
pub fn list_by_owner(
    conn: &mut PgConnection,
    owner: Uuid,
    query: &ReminderQuery,
) -> QueryResult<Vec<ReminderRow>> {
    let mut select = reminders::table
        .filter(reminders::owner_id.eq(owner))
        .filter(reminders::deleted_at.is_null())
        .order((reminders::due_at.asc(), reminders::id.asc()))
        .limit(query.limit + 1)
        .select(ReminderRow::as_select())
        .into_boxed();
    if let Some(status) = &query.status {
        select = select.filter(reminders::status.eq(status.clone()));
    }
    if let Some(contact_id) = query.contact_id {
        select = select.filter(reminders::contact_id.eq(contact_id));
    }
    if let Some(before) = query.due_before {
        select = select.filter(reminders::due_at.lt(before));
    }
    if let Some((at, id)) = query.after {
        select = select.filter(
            reminders::due_at
                .gt(at)
                .or(reminders::due_at.eq(at).and(reminders::id.gt(id))),
        );
    }
    select.load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = reminders)]
pub struct ReminderChanges {
    pub title: Option<String>,
    pub notes: Option<String>,
    pub contact_id: Option<Option<Uuid>>,
    pub event_id: Option<Option<Uuid>>,
    pub due_local: Option<NaiveDateTime>,
    pub timezone: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub repeat_every: Option<Option<i32>>,
    pub repeat_unit: Option<Option<String>>,
    pub snoozed_until: Option<Option<DateTime<Utc>>>,
    pub status: Option<String>,
    pub completed_at: Option<Option<DateTime<Utc>>>,
}

pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &ReminderChanges,
) -> QueryResult<ReminderRow> {
    let row = diesel::update(
        reminders::table
            .filter(reminders::id.eq(id))
            .filter(reminders::owner_id.eq(owner))
            .filter(reminders::deleted_at.is_null()),
    )
    .set((changes, reminders::updated_at.eq(diesel::dsl::now)))
    .returning(ReminderRow::as_returning())
    .get_result(conn)?;
    Ok(row)
}

pub fn delete(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<()> {
    let n = diesel::update(
        reminders::table
            .filter(reminders::id.eq(id))
            .filter(reminders::owner_id.eq(owner))
            .filter(reminders::deleted_at.is_null()),
    )
    .set((
        reminders::deleted_at.eq(diesel::dsl::now),
        reminders::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}

pub fn delete_for_contacts(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_ids: &[Uuid],
) -> diesel::QueryResult<usize> {
    diesel::update(
        reminders::table
            .filter(reminders::contact_id.eq_any(contact_ids))
            .filter(reminders::owner_id.eq(owner))
            .filter(reminders::deleted_at.is_null()),
    )
    .set((
        reminders::deleted_at.eq(diesel::dsl::now),
        reminders::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
}

/// The contact's open keep-in-touch reminder, if any.
pub fn find_keep_in_touch(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_id: Uuid,
) -> QueryResult<Option<ReminderRow>> {
    reminders::table
        .filter(reminders::owner_id.eq(owner))
        .filter(reminders::contact_id.eq(contact_id))
        .filter(reminders::origin.eq("keep_in_touch"))
        .filter(reminders::status.eq("open"))
        .filter(reminders::deleted_at.is_null())
        .select(ReminderRow::as_select())
        .first(conn)
        .optional()
}

/// Moves the contact's keep-in-touch reminder to `due` (creating it when missing), or
/// cancels it when the contact no longer has a cadence (`due` is `None`).
pub fn set_keep_in_touch(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_id: Uuid,
    due: Option<(NaiveDateTime, &str, DateTime<Utc>)>,
    title: &str,
) -> QueryResult<()> {
    let existing = find_keep_in_touch(conn, owner, contact_id)?;
    match (existing, due) {
        (None, None) => {}
        (Some(row), None) => {
            let changes = ReminderChanges {
                status: Some("cancelled".into()),
                completed_at: Some(Some(Utc::now())),
                ..Default::default()
            };
            update(conn, owner, row.id, &changes)?;
        }
        (Some(row), Some((local, zone, at))) => {
            let changes = ReminderChanges {
                title: Some(title.into()),
                due_local: Some(local),
                timezone: Some(zone.into()),
                due_at: Some(at),
                snoozed_until: Some(None),
                ..Default::default()
            };
            update(conn, owner, row.id, &changes)?;
        }
        (None, Some((local, zone, at))) => {
            create(
                conn,
                &NewReminder {
                    id: Uuid::now_v7(),
                    owner_id: owner,
                    contact_id: Some(contact_id),
                    event_id: None,
                    title: title.into(),
                    notes: String::new(),
                    due_local: local,
                    timezone: zone.into(),
                    due_at: at,
                    repeat_every: None,
                    repeat_unit: None,
                    origin: "keep_in_touch".into(),
                },
            )?;
        }
    }
    Ok(())
}

pub fn all_by_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<ReminderRow>> {
    reminders::table
        .filter(reminders::owner_id.eq(owner))
        .filter(reminders::deleted_at.is_null())
        .order(reminders::due_at.asc())
        .select(ReminderRow::as_select())
        .load(conn)
}
