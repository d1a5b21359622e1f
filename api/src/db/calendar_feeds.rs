//! Calendar feeds: one private feed per user, found by the digest of its URL's token, and
//! what the feed shows (the user's events and open reminders).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

use super::events::EventRow;
use super::reminders::ReminderRow;
use super::schema::{attendances, calendar_feeds, events, reminders, users};

/// At most this many events, and as many reminders, go into one feed: a feed is fetched
/// often by calendar apps, so its size stays bounded. Past the limit the events furthest in
/// the past and the reminders due last are left out.
pub const MAX_ITEMS: i64 = 5_000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calendar_feeds)]
pub struct CalendarFeedRow {
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub content_etag: Option<String>,
    pub content_changed_at: Option<DateTime<Utc>>,
}

/// Creates the owner's feed, or rotates it: the new digest replaces the old one, so the
/// old URL stops working at once, and a revoked feed becomes active again.
pub fn create_or_rotate(
    conn: &mut PgConnection,
    owner: Uuid,
    token_hash: &[u8],
) -> QueryResult<CalendarFeedRow> {
    diesel::insert_into(calendar_feeds::table)
        .values((
            calendar_feeds::owner_id.eq(owner),
            calendar_feeds::token_hash.eq(token_hash),
        ))
        .on_conflict(calendar_feeds::owner_id)
        .do_update()
        .set((
            calendar_feeds::token_hash.eq(excluded(calendar_feeds::token_hash)),
            calendar_feeds::created_at.eq(diesel::dsl::now),
            calendar_feeds::revoked_at.eq(None::<DateTime<Utc>>),
            calendar_feeds::content_etag.eq(None::<String>),
            calendar_feeds::content_changed_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(CalendarFeedRow::as_returning())
        .get_result(conn)
}

/// The owner's feed, revoked or not, if one was ever created.
pub fn find_by_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Option<CalendarFeedRow>> {
    calendar_feeds::table
        .filter(calendar_feeds::owner_id.eq(owner))
        .select(CalendarFeedRow::as_select())
        .first(conn)
        .optional()
}

/// Revokes the owner's active feed; false when there is none.
pub fn revoke(conn: &mut PgConnection, owner: Uuid) -> QueryResult<bool> {
    let n = diesel::update(
        calendar_feeds::table
            .filter(calendar_feeds::owner_id.eq(owner))
            .filter(calendar_feeds::revoked_at.is_null()),
    )
    .set(calendar_feeds::revoked_at.eq(diesel::dsl::now))
    .execute(conn)?;
    Ok(n > 0)
}

/// Whose feed a token opens: the token's digest is the only key, and a revoked feed opens
/// nothing. This is the one finder not scoped by an owner id: the secret is the scope.
#[derive(Debug, Clone, Queryable)]
pub struct FeedOwner {
    pub feed: CalendarFeedRow,
    pub display_name: String,
    pub timezone: String,
}

/// The active feed whose token has this digest, with its owner's name and zone.
pub fn find_active_by_token_hash(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<FeedOwner>> {
    calendar_feeds::table
        .inner_join(users::table)
        .filter(calendar_feeds::token_hash.eq(token_hash))
        .filter(calendar_feeds::revoked_at.is_null())
        .select((CalendarFeedRow::as_select(), users::display_name, users::timezone))
        .first(conn)
        .optional()
}

/// Records the entity tag of the feed just rendered; answers when its content last changed
/// (now, when the tag differs from the one recorded).
pub fn note_content(conn: &mut PgConnection, owner: Uuid, etag: &str) -> QueryResult<Option<DateTime<Utc>>> {
    let changed: Option<Option<DateTime<Utc>>> = diesel::update(
        calendar_feeds::table
            .filter(calendar_feeds::owner_id.eq(owner))
            .filter(calendar_feeds::revoked_at.is_null())
            .filter(calendar_feeds::content_etag.is_distinct_from(etag)),
    )
    .set((
        calendar_feeds::content_etag.eq(etag),
        calendar_feeds::content_changed_at.eq(diesel::dsl::now),
    ))
    .returning(calendar_feeds::content_changed_at)
    .get_result(conn)
    .optional()?;
    match changed {
        Some(at) => Ok(at),
        None => Ok(calendar_feeds::table
            .filter(calendar_feeds::owner_id.eq(owner))
            .select(calendar_feeds::content_changed_at)
            .first::<Option<DateTime<Utc>>>(conn)
            .optional()?
            .flatten()),
    }
}

/// An event of the feed with the owner's attendance status (`None` when the owner
/// organises it without an attendance row).
pub type FeedEventRow = (EventRow, Option<String>);

/// The events `owner` organises or attends (attendance not cancelled), not deleted, in
/// start order; the [`MAX_ITEMS`] latest when there are more.
pub fn events_for_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<FeedEventRow>> {
    let mut rows: Vec<FeedEventRow> = events::table
        .left_join(
            attendances::table.on(attendances::event_id
                .eq(events::id)
                .and(attendances::user_id.eq(owner))
                .and(attendances::deleted_at.is_null())),
        )
        .filter(events::deleted_at.is_null())
        .filter(
            events::organizer_id
                .eq(owner)
                .or(attendances::status.ne("cancelled")),
        )
        .order((events::starts_at.desc(), events::id.desc()))
        .limit(MAX_ITEMS)
        .select((EventRow::as_select(), attendances::status.nullable()))
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// The owner's open reminders, soonest due first; the [`MAX_ITEMS`] first.
pub fn open_reminders_for_owner(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<ReminderRow>> {
    reminders::table
        .filter(reminders::owner_id.eq(owner))
        .filter(reminders::deleted_at.is_null())
        .filter(reminders::status.eq("open"))
        .order((reminders::due_at.asc(), reminders::id.asc()))
        .limit(MAX_ITEMS)
        .select(ReminderRow::as_select())
        .load(conn)
}
