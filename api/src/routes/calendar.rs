//! The private calendar feed: managed under `/v1/calendar/feed` with a bearer token, read
//! by calendar apps at `/calendar/{token}.ics` with no other credential than the token.
//!
//! The token (256 random bits) is shown once, when the feed is created or rotated; only its
//! SHA-256 digest is stored. An unknown token and a revoked one answer the same 404.

use actix_web::http::header::{
    self, CacheControl, CacheDirective, EntityTag, HttpDate, IfNoneMatch, LastModified, ETAG,
};
use actix_web::{delete, get, post, route, web, HttpMessage, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::State;
use crate::auth::AuthUser;
use crate::calendar::{self, EventStatus, Feed};
use crate::db::{self};
use crate::error::ApiError;

/// The management routes, mounted under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_feed).service(get_feed).service(delete_feed);
}

/// The feed itself, at the root (no `/v1`, no bearer token).
pub fn configure_feed(cfg: &mut web::ServiceConfig) {
    cfg.service(calendar_feed);
}

/// Length of a feed token: 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The token in a feed path (`<token>.ics`), when it has the shape of one.
pub fn token_of_path(file: &str) -> Option<&str> {
    file.strip_suffix(".ics").filter(|t| {
        t.len() == TOKEN_LEN
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The request path as logs show it: a feed's token is a credential, so it is masked.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/calendar/") {
        "/calendar/<token>.ics"
    } else {
        path
    }
}

/// The feed's URL, and the same with the `webcal` scheme that phones open in their
/// calendar app.
fn feed_urls(public_url: &str, token: &str) -> (String, String) {
    let url = format!("{}/calendar/{token}.ics", public_url.trim_end_matches('/'));
    let webcal = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    (url, webcal)
}

/// A new feed: the URL is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedCreated {
    /// The feed's private URL; anyone who has it can read the feed, until it is rotated or
    /// revoked.
    #[schema(
        example = "https://carnet.example.org/calendar/4mS0b0yF2sQ8rV3n7t6Xw1pZkJc9dHe5aGqLuYiTfBo.ics"
    )]
    pub url: String,
    /// The same URL with the `webcal` scheme, which phones open in their calendar app.
    pub webcal_url: String,
    pub created_at: DateTime<Utc>,
}

/// Whether I have a feed; never its URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedView {
    /// True when a feed exists and is not revoked.
    pub active: bool,
    /// When the current URL was made.
    pub created_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates my calendar feed, or rotates it: a new URL is answered and the previous one
/// stops working.
#[utoipa::path(tag = "calendar", security(("bearer" = [])), responses(
    (status = 201, body = CalendarFeedCreated),
    (status = 401, body = crate::error::Problem),
))]
#[post("/calendar/feed")]
async fn create_feed(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let (token, hash) = new_token();
    let row = state
        .db
        .run(move |conn| Ok(db::calendar_feeds::create_or_rotate(conn, owner, &hash)?))
        .await?;
    let (url, webcal_url) = feed_urls(&state.settings.public_url, &token);
    tracing::info!(user_id = %owner, "calendar feed created or rotated");
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(CalendarFeedCreated {
            url,
            webcal_url,
            created_at: row.created_at,
        }))
}

/// Says whether I have an active calendar feed (never its URL).
#[utoipa::path(tag = "calendar", security(("bearer" = [])), responses(
    (status = 200, body = CalendarFeedView),
))]
#[get("/calendar/feed")]
async fn get_feed(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let row = state
        .db
        .run(move |conn| Ok(db::calendar_feeds::find_by_owner(conn, owner)?))
        .await?;
    Ok(HttpResponse::Ok().json(match row {
        Some(row) => CalendarFeedView {
            active: row.revoked_at.is_none(),
            created_at: Some(row.created_at),
            revoked_at: row.revoked_at,
        },
        None => CalendarFeedView {
            active: false,
            created_at: None,
            revoked_at: None,
        },
    }))
}

