//! Push providers behind one trait: FCM HTTP v1, APNs (token-based), a signed webhook, and
//! a log provider for development. A device names its provider (`fcm`, `apns`, `webhook`).
//! In development a provider that is not configured falls back to the log provider; in
//! production there is no fallback: a worker sends only through the providers it has
//! credentials for and claims only their jobs (see [`Providers::sendable`]), so a worker
//! missing a secret leaves those jobs queued for one that has it instead of swallowing them.

pub mod apns;
pub mod fcm;
pub mod log;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use uuid::Uuid;

use crate::config::{Environment, PushSettings};

/// Every `push_provider` a device may name.
pub const PROVIDER_NAMES: [&str; 3] = ["fcm", "apns", "webhook"];

/// One push to send: the device's token and the payload queued with the job.
#[derive(Debug, Clone, Copy)]
pub struct Push<'a> {
    pub job_id: i64,
    pub device_id: Uuid,
    pub token: &'a str,
    pub fires_at: DateTime<Utc>,
    /// `title`, `body`, `locale` and the ids the app needs (see `jobs::scheduler`).
    pub payload: &'a serde_json::Value,
}

impl Push<'_> {
    pub fn text(&self, key: &str) -> &str {
        self.payload.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }
}

/// How an attempt went, in the provider's words turned into what the queue does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// A transient failure (5xx, timeout, 429): try again later, not before `retry_after`
    /// when the provider said so.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// The provider says the token is no longer valid: the device is deactivated.
    InvalidToken {
        error: String,
    },
    /// Retrying would fail the same way (a malformed request, a refused credential).
    Failed {
        error: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::InvalidToken { .. } => "invalid_token",
            Outcome::Failed { .. } => "failed",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Delivered => None,
            Outcome::Retry { error, .. } | Outcome::InvalidToken { error } | Outcome::Failed { error } => {
                Some(error)
            }
        }
    }

    /// A network failure: timeouts and refused connections are worth retrying.
    pub fn from_transport(provider: &str, error: &reqwest::Error) -> Self {
        Outcome::Retry {
            error: format!("{provider}: {}", describe(error)),
            retry_after: None,
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

/// A way to reach a device.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, push: Push<'a>) -> BoxFuture<'a, Outcome>;
}

/// The configured providers, one per `push_provider` value.
#[derive(Clone)]
pub struct Providers {
    fcm: Option<Arc<dyn Provider>>,
    apns: Option<Arc<dyn Provider>>,
    webhook: Option<Arc<dyn Provider>>,
    /// Stands in for missing providers; development only.
    log: Option<Arc<dyn Provider>>,
}

impl Providers {
    pub fn from_settings(settings: &PushSettings, environment: Environment) -> anyhow::Result<Self> {
        let fcm = match &settings.fcm_service_account {
            Some(account) => Some(Arc::new(fcm::Fcm::new(account, settings)?) as Arc<dyn Provider>),
            None => None,
        };
        let apns = match (
            &settings.apns_key,
            &settings.apns_key_id,
            &settings.apns_team_id,
            &settings.apns_topic,
        ) {
            (Some(key), Some(key_id), Some(team_id), Some(topic)) => {
                Some(Arc::new(apns::Apns::new(key, key_id, team_id, topic, settings)?) as Arc<dyn Provider>)
            }
            _ => None,
        };
        let webhook = match (&settings.webhook_url, &settings.webhook_secret) {
            (Some(url), Some(secret)) => {
                Some(Arc::new(webhook::Webhook::new(url, secret, settings)?) as Arc<dyn Provider>)
            }
            _ => None,
        };
        Ok(Providers {
            fcm,
            apns,
            webhook,
            log: (environment == Environment::Development).then(|| Arc::new(log::Log) as Arc<dyn Provider>),
        })
    }

    /// The provider for a device's `push_provider`: the configured one, else the log
    /// provider in development; `None` in production when it is not configured.
    pub fn for_device(&self, push_provider: &str) -> Option<&dyn Provider> {
        let chosen = match push_provider {
            "fcm" => self.fcm.as_ref(),
            "apns" => self.apns.as_ref(),
            "webhook" => self.webhook.as_ref(),
            _ => None,
        };
        chosen.or(self.log.as_ref()).map(|p| p.as_ref())
    }

    /// The `push_provider` values whose jobs this worker claims: those it can send
    /// through (every one in development, where the log provider stands in).
    pub fn sendable(&self) -> Vec<String> {
        PROVIDER_NAMES
            .into_iter()
            .filter(|name| self.for_device(name).is_some())
            .map(str::to_string)
            .collect()
    }

    /// The names of the providers that are not configured.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("fcm", &self.fcm),
            ("apns", &self.apns),
            ("webhook", &self.webhook),
        ]
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(name, _)| name)
        .collect()
    }
}

/// A `Retry-After` header: delay in seconds, or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

/// A secret given either inline or as the path of a file holding it.
pub fn inline_or_file(value: &str, inline_marker: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    if value.trim_start().starts_with(inline_marker) {
        Ok(value.to_string())
    } else {
        std::fs::read_to_string(value).with_context(|| format!("cannot read {value:?}"))
    }
}

/// An HTTP client for a provider: rustls, the configured timeout, and HTTP/2 with prior
/// knowledge for a cleartext `http://` endpoint when `http2` is asked (TLS endpoints
/// negotiate it).
pub fn client(settings: &PushSettings, endpoint: &str, http2: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("carnet/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90));
    if http2 && endpoint.starts_with("http://") {
        builder = builder.http2_prior_knowledge();
    }
    Ok(builder.build()?)
}

/// The answer's body, cut to a size fit for `last_error`.
pub fn short(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
