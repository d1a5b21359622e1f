//! Push workers: each loops over schedule → claim → send → record, and otherwise sleeps
//! until the next known piece of work, the poll interval, or a `carnet_push` notification,
//! whichever comes first.
//!
//! One thread per process holds a `LISTEN carnet_push` connection and wakes the workers;
//! diesel's connection cannot wait on its socket, so the thread checks it every
//! [`LISTEN_CHECK`] (a non-blocking read), which bounds the extra latency.
//!
//! Stopping (SIGTERM): workers stop claiming; jobs being sent get `stop_grace` to finish
//! and be recorded, after which they are released to the queue unchanged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use tokio::sync::watch;
use uuid::Uuid;

use super::providers::{Outcome, Providers, Push};
use super::{queue, scheduler};
use crate::config::{Environment, PushSettings, Settings};
use crate::db::push_jobs::{self, ClaimedJob, JobEnd};
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::PushMetrics;

/// How often the listening connection is checked for notifications.
pub const LISTEN_CHECK: Duration = Duration::from_millis(20);

struct Context {
    db: Db,
    providers: Providers,
    /// The `push_provider` values this process's workers claim jobs for.
    sendable: Arc<Vec<String>>,
    settings: PushSettings,
    metrics: PushMetrics,
}

/// A process's push workers.
pub struct PushWorkers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The process's heartbeat (see `readiness`), while workers run.
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    listener_stop: Arc<AtomicBool>,
}

/// Starts `count` workers on `db` (none when 0), and the thread that listens for
/// notifications on a connection of its own.
pub fn start(db: Db, settings: &Settings, metrics: PushMetrics, count: usize) -> anyhow::Result<PushWorkers> {
    let (stop, stop_rx) = watch::channel(false);
    let listener_stop = Arc::new(AtomicBool::new(false));
    let mut workers = PushWorkers {
        stop,
        tasks: Vec::new(),
        heartbeat: None,
        listener_stop: listener_stop.clone(),
    };
    if count == 0 {
        return Ok(workers);
    }
    let providers = Providers::from_settings(&settings.push, settings.environment)?;
    let missing = providers.missing();
    let sendable = providers.sendable();
    if !missing.is_empty() && settings.environment == Environment::Development {
        tracing::info!(providers = ?missing, "push providers not configured: their devices get the log provider (development only)");
    } else if !missing.is_empty() {
        // Not an error: a fleet may split providers between workers. But a provider no
        // worker can send through leaves its jobs queued; /metrics shows them waiting.
        tracing::warn!(
            providers = ?missing,
            claims = ?sendable,
            "push providers not configured: these workers never claim their jobs, which stay queued for a worker that has their credentials"
        );
    }
    let (wake, wake_rx) = watch::channel(0u64);
    let url = settings.database_url.clone();
    std::thread::Builder::new()
        .name("carnet-push-listen".into())
        .spawn(move || listen(&url, &wake, &listener_stop))?;
    let process = Uuid::new_v4();
    workers.heartbeat = Some(tokio::spawn(super::readiness::keep_alive(
        db.clone(),
        settings.push.clone(),
        process,
        sendable.clone(),
        stop_rx.clone(),
    )));
    let context = Arc::new(Context {
        db,
        providers,
        sendable: Arc::new(sendable),
        settings: settings.push.clone(),
        metrics,
    });
    let process = &process.simple().to_string()[..8];
    for n in 0..count {
        let name = format!("{process}-{}-{n}", std::process::id());
        workers.tasks.push(tokio::spawn(run(
            context.clone(),
            name,
            wake_rx.clone(),
            stop_rx.clone(),
        )));
    }
    tracing::info!(workers = count, "push workers started");
    Ok(workers)
}

impl PushWorkers {
    pub fn count(&self) -> usize {
        self.tasks.len()
    }

