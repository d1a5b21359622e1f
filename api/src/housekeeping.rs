//! Periodic clean-up run by `serve` and `worker`: expired refresh tokens, old revoked
//! sessions, stale login failures, wrong join codes, finished push jobs, and sync tombstones
//! past their retention.

use std::time::Duration;

use chrono::Utc;

use crate::db::Db;

/// Failures and revoked sessions are kept this long (for audit), then forgotten.
const KEEP: Duration = Duration::from_secs(7 * 86_400);

/// Finished push jobs (delivered, dead, dropped) are kept this long, for support.
const KEEP_PUSH_JOBS: Duration = Duration::from_secs(30 * 86_400);

pub async fn run_once(db: &Db) -> Result<usize, crate::error::ApiError> {
    let before = Utc::now() - chrono::Duration::from_std(KEEP).unwrap_or_default();
    let jobs_before = Utc::now() - chrono::Duration::from_std(KEEP_PUSH_JOBS).unwrap_or_default();
    db.run(move |conn| {
        Ok(crate::db::sessions::purge(conn, before)?
            + crate::db::join_code_failures::purge(conn, before)?
            + crate::db::push_jobs::purge_finished(conn, jobs_before)?)
    })
    .await
}

/// Sync's tombstone retention: deleted records older than `retention` go for good, the
/// change feed is compacted, and cursors older than that must resync.
pub async fn collect_sync_tombstones(db: &Db, retention: Duration) -> Result<usize, crate::error::ApiError> {
    let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(90));
    db.run(move |conn| {
        Ok(crate::db::sync::collect_tombstones(
            conn,
            &crate::domain::synced::synced_tables(),
            cutoff,
        )?)
    })
    .await
}

/// Runs [`run_once`] and [`collect_sync_tombstones`] every `interval` until the task is
/// dropped.
pub async fn run_forever(db: Db, interval: Duration, sync_retention: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let tokens = run_once(&db).await;
        let sync = collect_sync_tombstones(&db, sync_retention).await;
        match tokens.and_then(|a| sync.map(|b| a + b)) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "housekeeping removed expired rows"),
            Err(error) => tracing::warn!(%error, "housekeeping failed; will retry"),
        }
    }
}
