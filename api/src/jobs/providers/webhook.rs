//! The webhook provider: a JSON POST to an operator's URL, signed so the receiver can tell
//! it comes from Carnet and reject replays.
//!
//! Headers: `x-carnet-timestamp` (Unix seconds), `x-carnet-signature: v1=<hex>` where the
//! hex is HMAC-SHA256 with the shared secret over `"{timestamp}.{body}"`, and
//! `x-carnet-delivery` (the job id, the same on every retry, for deduplication). The
//! receiver answers 2xx when delivered, 410 when the device token is gone, 429 or 5xx to be
//! retried; any other answer ends the job.

use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{retry_after, short, Outcome, Provider, Push};
use crate::config::PushSettings;

pub struct Webhook {
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

/// The `x-carnet-signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(url: &str, secret: &str, settings: &PushSettings) -> anyhow::Result<Self> {
        url::Url::parse(url).map_err(|e| anyhow::anyhow!("CARNET_PUSH_WEBHOOK_URL is not a URL: {e}"))?;
        Ok(Webhook {
            client: super::client(settings, url, false)?,
            url: url.to_string(),
            secret: secret.as_bytes().to_vec(),
        })
    }
}

impl Provider for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, push: Push<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            let body = json!({
                "type": "reminder.due",
                "delivery": push.job_id,
                "device_id": push.device_id,
                "token": push.token,
                "fires_at": push.fires_at,
                "notification": push.payload,
            });
            let body = match serde_json::to_vec(&body) {
                Ok(b) => b,
                Err(e) => return Outcome::Failed { error: e.to_string() },
            };
            let timestamp = Utc::now().timestamp();
            let answer = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-carnet-timestamp", timestamp.to_string())
                .header("x-carnet-signature", signature(&self.secret, timestamp, &body))
                .header("x-carnet-delivery", push.job_id.to_string())
                .body(body)
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return Outcome::from_transport("webhook", &e),
            };
            let status = answer.status();
            let wait = retry_after(answer.headers());
            let text = answer.text().await.unwrap_or_default();
            let error = format!("webhook: {} {}", status.as_u16(), short(&text));
            match status.as_u16() {
                200..=299 => Outcome::Delivered,
                410 => Outcome::InvalidToken { error },
                408 | 429 | 500..=599 => Outcome::Retry {
                    error,
                    retry_after: wait,
                },
                _ => Outcome::Failed { error },
            }
        }
        .boxed()
    }
}
