//! The people a user met.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use uuid::Uuid;

use super::schema::contacts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub city: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub how_we_met: String,
    pub met_at_event_id: Option<Uuid>,
    pub first_met_on: Option<NaiveDate>,
    pub they_brought: String,
    pub i_can_offer: String,
    pub met_in_person: bool,
    pub keep_in_touch_days: Option<i32>,
    pub starred: bool,
    pub last_interaction_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = contacts)]
pub struct NewContact {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub city: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub how_we_met: String,
    pub met_at_event_id: Option<Uuid>,
    pub first_met_on: Option<NaiveDate>,
    pub they_brought: String,
    pub i_can_offer: String,
    pub met_in_person: bool,
    pub keep_in_touch_days: Option<i32>,
    pub starred: bool,
}

/// Inserts a contact; `Ok(None)` when the id is already taken (by this user or another:
/// the caller cannot tell which, and nothing of the other record is revealed).
pub fn create(conn: &mut PgConnection, contact: &NewContact) -> QueryResult<Option<ContactRow>> {
    let inserted = diesel::insert_into(contacts::table)
        .values(contact)
        .on_conflict(contacts::id)
        .do_nothing()
        .returning(ContactRow::as_returning())
        .get_result(conn)
        .optional()?;
    Ok(inserted)
}

pub fn find_by_id_and_owner(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<ContactRow> {
    contacts::table
        .filter(contacts::id.eq(id))
        .filter(contacts::owner_id.eq(owner))
        .filter(contacts::deleted_at.is_null())
        .select(ContactRow::as_select())
        .first(conn)
}

/// True when `id` is a live contact of `owner`.
pub fn exists_for_owner(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::owner_id.eq(owner))
            .filter(contacts::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// What `GET /v1/contacts` asks for.
#[derive(Debug, Default)]
pub struct ContactQuery {
    /// Matched, case-insensitively, anywhere in name, organization, notes or tags.
    pub q: Option<String>,
    pub tag: Option<String>,
    pub event_id: Option<Uuid>,
    /// Keyset cursor: the last id of the previous page.
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// A page of the owner's live contacts, ordered by id (creation order for UUIDv7 ids).
/// Answers up to `limit + 1` rows so the caller knows whether another page follows.
pub fn list_by_owner(
    conn: &mut PgConnection,
    owner: Uuid,
    query: &ContactQuery,
) -> QueryResult<Vec<ContactRow>> {
    let mut select = contacts::table
        .filter(contacts::owner_id.eq(owner))
        .filter(contacts::deleted_at.is_null())
        .select(ContactRow::as_select())
        .order(contacts::id.asc())
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(after) = query.after {
        select = select.filter(contacts::id.gt(after));
    }
    if let Some(tag) = &query.tag {
        select = select.filter(contacts::tags.contains(vec![tag.clone()]));
    }
    if let Some(event_id) = query.event_id {
        select = select.filter(contacts::met_at_event_id.eq(event_id));
    }
    if let Some(q) = &query.q {
        let pattern = super::like_pattern(q);
        select = select.filter(
            contacts::name
                .ilike(pattern.clone())
                .or(contacts::organization.ilike(pattern.clone()))
                .or(contacts::notes.ilike(pattern.clone()))
                .or(sql::<Bool>("array_to_string(contacts.tags, ' ') ILIKE ").bind::<Text, _>(pattern)),
        );
    }
    select.load(conn)
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = contacts)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub organization: Option<Option<String>>,
    pub job_title: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub emails: Option<Vec<String>>,
    pub phones: Option<Vec<String>>,
    pub links: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub notes: Option<String>,
    pub how_we_met: Option<String>,
    pub met_at_event_id: Option<Option<Uuid>>,
    pub first_met_on: Option<Option<NaiveDate>>,
    pub they_brought: Option<String>,
    pub i_can_offer: Option<String>,
    pub met_in_person: Option<bool>,
    pub keep_in_touch_days: Option<Option<i32>>,
    pub starred: Option<bool>,
}

pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &ContactChanges,
) -> QueryResult<ContactRow> {
    let row = diesel::update(
        contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::owner_id.eq(owner))
            .filter(contacts::deleted_at.is_null()),
    )
    .set((changes, contacts::updated_at.eq(diesel::dsl::now)))
    .returning(ContactRow::as_returning())
    .get_result(conn)?;
    Ok(row)
}

/// Marks the contact deleted (kept as a tombstone for sync and restore); its interactions
/// and reminders are deleted with it.
pub fn delete(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<()> {
    conn.transaction(|conn| {
        let n = diesel::update(
            contacts::table
                .filter(contacts::id.eq(id))
                .filter(contacts::owner_id.eq(owner))
                .filter(contacts::deleted_at.is_null()),
        )
        .set((
            contacts::deleted_at.eq(diesel::dsl::now),
            contacts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(diesel::result::Error::NotFound);
        }
        super::interactions::delete_for_contacts(conn, owner, &[id])?;
        super::reminders::delete_for_contacts(conn, owner, &[id])?;
        Ok(())
    })
}

/// Sets `last_interaction_at` to the latest live interaction with the contact.
pub fn refresh_last_interaction(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
) -> QueryResult<Option<DateTime<Utc>>> {
    let latest = super::interactions::latest_at(conn, owner, id)?;
    diesel::update(
        contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::owner_id.eq(owner)),
    )
    .set((
        contacts::last_interaction_at.eq(latest),
        contacts::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    Ok(latest)
}

pub fn all_by_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<ContactRow>> {
    contacts::table
        .filter(contacts::owner_id.eq(owner))
        .filter(contacts::deleted_at.is_null())
        .order(contacts::id.asc())
        .select(ContactRow::as_select())
        .load(conn)
}

/// The live contact `owner` made by exchanging cards with `source_user` at the event.
pub fn find_exchanged(
    conn: &mut PgConnection,
    owner: Uuid,
    event_id: Uuid,
    source_user: Uuid,
) -> QueryResult<Option<ContactRow>> {
    contacts::table
        .filter(contacts::owner_id.eq(owner))
        .filter(contacts::met_at_event_id.eq(event_id))
        .filter(contacts::source_user_id.eq(source_user))
        .filter(contacts::deleted_at.is_null())
        .select(ContactRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts a contact made from `source_user`'s card; `Ok(None)` when a concurrent exchange
/// with the same person at the same event made it first (the caller updates that one).
pub fn create_exchanged(
    conn: &mut PgConnection,
    contact: &NewContact,
    source_user: Uuid,
) -> QueryResult<Option<ContactRow>> {
    diesel::insert_into(contacts::table)
        .values((contact, contacts::source_user_id.eq(source_user)))
        .on_conflict_do_nothing()
        .returning(ContactRow::as_returning())
        .get_result(conn)
        .optional()
}

/// Serialises imports of one owner until the transaction ends, so two imports of the same
/// file at once cannot both create the same person.
pub fn lock_owner_for_import(conn: &mut PgConnection, owner: Uuid) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind::<Text, _>(owner.to_string())
        .execute(conn)?;
    Ok(())
}

/// Inserts many contacts, in batches that stay under PostgreSQL's bind-parameter limit.
pub fn create_many(conn: &mut PgConnection, new: &[NewContact]) -> QueryResult<usize> {
    let mut n = 0;
    for batch in new.chunks(1_000) {
        n += diesel::insert_into(contacts::table).values(batch).execute(conn)?;
    }
    Ok(n)
}
