//! Turns due reminder occurrences into push jobs.
//!
//! An occurrence is a reminder and the instant it fires: its due time, or the end of its
//! snooze when that is later. Done and cancelled reminders never fire; a snoozed one waits.
//! Once queued, the occurrence is recorded on the reminder (`pushed_for`), and a repeating
//! reminder moves to its first occurrence after now (missed ones are not replayed).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::PushContent;
use crate::db::push_jobs::{self, Occurrence, PendingReminder};
use crate::db::Db;
use crate::domain::{next_repeat_after, TimeZone};
use crate::error::ApiError;

/// What the phone shows, in the user's language (French for `fr*` locales, English
/// otherwise), and the ids the app needs to open the reminder. Private content says only
/// that a reminder is due, with its id and time: no title, contact or event passes through
/// the provider, and the app reads the reminder from Carnet to show it.
pub fn payload(reminder: &PendingReminder, content: PushContent) -> Value {
    let french = reminder.locale.to_ascii_lowercase().starts_with("fr");
    if content == PushContent::Private {
        return json!({
            "kind": "reminder",
            "content": "private",
            "title": "Carnet",
            "body": if french { "Un rappel est arrivé." } else { "A reminder is due." },
            "locale": if french { "fr" } else { "en" },
            "reminder_id": reminder.id.to_string(),
            "fires_at": reminder.fires_at.to_rfc3339(),
        });
    }
    let body = match (&reminder.contact_name, reminder.origin.as_str(), french) {
        (Some(_), "keep_in_touch", true) => "Cela fait un moment : un message, un café ?".to_string(),
        (Some(_), "keep_in_touch", false) => "It has been a while: a message, a coffee?".to_string(),
        (Some(name), _, true) => format!("Avec {name}"),
        (Some(name), _, false) => format!("With {name}"),
        (None, _, true) => "Rappel".to_string(),
        (None, _, false) => "Reminder".to_string(),
    };
    json!({
        "kind": "reminder",
        "content": "full",
        "title": reminder.title,
        "body": body,
        "locale": if french { "fr" } else { "en" },
        "reminder_id": reminder.id.to_string(),
        "contact_id": reminder.contact_id.map(|id| id.to_string()),
        "contact_name": reminder.contact_name,
        "event_id": reminder.event_id.map(|id| id.to_string()),
        "origin": reminder.origin,
        "fires_at": reminder.fires_at.to_rfc3339(),
    })
}

fn occurrence(reminder: &PendingReminder, now: DateTime<Utc>, content: PushContent) -> Occurrence {
    let next = match (reminder.repeat_every, reminder.repeat_unit.as_deref()) {
        (Some(every), Some(unit)) => TimeZone::parse(&reminder.timezone).ok().and_then(|zone| {
            next_repeat_after(reminder.due_local, every, unit, zone, now.max(reminder.fires_at))
        }),
        _ => None,
    };
    Occurrence {
        reminder_id: reminder.id,
        owner_id: reminder.owner_id,
        fires_at: reminder.fires_at,
        payload: payload(reminder, content),
        next,
    }
}

/// Queues the occurrences due by now, up to `limit` reminders, in one transaction. Answers
/// (reminders fired, jobs queued).
pub async fn schedule_due(db: &Db, limit: i64, content: PushContent) -> Result<(usize, usize), ApiError> {
    db.transaction(move |conn| {
        let now = Utc::now();
        let due = push_jobs::lock_pending(conn, now, limit)?;
        if due.is_empty() {
            return Ok((0, 0));
        }
        let occurrences: Vec<Occurrence> = due.iter().map(|r| occurrence(r, now, content)).collect();
        let queued = push_jobs::queue_occurrences(conn, &occurrences)?;
        Ok((due.len(), queued))
    })
    .await
}
