//! Reminder push jobs, end to end: the app's workers against local HTTP servers that behave
//! like FCM (OAuth2 token endpoint checking the signed assertion, `messages:send` with its
//! real error bodies), APNs (HTTP/2 cleartext, checking the ES256 provider token and the
//! headers) and a webhook receiver checking the signature.
//!
//! The fakes answer by the device token's prefix: `ok` delivers; `invalid`/`gone` rejects
//! the token; `flaky2` fails transiently twice then delivers; `down` always fails
//! transiently; `throttled` answers 429 with `Retry-After: 3600`; `hang` never answers the
//! first request.
//!
//! Timing is made short through settings; tests wait for states (jobs delivered, a request
//! seen) with a generous deadline, never assert durations.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::Version;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use carnet::db::Db;
use carnet_tests::{spawn_app_with, test_settings, TestApp, User};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

const WEBHOOK_SECRET: &str = "webhook-secret-used-by-the-push-tests";
const PROJECT: &str = "carnet-test";
const CLIENT_EMAIL: &str = "push@carnet-test.iam.gserviceaccount.com";
const FCM_KEY_ID: &str = "fcm-test-key-1";
const TEAM_ID: &str = "TEAM123456";
const APNS_KEY_ID: &str = "KEY7654321";
const TOPIC: &str = "app.carnet.ios";
const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What the fake providers saw.
#[derive(Default)]
struct Seen {
    /// (provider, token, reminder_id, notification) of each accepted push.
    delivered: Vec<(String, String, String, Value)>,
    /// Requests per device token, whatever the answer.
    tries: HashMap<String, usize>,
    token_exchanges: usize,
    access_tokens: Vec<String>,
    /// Checks the fakes made that failed (bad JWT, missing header...).
    problems: Vec<String>,
}

