//! Wrong join codes, counted per user and per client address: joining by code is the one
//! place where a user can probe for other people's events, so guessing is slowed down.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::join_code_failures;

/// Of the most recent failures (newest first, at most `max`), the one whose expiry leaves
/// fewer than `max` in the window; `None` while fewer than `max` count.
fn limiting(recent: Vec<DateTime<Utc>>, max: i64) -> Option<DateTime<Utc>> {
    if recent.len() as i64 >= max {
        recent.last().copied()
    } else {
        None
    }
}

/// When `user` at `client_ip` has used up its wrong guesses since `since`: the failure
/// whose expiry lets them try again (the later of the per-user and per-address limits).
pub fn blocking_failure(
    conn: &mut PgConnection,
    user: Uuid,
    client_ip: &str,
    since: DateTime<Utc>,
    max_per_user: i64,
    max_per_ip: i64,
) -> QueryResult<Option<DateTime<Utc>>> {
    let by_user = join_code_failures::table
        .filter(join_code_failures::user_id.eq(user))
        .filter(join_code_failures::failed_at.gt(since))
        .order(join_code_failures::failed_at.desc())
        .limit(max_per_user)
        .select(join_code_failures::failed_at)
        .load(conn)?;
    let by_ip = join_code_failures::table
        .filter(join_code_failures::client_ip.eq(client_ip))
        .filter(join_code_failures::failed_at.gt(since))
        .order(join_code_failures::failed_at.desc())
        .limit(max_per_ip)
        .select(join_code_failures::failed_at)
        .load(conn)?;
    Ok(limiting(by_user, max_per_user).max(limiting(by_ip, max_per_ip)))
}

/// Makes the caller's join attempts take turns until the transaction ends, so parallel
/// guesses cannot all pass the limit check before any of them is counted.
pub fn serialize_for_user(conn: &mut PgConnection, user: Uuid) -> QueryResult<()> {
    let bytes = user.as_bytes();
    let key = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        ^ i32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind::<diesel::sql_types::Integer, _>(JOIN_LOCK_NAMESPACE)
        .bind::<diesel::sql_types::Integer, _>(key)
        .execute(conn)?;
    Ok(())
}

/// The first key of the advisory locks of [`serialize_for_user`].
const JOIN_LOCK_NAMESPACE: i32 = 4_242_003;

pub fn record(conn: &mut PgConnection, user: Uuid, client_ip: &str) -> QueryResult<()> {
    diesel::insert_into(join_code_failures::table)
        .values((
            join_code_failures::user_id.eq(user),
            join_code_failures::client_ip.eq(client_ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// Housekeeping: forgets failures older than `before`.
pub fn purge(conn: &mut PgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(join_code_failures::table.filter(join_code_failures::failed_at.lt(before))).execute(conn)
}