    /// Stops gracefully: no new claims; jobs being sent finish (or are released after the
    /// grace period); returns when every worker has ended.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks.into_iter().chain(self.heartbeat) {
            let _ = task.await;
        }
        self.listener_stop.store(true, Ordering::Relaxed);
    }

    /// Ends the workers at once, as a crash would: their claimed jobs stay leased until the
    /// lease runs out, then other workers take them.
    pub fn kill(self) {
        for task in self.tasks.iter().chain(&self.heartbeat) {
            task.abort();
        }
        self.listener_stop.store(true, Ordering::Relaxed);
    }
}

fn listen(url: &str, wake: &watch::Sender<u64>, stop: &AtomicBool) {
    let stopped = || stop.load(Ordering::Relaxed) || wake.is_closed();
    while !stopped() {
        let mut conn = match PgConnection::establish(url) {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "push listener cannot connect; polling only until it can");
                for _ in 0..50 {
                    if stopped() {
                        return;
                    }
                    std::thread::sleep(LISTEN_CHECK);
                }
                continue;
            }
        };
        if let Err(error) = crate::db::listen(&mut conn, "carnet_push") {
            tracing::warn!(%error, "push listener cannot LISTEN");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // A notification may have been missed while not listening.
        wake.send_modify(|n| *n = n.wrapping_add(1));
        loop {
            if stopped() {
                return;
            }
            let mut woke = false;
            let mut broken = false;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(_) => woke = true,
                    Err(error) => {
                        tracing::warn!(%error, "push listener lost its connection");
                        broken = true;
                        break;
                    }
                }
            }
            if woke {
                wake.send_modify(|n| *n = n.wrapping_add(1));
            }
            if broken {
                break;
            }
            std::thread::sleep(LISTEN_CHECK);
        }
    }
}

