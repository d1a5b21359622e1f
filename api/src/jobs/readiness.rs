//! Whether the push fleet can deliver: each process running push workers says, by a
//! heartbeat, which providers it sends through; a provider whose due jobs no live process
//! can send is stranded, and `carnet worker`'s `/readyz` says so.

use std::time::Duration;

use anyhow::bail;
use uuid::Uuid;

use super::providers::Providers;
use crate::config::{Environment, PushSettings, Settings};
use crate::db::push_jobs::{self, Stranded};
use crate::db::Db;
use crate::error::ApiError;

/// How often a process renews its heartbeat: its poll interval, at most 10 s.
pub fn heartbeat_every(settings: &PushSettings) -> Duration {
    settings.poll_interval.min(Duration::from_secs(10))
}

/// A process silent for this long counts as gone (three heartbeats missed).
pub fn live_window(settings: &PushSettings) -> Duration {
    heartbeat_every(settings) * 3
}

/// Renews the process's heartbeat every [`heartbeat_every`] until `stop`, then forgets it.
pub async fn keep_alive(
    db: Db,
    settings: PushSettings,
    process: Uuid,
    providers: Vec<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let host = hostname();
    loop {
        let (db2, host2, providers2) = (db.clone(), host.clone(), providers.clone());
        let beat = db2
            .run(move |conn| Ok(push_jobs::heartbeat(conn, process, &host2, &providers2)?))
            .await;
        if let Err(error) = beat {
            tracing::warn!(%error, "push worker heartbeat failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(heartbeat_every(&settings)) => {}
            _ = stop.changed() => break,
        }
    }
    let stale = live_window(&settings) * 10;
    if let Err(error) = db
        .run(move |conn| Ok(push_jobs::forget_process(conn, process, stale)?))
        .await
    {
        tracing::warn!(%error, "cannot forget this push worker process");
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The providers whose due jobs no live worker process can send.
pub async fn stranded(db: &Db, settings: &PushSettings) -> Result<Vec<Stranded>, ApiError> {
    let live = live_window(settings);
    db.run(move |conn| Ok(push_jobs::stranded(conn, live)?)).await
}

/// A production `carnet worker` that can send through no provider while devices name one
/// would only schedule pushes nobody sends: it refuses to start, saying what to configure.
pub async fn check_can_send(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    let sendable = Providers::from_settings(&settings.push, settings.environment)?.sendable();
    if settings.environment != Environment::Production || !sendable.is_empty() {
        return Ok(());
    }
    let in_use = db
        .run(|conn| Ok(push_jobs::providers_in_use(conn)?))
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the devices' push providers: {e}"))?;
    if in_use.is_empty() {
        return Ok(());
    }
    bail!(
        "this worker has credentials for no push provider, and devices use {}: set \
         CARNET_FCM_SERVICE_ACCOUNT, the CARNET_APNS_* settings or CARNET_PUSH_WEBHOOK_URL and \
         CARNET_PUSH_WEBHOOK_SECRET for the providers it should send through (see the README)",
        in_use.join(", ")
    )
}
