//! Events: updates the organizer makes outside sync. Who may join and the places they take
//! are in [`crate::domain::attendances`].

use diesel::PgConnection;
use uuid::Uuid;

use crate::db;
use crate::db::events::{EventChanges, EventRow};
use crate::domain::synced::{settled, EVENTS};

/// Updates the event `id` I organise over REST, settled into its merge state.
pub fn update(
    conn: &mut PgConnection,
    organizer: Uuid,
    id: Uuid,
    changes: &EventChanges,
) -> diesel::QueryResult<EventRow> {
    settled(conn, &EVENTS, organizer, id, |conn| {
        db::events::update(conn, organizer, id, changes)
    })
}