async fn run(
    ctx: Arc<Context>,
    name: String,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let poll = ctx.settings.poll_interval;
    // When work is due now but held by another worker, look again soon, not in a spin.
    let floor = poll.min(Duration::from_millis(25));
    tracing::debug!(worker = %name, "push worker running");
    loop {
        if *stop.borrow() {
            break;
        }
        wake.borrow_and_update();
        let wait = match step(&ctx, &name, &mut stop).await {
            Ok(true) => continue,
            Ok(false) => {
                let db = ctx.db.clone();
                let sendable = ctx.sendable.clone();
                match db
                    .run(move |conn| Ok(push_jobs::next_work_at(conn, &sendable)?))
                    .await
                {
                    Ok(Some(at)) => (at - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .clamp(floor, poll),
                    Ok(None) => poll,
                    Err(error) => {
                        tracing::warn!(worker = %name, %error, "push worker cannot read the queue; will retry");
                        poll
                    }
                }
            }
            Err(error) => {
                tracing::warn!(worker = %name, %error, "push worker step failed; will retry");
                poll
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = wake.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tracing::debug!(worker = %name, "push worker stopped");
}

/// One round: queue due occurrences, recover expired leases, claim and send a batch.
/// Answers whether there was work (so the worker looks again at once).
async fn step(ctx: &Arc<Context>, name: &str, stop: &mut watch::Receiver<bool>) -> Result<bool, ApiError> {
    let (fired, queued) =
        scheduler::schedule_due(&ctx.db, ctx.settings.batch_size, ctx.settings.content).await?;
    ctx.metrics.queued.inc_by(queued as u64);
    let max_attempts = ctx.settings.max_attempts;
    let (requeued, dead) = ctx
        .db
        .run(move |conn| Ok(push_jobs::recover_expired(conn, max_attempts)?))
        .await?;
    if requeued + dead > 0 {
        ctx.metrics.dead.inc_by(dead as u64);
        tracing::info!(worker = %name, requeued, dead, "push jobs whose lease expired were recovered");
    }
    let worker = name.to_string();
    let lease_ms = i64::try_from(ctx.settings.lease.as_millis()).unwrap_or(i64::MAX);
    let batch = ctx.settings.batch_size;
    let sendable = ctx.sendable.clone();
    let jobs = ctx
        .db
        .run(move |conn| Ok(push_jobs::claim(conn, &worker, lease_ms, batch, &sendable)?))
        .await?;
    if jobs.is_empty() {
        return Ok(fired > 0);
    }
    deliver(ctx, name, jobs, stop).await?;
    Ok(true)
}

async fn deliver(
    ctx: &Arc<Context>,
    name: &str,
    jobs: Vec<ClaimedJob>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), ApiError> {
    let count = jobs.len() as i64;
    ctx.metrics.in_flight.add(count);
    let sends = futures_util::future::join_all(jobs.iter().map(|job| attempt(ctx, name, job)));
    let grace = ctx.settings.stop_grace;
    let stopped_long_enough = async {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        tokio::time::sleep(grace).await;
    };
    let results = tokio::select! {
        results = sends => Some(results),
        _ = stopped_long_enough => None,
    };
    ctx.metrics.in_flight.sub(count);
    let worker = name.to_string();
    match results {
        Some(results) => {
            let mut ends = Vec::with_capacity(results.len());
            let mut deactivate = Vec::new();
            for (job, (end, device)) in jobs.iter().zip(results) {
                ends.push((job.id, end));
                deactivate.extend(device);
            }
            ctx.db
                .run(move |conn| Ok(push_jobs::finish(conn, &worker, &ends, &deactivate)?))
                .await
        }
        None => {
            let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
            let released = ctx
                .db
                .run(move |conn| Ok(push_jobs::release(conn, &worker, &ids)?))
                .await?;
            tracing::warn!(worker = %name, released, "stopping: push jobs not finished in time were released");
            Ok(())
        }
    }
}

/// Sends one job and decides its end; answers the device to deactivate, if any.
async fn attempt(ctx: &Context, name: &str, job: &ClaimedJob) -> (JobEnd, Option<Uuid>) {
    let started = Instant::now();
    let (provider, outcome) = match (&job.push_provider, &job.push_token, job.active) {
        (Some(provider), Some(token), true) => match ctx.providers.for_device(provider) {
            Some(provider) => {
                let push = Push {
                    job_id: job.id,
                    device_id: job.device_id,
                    token,
                    fires_at: job.fires_at,
                    payload: &job.payload,
                };
                (provider.name(), provider.send(push).await)
            }
            // Claims name only sendable providers, so this is not expected; should it
            // happen, the job goes back to the queue rather than being lost.
            None => (
                "unconfigured",
                Outcome::Retry {
                    error: format!("this worker has no credentials for {provider}"),
                    retry_after: None,
                },
            ),
        },
        _ => (
            "none",
            Outcome::Failed {
                error: "the device is inactive or has no push token".into(),
            },
        ),
    };
    let now = Utc::now();
    let mut end = queue::job_end(&ctx.settings, &outcome, job.attempts, now);
    if provider == "none" {
        end = JobEnd::Dropped {
            error: "the device is inactive or has no push token".into(),
        };
    }
    let delay_ms = (now - job.fires_at).num_milliseconds();
    match &end {
        JobEnd::Delivered => {
            ctx.metrics.delivered.inc();
            ctx.metrics.delay.observe(delay_ms.max(0) as f64 / 1000.0);
        }
        JobEnd::Retry { .. } => ctx.metrics.retried.inc(),
        JobEnd::Dead { .. } => ctx.metrics.dead.inc(),
        JobEnd::Dropped { .. } => ctx.metrics.dropped.inc(),
    }
    let next = match &end {
        JobEnd::Delivered => "delivered",
        JobEnd::Retry { .. } => "retry",
        JobEnd::Dead { .. } => "dead",
        JobEnd::Dropped { .. } => "dropped",
    };
    tracing::info!(
        worker = %name,
        job_id = job.id,
        reminder_id = %job.reminder_id,
        device_id = %job.device_id,
        provider,
        attempt = job.attempts,
        outcome = outcome.label(),
        job = next,
        error = outcome.error(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        delay_ms,
        "push attempt"
    );
    let deactivate = matches!(outcome, Outcome::InvalidToken { .. }).then_some(job.device_id);
    (end, deactivate)
}
