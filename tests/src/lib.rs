//! Test support: a fresh PostgreSQL database per test, cloned from a migrated template, and
//! the application started on port 0 against it.
//!
//! The server is the one in `DATABASE_URL` (its database name is ignored). The template is
//! named after a digest of the migrations, so a changed migration gets a new template;
//! test databases carry their creation time and their run's id in their name.
//!
//! Nothing is left on the server when the run ends: each test database is dropped with its
//! test, and at exit the run drops whatever test database of its own is left and the
//! template, unless another run still uses it. Runs share a template through advisory
//! locks: each holds a shared lock on its template (on a connection kept for the whole run)
//! and the template is dropped only by the one that can take it exclusively, so a
//! concurrent run on the same server is never left without it. A run that was killed holds
//! no lock any more: a later run drops its test databases and its template once they are
//! over an hour old (and no run holds the template).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use carnet::config::Settings;
use carnet::startup::Application;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// The PostgreSQL server URL with `database` as its database.
pub fn database_url(database: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is not a URL");
    url.set_path(&format!("/{database}"));
    // Loopback tests need no TLS, and without it no connection of a background thread (sync
    // listener, push worker) can race the TLS library's clean-up when the test binary exits.
    if !url.query_pairs().any(|(k, _)| k == "sslmode") {
        url.query_pairs_mut().append_pair("sslmode", "disable");
    }
    url.to_string()
}

fn admin() -> PgConnection {
    PgConnection::establish(&database_url("postgres")).expect(
        "cannot reach PostgreSQL: run the tests with `deploy/local.sh test`, or set DATABASE_URL to a server where tests may create databases",
    )
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    datname: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Serialises building and dropping templates between runs.
const BUILD_LOCK: i64 = 4242002;

/// This run's id, in the names of its test databases.
fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| Uuid::new_v4().simple().to_string()[..12].to_string())
}

/// The advisory lock key standing for a template (held shared by each run using it).
fn template_key(name: &str) -> i64 {
    let digest = Sha256::digest(name.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap())
}

fn try_lock_exclusive(conn: &mut PgConnection, key: i64) -> bool {
    diesel::sql_query(format!("SELECT pg_try_advisory_lock({key}) AS locked"))
        .get_result::<Locked>(conn)
        .map(|l| l.locked)
        .unwrap_or(false)
}

/// The connection holding this run's shared lock on its template, kept until exit.
static KEEPER: OnceLock<Mutex<PgConnection>> = OnceLock::new();

/// The migrated template's name, creating it once per digest of the migrations.
pub fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut digest = Sha256::new();
        let mut dirs: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        for dir in dirs {
            for file in ["up.sql", "down.sql"] {
                if let Ok(text) = std::fs::read(dir.join(file)) {
                    digest.update(dir.file_name().unwrap().to_string_lossy().as_bytes());
                    digest.update(&text);
                }
            }
        }
        // The synced tables' derived SQL is applied with the migrations.
        digest.update(carnet::db::sync::views_sql(&carnet::domain::synced::synced_tables()).unwrap());
        // A run may ask for a template of its own (the clean-up test does, for its child run).
        if let Ok(salt) = std::env::var("CARNET_TEST_TEMPLATE_SALT") {
            digest.update(salt.as_bytes());
        }
        let name = format!("carnet_template_{}", &hex::encode(digest.finalize())[..16]);
        let mut conn = admin();
        diesel::sql_query(format!("SELECT pg_advisory_lock({BUILD_LOCK})"))
            .execute(&mut conn)
            .unwrap();
        drop_leftovers(&mut conn, &name);
        // Ours from now on, until exit: no other run drops it while this one clones it.
        diesel::sql_query(format!("SELECT pg_advisory_lock_shared({})", template_key(&name)))
            .execute(&mut conn)
            .unwrap();
        let exists: Vec<Name> = diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(&name)
            .load(&mut conn)
            .unwrap();
        if exists.is_empty() {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut conn)
                .unwrap();
            {
                let mut db = PgConnection::establish(&database_url(&building)).unwrap();
                carnet::db::run_migrations(&mut db, &carnet::domain::synced::synced_tables()).unwrap();
            }
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query(format!(
                "COMMENT ON DATABASE {name} IS '{TEMPLATE_COMMENT} {}'",
                now_secs()
            ))
            .execute(&mut conn)
            .unwrap();
        }
        diesel::sql_query(format!("SELECT pg_advisory_unlock({BUILD_LOCK})"))
            .execute(&mut conn)
            .unwrap();
        let _ = KEEPER.set(Mutex::new(conn));
        at_exit(clean_up_run);
        name
    })
}