#[derive(Clone)]
struct Fakes {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

enum Act {
    Deliver,
    Invalid,
    Transient,
    Throttle,
    Hang,
}

impl Seen {
    fn act(&mut self, token: &str) -> Act {
        let n = self.tries.entry(token.to_string()).or_insert(0);
        *n += 1;
        if token.starts_with("invalid") || token.starts_with("gone") {
            Act::Invalid
        } else if token.starts_with("down") || (token.starts_with("flaky2") && *n <= 2) {
            Act::Transient
        } else if token.starts_with("throttled") {
            Act::Throttle
        } else if token.starts_with("hang") && *n == 1 {
            Act::Hang
        } else {
            Act::Deliver
        }
    }
}

async fn hang() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    HttpResponse::Ok().finish()
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn fcm_token(state: web::Data<Fakes>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let key = DecodingKey::from_rsa_pem(&std::fs::read(fixture("fcm-test-key.pub.pem")).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/token", state.url)]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let mut seen = state.seen.lock().unwrap();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        seen.problems.push("fcm token: wrong grant_type".into());
        return HttpResponse::BadRequest().json(json!({ "error": "unsupported_grant_type" }));
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    match jsonwebtoken::decode::<Value>(&assertion, &key, &validation) {
        Ok(data) if data.claims["scope"] == FCM_SCOPE && data.header.kid.as_deref() == Some(FCM_KEY_ID) => {
            seen.token_exchanges += 1;
            let token = format!("fcm-access-{}", seen.token_exchanges);
            seen.access_tokens.push(token.clone());
            HttpResponse::Ok()
                .json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
        }
        other => {
            seen.problems.push(format!("fcm token: bad assertion {other:?}"));
            HttpResponse::BadRequest()
                .json(json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." }))
        }
    }
}

fn fcm_error(status: u16, code: &str, error_code: Option<&str>, message: &str) -> Value {
    let mut error = json!({ "code": status, "message": message, "status": code });
    if let Some(e) = error_code {
        error["details"] =
            json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": e }]);
    }
    json!({ "error": error })
}

async fn fcm_send(
    state: web::Data<Fakes>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let token = body["message"]["token"].as_str().unwrap_or("").to_string();
    let act = {
        let mut seen = state.seen.lock().unwrap();
        let auth = header(&req, "authorization")
            .strip_prefix("Bearer ")
            .unwrap_or("")
            .to_string();
        if !seen.access_tokens.contains(&auth) {
            seen.problems
                .push(format!("fcm send: unknown access token {auth:?}"));
            return HttpResponse::Unauthorized().json(fcm_error(
                401,
                "UNAUTHENTICATED",
                None,
                "Request had invalid authentication credentials.",
            ));
        }
        if path.as_str() != format!("{PROJECT}/messages:send") {
            seen.problems.push(format!("fcm send: wrong path {path}"));
        }
        let act = seen.act(&token);
        if let Act::Deliver = act {
            let n = &body["message"]["notification"];
            let reminder = body["message"]["data"]["reminder_id"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut note = json!({ "title": n["title"], "body": n["body"] });
            note["data"] = body["message"]["data"].clone();
            seen.delivered.push(("fcm".into(), token.clone(), reminder, note));
        }
        act
    };
    match act {
        Act::Deliver => {
            HttpResponse::Ok().json(json!({ "name": format!("projects/{PROJECT}/messages/0:1") }))
        }
        Act::Invalid => HttpResponse::NotFound().json(fcm_error(
            404,
            "NOT_FOUND",
            Some("UNREGISTERED"),
            "Requested entity was not found.",
        )),
        Act::Transient => HttpResponse::ServiceUnavailable().json(fcm_error(
            503,
            "UNAVAILABLE",
            Some("UNAVAILABLE"),
            "The service is currently unavailable.",
        )),
        Act::Throttle => HttpResponse::TooManyRequests()
            .insert_header(("retry-after", "3600"))
            .json(fcm_error(
                429,
                "RESOURCE_EXHAUSTED",
                Some("QUOTA_EXCEEDED"),
                "Quota exceeded for quota metric.",
            )),
        Act::Hang => hang().await,
    }
}

async fn apns_send(
    state: web::Data<Fakes>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let key = DecodingKey::from_ec_pem(&std::fs::read(fixture("apns-test-key.pub.pem")).unwrap()).unwrap();
    let act = {
        let mut seen = state.seen.lock().unwrap();
        if req.version() != Version::HTTP_2 {
            seen.problems
                .push(format!("apns: {:?}, not HTTP/2", req.version()));
        }
        let jwt = header(&req, "authorization")
            .strip_prefix("bearer ")
            .unwrap_or("");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[TEAM_ID]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "iat"]);
        match jsonwebtoken::decode::<Value>(jwt, &key, &validation) {
            Ok(data) if data.header.kid.as_deref() == Some(APNS_KEY_ID) && data.claims["iat"].is_i64() => {}
            other => {
                seen.problems.push(format!("apns: bad provider token {other:?}"));
                return HttpResponse::Forbidden().json(json!({ "reason": "InvalidProviderToken" }));
            }
        }
        if header(&req, "apns-topic") != TOPIC || header(&req, "apns-push-type") != "alert" {
            seen.problems
                .push("apns: wrong apns-topic or apns-push-type".into());
            return HttpResponse::BadRequest().json(json!({ "reason": "MissingTopic" }));
        }
        let act = seen.act(&token);
        if let Act::Deliver = act {
            let alert = &body["aps"]["alert"];
            let reminder = body["reminder_id"].as_str().unwrap_or("").to_string();
            let mut note = json!({ "title": alert["title"], "body": alert["body"] });
            note["data"] = body.0.clone();
            seen.delivered
                .push(("apns".into(), token.to_string(), reminder, note));
        }
        act
    };
    match act {
        Act::Deliver => HttpResponse::Ok()
            .insert_header(("apns-id", Uuid::new_v4().to_string()))
            .finish(),
        Act::Invalid if token.starts_with("gone") => {
            HttpResponse::Gone().json(json!({ "reason": "Unregistered", "timestamp": 1_763_900_000_000i64 }))
        }
        Act::Invalid => HttpResponse::BadRequest().json(json!({ "reason": "BadDeviceToken" })),
        Act::Transient => HttpResponse::ServiceUnavailable().json(json!({ "reason": "ServiceUnavailable" })),
        Act::Throttle => HttpResponse::TooManyRequests()
            .insert_header(("retry-after", "3600"))
            .json(json!({ "reason": "TooManyRequests" })),
        Act::Hang => hang().await,
    }
}

async fn webhook(state: web::Data<Fakes>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let act = {
        let mut seen = state.seen.lock().unwrap();
        let timestamp = header(&req, "x-carnet-timestamp").to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&body);
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (Utc::now().timestamp() - t).abs() <= 300);
        if header(&req, "x-carnet-signature") != expected || !fresh {
            seen.problems
                .push("webhook: bad signature or stale timestamp".into());
            return HttpResponse::Unauthorized().finish();
        }
        let body: Value = serde_json::from_slice(&body).unwrap();
        let token = body["token"].as_str().unwrap_or("").to_string();
        let act = seen.act(&token);
        if let Act::Deliver = act {
            let n = &body["notification"];
            let reminder = n["reminder_id"].as_str().unwrap_or("").to_string();
            let mut note = json!({ "title": n["title"], "body": n["body"] });
            note["data"] = n.clone();
            seen.delivered.push(("webhook".into(), token, reminder, note));
        }
        act
    };
    match act {
        Act::Deliver => HttpResponse::NoContent().finish(),
        Act::Invalid => HttpResponse::Gone().finish(),
        Act::Transient => HttpResponse::BadGateway().finish(),
        Act::Throttle => HttpResponse::TooManyRequests()
            .insert_header(("retry-after", "3600"))
            .finish(),
        Act::Hang => hang().await,
    }
}

/// Starts the fake providers on a loopback port (HTTP/1.1 and HTTP/2 cleartext).
fn fakes() -> Fakes {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let fakes = Fakes {
        url,
        seen: Arc::new(Mutex::new(Seen::default())),
    };
    let data = web::Data::new(fakes.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/token", web::post().to(fcm_token))
            .route("/v1/projects/{rest:.*}", web::post().to(fcm_send))
            .route("/3/device/{token}", web::post().to(apns_send))
            .route("/hook", web::post().to(webhook))
    })
    .workers(1)
    .disable_signals()
    .listen_auto_h2c(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    fakes
}

