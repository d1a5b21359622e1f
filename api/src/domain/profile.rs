//! The profile card: updates made outside sync.

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