fn database_names(conn: &mut PgConnection, pattern: &str) -> Vec<String> {
    diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind::<Text, _>(pattern)
        .load::<Name>(conn)
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.datname)
        .collect()
}

fn drop_database(conn: &mut PgConnection, name: &str) {
    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(conn);
}

/// Drops test databases over an hour old (left by killed runs), and other templates no run
/// holds (a run holds its template's lock until it exits) built over an hour ago. Called
/// under the build lock.
fn drop_leftovers(conn: &mut PgConnection, current_template: &str) {
    let cutoff = now_secs().saturating_sub(3600);
    for datname in database_names(conn, "carnet\\_test\\_%") {
        let created = datname
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if created < cutoff {
            drop_database(conn, &datname);
        }
    }
    for template in database_names(conn, "carnet\\_template\\_%") {
        if template == current_template {
            continue;
        }
        // Templates are built under the build lock, which this run holds: one still being
        // built is what a killed run left.
        if template.ends_with("_building") {
            drop_database(conn, &template);
            continue;
        }
        // A template this support built says when; one without a date was built by a
        // run of the support before these locks, which holds none: spared while such a
        // run seems to be going on.
        let stale = match template_built_at(conn, &template) {
            Some(built) => built < cutoff,
            None => !older_runs_active(conn),
        };
        let key = template_key(&template);
        if stale && try_lock_exclusive(conn, key) {
            drop_database(conn, &template);
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({key})")).execute(conn);
        }
    }
}

/// When this support built `template` (written in the database's comment).
fn template_built_at(conn: &mut PgConnection, template: &str) -> Option<u64> {
    diesel::sql_query(
        "SELECT COALESCE(shobj_description(oid, 'pg_database'), '') AS datname \
         FROM pg_database WHERE datname = $1",
    )
    .bind::<Text, _>(template)
    .get_result::<Name>(conn)
    .ok()?
    .datname
    .strip_prefix(TEMPLATE_COMMENT)?
    .trim()
    .parse()
    .ok()
}

const TEMPLATE_COMMENT: &str = "carnet test template, built at";

/// Whether a run of the test support from before these locks seems to be going on: its
/// test databases carry no run id (`carnet_test_<time>_<uuid>`), and it takes no lock on
/// the template it clones, so the template must not be dropped under it.
fn older_runs_active(conn: &mut PgConnection) -> bool {
    let cutoff = now_secs().saturating_sub(3600);
    database_names(conn, "carnet\\_test\\_%").iter().any(|name| {
        let parts: Vec<&str> = name.split('_').collect();
        parts.len() == 4 && parts[2].parse::<u64>().is_ok_and(|created| created >= cutoff)
    })
}

/// At exit: drops this run's test databases still there (a test that leaked its app) and
/// the template when no other run holds it nor has a test database.
fn clean_up_run() {
    let Some(keeper) = KEEPER.get() else {
        return;
    };
    let Ok(mut conn) = keeper.lock() else {
        return;
    };
    let conn = &mut *conn;
    let pattern = format!("carnet\\_test\\_%\\_{}\\_%", run_id());
    for name in database_names(conn, &pattern) {
        drop_database(conn, &name);
    }
    let template = template();
    let key = template_key(template);
    if diesel::sql_query(format!("SELECT pg_advisory_lock({BUILD_LOCK})"))
        .execute(conn)
        .is_err()
    {
        return;
    }
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock_shared({key})")).execute(conn);
    // An older run may clone the same template without a lock; a salted template is this
    // run's alone.
    let own_name = std::env::var("CARNET_TEST_TEMPLATE_SALT").is_ok();
    if (own_name || !older_runs_active(conn)) && try_lock_exclusive(conn, key) {
        drop_database(conn, template);
        let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({key})")).execute(conn);
    }
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({BUILD_LOCK})")).execute(conn);
}

/// Runs `f` when the process exits normally (the test harness returning, or exiting with
/// the failure status), through the C library's `atexit`: libtest has no hook for the end
/// of a run, and statics are never dropped. A panic in `f` is caught, as unwinding out of
/// an `extern "C"` function would abort.
fn at_exit(f: fn()) {
    static HOOK: OnceLock<fn()> = OnceLock::new();
    extern "C" fn run_hook() {
        if let Some(f) = HOOK.get() {
            let _ = std::panic::catch_unwind(f);
        }
    }
    if HOOK.set(f).is_ok() {
        // SAFETY: `run_hook` is a plain `extern "C" fn()` with no captured state, as
        // `atexit` requires; registering it has no other precondition.
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(run_hook);
        }
    }
}