impl Fakes {
    /// The settings that point Carnet's providers at these fakes, with short timings.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let private_key = std::fs::read_to_string(fixture("fcm-test-key.pem")).unwrap();
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": FCM_KEY_ID,
            "private_key": private_key,
            "client_email": CLIENT_EMAIL,
            "token_uri": format!("{}/token", self.url),
        });
        let mut env: Vec<(String, String)> = [
            ("CARNET_PUSH_WORKERS", "1".to_string()),
            ("CARNET_PUSH_POLL_INTERVAL_MS", "100".into()),
            ("CARNET_PUSH_LEASE_MS", "6000".into()),
            ("CARNET_PUSH_TIMEOUT_MS", "5000".into()),
            ("CARNET_PUSH_BACKOFF_BASE_MS", "20".into()),
            ("CARNET_PUSH_BACKOFF_MAX_MS", "100".into()),
            ("CARNET_PUSH_MAX_ATTEMPTS", "4".into()),
            ("CARNET_PUSH_STOP_GRACE_MS", "1000".into()),
            ("CARNET_FCM_SERVICE_ACCOUNT", account.to_string()),
            ("CARNET_FCM_ENDPOINT", self.url.clone()),
            ("CARNET_APNS_KEY", fixture("apns-test-key.p8")),
            ("CARNET_APNS_KEY_ID", APNS_KEY_ID.into()),
            ("CARNET_APNS_TEAM_ID", TEAM_ID.into()),
            ("CARNET_APNS_TOPIC", TOPIC.into()),
            ("CARNET_APNS_ENDPOINT", self.url.clone()),
            ("CARNET_PUSH_WEBHOOK_URL", format!("{}/hook", self.url)),
            ("CARNET_PUSH_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    async fn app(&self, extra: &[(&str, &str)]) -> TestApp {
        let env = self.env(extra);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        spawn_app_with(&pairs).await
    }

    fn delivered(&self) -> Vec<(String, String, String, Value)> {
        self.seen.lock().unwrap().delivered.clone()
    }

    fn tries(&self, token: &str) -> usize {
        self.seen.lock().unwrap().tries.get(token).copied().unwrap_or(0)
    }

    #[track_caller]
    fn assert_no_problems(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(seen.problems.is_empty(), "the fakes saw: {:?}", seen.problems);
    }
}

#[derive(Debug, QueryableByName)]
struct Job {
    #[diesel(sql_type = SqlUuid)]
    reminder_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    device_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    fires_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    run_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
}

fn jobs(app: &TestApp) -> Vec<Job> {
    diesel::sql_query(
        "SELECT reminder_id, device_id, fires_at, status, attempts, run_at, last_error \
         FROM push_jobs ORDER BY id",
    )
    .load(&mut app.db.connect())
    .unwrap()
}

/// Waits (up to a minute, checking every 50 ms) until `done` holds.
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits until there are `count` jobs and none is queued or running.
async fn wait_for_settled_jobs(app: &TestApp, count: usize) -> Vec<Job> {
    wait_until(&format!("{count} jobs have settled"), || {
        let jobs = jobs(app);
        jobs.len() == count
            && jobs
                .iter()
                .all(|j| !matches!(j.status.as_str(), "queued" | "running"))
    })
    .await;
    jobs(app)
}

pub(crate) async fn device(app: &TestApp, user: &User, provider: &str, token: &str) -> String {
    let platform = if provider == "apns" { "ios" } else { "android" };
    let answer = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": platform, "name": token, "push_provider": provider, "push_token": token }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body["id"].as_str().unwrap().to_string()
}

async fn reminder(app: &TestApp, user: &User, body: Value) -> Value {
    let answer = app.post("/v1/reminders", &user.token, body).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body
}

fn delivered_count(fakes: &Fakes, reminder_id: &str) -> usize {
    fakes.delivered().iter().filter(|d| d.2 == reminder_id).count()
}

