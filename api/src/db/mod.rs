//! The data layer: every SQL statement of Carnet lives under this module.
//!
//! Finders of user data take the owner's id and filter by it; there is no unscoped finder,
//! so a handler cannot fetch someone else's record by id. A record of another user is
//! simply "not found". Soft-deleted rows (`deleted_at`) are kept for sync tombstones and
//! restores, and every finder skips them.

pub mod attendances;
pub mod calendar_feeds;
pub mod contacts;
pub mod devices;
pub mod events;
pub mod export;
pub mod interactions;
pub mod join_code_failures;
pub mod push_jobs;
pub mod reminders;
pub mod schema;
pub mod sessions;
pub mod sync;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A handle on the connection pool. The layers above run their diesel code off the async
/// threads with `Db::run` and `Db::transaction` (in `crate::error`, which maps the errors).
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

/// Limits set on every pooled connection when it opens. A transaction left open (a stuck
/// request, a crashed worker) is ended by PostgreSQL after `idle_in_transaction`, and no
/// statement runs longer than `statement`: this bounds how long one transaction can hold
/// back the sync fence (and its locks).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle_in_transaction: Duration,
    pub statement: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle_in_transaction: Duration::from_secs(30),
            statement: Duration::from_secs(60),
        }
    }
}

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionLimits {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {}; SET statement_timeout = {}; SET TIME ZONE 'UTC'",
            self.idle_in_transaction.as_millis(),
            self.statement.as_millis()
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Db {
    pub fn connect(database_url: &str, size: u32) -> anyhow::Result<Self> {
        Self::connect_with(database_url, size, SessionLimits::default())
    }

    /// A pool whose connections carry `limits`.
    pub fn connect_with(database_url: &str, size: u32, limits: SessionLimits) -> anyhow::Result<Self> {
        let manager = ConnectionManager::<PgConnection>::new(database_url);
        let pool = Pool::builder()
            .connection_customizer(Box::new(limits))
            .max_size(size)
            .min_idle(Some(size.min(2)))
            .connection_timeout(Duration::from_secs(5))
            .test_on_check_out(false)
            .build(manager)
            .context("cannot connect to PostgreSQL")?;
        Ok(Db { pool })
    }

    /// (connections open, idle) for the metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Applies pending migrations, then brings the synced tables' derived SQL (record types and
/// view triggers, see `sync_views.sql`) in step with `synced`; answers the migration versions
/// it applied.
pub fn run_migrations(
    conn: &mut PgConnection,
    synced: &[&dyn sync::SyncedTable],
) -> anyhow::Result<Vec<String>> {
    // Under an advisory lock, so several processes starting at once migrate once.
    diesel::sql_query("SELECT pg_advisory_lock(4242001)").execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
        .and_then(|applied| {
            sync::install_views(conn, synced).context("cannot bring the synced tables' views in step")?;
            Ok(applied)
        });
    diesel::sql_query("SELECT pg_advisory_unlock(4242001)").execute(conn)?;
    applied
}

/// Creates the database named in `database_url` when the server does not have it yet.
/// Answers true when it created it.
pub fn ensure_database(database_url: &str) -> anyhow::Result<bool> {
    if PgConnection::establish(database_url).is_ok() {
        return Ok(false);
    }
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_string();
    if name.is_empty() {
        anyhow::bail!("DATABASE_URL names no database");
    }
    url.set_path("/postgres");
    let mut admin = PgConnection::establish(url.as_str())
        .with_context(|| format!("cannot reach the PostgreSQL server of DATABASE_URL to create {name:?}"))?;
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match diesel::sql_query(sql).execute(&mut admin) {
        Ok(_) => Ok(true),
        // Another process created it meanwhile.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(false)
        }
        Err(e) if e.to_string().contains("already exists") => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create database {name:?}")),
    }
}

/// True when the error is a unique-constraint violation (say, an email already taken).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Escapes `%`, `_` and `\` so user text matches literally inside an ILIKE pattern.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Subscribes this connection to the notifications of `channel` (a fixed name of ours).
pub fn listen(conn: &mut PgConnection, channel: &'static str) -> QueryResult<()> {
    diesel::sql_query(format!("LISTEN {channel}")).execute(conn)?;
    Ok(())
}

/// One round trip to the server: readiness checks and keep-alives of long-lived connections.
pub fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod layering {
    /// Where a layer's code (not its comments or tests) names a module of the crate not in
    /// `allowed`.
    fn names_outside(dir: &str, allowed: &[&str]) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests below `#[cfg(test)]` may name anything.
            let code_part = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code_part.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for (at, _) in code.match_indices("crate::") {
                    let rest = &code[at + "crate::".len()..];
                    let module: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !allowed.contains(&module.as_str()) {
                        found.push(format!("{}:{}: crate::{module}", path.display(), n + 1));
                    }
                }
            }
        }
        found
    }

    /// Routes and sync over domain over db (docs/ARCHITECTURE.md): the data layer names
    /// nothing above it, the domain layer neither the HTTP adapters nor sync's.
    #[test]
    fn layers_point_one_way() {
        assert_eq!(names_outside("db", &["db"]), Vec::<String>::new());
        let below_adapters = ["db", "domain", "error", "config"];
        assert_eq!(names_outside("domain", &below_adapters), Vec::<String>::new());
    }
}