/// A fresh database cloned from the template; dropped when the value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        let template = template();
        // At most 63 bytes, PostgreSQL's limit for a name (it would cut a longer one).
        let unique = &Uuid::new_v4().simple().to_string()[..20];
        let name = format!("carnet_test_{}_{}_{unique}", now_secs(), run_id());
        let mut conn = admin();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut conn)
            .unwrap();
        TestDatabase {
            url: database_url(&name),
            name,
        }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap()
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let mut conn = admin();
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .execute(&mut conn);
    }
}

/// Settings for a test server on port 0 against `db`, with `extra` overrides.
pub fn test_settings(db: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("CARNET_LISTEN".into(), "127.0.0.1:0".into()),
        ("CARNET_JWT_SECRET".into(), JWT_SECRET.into()),
        ("CARNET_DB_POOL_SIZE".into(), "4".into()),
        ("CARNET_HTTP_WORKERS".into(), "1".into()),
        // Push workers only where a test asks for them.
        ("CARNET_PUSH_WORKERS".into(), "0".into()),
        (
            "CARNET_LOG".into(),
            std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()),
        ),
    ]);
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    Settings::from_lookup(|key| env.get(key).cloned()).unwrap()
}

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
}

/// One answer: status, headers and the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["status"], status);
    }

    /// The field names of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A registered user with its tokens.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
    pub refresh_token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::new();
    let app = Application::build(test_settings(&db, extra)).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
    }
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    pub async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.request(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Registers a user with a unique email.
    pub async fn register(&self, name: &str) -> User {
        self.register_with(name, json!({})).await
    }

    /// Registers a user; `extra` adds fields such as `timezone` or `locale`.
    pub async fn register_with(&self, name: &str, extra: Value) -> User {
        let email = format!(
            "{}.{}@example.org",
            name.to_lowercase().replace(' ', "."),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let password = "correct horse battery staple".to_string();
        let mut body = json!({ "email": email, "password": password, "display_name": name });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let answer = self
            .request(Method::POST, "/v1/auth/register", None, Some(body))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "register failed: {}",
            answer.text
        );
        User {
            id: answer.body["user"]["id"].as_str().unwrap().to_string(),
            email,
            password,
            token: answer.body["access_token"].as_str().unwrap().to_string(),
            refresh_token: answer.body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// Creates a contact and answers its JSON.
    pub async fn contact(&self, user: &User, body: Value) -> Value {
        let answer = self.post("/v1/contacts", &user.token, body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "create contact failed: {}",
            answer.text
        );
        answer.body
    }
}

/// An answer kept as bytes (exports: BOM, separators and line ends are checked as sent).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl TestApp {
    /// Sends a file body (an import) with the given content type, if any.
    pub async fn send_file(
        &self,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{}", self.address, path))
            .bearer_auth(token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    /// GETs and keeps the body as bytes.
    pub async fn get_bytes(&self, path: &str, token: &str) -> RawAnswer {
        let res = self
            .client
            .get(format!("{}{}", self.address, path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        RawAnswer {
            status: res.status(),
            headers: res.headers().clone(),
            bytes: res.bytes().await.unwrap().to_vec(),
        }
    }

    /// Runs SQL on the test database, for state another route owns (say, a consent).
    pub fn sql(&self, query: &str) {
        diesel::sql_query(query).execute(&mut self.db.connect()).unwrap();
    }

    /// The one number (a bigint) a query answers.
    pub fn scalar(&self, query: &str) -> i64 {
        diesel::sql_query(format!("SELECT ({query}) AS n"))
            .get_result::<Count>(&mut self.db.connect())
            .unwrap()
            .n
    }

    /// Every (table, value, rows) where a row of a table of the application, read as text
    /// whole, holds one of `values` (case-insensitive).
    pub fn rows_mentioning(&self, values: &[String]) -> Vec<(String, String, i64)> {
        let mut conn = self.db.connect();
        let tables: Vec<Name> = diesel::sql_query(
            "SELECT tablename AS datname FROM pg_tables WHERE schemaname = 'public' \
             AND tablename NOT LIKE '\\_\\_%' ORDER BY tablename",
        )
        .load(&mut conn)
        .unwrap();
        let mut found = Vec::new();
        for table in tables {
            for value in values {
                let query = format!(
                    "SELECT count(*) AS n FROM \"{}\" AS t WHERE strpos(lower(t::text), lower($1)) > 0",
                    table.datname
                );
                let n = diesel::sql_query(query)
                    .bind::<Text, _>(value)
                    .get_result::<Count>(&mut conn)
                    .unwrap()
                    .n;
                if n > 0 {
                    found.push((table.datname.clone(), value.clone(), n));
                }
            }
        }
        found
    }
}