#[tokio::test]
async fn a_due_reminder_reaches_each_active_device_once_and_future_snoozed_done_ones_wait() {
    let fakes = fakes();
    // Workers start once everything is set up, so none fires before its snooze or completion.
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app
        .register_with(
            "Lise",
            json!({ "timezone": "America/Montreal", "locale": "fr-CA" }),
        )
        .await;
    device(&app, &user, "fcm", "ok-fcm-lise").await;
    device(&app, &user, "apns", "ok-apns-lise").await;
    device(&app, &user, "webhook", "ok-hook-lise").await;
    let off = device(&app, &user, "fcm", "ok-fcm-off").await;
    assert_eq!(
        app.patch(
            &format!("/v1/devices/{off}"),
            &user.token,
            json!({ "active": false })
        )
        .await
        .status,
        200
    );
    let no_token = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "web", "name": "laptop" }),
        )
        .await;
    assert_eq!(no_token.status, 201);
    let other = app.register("Nicolas").await;
    device(&app, &other, "fcm", "ok-fcm-nicolas").await;

    let contact = app.contact(&user, json!({ "name": "Nicolas Dupont" })).await;
    let past = "2026-01-15T09:00:00";
    let due = reminder(
        &app,
        &user,
        json!({ "title": "Rappeler Nicolas", "due_local": past, "contact_id": contact["id"] }),
    )
    .await;
    let future = reminder(
        &app,
        &user,
        json!({ "title": "Plus tard", "due_local": "2030-01-15T09:00:00" }),
    )
    .await;
    let snoozed = reminder(&app, &user, json!({ "title": "Reporté", "due_local": past })).await;
    let done = reminder(&app, &user, json!({ "title": "Fait", "due_local": past })).await;
    let cancelled = reminder(&app, &user, json!({ "title": "Annulé", "due_local": past })).await;
    let deleted = reminder(&app, &user, json!({ "title": "Supprimé", "due_local": past })).await;
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();
    let snooze = app
        .post(
            &format!("/v1/reminders/{}/snooze", id(&snoozed)),
            &user.token,
            json!({ "minutes": 120 }),
        )
        .await;
    assert_eq!(snooze.status, 200);
    app.post(
        &format!("/v1/reminders/{}/complete", id(&done)),
        &user.token,
        json!({}),
    )
    .await;
    app.patch(
        &format!("/v1/reminders/{}", id(&cancelled)),
        &user.token,
        json!({ "status": "cancelled" }),
    )
    .await;
    app.delete(&format!("/v1/reminders/{}", id(&deleted)), &user.token)
        .await;

    let workers = pool(&app, &fakes, 1, &[]);
    let settled = wait_for_settled_jobs(&app, 3).await;
    // Let the worker take another turn, so anything else it would push shows up too.
    let gate = reminder(&app, &other, json!({ "title": "Gate", "due_local": past })).await;
    wait_for_settled_jobs(&app, 4).await;

    fakes.assert_no_problems();
    let due_id = id(&due);
    assert!(settled
        .iter()
        .all(|j| j.reminder_id.to_string() == due_id && j.status == "delivered"));
    let mut delivered: Vec<(String, String)> = fakes
        .delivered()
        .iter()
        .filter(|d| d.2 == due_id)
        .map(|d| (d.0.clone(), d.1.clone()))
        .collect();
    delivered.sort();
    assert_eq!(
        delivered,
        [
            ("apns", "ok-apns-lise"),
            ("fcm", "ok-fcm-lise"),
            ("webhook", "ok-hook-lise")
        ]
        .map(|(p, t)| (p.to_string(), t.to_string()))
    );
    assert_eq!(delivered_count(&fakes, &id(&gate)), 1);
    for r in [&future, &snoozed, &done, &cancelled, &deleted] {
        assert_eq!(delivered_count(&fakes, &id(r)), 0, "{} was pushed", r["title"]);
    }
    // The payload: title, the contact's name in the user's language, the ids the app needs.
    for (_, _, _, note) in fakes.delivered().iter().filter(|d| d.2 == due_id) {
        assert_eq!(note["title"], "Rappeler Nicolas");
        assert_eq!(note["body"], "Avec Nicolas Dupont");
        assert_eq!(note["data"]["contact_id"], contact["id"]);
        assert_eq!(note["data"]["reminder_id"], due_id.as_str());
    }
    // One token exchange served every FCM push (the access token is cached).
    assert_eq!(fakes.seen.lock().unwrap().token_exchanges, 1);
    // A fired one-off reminder stays open until the user completes it.
    let after = app.get(&format!("/v1/reminders/{due_id}"), &user.token).await;
    assert_eq!(after.body["status"], "open");
    workers.stop().await;
}

