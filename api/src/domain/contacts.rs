//! Contacts and their interactions: updates made outside sync, and the side effects of a
//! contact's changes, the same for the REST API, imports, card exchanges and sync push.

use chrono::Utc;
use diesel::PgConnection;
use uuid::Uuid;

use crate::db;
use crate::db::contacts::{ContactChanges, ContactRow};
use crate::db::interactions::{InteractionChanges, InteractionRow};
use crate::domain::synced::{settled, CONTACTS, INTERACTIONS};
use crate::domain::{keep_in_touch_due, Region, TimeZone};
use crate::error::ApiError;

/// Updates my contact `id` (REST, imports, card exchanges), settled into its merge state.
pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &ContactChanges,
) -> diesel::QueryResult<ContactRow> {
    settled(conn, &CONTACTS, owner, id, |conn| {
        db::contacts::update(conn, owner, id, changes)
    })
}

/// Updates my interaction `id` over REST, settled into its merge state.
pub fn update_interaction(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &InteractionChanges,
) -> diesel::QueryResult<InteractionRow> {
    settled(conn, &INTERACTIONS, owner, id, |conn| {
        db::interactions::update(conn, owner, id, changes)
    })
}

/// Keeps the contact's one open keep-in-touch reminder in step with its cadence: due
/// `keep_in_touch_days` after the last interaction (or from now when there is none), titled
/// with the contact's name in the user's language; none when the contact has no cadence.
/// Call after any change to the cadence, the name or the interactions.
pub fn refresh_keep_in_touch(
    conn: &mut PgConnection,
    owner: Uuid,
    contact: &ContactRow,
) -> Result<(), ApiError> {
    let user = db::users::find(conn, owner)?;
    let zone = TimeZone::parse(&user.timezone)
        .or_else(|_| TimeZone::parse("UTC"))
        .map_err(|e| ApiError::invalid("timezone", e))?;
    let due = contact.keep_in_touch_days.map(|days| {
        let anchor = contact.last_interaction_at.unwrap_or_else(Utc::now);
        let (local, at) = keep_in_touch_due(anchor, days, zone);
        (local, zone.name(), at)
    });
    let title = if user.locale.starts_with("fr") {
        format!("Prendre des nouvelles de {}", contact.name)
    } else {
        format!("Keep in touch with {}", contact.name)
    };
    Ok(db::reminders::set_keep_in_touch(
        conn, owner, contact.id, due, &title,
    )?)
}

/// After any change to a contact's interactions (logged, edited, moved, deleted, restored):
/// its last contact time, then its keep-in-touch reminder. A contact that is gone is left.
pub fn after_interactions_changed(
    conn: &mut PgConnection,
    owner: Uuid,
    contact_id: Uuid,
) -> Result<(), ApiError> {
    db::contacts::refresh_last_interaction(conn, owner, contact_id)?;
    let contact = match db::contacts::find_by_id_and_owner(conn, owner, contact_id) {
        Ok(contact) => contact,
        Err(diesel::result::Error::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if contact.keep_in_touch_days.is_some() {
        refresh_keep_in_touch(conn, owner, &contact)?;
    }
    Ok(())
}

/// The region national phone numbers of this user are read in: the account's, else its
/// locale's.
pub fn user_region(conn: &mut PgConnection, owner: Uuid) -> Result<Option<Region>, ApiError> {
    let user = db::users::find(conn, owner)?;
    Ok(user
        .region
        .as_deref()
        .and_then(|r| Region::parse(r).ok())
        .or_else(|| Region::from_locale(&user.locale)))
}
