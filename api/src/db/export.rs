//! Everything a user owns, read in one consistent snapshot.

use diesel::prelude::*;
use uuid::Uuid;

use super::attendances::AttendanceRow;
use super::contacts::ContactRow;
use super::devices::DeviceRow;
use super::events::EventRow;
use super::interactions::InteractionRow;
use super::reminders::ReminderRow;
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
            })
        })
}
