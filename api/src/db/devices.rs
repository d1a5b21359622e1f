//! A user's phones and browsers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::devices;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = devices)]
pub struct DeviceRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub platform: String,
    pub name: String,
    pub push_provider: Option<String>,
    pub push_token: Option<String>,
    pub app_version: Option<String>,
    pub active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub last_mutation_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = devices)]
pub struct NewDevice {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub platform: String,
    pub name: String,
    pub push_provider: Option<String>,
    pub push_token: Option<String>,
    pub app_version: Option<String>,
}

/// Registers a device; `Ok(None)` when the id is already taken.
pub fn create(conn: &mut PgConnection, device: &NewDevice) -> QueryResult<Option<DeviceRow>> {
    diesel::insert_into(devices::table)
        .values(device)
        .on_conflict(devices::id)
        .do_nothing()
        .returning(DeviceRow::as_returning())
        .get_result(conn)
        .optional()
}

pub fn list_by_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<DeviceRow>> {
    devices::table
        .filter(devices::owner_id.eq(owner))
        .order(devices::created_at.asc())
        .select(DeviceRow::as_select())
        .load(conn)
}

pub fn find_by_id_and_owner(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<DeviceRow> {
    devices::table
        .filter(devices::id.eq(id))
        .filter(devices::owner_id.eq(owner))
        .select(DeviceRow::as_select())
        .first(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = devices)]
pub struct DeviceChanges {
    pub name: Option<String>,
    pub push_provider: Option<Option<String>>,
    pub push_token: Option<Option<String>>,
    pub app_version: Option<Option<String>>,
    pub active: Option<bool>,
    pub deactivated_at: Option<Option<DateTime<Utc>>>,
}

pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &DeviceChanges,
) -> QueryResult<DeviceRow> {
    diesel::update(
        devices::table
            .filter(devices::id.eq(id))
            .filter(devices::owner_id.eq(owner)),
    )
    .set((changes, devices::updated_at.eq(diesel::dsl::now)))
    .returning(DeviceRow::as_returning())
    .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> QueryResult<()> {
    let n = diesel::delete(
        devices::table
            .filter(devices::id.eq(id))
            .filter(devices::owner_id.eq(owner)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}
