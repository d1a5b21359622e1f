//! Push load benchmark: Carnet's push workers against a fake webhook receiver on loopback,
//! on a fresh database cloned from the migrated template (`DATABASE_URL` names the server).
//!
//! Two measurements per worker count (`PUSH_WORKERS`, default `1,4`):
//! - throughput: a backlog of `PUSH_BACKLOG` pushes (default 20,000) all due at once,
//!   drained by the workers; pushes per second from the workers' start to the last delivery;
//! - delay: `PUSH_RATE` pushes per second (default 500) falling due over 10 seconds;
//!   p50/p99 of delivered_at − fires_at as recorded in `push_jobs`.
//!
//! Run: `cargo run --release -p carnet-tests --example push_load` (see benches/push-load.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use carnet::db::Db;
use carnet_tests::{test_settings, TestDatabase};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer};

const DEVICES_PER_USER: i32 = 2;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Delays {
    #[diesel(sql_type = Double)]
    p50: f64,
    #[diesel(sql_type = Double)]
    p99: f64,
    #[diesel(sql_type = Double)]
    max: f64,
}

fn env_number(key: &str, default: i64) -> i64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Users with two webhook devices each, and `per_user` reminders each; reminder number `i`
/// (0-based over all) is due at `start + i * step_ms`.
fn seed(conn: &mut PgConnection, users: i32, per_user: i32, start_offset_ms: i64, step_ms: f64) {
    diesel::sql_query(
        "INSERT INTO users (id, email, password_hash, display_name) \
         SELECT gen_random_uuid(), 'bench' || g || '@example.org', 'x', 'Bench ' || g \
         FROM generate_series(1, $1) g",
    )
    .bind::<Integer, _>(users)
    .execute(conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO devices (id, owner_id, platform, name, push_provider, push_token) \
         SELECT gen_random_uuid(), u.id, 'android', 'phone ' || d, 'webhook', 'tok-' || u.id || '-' || d \
         FROM users u, generate_series(1, $1) d",
    )
    .bind::<Integer, _>(DEVICES_PER_USER)
    .execute(conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO reminders (id, owner_id, title, due_local, timezone, due_at) \
         SELECT gen_random_uuid(), o.id, 'Call back ' || o.i, (o.at AT TIME ZONE 'UTC'), 'UTC', o.at \
         FROM (SELECT u.id, r, \
                      row_number() OVER (ORDER BY r, u.id) - 1 AS i, \
                      now() + ($2 + (row_number() OVER (ORDER BY r, u.id) - 1) * $3) * interval '1 millisecond' AS at \
               FROM users u, generate_series(1, $1) r) o",
    )
    .bind::<Integer, _>(per_user)
    .bind::<BigInt, _>(start_offset_ms)
    .bind::<Double, _>(step_ms)
    .execute(conn)
    .unwrap();
    diesel::sql_query("ANALYZE").execute(conn).unwrap();
}

fn delivered(conn: &mut PgConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM push_jobs WHERE status = 'delivered'")
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

fn delays(conn: &mut PgConnection) -> Delays {
    diesel::sql_query(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99, max(d) AS max \
         FROM (SELECT extract(epoch FROM delivered_at - fires_at)::float8 AS d \
               FROM push_jobs WHERE status = 'delivered') x",
    )
    .get_result(conn)
    .unwrap()
}

/// A webhook receiver that accepts everything and counts.
fn receiver() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/hook",
            web::post().to(move |_body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::Relaxed);
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, count)
}

async fn run(
    workers: usize,
    url: &str,
    users: i32,
    per_user: i32,
    offset_ms: i64,
    step_ms: f64,
) -> (f64, Delays) {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    seed(&mut conn, users, per_user, offset_ms, step_ms);
    let expected = i64::from(users * per_user * DEVICES_PER_USER);
    let settings = test_settings(
        &db,
        &[
            ("CARNET_LOG", "off"),
            ("CARNET_PUSH_WEBHOOK_URL", url),
            ("CARNET_PUSH_WEBHOOK_SECRET", "bench-secret"),
        ],
    );
    let pool = Db::connect(&db.url, workers as u32 + 2).unwrap();
    let metrics = carnet::metrics::Metrics::new().unwrap();
    let started = Instant::now();
    let push = carnet::jobs::start(pool, &settings, metrics.push, workers).unwrap();
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = delivered(&mut conn);
        if n >= expected {
            last = Instant::now();
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            eprintln!("gave up: {n} of {expected} delivered");
            break;
        }
    }
    push.stop().await;
    let secs = (last - started).as_secs_f64();
    let d = delays(&mut conn);
    (expected as f64 / secs, d)
}

#[tokio::main]
async fn main() {
    let backlog = env_number("PUSH_BACKLOG", 20_000) as i32;
    let rate = env_number("PUSH_RATE", 500) as f64;
    let counts: Vec<usize> = std::env::var("PUSH_WORKERS")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let (url, received) = receiver();
    println!("| workers | measurement | pushes | pushes/s | p50 delay | p99 delay | max delay |");
    println!("|---|---|---|---|---|---|---|");
    for &workers in &counts {
        // Backlog: everything due a minute ago.
        let users = backlog / (DEVICES_PER_USER * 5);
        let (per_second, d) = run(workers, &url, users, 5, -60_000, 0.0).await;
        let _ = d;
        println!(
            "| {workers} | backlog of {} due at once (saturated) | {} | {per_second:.0} | – | – | – |",
            users * 5 * DEVICES_PER_USER,
            users * 5 * DEVICES_PER_USER,
        );
        // Steady load: `rate` pushes/s falling due over 10 s, from 3 s after seeding.
        let reminders_per_second = rate / f64::from(DEVICES_PER_USER);
        let total_reminders = (reminders_per_second * 10.0) as i32;
        let users = (total_reminders / 5).max(1);
        let step_ms = 1000.0 / reminders_per_second;
        let (_, d) = run(workers, &url, users, 5, 3_000, step_ms).await;
        println!(
            "| {workers} | {rate:.0} pushes/s due over 10 s | {} | (offered {rate:.0}) | {:.3} s | {:.3} s | {:.3} s |",
            users * 5 * DEVICES_PER_USER,
            d.p50,
            d.p99,
            d.max
        );
    }
    eprintln!("receiver saw {} requests", received.load(Ordering::Relaxed));
}
