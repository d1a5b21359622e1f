//! Settings, read once from the environment at start-up and passed down (no globals).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use rand::RngCore;

/// Where Carnet runs: production refuses unsafe defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: String,
    pub listen: SocketAddr,
    /// Where `carnet worker` serves `/healthz`, `/readyz` and `/metrics`.
    pub worker_listen: SocketAddr,
    pub public_url: String,
    pub jwt_secret: Vec<u8>,
    /// True when no secret was configured and a random one was generated.
    pub jwt_secret_generated: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long after a rotation the rotated refresh token may be presented again and get
    /// the same successor (a phone retrying after a lost answer); 0 turns retries off.
    pub refresh_reuse_grace: Duration,
    pub db_pool_size: u32,
    /// HTTP worker threads; one per core by default.
    pub http_workers: usize,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Failed logins allowed per account email, and per client address, in `login_window`.
    pub login_max_failures_per_email: i64,
    pub login_max_failures_per_ip: i64,
    pub login_window: Duration,
    /// How often `serve` and `worker` run housekeeping (expired tokens, old login failures).
    pub housekeeping_interval: Duration,
    /// How long sync keeps deleted records and old change rows; older cursors must resync.
    pub sync_retention: Duration,
    /// Most mutations in one push.
    pub sync_max_batch: usize,
    /// Most changes in one pull page.
    pub sync_max_pull: i64,
    /// How long `GET /v1/sync/wait` holds a request when nothing changes.
    pub sync_wait_timeout: Duration,
    /// How far ahead of the server's clock a pushed stamp may be.
    pub sync_max_skew: Duration,
    /// PostgreSQL session limits on the API's connections, so a stuck transaction can hold
    /// back the sync fence (and locks) only this long.
    pub db_idle_in_transaction_timeout: Duration,
    pub db_statement_timeout: Duration,
    /// Wrong join codes allowed per user, and per client address, in `join_window`.
    pub join_max_failures_per_user: i64,
    pub join_max_failures_per_ip: i64,
    pub join_window: Duration,
    /// Reminder push jobs: workers, queue timing and providers.
    pub push: PushSettings,
}

/// How reminder pushes are queued and delivered (`CARNET_PUSH_*`, `CARNET_FCM_*`,
/// `CARNET_APNS_*`). Timings are settings so tests can make them short.
#[derive(Clone, Debug)]
pub struct PushSettings {
    /// Push workers `serve` runs beside the API (0: none).
    pub serve_workers: usize,
    /// Push workers `worker` runs.
    pub worker_workers: usize,
    /// Longest wait between two looks at the queue when no notification comes.
    pub poll_interval: Duration,
    /// How long a claimed job belongs to its worker; past it another worker may take it.
    pub lease: Duration,
    /// Attempts before a job is moved aside as dead.
    pub max_attempts: i32,
    /// First retry delay, doubled at each attempt up to `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Jobs one worker claims and sends at once.
    pub batch_size: i64,
    /// Timeout of one request to a provider.
    pub request_timeout: Duration,
    /// On SIGTERM, how long workers may finish their jobs before releasing them.
    pub stop_grace: Duration,
    pub fcm_service_account: Option<String>,
    pub fcm_endpoint: String,
    pub apns_key: Option<String>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    pub apns_topic: Option<String>,
    pub apns_endpoint: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// What a reminder's push says (`CARNET_PUSH_CONTENT`).
    pub content: PushContent,
}

/// What a reminder's push carries through the provider (Google's or Apple's servers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushContent {
    /// `full` (the default): the reminder's title and contact, shown as they are.
    Full,
    /// `private`: only that a reminder is due and its id; the app fetches the rest.
    Private,
}

