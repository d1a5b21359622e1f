//! Firebase Cloud Messaging, HTTP v1 API.
//!
//! The OAuth2 access token comes from the service-account key file: a JWT signed RS256 with
//! its private key is exchanged at its `token_uri` (JWT bearer grant), and the token is
//! cached until a minute before it expires. Messages go to
//! `{CARNET_FCM_ENDPOINT}/v1/projects/{project_id}/messages:send`.
//!
//! Errors: `UNREGISTERED` and `INVALID_ARGUMENT` (and `SENDER_ID_MISMATCH`) mean the token
//! is not valid for us, and the device is deactivated; `UNAVAILABLE`, `INTERNAL` and 429
//! are retried (honouring `Retry-After`); 401 drops the cached token and retries.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{retry_after, short, Outcome, Provider, Push};
use crate::config::PushSettings;

pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key_id: Option<String>,
    private_key: String,
    client_email: String,
    token_uri: String,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

pub struct Fcm {
    client: reqwest::Client,
    account: ServiceAccount,
    key: EncodingKey,
    send_url: String,
    /// The access token and when to stop using it. An async lock, so one exchange runs at
    /// a time and the others wait for its token.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    /// `account`: the path of the service-account JSON key file, or the JSON itself.
    pub fn new(account: &str, settings: &PushSettings) -> anyhow::Result<Self> {
        let text = super::inline_or_file(account, "{").context("CARNET_FCM_SERVICE_ACCOUNT")?;
        let account: ServiceAccount =
            serde_json::from_str(&text).context("CARNET_FCM_SERVICE_ACCOUNT is not a service-account key")?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .context("the FCM service account's private_key is not an RSA PEM key")?;
        let endpoint = settings.fcm_endpoint.trim_end_matches('/');
        Ok(Fcm {
            client: super::client(settings, endpoint, false)?,
            send_url: format!("{endpoint}/v1/projects/{}/messages:send", account.project_id),
            account,
            key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let now = Utc::now().timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let claims = Assertion {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Outcome::Failed {
            error: format!("fcm: cannot sign the token request: {e}"),
        })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let answer = self
            .client
            .post(&self.account.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| Outcome::from_transport("fcm token", &e))?;
        let status = answer.status();
        let wait = retry_after(answer.headers());
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let error = format!("fcm token: {} {}", status.as_u16(), short(&text));
            // A refused key is the operator's to fix, but it may be a clock skew or an
            // outage: retry rather than lose the push.
            return Err(Outcome::Retry {
                error,
                retry_after: wait,
            });
        }
        let token: TokenAnswer = serde_json::from_str(&text).map_err(|_| Outcome::Retry {
            error: format!("fcm token: unexpected answer {}", short(&text)),
            retry_after: None,
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600).saturating_sub(60).max(1));
        *cached = Some((token.access_token.clone(), Instant::now() + lifetime));
        Ok(token.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    fn message(push: &Push<'_>) -> Value {
        let mut data = serde_json::Map::new();
        for key in [
            "kind",
            "content",
            "reminder_id",
            "contact_id",
            "event_id",
            "origin",
            "fires_at",
        ] {
            if let Some(value) = push.payload.get(key).and_then(|v| v.as_str()) {
                data.insert(key.into(), Value::String(value.into()));
            }
        }
        json!({
            "message": {
                "token": push.token,
                "notification": { "title": push.text("title"), "body": push.text("body") },
                "data": data,
                "android": { "priority": "high" },
            }
        })
    }
}

/// What an FCM error answer means for the job.
fn classify(status: u16, body: &str, wait: Option<Duration>) -> Outcome {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error_status = parsed["error"]["status"].as_str().unwrap_or("").to_string();
    let code = parsed["error"]["details"]
        .as_array()
        .and_then(|details| details.iter().find_map(|d| d["errorCode"].as_str()))
        .unwrap_or(&error_status)
        .to_string();
    let error = format!(
        "fcm: {status} {code} {}",
        short(parsed["error"]["message"].as_str().unwrap_or(body))
    );
    match code.as_str() {
        "UNREGISTERED" | "INVALID_ARGUMENT" | "SENDER_ID_MISMATCH" => Outcome::InvalidToken { error },
        "UNAVAILABLE" | "INTERNAL" | "QUOTA_EXCEEDED" => Outcome::Retry {
            error,
            retry_after: wait,
        },
        _ if status == 429 || status >= 500 => Outcome::Retry {
            error,
            retry_after: wait,
        },
        _ => Outcome::Failed { error },
    }
}

impl Provider for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    fn send<'a>(&'a self, push: Push<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            let token = match self.access_token().await {
                Ok(t) => t,
                Err(outcome) => return outcome,
            };
            let answer = self
                .client
                .post(&self.send_url)
                .bearer_auth(token)
                .json(&Self::message(&push))
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return Outcome::from_transport("fcm", &e),
            };
            let status = answer.status().as_u16();
            let wait = retry_after(answer.headers());
            let text = answer.text().await.unwrap_or_default();
            match status {
                200..=299 => Outcome::Delivered,
                401 => {
                    self.forget_token().await;
                    Outcome::Retry {
                        error: format!("fcm: 401 {}", short(&text)),
                        retry_after: Some(Duration::ZERO),
                    }
                }
                _ => classify(status, &text, wait),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_as_fcm_sends_them() {
        let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert_eq!(classify(404, unregistered, None).label(), "invalid_token");
        let unavailable = r#"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#;
        assert_eq!(classify(503, unavailable, None).label(), "retry");
        assert_eq!(
            classify(429, "", Some(Duration::from_secs(7))),
            Outcome::Retry {
                error: "fcm: 429  ".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let denied = r#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(classify(403, denied, None).label(), "failed");
    }
}
