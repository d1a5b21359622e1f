//! Accounts and their profile cards.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{profile_cards, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub timezone: String,
    pub locale: String,
    pub region: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    pub timezone: &'a str,
    pub locale: &'a str,
    pub region: Option<&'a str>,
}

/// Creates the account and its empty profile card; `Ok(None)` when the email is taken.
pub fn create(conn: &mut PgConnection, user: &NewUser) -> QueryResult<Option<UserRow>> {
    conn.transaction(|conn| {
        let inserted = diesel::insert_into(users::table)
            .values(user)
            .returning(UserRow::as_returning())
            .get_result(conn);
        let row = match inserted {
            Ok(row) => row,
            Err(e) if super::is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        diesel::insert_into(profile_cards::table)
            .values(profile_cards::owner_id.eq(row.id))
            .execute(conn)?;
        Ok(Some(row))
    })
}

/// The account with this email, whatever its case.
pub fn find_by_email(conn: &mut PgConnection, email_lower: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = ")
                .bind::<diesel::sql_types::Text, _>(email_lower),
        )
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<UserRow> {
    users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub region: Option<Option<String>>,
}

pub fn update(conn: &mut PgConnection, user_id: Uuid, changes: &UserChanges) -> QueryResult<UserRow> {
    diesel::update(users::table.find(user_id))
        .set((changes, users::updated_at.eq(diesel::dsl::now)))
        .returning(UserRow::as_returning())
        .get_result(conn)
}

/// Erases the account; every row it owns goes with it (`ON DELETE CASCADE`), its sessions
/// included, so all its tokens stop working at once.
pub fn delete(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<()> {
    let deleted = diesel::delete(users::table.find(user_id)).execute(conn)?;
    if deleted == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = profile_cards)]
pub struct ProfileCardRow {
    #[serde(skip)]
    pub owner_id: Uuid,
    pub headline: Option<String>,
    pub organization: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub links: Vec<String>,
    pub city: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub fn find_card(conn: &mut PgConnection, owner: Uuid) -> QueryResult<ProfileCardRow> {
    profile_cards::table
        .find(owner)
        .select(ProfileCardRow::as_select())
        .first(conn)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = profile_cards)]
pub struct CardChanges {
    pub headline: Option<Option<String>>,
    pub organization: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub links: Option<Vec<String>>,
    pub city: Option<Option<String>>,
}

impl CardChanges {
    pub fn is_empty(&self) -> bool {
        self.headline.is_none()
            && self.organization.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.links.is_none()
            && self.city.is_none()
    }
}

pub fn update_card(conn: &mut PgConnection, owner: Uuid, changes: &CardChanges) -> QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    diesel::update(profile_cards::table.find(owner))
        .set((changes, profile_cards::updated_at.eq(diesel::dsl::now)))
        .execute(conn)?;
    Ok(())
}
