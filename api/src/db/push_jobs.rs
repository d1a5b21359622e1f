//! The reminder push queue: pending reminders turned into one job per (occurrence, device),
//! claimed by workers with `FOR UPDATE SKIP LOCKED` under a lease.
//!
//! A reminder is *pending* while it is open and the instant it fires (its due time, or the
//! end of its snooze when later) is after `pushed_for`, the last occurrence queued. The
//! unique key `(reminder_id, fires_at, device_id)` makes queueing idempotent, so two
//! schedulers, a restart or a retry never queue an occurrence twice for a device.

use super::schema::push_jobs;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Integer, Jsonb, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

/// The pending-reminder predicate; identical to the partial index's, so the index serves it.
const PENDING: &str = "r.status = 'open' AND r.deleted_at IS NULL \
     AND (r.pushed_for IS NULL OR r.pushed_for < GREATEST(r.due_at, r.snoozed_until))";

/// A reminder whose occurrence is due, with what its push needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct PendingReminder {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub owner_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub contact_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub event_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Timestamp)]
    pub due_local: NaiveDateTime,
    #[diesel(sql_type = Text)]
    pub timezone: String,
    #[diesel(sql_type = Timestamptz)]
    pub due_at: DateTime<Utc>,
    /// The occurrence: `GREATEST(due_at, snoozed_until)`.
    #[diesel(sql_type = Timestamptz)]
    pub fires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub repeat_every: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub repeat_unit: Option<String>,
    #[diesel(sql_type = Text)]
    pub origin: String,
    #[diesel(sql_type = Text)]
    pub locale: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub contact_name: Option<String>,
}

