//! Everything a user owns, read in one consistent snapshot.

use diesel::prelude::*;
use uuid::Uuid;

use super::attendances::AttendanceRow;
use super::calendar_feeds::CalendarFeedRow;
use super::contacts::ContactRow;
use super::devices::DeviceRow;
use super::events::EventRow;
use super::interactions::InteractionRow;
use super::push_jobs::PushHistoryRow;
use super::reminders::ReminderRow;
use super::sessions::SessionRow;
use super::sync::ConflictRow;
use super::users::{ProfileCardRow, UserRow};

pub struct Everything {
    pub user: UserRow,
    pub card: ProfileCardRow,
    pub devices: Vec<DeviceRow>,
    pub contacts: Vec<ContactRow>,
    pub interactions: Vec<InteractionRow>,
    pub reminders: Vec<ReminderRow>,
    pub events: Vec<EventRow>,
    pub attendances: Vec<AttendanceRow>,
    pub conflicts: Vec<ConflictRow>,
    pub pushes: Vec<PushHistoryRow>,
    pub sessions: Vec<SessionRow>,
    pub calendar_feed: Option<CalendarFeedRow>,
}

pub fn everything(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Everything> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            Ok(Everything {
                user: super::users::find(conn, owner)?,
                card: super::users::find_card(conn, owner)?,
                devices: super::devices::list_by_owner(conn, owner)?,
                contacts: super::contacts::all_by_owner(conn, owner)?,
                interactions: super::interactions::all_by_owner(conn, owner)?,
                reminders: super::reminders::all_by_owner(conn, owner)?,
                events: super::events::all_by_organizer(conn, owner)?,
                attendances: super::attendances::all_by_user(conn, owner)?,
                conflicts: super::sync::all_conflicts(conn, owner)?,
                pushes: super::push_jobs::history_of(conn, owner)?,
                sessions: super::sessions::all_by_user(conn, owner)?,
                calendar_feed: super::calendar_feeds::find_by_owner(conn, owner)?,
            })
        })
}
