//! The account: profile card updates made outside sync, and erasure.

use diesel::PgConnection;
use uuid::Uuid;

use crate::db;
use crate::db::users::CardChanges;
use crate::domain::synced::{settled, PROFILE};

/// Updates my profile card over REST, settled into its merge state (the card's id is mine).
pub fn update_card(conn: &mut PgConnection, owner: Uuid, changes: &CardChanges) -> diesel::QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    settled(conn, &PROFILE, owner, owner, |conn| {
        db::users::update_card(conn, owner, changes)
    })
}

/// Erases the account and everything stored about it: the cascade removes its records,
/// sessions, devices and pushes; the places it held at others' events go to their
/// waitlists; what the cascade cannot reach (change-feed rows addressed to the user, failed
/// logins under the account's email) goes too. Run inside a transaction.
pub fn erase(conn: &mut PgConnection, user: Uuid) -> diesel::QueryResult<()> {
    let email = crate::domain::login_key(&db::users::find(conn, user)?.email);
    let events = db::events::lock_where_holding_place(conn, user)?;
    db::users::delete(conn, user)?;
    for event in events {
        crate::domain::attendances::free_places(conn, event.id, event.capacity)?;
    }
    // After the cascade: its deletes add change rows of their own.
    db::sync::forget_user(conn, user)?;
    db::sessions::clear_failures(conn, &email)
}