/// Locks up to `limit` reminders due by `now` that no other transaction holds. Call inside
/// a transaction; the locks keep concurrent schedulers on different reminders.
pub fn lock_pending(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<PendingReminder>> {
    let sql = format!(
        "SELECT r.id, r.owner_id, r.contact_id, r.event_id, r.title, r.due_local, r.timezone, r.due_at, \
                GREATEST(r.due_at, r.snoozed_until) AS fires_at, r.repeat_every, r.repeat_unit, r.origin, \
                u.locale, c.name AS contact_name \
         FROM reminders r \
         JOIN users u ON u.id = r.owner_id \
         LEFT JOIN contacts c ON c.id = r.contact_id AND c.deleted_at IS NULL \
         WHERE {PENDING} AND GREATEST(r.due_at, r.snoozed_until) <= $1 \
         ORDER BY GREATEST(r.due_at, r.snoozed_until) \
         LIMIT $2 \
         FOR UPDATE OF r SKIP LOCKED"
    );
    diesel::sql_query(sql)
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

/// One occurrence to queue, and where a repeating reminder moves next.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub reminder_id: Uuid,
    pub owner_id: Uuid,
    pub fires_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// The next occurrence of a repeating reminder (local time and instant).
    pub next: Option<(NaiveDateTime, DateTime<Utc>)>,
}

/// Queues one job per active device with a push token for each occurrence, marks the
/// occurrences queued and moves repeating reminders to their next occurrence. Answers the
/// number of jobs created (existing ones are left alone).
pub fn queue_occurrences(conn: &mut PgConnection, occurrences: &[Occurrence]) -> QueryResult<usize> {
    if occurrences.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = occurrences.iter().map(|o| o.reminder_id).collect();
    let owners: Vec<Uuid> = occurrences.iter().map(|o| o.owner_id).collect();
    let fires: Vec<DateTime<Utc>> = occurrences.iter().map(|o| o.fires_at).collect();
    let payloads: Vec<serde_json::Value> = occurrences.iter().map(|o| o.payload.clone()).collect();
    let next_local: Vec<Option<NaiveDateTime>> = occurrences.iter().map(|o| o.next.map(|n| n.0)).collect();
    let next_at: Vec<Option<DateTime<Utc>>> = occurrences.iter().map(|o| o.next.map(|n| n.1)).collect();
    let queued = diesel::sql_query(
        "INSERT INTO push_jobs (reminder_id, device_id, owner_id, fires_at, payload, run_at) \
         SELECT o.reminder_id, d.id, d.owner_id, o.fires_at, o.payload, now() \
         FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::jsonb[]) \
              AS o(reminder_id, owner_id, fires_at, payload) \
         JOIN devices d ON d.owner_id = o.owner_id AND d.active \
              AND d.push_token IS NOT NULL AND d.push_provider IS NOT NULL \
         ON CONFLICT ON CONSTRAINT push_jobs_occurrence_key DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<SqlUuid>, _>(&owners)
    .bind::<Array<Timestamptz>, _>(&fires)
    .bind::<Array<Jsonb>, _>(&payloads)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE reminders r SET pushed_for = o.fires_at, \
                due_local = COALESCE(o.next_local, r.due_local), \
                due_at = COALESCE(o.next_at, r.due_at), \
                snoozed_until = CASE WHEN o.next_at IS NULL THEN r.snoozed_until END, \
                updated_at = CASE WHEN o.next_at IS NULL THEN r.updated_at ELSE now() END \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamp[], $4::timestamptz[]) \
              AS o(id, fires_at, next_local, next_at) \
         WHERE r.id = o.id",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Timestamptz>, _>(&fires)
    .bind::<Array<Nullable<Timestamp>>, _>(&next_local)
    .bind::<Array<Nullable<Timestamptz>>, _>(&next_at)
    .execute(conn)?;
    if queued > 0 {
        diesel::sql_query("SELECT pg_notify('carnet_push', '')").execute(conn)?;
    }
    Ok(queued)
}

/// A job a worker holds, with the device as it is now (a token may have changed since).
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub reminder_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub device_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub fires_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub push_provider: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub push_token: Option<String>,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

/// Which queued jobs a worker able to send through the `push_provider` values in the
/// array parameter `providers` may take: those of its providers, and those of devices that
/// can no longer be pushed at all (inactive, token or provider removed), which any worker
/// drops.
fn claimable(providers: &str) -> String {
    format!(
        "j.status = 'queued' AND (d.push_provider = ANY({providers}) OR NOT d.active \
         OR d.push_token IS NULL OR d.push_provider IS NULL)"
    )
}

/// Claims up to `limit` queued jobs whose time has come and whose device's provider is one
/// of `providers` (the ones this worker can send through), leasing them to `worker` for
/// `lease_ms`. Rows another worker is claiming are skipped, never waited for; jobs of other
/// providers stay queued for a worker that can send them.
pub fn claim(
    conn: &mut PgConnection,
    worker: &str,
    lease_ms: i64,
    limit: i64,
    providers: &[String],
) -> QueryResult<Vec<ClaimedJob>> {
    let sql = format!(
        "WITH picked AS ( \
             SELECT j.id FROM push_jobs j JOIN devices d ON d.id = j.device_id \
             WHERE {} AND j.run_at <= now() \
             ORDER BY j.run_at LIMIT $3 FOR UPDATE OF j SKIP LOCKED) \
         UPDATE push_jobs j SET status = 'running', locked_by = $1, \
                locked_until = now() + $2 * interval '1 millisecond', \
                attempts = j.attempts + 1, updated_at = now() \
         FROM picked, devices d \
         WHERE j.id = picked.id AND d.id = j.device_id \
         RETURNING j.id, j.reminder_id, j.device_id, j.fires_at, j.payload, j.attempts, \
                   d.push_provider, d.push_token, d.active",
        claimable("$4")
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(worker)
        .bind::<BigInt, _>(lease_ms)
        .bind::<BigInt, _>(limit)
        .bind::<Array<Text>, _>(providers)
        .load(conn)
}

/// Jobs whose worker vanished (lease expired) go back to the queue, or aside as dead when
/// they have had all their attempts. Answers (requeued, dead).
pub fn recover_expired(conn: &mut PgConnection, max_attempts: i32) -> QueryResult<(usize, usize)> {
    let dead = diesel::sql_query(
        "UPDATE push_jobs SET status = 'dead', locked_by = NULL, locked_until = NULL, updated_at = now(), \
                last_error = COALESCE(last_error || '; ', '') || 'lease expired on the last attempt' \
         WHERE status = 'running' AND locked_until < now() AND attempts >= $1",
    )
    .bind::<Integer, _>(max_attempts)
    .execute(conn)?;
    let requeued = diesel::sql_query(
        "UPDATE push_jobs SET status = 'queued', run_at = now(), locked_by = NULL, locked_until = NULL, \
                updated_at = now() \
         WHERE status = 'running' AND locked_until < now()",
    )
    .execute(conn)?;
    Ok((requeued, dead))
}

/// How a job attempt ended, as the queue records it.
#[derive(Debug, Clone)]
pub enum JobEnd {
    Delivered,
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Dead {
        error: String,
    },
    /// Not sent and not to be: the device's token was rejected or it is gone.
    Dropped {
        error: String,
    },
}

/// Records the ends of a worker's attempts in one transaction, and deactivates devices
/// whose token the provider rejected. A job whose lease was lost to another worker is
/// left to that worker, except that a delivery is always recorded.
pub fn finish(
    conn: &mut PgConnection,
    worker: &str,
    ends: &[(i64, JobEnd)],
    deactivate: &[Uuid],
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let delivered: Vec<i64> = ends
            .iter()
            .filter(|(_, e)| matches!(e, JobEnd::Delivered))
            .map(|(id, _)| *id)
            .collect();
        if !delivered.is_empty() {
            diesel::sql_query(
                "UPDATE push_jobs SET status = 'delivered', delivered_at = now(), locked_by = NULL, \
                        locked_until = NULL, last_error = NULL, updated_at = now() \
                 WHERE id = ANY($1) AND status IN ('running', 'queued')",
            )
            .bind::<Array<BigInt>, _>(&delivered)
            .execute(conn)?;
        }
        for (id, end) in ends {
            let (status, run_at, error) = match end {
                JobEnd::Delivered => continue,
                JobEnd::Retry { at, error } => ("queued", Some(*at), error),
                JobEnd::Dead { error } => ("dead", None, error),
                JobEnd::Dropped { error } => ("dropped", None, error),
            };
            diesel::sql_query(
                "UPDATE push_jobs SET status = $3, run_at = COALESCE($4, run_at), last_error = $5, \
                        locked_by = NULL, locked_until = NULL, updated_at = now() \
                 WHERE id = $1 AND status = 'running' AND locked_by = $2",
            )
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(worker)
            .bind::<Text, _>(status)
            .bind::<Nullable<Timestamptz>, _>(run_at)
            .bind::<Text, _>(error)
            .execute(conn)?;
        }
        for device in deactivate {
            diesel::sql_query(
                "UPDATE devices SET active = FALSE, deactivated_at = now(), updated_at = now() \
                 WHERE id = $1 AND active",
            )
            .bind::<SqlUuid, _>(device)
            .execute(conn)?;
        }
        Ok(())
    })
}