impl PushSettings {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let ms = |key: &str, default: u64| number(get, key, default).map(Duration::from_millis);
        let push = PushSettings {
            serve_workers: count(get, "CARNET_PUSH_WORKERS", 1)?,
            worker_workers: count(get, "CARNET_WORKER_PUSH_WORKERS", 2)?,
            poll_interval: ms("CARNET_PUSH_POLL_INTERVAL_MS", 5_000)?,
            lease: ms("CARNET_PUSH_LEASE_MS", 120_000)?,
            max_attempts: i32::try_from(number(get, "CARNET_PUSH_MAX_ATTEMPTS", 8)?)
                .context("CARNET_PUSH_MAX_ATTEMPTS is too large")?,
            backoff_base: ms("CARNET_PUSH_BACKOFF_BASE_MS", 2_000)?,
            backoff_max: ms("CARNET_PUSH_BACKOFF_MAX_MS", 3_600_000)?,
            batch_size: number(get, "CARNET_PUSH_BATCH", 64)?.min(10_000) as i64,
            request_timeout: ms("CARNET_PUSH_TIMEOUT_MS", 15_000)?,
            stop_grace: ms("CARNET_PUSH_STOP_GRACE_MS", 20_000)?,
            fcm_service_account: get("CARNET_FCM_SERVICE_ACCOUNT"),
            fcm_endpoint: get("CARNET_FCM_ENDPOINT").unwrap_or_else(|| "https://fcm.googleapis.com".into()),
            apns_key: get("CARNET_APNS_KEY"),
            apns_key_id: get("CARNET_APNS_KEY_ID"),
            apns_team_id: get("CARNET_APNS_TEAM_ID"),
            apns_topic: get("CARNET_APNS_TOPIC"),
            apns_endpoint: get("CARNET_APNS_ENDPOINT").unwrap_or_else(|| "https://api.push.apple.com".into()),
            webhook_url: get("CARNET_PUSH_WEBHOOK_URL"),
            webhook_secret: get("CARNET_PUSH_WEBHOOK_SECRET"),
            content: match get("CARNET_PUSH_CONTENT").as_deref() {
                None | Some("full") => PushContent::Full,
                Some("private") => PushContent::Private,
                Some(other) => bail!("CARNET_PUSH_CONTENT is `full` or `private`, not `{other}`"),
            },
        };
        if push.lease <= push.request_timeout {
            bail!("CARNET_PUSH_LEASE_MS must be longer than CARNET_PUSH_TIMEOUT_MS");
        }
        let apns = [
            &push.apns_key,
            &push.apns_key_id,
            &push.apns_team_id,
            &push.apns_topic,
        ];
        if apns.iter().any(|v| v.is_some()) && !apns.iter().all(|v| v.is_some()) {
            bail!("APNs needs all of CARNET_APNS_KEY, CARNET_APNS_KEY_ID, CARNET_APNS_TEAM_ID and CARNET_APNS_TOPIC");
        }
        if push.webhook_url.is_some() != push.webhook_secret.is_some() {
            bail!("the push webhook needs both CARNET_PUSH_WEBHOOK_URL and CARNET_PUSH_WEBHOOK_SECRET");
        }
        Ok(push)
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("db_pool_size", &self.db_pool_size)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/carnet";
const MIN_SECRET_BYTES: usize = 32;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can pass their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let environment = match get("CARNET_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => bail!("CARNET_ENV must be development or production, not {other:?}"),
        };
        let (jwt_secret, jwt_secret_generated) = match get("CARNET_JWT_SECRET") {
            Some(secret) if secret.len() >= MIN_SECRET_BYTES => (secret.into_bytes(), false),
            Some(_) => bail!("CARNET_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"),
            None if environment == Environment::Production => {
                bail!("CARNET_JWT_SECRET is required when CARNET_ENV=production")
            }
            None => {
                let mut secret = vec![0u8; 64];
                rand::thread_rng().fill_bytes(&mut secret);
                (secret, true)
            }
        };
        let listen: SocketAddr = get("CARNET_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .context("CARNET_LISTEN must be an address such as 127.0.0.1:8080")?;
        let worker_listen: SocketAddr = get("CARNET_WORKER_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8081".into())
            .parse()
            .context("CARNET_WORKER_LISTEN must be an address such as 127.0.0.1:8081")?;
        let log_format = match get("CARNET_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if environment == Environment::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => bail!("CARNET_LOG_FORMAT must be pretty or json, not {other:?}"),
        };
        Ok(Settings {
            environment,
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            public_url: get("CARNET_PUBLIC_URL").unwrap_or_else(|| format!("http://{listen}")),
            listen,
            worker_listen,
            jwt_secret,
            jwt_secret_generated,
            access_token_ttl: Duration::from_secs(number(&get, "CARNET_ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_token_ttl: Duration::from_secs(
                number(&get, "CARNET_REFRESH_TOKEN_TTL_DAYS", 30)? * 86_400,
            ),
            refresh_reuse_grace: Duration::from_secs(seconds(
                &get,
                "CARNET_REFRESH_REUSE_GRACE_SECS",
                30,
                3600,
            )?),
            db_pool_size: u32::try_from(number(&get, "CARNET_DB_POOL_SIZE", 16)?)
                .context("CARNET_DB_POOL_SIZE is too large")?,
            http_workers: match get("CARNET_HTTP_WORKERS") {
                None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
                Some(_) => number(&get, "CARNET_HTTP_WORKERS", 2)? as usize,
            },
            log_filter: get("CARNET_LOG")
                .or_else(|| get("RUST_LOG"))
                .unwrap_or_else(|| "info".into()),
            log_format,
            login_max_failures_per_email: number(&get, "CARNET_LOGIN_MAX_FAILURES", 5)? as i64,
            login_max_failures_per_ip: number(&get, "CARNET_LOGIN_MAX_FAILURES_PER_IP", 50)? as i64,
            login_window: Duration::from_secs(number(&get, "CARNET_LOGIN_WINDOW_SECS", 900)?),
            housekeeping_interval: Duration::from_secs(number(
                &get,
                "CARNET_HOUSEKEEPING_INTERVAL_SECS",
                600,
            )?),
            sync_retention: Duration::from_secs(number(&get, "CARNET_SYNC_RETENTION_DAYS", 90)? * 86_400),
            sync_max_batch: number(&get, "CARNET_SYNC_MAX_BATCH", 1000)? as usize,
            sync_max_pull: number(&get, "CARNET_SYNC_MAX_PULL", 1000)? as i64,
            sync_wait_timeout: Duration::from_secs(number(&get, "CARNET_SYNC_WAIT_SECS", 25)?),
            sync_max_skew: Duration::from_secs(number(&get, "CARNET_SYNC_MAX_SKEW_SECS", 300)?),
            db_idle_in_transaction_timeout: Duration::from_secs(number(
                &get,
                "CARNET_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
                30,
            )?),
            db_statement_timeout: Duration::from_secs(number(&get, "CARNET_DB_STATEMENT_TIMEOUT_SECS", 60)?),
            join_max_failures_per_user: number(&get, "CARNET_JOIN_MAX_FAILURES", 10)? as i64,
            join_max_failures_per_ip: number(&get, "CARNET_JOIN_MAX_FAILURES_PER_IP", 100)? as i64,
            join_window: Duration::from_secs(number(&get, "CARNET_JOIN_WINDOW_SECS", 900)?),
            push: PushSettings::from_lookup(&get)?,
        })
    }
}

fn number(get: &impl Fn(&str) -> Option<String>, key: &str, default: u64) -> anyhow::Result<u64> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{key} must be a positive whole number, not {v:?}")),
    }
}

