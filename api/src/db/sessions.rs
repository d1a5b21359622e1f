//! Sessions (refresh-token families), refresh tokens and failed-login accounting.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{login_failures, refresh_tokens, sessions};

/// Opens a session for `user_id` with its first refresh token.
pub fn open(
    conn: &mut PgConnection,
    user_id: Uuid,
    user_agent: Option<&str>,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<Uuid> {
    conn.transaction(|conn| {
        let session_id = Uuid::now_v7();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(session_id),
                sessions::user_id.eq(user_id),
                sessions::user_agent.eq(user_agent),
            ))
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(token_hash),
                refresh_tokens::session_id.eq(session_id),
                refresh_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(session_id)
    })
}

/// True when the session exists, belongs to `user_id` and was not revoked. Called for every
/// authenticated request, so that logout and account deletion end access tokens at once.
pub fn is_active(conn: &mut PgConnection, session_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    ))
    .get_result(conn)
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current: it is now used, and its successor replaces it.
    Rotated { session_id: Uuid, user_id: Uuid },
    /// The token was rotated moments ago (within the reuse grace) and its successor is
    /// still unused: the phone most likely lost the answer and retried, so the same
    /// successor is answered again and the session lives on.
    Retried { session_id: Uuid, user_id: Uuid },
    /// Unknown, expired, or its session was revoked.
    Invalid,
    /// The token had already been rotated, longer ago than the grace or with its successor
    /// used since: someone replayed it, so the whole session (every token rotated from the
    /// same login) is revoked.
    Reused,
}

/// Rotates a refresh token in one transaction, the presented row locked so two concurrent
/// uses of one token cannot both rotate it (the second one then sees a retry).
///
/// `successor_hash` is the digest of the token that replaces the presented one. Successors
/// are derived from the presented token (see [`crate::auth::RefreshKey`]), so a retry of
/// the same token names the same successor: that is how a retry is told from a replay
/// without the successor being stored in clear.
pub fn rotate(
    conn: &mut PgConnection,
    presented_hash: &[u8],
    successor_hash: &[u8],
    new_expires_at: DateTime<Utc>,
    reuse_grace: std::time::Duration,
) -> QueryResult<Rotation> {
    conn.transaction(|conn| {
        let found: Option<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .select((
                refresh_tokens::session_id,
                refresh_tokens::expires_at,
                refresh_tokens::used_at,
            ))
            .for_update()
            .first(conn)
            .optional()?;
        let Some((session_id, expires_at, used_at)) = found else {
            return Ok(Rotation::Invalid);
        };
        let session: Option<(Uuid, Option<DateTime<Utc>>)> = sessions::table
            .find(session_id)
            .select((sessions::user_id, sessions::revoked_at))
            .for_update()
            .first(conn)
            .optional()?;
        let Some((user_id, None)) = session else {
            return Ok(Rotation::Invalid);
        };
        // One clock for writing and comparing `used_at`: this process's.
        let now = Utc::now();
        if let Some(used_at) = used_at {
            let grace = chrono::Duration::from_std(reuse_grace).unwrap_or(chrono::Duration::zero());
            if now < used_at + grace && successor_is_current(conn, session_id, successor_hash, now)? {
                return Ok(Rotation::Retried { session_id, user_id });
            }
            revoke(conn, session_id, "refresh_token_reused")?;
            return Ok(Rotation::Reused);
        }
        if expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        diesel::update(refresh_tokens::table.find(presented_hash))
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(successor_hash),
                refresh_tokens::session_id.eq(session_id),
                refresh_tokens::expires_at.eq(new_expires_at),
            ))
            .execute(conn)?;
        diesel::update(sessions::table.find(session_id))
            .set(sessions::last_used_at.eq(diesel::dsl::now))
            .execute(conn)?;
        Ok(Rotation::Rotated { session_id, user_id })
    })
}

/// True when the successor is this session's token, unused and unexpired: the rotation
/// being retried is the session's latest one. When the successor was used in turn, the
/// presented token is an older one and its reuse is a replay.
fn successor_is_current(
    conn: &mut PgConnection,
    session_id: Uuid,
    successor_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .find(successor_hash)
            .filter(refresh_tokens::session_id.eq(session_id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now)),
    ))
    .get_result(conn)
}

/// Revokes a session: its access tokens and refresh tokens stop working.
pub fn revoke(conn: &mut PgConnection, session_id: Uuid, reason: &str) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .find(session_id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// Failed logins for this email and for this client address since `since`.
pub fn recent_failures(
    conn: &mut PgConnection,
    email_lower: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> QueryResult<(i64, i64)> {
    let by_email = login_failures::table
        .filter(login_failures::email_lower.eq(email_lower))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)?;
    let by_ip = login_failures::table
        .filter(login_failures::client_ip.eq(client_ip))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)?;
    Ok((by_email, by_ip))
}

pub fn record_failure(conn: &mut PgConnection, email_lower: &str, client_ip: &str) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::email_lower.eq(email_lower),
            login_failures::client_ip.eq(client_ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// A successful login forgets the failures counted against that email.
pub fn clear_failures(conn: &mut PgConnection, email_lower: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::email_lower.eq(email_lower)))
        .execute(conn)?;
    Ok(())
}

/// Housekeeping: forgets failures older than `before`, refresh tokens expired before it and
/// sessions revoked before it. Answers the number of rows removed.
pub fn purge(conn: &mut PgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    let failures =
        diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(before))).execute(conn)?;
    let tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(before))).execute(conn)?;
    let revoked = diesel::delete(sessions::table.filter(sessions::revoked_at.lt(before))).execute(conn)?;
    Ok(failures + tokens + revoked)
}

/// A session as its user may see it in an export: no token digests.
#[derive(Debug, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

pub fn all_by_user(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .order(sessions::created_at)
        .select(SessionRow::as_select())
        .load(conn)
}