/// Gives jobs back to the queue untouched (the attempt is not counted): a worker stopping
/// before it could send them.
pub fn release(conn: &mut PgConnection, worker: &str, ids: &[i64]) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE push_jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), locked_by = NULL, \
                locked_until = NULL, run_at = now(), updated_at = now() \
         WHERE id = ANY($2) AND status = 'running' AND locked_by = $1",
    )
    .bind::<Text, _>(worker)
    .bind::<Array<BigInt>, _>(ids)
    .execute(conn)
}

#[derive(QueryableByName)]
struct Wake {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

/// The earliest instant at which there will be work for a worker sending through
/// `providers`: a pending reminder firing, a claimable job's retry time, or a lease running
/// out. Jobs of other providers are left out, or a worker that cannot send them would
/// wake for them again and again.
pub fn next_work_at(conn: &mut PgConnection, providers: &[String]) -> QueryResult<Option<DateTime<Utc>>> {
    let sql = format!(
        "SELECT LEAST( \
             (SELECT min(GREATEST(r.due_at, r.snoozed_until)) FROM reminders r WHERE {PENDING}), \
             (SELECT min(j.run_at) FROM push_jobs j JOIN devices d ON d.id = j.device_id WHERE {}), \
             (SELECT min(locked_until) FROM push_jobs WHERE status = 'running')) AS at",
        claimable("$1")
    );
    let wake: Wake = diesel::sql_query(sql)
        .bind::<Array<Text>, _>(providers)
        .get_result(conn)?;
    Ok(wake.at)
}

/// The queued jobs of one device provider, for `/metrics`.
#[derive(Debug, Clone, QueryableByName)]
pub struct QueueDepth {
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = BigInt)]
    pub queued: i64,
    /// Seconds since the oldest of them was created.
    #[diesel(sql_type = Double)]
    pub oldest_age_secs: f64,
}

