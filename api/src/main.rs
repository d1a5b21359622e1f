use clap::{Parser, Subcommand};

use carnet::config::Settings;
use carnet::startup::{prepare_database, Application};

/// The sync pages build and drop many small JSON values; mimalloc frees them several times
/// faster than the system allocator under the blocking pool's threads (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Carnet: the offline-first backend for people who build their network in person.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API, push workers (CARNET_PUSH_WORKERS) and housekeeping (the default).
    Serve,
    /// Run only push workers (CARNET_WORKER_PUSH_WORKERS) and housekeeping, for scaling out.
    Worker,
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
}

/// `mi_option_purge_delay` in mimalloc.h (v3's `mi_option_t`, the enum's 16th member;
/// libmimalloc-sys names only the options shared with v2). A test below checks that it still
/// names the purge delay, through its default.
const MI_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory is kept for the next request rather than handed back to the kernel at once.
///
/// libpq, being C, keeps each query result in the C allocator's memory: a sync page's rows
/// are a megabyte or more of JSON, allocated and freed at every pull. With glibc's default,
/// dynamic thresholds that memory goes back to the kernel after each page and the next page
/// faults it in again, zeroed (about a tenth of the server's time in a pull, measured in
/// docs/BENCHMARKS.md). Fixed thresholds keep up to 64 MiB of freed memory per arena for the
/// next page; blocks of 32 MiB or more still get their own mapping, returned when freed.
///
/// mimalloc, which serves Rust's allocations, by default purges the pages freed by a request
/// (returns them to the kernel) a second later; under a steady push load the next requests
/// then fault them in again, zeroed, a sixth of the server's time in a push (its request
/// bodies, merge states and views are built in buffers that grow as they are written). With
/// purging off, the server's memory stays at its high-water mark (under 200 MB for the
/// benchmark's four pushers) instead of dropping between requests.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an option value read by later allocations; it has
    // no memory-safety preconditions.
    unsafe { libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, -1) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc allocator parameters; it takes the allocator's own
    // lock and is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    keep_freed_memory();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    carnet::telemetry::init(&settings.log_filter, settings.log_format);
    if settings.jwt_secret_generated {
        tracing::warn!("CARNET_JWT_SECRET is not set: using a random secret, so tokens end at restart");
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let interval = settings.housekeeping_interval;
            let retention = settings.sync_retention;
            let app = Application::build(settings).await?;
            let db = app.state().db.clone();
            let worker = actix_web::rt::spawn(carnet::housekeeping::run_forever(db, interval, retention));
            app.run_until_stopped().await?;
            worker.abort();
        }
        Command::Worker => {
            let db = prepare_database(&settings).await?;
            carnet::jobs::readiness::check_can_send(&db, &settings).await?;
            let metrics = carnet::metrics::Metrics::new()?;
            let ops = carnet::startup::WorkerOpsServer::start(
                settings.worker_listen,
                carnet::routes::health::WorkerOps {
                    db: db.clone(),
                    metrics: metrics.clone(),
                    push: settings.push.clone(),
                },
            )?;
            let push = carnet::jobs::start(
                db.clone(),
                &settings,
                metrics.push.clone(),
                settings.push.worker_workers,
            )?;
            tracing::info!(push_workers = push.count(), "worker started");
            tokio::select! {
                _ = carnet::housekeeping::run_forever(db, settings.housekeeping_interval, settings.sync_retention) => {}
                _ = shutdown_signal() => tracing::info!("worker stopping"),
            }
            push.stop().await;
            ops.stop().await;
            tracing::info!("worker stopped");
        }
        Command::Migrate => {
            prepare_database(&settings).await?;
            tracing::info!("migrations are up to date");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    /// The option number set at start-up is mimalloc's purge delay: 1000 ms until set (the
    /// default in mimalloc's options.c, and the only option with that default).
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reading an option has no preconditions.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