/// Revokes my calendar feed: its URL answers 404 from now on.
#[utoipa::path(tag = "calendar", security(("bearer" = [])), responses(
    (status = 204, description = "Revoked"),
    (status = 404, description = "No active feed", body = crate::error::Problem),
))]
#[delete("/calendar/feed")]
async fn delete_feed(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let revoked = state
        .db
        .run(move |conn| Ok(db::calendar_feeds::revoke(conn, owner)?))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = %owner, "calendar feed revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// The feed: my events (organised or attended, not cancelled) and my open reminders, as
/// `text/calendar` (RFC 5545). `If-None-Match` with the last `ETag` answers 304 when
/// nothing changed.
#[utoipa::path(
    get,
    tag = "calendar",
    path = "/calendar/{token}.ics",
    params(("token" = String, Path, description = "The secret token of the feed's URL")),
    responses(
        (status = 200, description = "The calendar", content_type = "text/calendar", body = String),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, description = "No such feed, or revoked", body = crate::error::Problem),
    )
)]
#[route("/calendar/{file}", method = "GET", method = "HEAD")]
async fn calendar_feed(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Read from the request rather than a `web::Path` argument, so the OpenAPI document
    // names the parameter `token`, as in the path it shows.
    let file = req.match_info().get("file").unwrap_or_default();
    let hash = token_hash(token_of_path(file).ok_or(ApiError::NotFound)?);
    let (owner, events, reminders) = state
        .db
        .run(move |conn| {
            // One snapshot, so the events and reminders agree with each other.
            conn.build_transaction()
                .read_only()
                .repeatable_read()
                .run(|conn| {
                    let owner = db::calendar_feeds::find_active_by_token_hash(conn, &hash)?
                        .ok_or(ApiError::NotFound)?;
                    let id = owner.feed.owner_id;
                    let events = db::calendar_feeds::events_for_owner(conn, id)?;
                    let reminders = db::calendar_feeds::open_reminders_for_owner(conn, id)?;
                    Ok::<_, ApiError>((owner, events, reminders))
                })
        })
        .await?;

    let feed = Feed {
        name: format!("Carnet: {}", owner.display_name),
        timezone: Some(owner.timezone.clone()),
        events: events
            .into_iter()
            .map(|(e, status)| calendar::Event {
                id: e.id,
                title: e.title,
                description: e.description,
                venue: e.venue,
                address: e.address,
                city: e.city,
                starts_at: e.starts_at,
                ends_at: e.ends_at,
                timezone: e.timezone,
                status: match status.as_deref() {
                    Some("waitlisted") => EventStatus::Tentative,
                    _ => EventStatus::Confirmed,
                },
                created_at: e.created_at,
                updated_at: e.updated_at,
            })
            .collect(),
        reminders: reminders
            .into_iter()
            .map(|r| calendar::Reminder {
                id: r.id,
                title: r.title,
                notes: r.notes,
                due_local: r.due_local,
                timezone: r.timezone,
                due_at: r.due_at,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect(),
    };
    let body = web::block(move || calendar::render(&feed)).await?;
    let etag = hex::encode(&Sha256::digest(body.as_bytes())[..16]);

    let owner_id = owner.feed.owner_id;
    let changed_at = if owner.feed.content_etag.as_deref() == Some(etag.as_str()) {
        owner.feed.content_changed_at
    } else {
        let tag = etag.clone();
        state
            .db
            .run(move |conn| Ok(db::calendar_feeds::note_content(conn, owner_id, &tag)?))
            .await?
    };

    let tag = EntityTag::new_strong(etag);
    let unchanged = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&tag)),
        None => false,
    };
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((ETAG, tag.to_string()))
        // Calendar apps may keep it but must ask again each time; shared caches must not.
        .insert_header(CacheControl(vec![
            CacheDirective::Private,
            CacheDirective::NoCache,
        ]))
        .insert_header(("x-robots-tag", "noindex"));
    if let Some(at) = changed_at {
        response.insert_header(LastModified(HttpDate::from(std::time::SystemTime::from(at))));
    }
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, "inline; filename=\"carnet.ics\""))
        .body(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_shape_the_path_accepts() {
        let (token, hash) = new_token();
        let file = format!("{token}.ics");
        assert_eq!(token_of_path(&file), Some(token.as_str()));
        assert_eq!(hash, token_hash(&token));
        assert_eq!(token_of_path(&token), None);
        assert_eq!(token_of_path("short.ics"), None);
        assert_eq!(token_of_path(&format!("{}.ics", "%".repeat(TOKEN_LEN))), None);
    }

    #[test]
    fn urls_come_from_the_public_url() {
        let (url, webcal) = feed_urls("https://carnet.example.org/", "abc");
        assert_eq!(url, "https://carnet.example.org/calendar/abc.ics");
        assert_eq!(webcal, "webcal://carnet.example.org/calendar/abc.ics");
    }
}