/// Queued jobs per device provider (due now or waiting for a retry), and the age of the
/// oldest: what shows jobs piling up for a provider no worker can send through.
pub fn queue_depths(conn: &mut PgConnection) -> QueryResult<Vec<QueueDepth>> {
    diesel::sql_query(
        "SELECT COALESCE(d.push_provider, 'none') AS provider, count(*) AS queued, \
                EXTRACT(EPOCH FROM now() - min(j.created_at))::float8 AS oldest_age_secs \
         FROM push_jobs j JOIN devices d ON d.id = j.device_id \
         WHERE j.status = 'queued' \
         GROUP BY 1",
    )
    .load(conn)
}

/// Forgets finished jobs (delivered, dead, dropped) last touched before `before`. The
/// reminders keep `pushed_for`, so a forgotten occurrence is not queued again.
pub fn purge_finished(conn: &mut PgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM push_jobs WHERE status IN ('delivered', 'dead', 'dropped') AND updated_at < $1",
    )
    .bind::<Timestamptz, _>(before)
    .execute(conn)
}

/// One push sent (or to send) to one of the owner's devices, for their export.
#[derive(Debug, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = push_jobs)]
pub struct PushHistoryRow {
    pub reminder_id: Uuid,
    pub device_id: Uuid,
    pub fires_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub fn history_of(conn: &mut PgConnection, owner: Uuid) -> QueryResult<Vec<PushHistoryRow>> {
    push_jobs::table
        .filter(push_jobs::owner_id.eq(owner))
        .order(push_jobs::id)
        .select(PushHistoryRow::as_select())
        .load(conn)
}

/// Records a process's push workers and the providers they send through (or refreshes its
/// heartbeat).
pub fn heartbeat(
    conn: &mut PgConnection,
    process: Uuid,
    host: &str,
    providers: &[String],
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO push_worker_processes (id, host, providers) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET seen_at = now(), providers = EXCLUDED.providers",
    )
    .bind::<SqlUuid, _>(process)
    .bind::<Text, _>(host)
    .bind::<Array<Text>, _>(providers)
    .execute(conn)?;
    Ok(())
}

/// Forgets a process that stopped its workers, and processes silent for longer than
/// `stale` (killed ones).
pub fn forget_process(conn: &mut PgConnection, process: Uuid, stale: std::time::Duration) -> QueryResult<()> {
    diesel::sql_query(
        "DELETE FROM push_worker_processes WHERE id = $1 OR seen_at < now() - make_interval(secs => $2)",
    )
    .bind::<SqlUuid, _>(process)
    .bind::<Double, _>(stale.as_secs_f64())
    .execute(conn)?;
    Ok(())
}

/// A provider whose due jobs no live worker process can send.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct Stranded {
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = BigInt)]
    pub queued: i64,
    /// Seconds since the oldest of them became due.
    #[diesel(sql_type = Double)]
    pub waiting_secs: f64,
}

/// The providers with jobs due and no process seen within `live` able to send them.
pub fn stranded(conn: &mut PgConnection, live: std::time::Duration) -> QueryResult<Vec<Stranded>> {
    diesel::sql_query(
        "SELECT d.push_provider AS provider, count(*) AS queued, \
                EXTRACT(EPOCH FROM now() - min(j.run_at))::float8 AS waiting_secs \
         FROM push_jobs j JOIN devices d ON d.id = j.device_id \
         WHERE j.status = 'queued' AND j.run_at <= now() AND d.push_provider IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM push_worker_processes p \
                           WHERE d.push_provider = ANY (p.providers) \
                             AND p.seen_at >= now() - make_interval(secs => $1)) \
         GROUP BY 1 ORDER BY 1",
    )
    .bind::<Double, _>(live.as_secs_f64())
    .load(conn)
}

/// The providers that active devices name, for a worker refusing to start without any.
pub fn providers_in_use(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        provider: String,
    }
    let names = diesel::sql_query(
        "SELECT DISTINCT push_provider AS provider FROM devices \
         WHERE active AND push_provider IS NOT NULL AND push_token IS NOT NULL ORDER BY 1",
    )
    .load::<Name>(conn)?;
    Ok(names.into_iter().map(|n| n.provider).collect())
}