#[tokio::test]
async fn a_snoozed_reminder_fires_when_its_snooze_ends_and_english_is_the_default() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app.register("Sam").await;
    device(&app, &user, "webhook", "ok-hook-sam").await;
    let r = reminder(
        &app,
        &user,
        json!({ "title": "Call back", "due_local": "2026-01-15T09:00:00", "timezone": "UTC" }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    // Due long ago but snoozed for a second: its occurrence is the end of the snooze.
    let until = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let snooze = app
        .post(
            &format!("/v1/reminders/{id}/snooze"),
            &user.token,
            json!({ "until": until }),
        )
        .await;
    assert_eq!(snooze.status, 200, "{}", snooze.text);
    let workers = pool(&app, &fakes, 1, &[]);
    let jobs = wait_for_settled_jobs(&app, 1).await;
    workers.stop().await;
    // The job is the snooze's occurrence, not the (earlier) due time.
    assert_eq!(
        jobs[0].fires_at.timestamp_millis() / 1000,
        snooze.body["snoozed_until"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_millis()
            / 1000
    );
    let note = &fakes.delivered()[0].3;
    assert_eq!(note["title"], "Call back");
    assert_eq!(note["body"], "Reminder");
    assert_eq!(delivered_count(&fakes, &id), 1);
}

#[tokio::test]
async fn a_repeating_reminder_pushes_once_and_moves_to_its_next_occurrence() {
    let fakes = fakes();
    let app = fakes.app(&[]).await;
    let user = app
        .register_with("Lise", json!({ "timezone": "America/Montreal" }))
        .await;
    device(&app, &user, "fcm", "ok-fcm-weekly").await;
    let r = reminder(
        &app,
        &user,
        json!({ "title": "Weekly review", "due_local": "2026-01-05T09:00:00", "repeat": { "every": 1, "unit": "weeks" } }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    let jobs = wait_for_settled_jobs(&app, 1).await;
    assert_eq!(jobs[0].status, "delivered");
    // The missed weeks are not replayed: one push, and the reminder is now at the first
    // occurrence after now, still at 09:00 Montréal time whatever the offset that day.
    assert_eq!(delivered_count(&fakes, &id), 1);
    let moved = app.get(&format!("/v1/reminders/{id}"), &user.token).await;
    assert_eq!(moved.body["status"], "open");
    let due_at: DateTime<Utc> = moved.body["due_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due_at > Utc::now() && due_at < Utc::now() + chrono::Duration::days(8),
        "{}",
        moved.text
    );
    let local = moved.body["due_local"].as_str().unwrap();
    assert!(local.ends_with("T09:00:00"), "{local}");
    let days = (chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").unwrap()
        - chrono::NaiveDateTime::parse_from_str("2026-01-05T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap())
    .num_days();
    assert_eq!(days % 7, 0);
    let hour = due_at.format("%H").to_string();
    assert!(
        hour == "14" || hour == "13",
        "09:00 in Montréal is 13:00 or 14:00 UTC, not {hour}"
    );
    // `serve`'s worker counts in the app's metrics.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("carnet_push_jobs_queued_total 1"), "{metrics}");
    assert!(
        metrics.contains("carnet_push_jobs_delivered_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("carnet_push_delivery_delay_seconds_count 1"),
        "{metrics}"
    );
    assert!(metrics.contains("carnet_push_jobs_in_flight 0"), "{metrics}");
}

#[tokio::test]
async fn dst_edges_fire_at_the_documented_instant_and_only_once() {
    let fakes = fakes();
    let app = fakes.app(&[]).await;
    let user = app
        .register_with("Lise", json!({ "timezone": "America/Montreal" }))
        .await;
    device(&app, &user, "webhook", "ok-hook-dst").await;
    // 01:30 occurs twice on 1 November 2026 in Montréal: the first one (EDT) is meant.
    let fold = reminder(
        &app,
        &user,
        json!({ "title": "Fold", "due_local": "2026-11-01T01:30:00" }),
    )
    .await;
    // 03:00 on 8 March 2026 is the first wall-clock time after the spring gap (EDT).
    let spring = reminder(
        &app,
        &user,
        json!({ "title": "Spring", "due_local": "2026-03-08T03:00:00" }),
    )
    .await;
    // A daily reminder in Paris whose series crosses both changes.
    let daily = reminder(
        &app,
        &user,
        json!({ "title": "Daily", "due_local": "2026-03-28T02:30:00", "timezone": "Europe/Paris", "repeat": { "every": 1, "unit": "days" } }),
    )
    .await;
    let jobs = wait_for_settled_jobs(&app, 3).await;
    let fires = |r: &Value| {
        let id: Uuid = r["id"].as_str().unwrap().parse().unwrap();
        jobs.iter()
            .find(|j| j.reminder_id == id)
            .unwrap()
            .fires_at
            .to_rfc3339()
    };
    assert_eq!(fires(&fold), "2026-11-01T05:30:00+00:00");
    assert_eq!(fires(&spring), "2026-03-08T07:00:00+00:00");
    assert_eq!(fires(&daily), "2026-03-28T01:30:00+00:00");
    for r in [&fold, &spring, &daily] {
        assert_eq!(delivered_count(&fakes, r["id"].as_str().unwrap()), 1);
    }
    // The daily one moved on and still says 02:30 in Paris.
    let moved = app
        .get(
            &format!("/v1/reminders/{}", daily["id"].as_str().unwrap()),
            &user.token,
        )
        .await;
    assert!(
        moved.body["due_local"].as_str().unwrap().ends_with("T02:30:00"),
        "{}",
        moved.text
    );
    fakes.assert_no_problems();
}

#[tokio::test]
async fn a_keep_in_touch_reminder_fires_and_moves_when_an_interaction_is_logged() {
    let fakes = fakes();
    let app = fakes.app(&[]).await;
    let user = app.register("Lise").await;
    device(&app, &user, "apns", "ok-apns-kit").await;
    let contact = app
        .contact(
            &user,
            json!({ "name": "Nicolas Dupont", "keep_in_touch_days": 30 }),
        )
        .await;
    let cid = contact["id"].as_str().unwrap();
    // Last seen 100 days ago: the cadence is overdue.
    let long_ago = (Utc::now() - chrono::Duration::days(100)).to_rfc3339();
    let logged = app
        .post(
            &format!("/v1/contacts/{cid}/interactions"),
            &user.token,
            json!({ "kind": "meal", "occurred_at": long_ago }),
        )
        .await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    let jobs = wait_for_settled_jobs(&app, 1).await;
    assert_eq!(jobs[0].status, "delivered");
    let note = &fakes.delivered()[0].3;
    assert_eq!(note["title"], "Keep in touch with Nicolas Dupont");
    assert_eq!(note["data"]["origin"], "keep_in_touch");
    assert_eq!(note["data"]["contact_id"], cid);
    // A call today moves the reminder 30 days ahead: nothing more is pushed.
    app.post(
        &format!("/v1/contacts/{cid}/interactions"),
        &user.token,
        json!({ "kind": "call", "occurred_at": Utc::now().to_rfc3339() }),
    )
    .await;
    let list = app
        .get(
            &format!("/v1/reminders?contact_id={cid}&status=open"),
            &user.token,
        )
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let due_at: DateTime<Utc> = items[0]["due_at"].as_str().unwrap().parse().unwrap();
    assert!(due_at > Utc::now() + chrono::Duration::days(28));
    let gate = reminder(
        &app,
        &user,
        json!({ "title": "Gate", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    wait_for_settled_jobs(&app, 2).await;
    assert_eq!(delivered_count(&fakes, gate["id"].as_str().unwrap()), 1);
    assert_eq!(fakes.delivered().len(), 2);
    fakes.assert_no_problems();
}

#[tokio::test]
async fn a_token_the_provider_rejects_is_tried_once_and_its_device_deactivated() {
    let fakes = fakes();
    let app = fakes.app(&[]).await;
    let user = app.register("Lise").await;
    let fcm = device(&app, &user, "fcm", "invalid-fcm").await;
    let apns_bad = device(&app, &user, "apns", "invalid-apns").await;
    let apns_gone = device(&app, &user, "apns", "gone-apns").await;
    let hook = device(&app, &user, "webhook", "gone-hook").await;
    let ok = device(&app, &user, "webhook", "ok-hook").await;
    reminder(
        &app,
        &user,
        json!({ "title": "First", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    let jobs = wait_for_settled_jobs(&app, 5).await;
    for job in &jobs {
        let expected = if job.device_id.to_string() == ok {
            "delivered"
        } else {
            "dropped"
        };
        assert_eq!(job.status, expected, "{job:?}");
        assert_eq!(job.attempts, 1, "{job:?}");
    }
    for token in ["invalid-fcm", "invalid-apns", "gone-apns", "gone-hook"] {
        assert_eq!(fakes.tries(token), 1, "{token}");
    }
    let devices = app.get("/v1/devices", &user.token).await;
    for d in devices.body["items"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        let expected = id == ok;
        assert_eq!(d["active"], expected, "{d}");
        assert!([&fcm, &apns_bad, &apns_gone, &hook, &ok]
            .iter()
            .any(|x| x.as_str() == id));
    }
    // The next reminder goes to the active device only.
    reminder(
        &app,
        &user,
        json!({ "title": "Second", "due_local": "2026-01-16T09:00:00" }),
    )
    .await;
    wait_for_settled_jobs(&app, 6).await;
    assert_eq!(fakes.tries("invalid-fcm"), 1);
    assert_eq!(fakes.tries("ok-hook"), 2);
    fakes.assert_no_problems();
}

#[tokio::test]
async fn transient_failures_are_retried_to_exactly_one_success_and_then_given_up() {
    let fakes = fakes();
    let app = fakes.app(&[]).await;
    let user = app.register("Lise").await;
    for (provider, token) in [
        ("fcm", "flaky2-fcm"),
        ("apns", "flaky2-apns"),
        ("webhook", "flaky2-hook"),
        ("fcm", "down-fcm"),
        ("fcm", "throttled-fcm"),
        ("apns", "throttled-apns"),
    ] {
        device(&app, &user, provider, token).await;
    }
    let r = reminder(
        &app,
        &user,
        json!({ "title": "Retry me", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    wait_until("the flaky and down jobs have settled", || {
        let jobs = jobs(&app);
        jobs.len() == 6
            && jobs
                .iter()
                .filter(|j| matches!(j.status.as_str(), "delivered" | "dead"))
                .count()
                == 4
    })
    .await;
    let all = jobs(&app);
    for token in ["flaky2-fcm", "flaky2-apns", "flaky2-hook"] {
        assert_eq!(fakes.tries(token), 3, "{token}");
        assert_eq!(
            fakes.delivered().iter().filter(|d| d.1 == token).count(),
            1,
            "{token}"
        );
    }
    assert_eq!(fakes.delivered().len(), 3);
    assert_eq!(delivered_count(&fakes, &id), 3);
    let by_status = |s: &str| all.iter().filter(|j| j.status == s).collect::<Vec<_>>();
    assert!(by_status("delivered").iter().all(|j| j.attempts == 3));
    // Always unavailable: moved aside after the 4 attempts allowed, with the last error.
    let dead = by_status("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 4);
    assert_eq!(fakes.tries("down-fcm"), 4);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("UNAVAILABLE"),
        "{:?}",
        dead[0]
    );
    // 429 with Retry-After: 3600 waits an hour, far beyond the configured backoff.
    let throttled = by_status("queued");
    assert_eq!(throttled.len(), 2, "{all:?}");
    for job in throttled {
        assert_eq!(job.attempts, 1);
        assert!(job.run_at > Utc::now() + chrono::Duration::minutes(59), "{job:?}");
        assert!(job.last_error.as_deref().unwrap_or("").contains("429"), "{job:?}");
    }
    fakes.assert_no_problems();
}

/// The operations server of a `carnet worker` on the test database, on a free port.
fn worker_ops(app: &TestApp) -> carnet::startup::WorkerOpsServer {
    let settings = test_settings(&app.db, &[("CARNET_PUSH_POLL_INTERVAL_MS", "100")]);
    let ops = carnet::routes::health::WorkerOps {
        db: Db::connect(&app.db.url, 2).unwrap(),
        metrics: carnet::metrics::Metrics::new().unwrap(),
        push: settings.push.clone(),
    };
    carnet::startup::WorkerOpsServer::start("127.0.0.1:0".parse().unwrap(), ops).unwrap()
}

async fn ops_get(ops: &carnet::startup::WorkerOpsServer, path: &str) -> carnet_tests::Answer {
    let res = reqwest::get(format!("http://127.0.0.1:{}{path}", ops.port()))
        .await
        .unwrap();
    TestApp::answer(res).await
}

#[tokio::test]
async fn a_production_worker_with_no_provider_refuses_to_start_while_devices_need_one() {
    let app = carnet_tests::spawn_app().await;
    let none = [
        ("CARNET_ENV", "production"),
        ("CARNET_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ];
    let settings = test_settings(&app.db, &none);
    let db = Db::connect(&app.db.url, 2).unwrap();
    // No device names a provider yet: nothing to send, it may start.
    carnet::jobs::readiness::check_can_send(&db, &settings)
        .await
        .unwrap();
    let user = app.register("Lise").await;
    device(&app, &user, "apns", "ok-apns-lise").await;
    let refused = carnet::jobs::readiness::check_can_send(&db, &settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("devices use apns"), "{refused}");
    assert!(refused.contains("CARNET_APNS_"), "{refused}");
    // In development the log provider stands in.
    let development = test_settings(&app.db, &[]);
    carnet::jobs::readiness::check_can_send(&db, &development)
        .await
        .unwrap();
}

fn pool(app: &TestApp, fakes: &Fakes, workers: usize, extra: &[(&str, &str)]) -> carnet::jobs::PushWorkers {
    let env = fakes.env(extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let settings = test_settings(&app.db, &pairs);
    let db = Db::connect(&app.db.url, 4).unwrap();
    let metrics = carnet::metrics::Metrics::new().unwrap();
    carnet::jobs::start(db, &settings, metrics.push, workers).unwrap()
}

#[tokio::test]
async fn four_workers_in_two_processes_deliver_each_occurrence_once_per_device() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let mut expected = 0;
    for name in ["Lise", "Nicolas"] {
        let user = app.register(name).await;
        device(&app, &user, "fcm", &format!("ok-fcm-{name}")).await;
        device(&app, &user, "webhook", &format!("ok-hook-{name}")).await;
        device(&app, &user, "apns", &format!("ok-apns-{name}")).await;
        for n in 0..40 {
            let day = 1 + n % 28;
            reminder(
                &app,
                &user,
                json!({ "title": format!("R{n}"), "due_local": format!("2026-02-{day:02}T09:00:00") }),
            )
            .await;
            expected += 3;
        }
    }
    // Two "processes" (separate pools and listeners), two workers each, small batches so
    // they interleave.
    let small = [("CARNET_PUSH_BATCH", "4")];
    let first = pool(&app, &fakes, 2, &small);
    let second = pool(&app, &fakes, 2, &small);
    let jobs = wait_for_settled_jobs(&app, expected).await;
    first.stop().await;
    second.stop().await;
    assert!(jobs.iter().all(|j| j.status == "delivered" && j.attempts == 1));
    let delivered = fakes.delivered();
    assert_eq!(delivered.len(), expected);
    let mut unique: Vec<(String, String)> = delivered.iter().map(|d| (d.1.clone(), d.2.clone())).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        expected,
        "some occurrence was pushed twice to a device"
    );
    fakes.assert_no_problems();
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_nothing() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app.register("Lise").await;
    device(&app, &user, "webhook", "hang-hook").await;
    let r = reminder(
        &app,
        &user,
        json!({ "title": "Survive", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    // Lease 1.5 s; the request timeout (1 s) would end the hung request first, so the kill
    // below happens while the job is in flight.
    let timing = [
        ("CARNET_PUSH_LEASE_MS", "1500"),
        ("CARNET_PUSH_TIMEOUT_MS", "1000"),
    ];
    let doomed = pool(&app, &fakes, 1, &timing);
    wait_until("the first worker is sending", || fakes.tries("hang-hook") == 1).await;
    doomed.kill();
    let held = jobs(&app);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].status, "running", "{held:?}");
    let rescuer = pool(&app, &fakes, 1, &timing);
    let settled = wait_for_settled_jobs(&app, 1).await;
    rescuer.stop().await;
    assert_eq!(settled[0].status, "delivered");
    assert_eq!(settled[0].attempts, 2);
    assert_eq!(fakes.tries("hang-hook"), 2);
    assert_eq!(delivered_count(&fakes, r["id"].as_str().unwrap()), 1);
}

#[tokio::test]
async fn a_stopping_worker_releases_the_job_it_could_not_finish() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app.register("Lise").await;
    device(&app, &user, "webhook", "hang-stop").await;
    reminder(
        &app,
        &user,
        json!({ "title": "Later", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    let timing = [("CARNET_PUSH_STOP_GRACE_MS", "200")];
    let stopping = pool(&app, &fakes, 1, &timing);
    wait_until("the worker is sending", || fakes.tries("hang-stop") == 1).await;
    // SIGTERM: the send does not end within the grace period, so the job goes back to the
    // queue as it was (this attempt not counted), for another worker.
    stopping.stop().await;
    let released = jobs(&app);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].status, "queued", "{released:?}");
    assert_eq!(released[0].attempts, 0);
    let next = pool(&app, &fakes, 1, &[]);
    let settled = wait_for_settled_jobs(&app, 1).await;
    next.stop().await;
    assert_eq!(settled[0].status, "delivered");
    assert_eq!(settled[0].attempts, 1);
}

/// The value of a metric line such as `carnet_push_queue_jobs{provider="fcm"}`.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let answer = app.request(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(answer.status, 200);
    answer
        .text
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{}", answer.text))
}

#[tokio::test]
async fn a_production_worker_without_a_providers_credentials_leaves_its_jobs_queued() {
    let fakes = fakes();
    let production = [("CARNET_ENV", "production"), ("CARNET_PUSH_WORKERS", "0")];
    let app = fakes.app(&production).await;
    let user = app.register("Lise").await;
    let fcm = device(&app, &user, "fcm", "ok-fcm-waits").await;
    let hook = device(&app, &user, "webhook", "ok-hook-now").await;
    reminder(
        &app,
        &user,
        json!({ "title": "Rappeler Nicolas", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;

    // A worker whose FCM secret is missing sends the webhook push and leaves the FCM one.
    let no_fcm = pool(
        &app,
        &fakes,
        2,
        &[("CARNET_ENV", "production"), ("CARNET_FCM_SERVICE_ACCOUNT", "")],
    );
    wait_until("the webhook push is delivered", || {
        jobs(&app)
            .iter()
            .any(|j| j.device_id.to_string() == hook && j.status == "delivered")
    })
    .await;
    // Many poll intervals (100 ms) later, the FCM job is still untouched.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let waiting: Vec<Job> = jobs(&app)
        .into_iter()
        .filter(|j| j.device_id.to_string() == fcm)
        .collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].status, "queued", "{waiting:?}");
    assert_eq!(waiting[0].attempts, 0, "{waiting:?}");
    assert_eq!(fakes.tries("ok-fcm-waits"), 0);

    // The queue says so, per provider.
    assert_eq!(
        metric(&app, "carnet_push_queue_jobs{provider=\"fcm\"}").await,
        1.0
    );
    assert_eq!(
        metric(&app, "carnet_push_queue_jobs{provider=\"webhook\"}").await,
        0.0
    );
    assert_eq!(
        metric(&app, "carnet_push_queue_jobs{provider=\"apns\"}").await,
        0.0
    );
    let age = metric(&app, "carnet_push_queue_oldest_age_seconds{provider=\"fcm\"}").await;
    assert!(age >= 1.0, "oldest FCM job age {age}");
    assert_eq!(
        metric(&app, "carnet_push_queue_oldest_age_seconds{provider=\"webhook\"}").await,
        0.0
    );
    // The worker's own /readyz says FCM pushes wait with nobody to send them.
    let ops = worker_ops(&app);
    let unready = ops_get(&ops, "/readyz").await;
    unready.assert_problem(503, "push_not_ready");
    assert!(
        unready.body["detail"].as_str().unwrap().contains("fcm (1 due"),
        "{}",
        unready.text
    );
    assert!(!unready.text.contains("webhook"), "{}", unready.text);
    assert_eq!(ops_get(&ops, "/healthz").await.status, 200);
    let metrics = ops_get(&ops, "/metrics").await;
    assert!(
        metrics
            .text
            .contains("carnet_push_queue_jobs{provider=\"fcm\"} 1"),
        "{}",
        metrics.text
    );

    // A worker that has the secret takes it.
    let with_fcm = pool(&app, &fakes, 1, &[("CARNET_ENV", "production")]);
    let settled = wait_for_settled_jobs(&app, 2).await;
    assert_eq!(ops_get(&ops, "/readyz").await.status, 200);
    no_fcm.stop().await;
    with_fcm.stop().await;
    // Both stopped workers left the fleet: a new FCM push would wait for nobody again.
    assert_eq!(app.scalar("SELECT count(*) FROM push_worker_processes"), 0);
    ops.stop().await;
    assert!(
        settled.iter().all(|j| j.status == "delivered" && j.attempts == 1),
        "{settled:?}"
    );
    assert_eq!(fakes.tries("ok-fcm-waits"), 1);
    assert_eq!(
        metric(&app, "carnet_push_queue_jobs{provider=\"fcm\"}").await,
        0.0
    );
    fakes.assert_no_problems();
}

#[tokio::test]
async fn in_development_the_log_provider_stands_in_for_a_missing_one() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app.register("Lise").await;
    device(&app, &user, "fcm", "ok-fcm-logged").await;
    reminder(
        &app,
        &user,
        json!({ "title": "Dev", "due_local": "2026-01-15T09:00:00" }),
    )
    .await;
    let workers = pool(&app, &fakes, 1, &[("CARNET_FCM_SERVICE_ACCOUNT", "")]);
    let settled = wait_for_settled_jobs(&app, 1).await;
    workers.stop().await;
    assert_eq!(settled[0].status, "delivered");
    assert_eq!(
        fakes.tries("ok-fcm-logged"),
        0,
        "nothing reaches FCM without its key"
    );
}

#[tokio::test]
async fn private_content_sends_only_that_a_reminder_is_due_through_every_provider() {
    let fakes = fakes();
    let app = fakes.app(&[("CARNET_PUSH_WORKERS", "0")]).await;
    let user = app
        .register_with("Lise", json!({ "timezone": "Europe/Paris", "locale": "fr-FR" }))
        .await;
    device(&app, &user, "fcm", "ok-fcm-lise").await;
    device(&app, &user, "apns", "ok-apns-lise").await;
    device(&app, &user, "webhook", "ok-hook-lise").await;
    let contact = app.contact(&user, json!({ "name": "Nicolas Ladonski" })).await;
    let due = reminder(
        &app,
        &user,
        json!({ "title": "Rappeler Nicolas Ladonski", "due_local": "2026-01-15T09:00:00", "contact_id": contact["id"] }),
    )
    .await;
    let due_id = due["id"].as_str().unwrap().to_string();
    let contact_id = contact["id"].as_str().unwrap().to_string();
    let workers = pool(&app, &fakes, 1, &[("CARNET_PUSH_CONTENT", "private")]);
    wait_for_settled_jobs(&app, 3).await;
    workers.stop().await;
    let delivered = fakes.delivered();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    for (provider, _, reminder_id, note) in &delivered {
        assert_eq!(reminder_id, &due_id, "{provider}");
        assert_eq!(note["title"], "Carnet", "{provider}");
        assert_eq!(note["body"], "Un rappel est arrivé.", "{provider}");
        assert_eq!(note["data"]["content"], "private", "{provider}");
        let text = note.to_string();
        for secret in ["Nicolas", "Ladonski", "Rappeler", contact_id.as_str()] {
            assert!(!text.contains(secret), "{provider} carried {secret}: {text}");
        }
    }
    // Nor is it kept in the queue.
    let stored = app.rows_mentioning(&["Nicolas".into(), "Rappeler".into()]);
    assert!(
        stored.iter().all(|(table, _, _)| table != "push_jobs"),
        "{stored:?}"
    );
    // The app reads it from Carnet with the id it got.
    let read = app.get(&format!("/v1/reminders/{due_id}"), &user.token).await;
    assert_eq!(read.body["title"], "Rappeler Nicolas Ladonski");
    fakes.assert_no_problems();
}
