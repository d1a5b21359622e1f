//! Apple Push Notification service, token-based authentication over HTTP/2.
//!
//! The provider token is a JWT signed ES256 with the `.p8` key (`CARNET_APNS_KEY`, a path or
//! the PEM itself), `kid` the key id and `iss` the team id; Apple wants it renewed between
//! 20 and 60 minutes, so it is reused for 40. Each push is a POST to
//! `{CARNET_APNS_ENDPOINT}/3/device/{token}` with `apns-topic` (the app's bundle id),
//! `apns-push-type: alert` and `apns-priority: 10`.
//!
//! Answers: 410, `BadDeviceToken`, `Unregistered` and `DeviceTokenNotForTopic` deactivate the
//! device; 429 and 5xx are retried; `ExpiredProviderToken` renews the JWT and retries.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{json, Value};

use super::{retry_after, short, Outcome, Provider, Push};
use crate::config::PushSettings;

const JWT_REUSE: Duration = Duration::from_secs(40 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

pub struct Apns {
    client: reqwest::Client,
    key: EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    endpoint: String,
    jwt: Mutex<Option<(String, Instant)>>,
}

impl Apns {
    pub fn new(
        key: &str,
        key_id: &str,
        team_id: &str,
        topic: &str,
        settings: &PushSettings,
    ) -> anyhow::Result<Self> {
        let pem = super::inline_or_file(key, "-----BEGIN").context("CARNET_APNS_KEY")?;
        let key = EncodingKey::from_ec_pem(pem.as_bytes())
            .context("CARNET_APNS_KEY is not a P-256 private key in PEM (the .p8 file)")?;
        let endpoint = settings.apns_endpoint.trim_end_matches('/').to_string();
        Ok(Apns {
            client: super::client(settings, &endpoint, true)?,
            key,
            key_id: key_id.into(),
            team_id: team_id.into(),
            topic: topic.into(),
            endpoint,
            jwt: Mutex::new(None),
        })
    }

    fn provider_token(&self) -> Result<String, Outcome> {
        let mut cached = self.jwt.lock().map_err(|_| Outcome::Retry {
            error: "apns: token cache poisoned".into(),
            retry_after: None,
        })?;
        if let Some((jwt, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(jwt.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat: Utc::now().timestamp(),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Outcome::Failed {
            error: format!("apns: cannot sign the provider token: {e}"),
        })?;
        *cached = Some((jwt.clone(), Instant::now() + JWT_REUSE));
        Ok(jwt)
    }

    fn forget_token(&self) {
        if let Ok(mut cached) = self.jwt.lock() {
            *cached = None;
        }
    }

    fn body(push: &Push<'_>) -> Value {
        let mut body = json!({
            "aps": {
                "alert": { "title": push.text("title"), "body": push.text("body") },
                "sound": "default",
            },
        });
        for key in [
            "kind",
            "content",
            "reminder_id",
            "contact_id",
            "event_id",
            "origin",
            "fires_at",
        ] {
            if let Some(value) = push.payload.get(key).filter(|v| !v.is_null()) {
                body[key] = value.clone();
            }
        }
        body
    }
}

impl Provider for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    fn send<'a>(&'a self, push: Push<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            let jwt = match self.provider_token() {
                Ok(t) => t,
                Err(outcome) => return outcome,
            };
            let expiration = (Utc::now() + chrono::Duration::days(1)).timestamp();
            let answer = self
                .client
                .post(format!("{}/3/device/{}", self.endpoint, push.token))
                .header("authorization", format!("bearer {jwt}"))
                .header("apns-topic", &self.topic)
                .header("apns-push-type", "alert")
                .header("apns-priority", "10")
                .header("apns-expiration", expiration.to_string())
                .json(&Self::body(&push))
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return Outcome::from_transport("apns", &e),
            };
            let status = answer.status().as_u16();
            let wait = retry_after(answer.headers());
            let text = answer.text().await.unwrap_or_default();
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_string))
                .unwrap_or_else(|| short(&text));
            let error = format!("apns: {status} {reason}");
            match (status, reason.as_str()) {
                (200..=299, _) => Outcome::Delivered,
                (410, _) | (_, "BadDeviceToken" | "Unregistered" | "DeviceTokenNotForTopic") => {
                    Outcome::InvalidToken { error }
                }
                (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                    self.forget_token();
                    Outcome::Retry {
                        error,
                        retry_after: Some(Duration::ZERO),
                    }
                }
                (429 | 500..=599, _) => Outcome::Retry {
                    error,
                    retry_after: wait,
                },
                _ => Outcome::Failed { error },
            }
        }
        .boxed()
    }
}
