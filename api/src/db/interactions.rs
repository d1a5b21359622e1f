//! Touches with a contact: calls, lunches, messages.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::interactions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interactions)]
pub struct InteractionRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub contact_id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub notes: String,
    pub event_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = interactions)]
pub struct NewInteraction {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub contact_id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub notes: String,
    pub event_id: Option<Uuid>,
}

/// Inserts an interaction; `Ok(None)` when the id is already taken.
pub fn create(conn: &mut PgConnection, interaction: &NewInteraction) -> QueryResult<Option<InteractionRow>> {
    diesel::insert_into(interactions::table)
        .values(interaction)
        .on_conflict(interactions::id)
        .do_nothing()
        .returning(InteractionRow::as_returning())
        .get_result(conn)
        .optional()
}

pub fn find_by_id_and_owner(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<InteractionRow> {
    interactions::table
        .filter(interactions::id.eq(id))
        .filter(interactions::owner_id.eq(owner))
        .filter(interactions::deleted_at.is_null())
        .select(InteractionRow::as_select())
        .first(conn)
}

/// A page of the contact's interactions, newest first, after the cursor `(occurred_at, id)`.
pub fn list_for_contact(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<InteractionRow>> {
    let mut select = interactions::table
        .filter(interactions::owner_id.eq(owner))
        .filter(interactions::contact_id.eq(contact_id))
        .filter(interactions::deleted_at.is_null())
        .order((interactions::occurred_at.desc(), interactions::id.desc()))
        .limit(limit + 1)
        .select(InteractionRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        select = select.filter(
            interactions::occurred_at
                .lt(at)
                .or(interactions::occurred_at.eq(at).and(interactions::id.lt(id))),
        );
    }
    select.load(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = interactions)]
pub struct InteractionChanges {
    pub kind: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub event_id: Option<Option<Uuid>>,
}

pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &InteractionChanges,
) -> QueryResult<InteractionRow> {
    let row = diesel::update(
        interactions::table
            .filter(interactions::id.eq(id))
            .filter(interactions::owner_id.eq(owner))
            .filter(interactions::deleted_at.is_null()),
    )
    .set((changes, interactions::updated_at.eq(diesel::dsl::now)))
    .returning(InteractionRow::as_returning())
    .get_result(conn)?;
    Ok(row)
}

/// Marks the interaction deleted; answers its contact's id.
pub fn delete(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<Uuid> {
    diesel::update(
        interactions::table
            .filter(interactions::id.eq(id))
            .filter(interactions::owner_id.eq(owner))
            .filter(interactions::deleted_at.is_null()),
    )
    .set((
        interactions::deleted_at.eq(diesel::dsl::now),
        interactions::updated_at.eq(diesel::dsl::now),
    ))
    .returning(interactions::contact_id)
    .get_result(conn)
}

pub fn delete_for_contacts(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_ids: &[Uuid],
) -> diesel::QueryResult<usize> {
    diesel::update(
        interactions::table
            .filter(interactions::contact_id.eq_any(contact_ids))
            .filter(interactions::owner_id.eq(owner))
            .filter(interactions::deleted_at.is_null()),
    )
    .set((
        interactions::deleted_at.eq(diesel::dsl::now),
        interactions::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
}

/// When the latest live interaction with the contact happened.
pub fn latest_at(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_id: Uuid,
) -> QueryResult<Option<DateTime<Utc>>> {
    interactions::table
        .filter(interactions::owner_id.eq(owner))
        .filter(interactions::contact_id.eq(contact_id))
        .filter(interactions::deleted_at.is_null())
        .select(diesel::dsl::max(interactions::occurred_at))
        .first(conn)
}

pub fn all_by_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<InteractionRow>> {
    interactions::table
        .filter(interactions::owner_id.eq(owner))
        .filter(interactions::deleted_at.is_null())
        .order(interactions::occurred_at.asc())
        .select(InteractionRow::as_select())
        .load(conn)
}