/// A number of seconds from 0 to `max`.
fn seconds(get: &impl Fn(&str) -> Option<String>, key: &str, default: u64, max: u64) -> anyhow::Result<u64> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .with_context(|| format!("{key} must be a whole number of seconds from 0 to {max}, not {v:?}")),
    }
}

/// A whole number that may be 0.
fn count(get: &impl Fn(&str) -> Option<String>, key: &str, default: usize) -> anyhow::Result<usize> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 256)
            .with_context(|| format!("{key} must be a whole number from 0 to 256, not {v:?}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn development_generates_a_secret() {
        let s = settings(&[]).unwrap();
        assert!(s.jwt_secret_generated);
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn production_requires_a_long_secret() {
        assert!(settings(&[("CARNET_ENV", "production")]).is_err());
        assert!(settings(&[("CARNET_ENV", "production"), ("CARNET_JWT_SECRET", "short")]).is_err());
        let s = settings(&[
            ("CARNET_ENV", "production"),
            ("CARNET_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(!s.jwt_secret_generated);
    }

    #[test]
    fn push_settings_allow_no_workers_and_refuse_half_configured_providers() {
        let s = settings(&[("CARNET_PUSH_WORKERS", "0")]).unwrap();
        assert_eq!(s.push.serve_workers, 0);
        assert_eq!(s.push.worker_workers, 2);
        assert!(settings(&[("CARNET_PUSH_WORKERS", "-1")]).is_err());
        assert!(settings(&[("CARNET_APNS_KEY_ID", "ABC")]).is_err());
        assert!(settings(&[("CARNET_PUSH_WEBHOOK_URL", "http://127.0.0.1:9/hook")]).is_err());
        assert!(settings(&[
            ("CARNET_PUSH_LEASE_MS", "1000"),
            ("CARNET_PUSH_TIMEOUT_MS", "2000")
        ])
        .is_err());
    }

    #[test]
    fn push_content_is_full_by_default_or_private() {
        assert_eq!(settings(&[]).unwrap().push.content, PushContent::Full);
        let private = settings(&[("CARNET_PUSH_CONTENT", "private")]).unwrap();
        assert_eq!(private.push.content, PushContent::Private);
        let refused = settings(&[("CARNET_PUSH_CONTENT", "titles")]).unwrap_err();
        assert!(
            format!("{refused:#}").contains("CARNET_PUSH_CONTENT"),
            "{refused:#}"
        );
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(settings(&[("CARNET_DB_POOL_SIZE", "lots")]).is_err());
        assert!(settings(&[("CARNET_ACCESS_TOKEN_TTL_SECS", "0")]).is_err());
    }

    #[test]
    fn the_refresh_reuse_grace_defaults_to_30_seconds_and_may_be_off() {
        assert_eq!(
            settings(&[]).unwrap().refresh_reuse_grace,
            Duration::from_secs(30)
        );
        let off = settings(&[("CARNET_REFRESH_REUSE_GRACE_SECS", "0")]).unwrap();
        assert_eq!(off.refresh_reuse_grace, Duration::ZERO);
        assert!(settings(&[("CARNET_REFRESH_REUSE_GRACE_SECS", "a minute")]).is_err());
        assert!(settings(&[("CARNET_REFRESH_REUSE_GRACE_SECS", "86400")]).is_err());
    }
}
