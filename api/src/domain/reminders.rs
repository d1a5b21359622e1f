//! Reminders: how often one may repeat, what completing one does, and updates made outside
//! sync. The REST API, sync push and the push scheduler use these rules.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use crate::db;
use crate::db::reminders::{ReminderChanges, ReminderRow};
use crate::domain::synced::{settled, REMINDERS};
use crate::domain::{next_repeat_after, InvalidValue, TimeZone};

/// The longest repeat period, in units.
pub const REPEAT_EVERY_MAX: i64 = 365;
pub const REPEAT_UNITS: [&str; 3] = ["days", "weeks", "months"];
pub const STATUSES: [&str; 3] = ["open", "done", "cancelled"];

/// Updates my reminder `id` over REST, settled into its merge state.
pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &ReminderChanges,
) -> diesel::QueryResult<ReminderRow> {
    settled(conn, &REMINDERS, owner, id, |conn| {
        db::reminders::update(conn, owner, id, changes)
    })
}

/// A repeat period: every `every` (1 to [`REPEAT_EVERY_MAX`]) `unit`.
pub fn repeat(every: i64, unit: &str) -> Result<(i32, String), InvalidValue> {
    let every = i32::try_from(every)
        .ok()
        .filter(|n| (1..=REPEAT_EVERY_MAX).contains(&i64::from(*n)))
        .ok_or_else(|| {
            InvalidValue::new(
                "out_of_range",
                format!("repeat.every must be between 1 and {REPEAT_EVERY_MAX}"),
            )
        })?;
    match REPEAT_UNITS.iter().find(|u| **u == unit) {
        Some(unit) => Ok((every, (*unit).to_owned())),
        None => Err(InvalidValue::new(
            "invalid_choice",
            format!("{unit:?} is not one of {}", REPEAT_UNITS.join(", ")),
        )),
    }
}

/// What completing a reminder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// A repeating open reminder moves to its first occurrence after now and stays open.
    Next { local: NaiveDateTime, at: DateTime<Utc> },
    /// Any other reminder is done, now.
    Done { at: DateTime<Utc> },
}

/// Completing the reminder due at `due_local` in `timezone`, repeating every `repeat`, at
/// `now`: occurrences are counted from `due_local` (see [`next_repeat_after`]), so a monthly
/// reminder of the 31st completed late comes back on the month's last day, not the 28th.
pub fn completion(
    status: &str,
    due_local: NaiveDateTime,
    timezone: &str,
    repeat: Option<(i32, &str)>,
    now: DateTime<Utc>,
) -> Completion {
    let next = match (status, repeat, TimeZone::parse(timezone)) {
        ("open", Some((every, unit)), Ok(zone)) => next_repeat_after(due_local, every, unit, zone, now),
        _ => None,
    };
    match next {
        Some((local, at)) => Completion::Next { local, at },
        None => Completion::Done { at: now },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_bounded_the_same_everywhere() {
        assert_eq!(repeat(365, "days").unwrap(), (365, "days".to_owned()));
        assert_eq!(repeat(366, "days").unwrap_err().code, "out_of_range");
        assert_eq!(repeat(0, "weeks").unwrap_err().code, "out_of_range");
        assert_eq!(repeat(1, "years").unwrap_err().code, "invalid_choice");
    }

    #[test]
    fn a_monthly_reminder_of_the_31st_completed_late_keeps_the_month_end() {
        let due = NaiveDateTime::parse_from_str("2026-01-31T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        let now = "2026-04-02T12:00:00Z".parse().unwrap();
        let Completion::Next { local, .. } =
            completion("open", due, "Europe/Paris", Some((1, "months")), now)
        else {
            panic!("a repeating reminder moves on");
        };
        assert_eq!(local.to_string(), "2026-04-30 09:00:00");
        assert_eq!(
            completion("done", due, "Europe/Paris", Some((1, "months")), now),
            Completion::Done { at: now }
        );
    }
}
