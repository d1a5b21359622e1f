//! One module per resource; handlers parse input into domain types, call the data layer
//! through [`crate::db::Db`], and turn rows into views. No SQL here.

pub mod attendance;
pub mod attendees;
pub mod attendees_io;
pub mod auth;
pub mod calendar;
pub mod contacts;
pub mod contacts_io;
pub mod devices;
pub mod events;
pub mod health;
pub mod interactions;
pub mod me;
pub mod reminders;
pub mod sync;

use actix_web::web;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;

pub type State = web::Data<AppState>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    calendar::configure_feed(cfg);
    crate::openapi::configure(cfg);
    cfg.service(
        web::scope("/v1")
            .configure(auth::configure)
            .configure(me::configure)
            .configure(devices::configure)
            // Before `contacts`: `/contacts/export` is not a contact id.
            .configure(contacts_io::configure)
            .configure(contacts::configure)
            .configure(interactions::configure)
            .configure(reminders::configure)
            // Before `events`: `/events/join` is not an event id.
            .configure(attendance::configure)
            .configure(events::configure)
            .configure(attendees_io::configure)
            .configure(attendees::configure)
            .configure(calendar::configure)
            .configure(sync::configure),
    );
}

/// What answers a request no route took: 405 with `Allow` when the path exists with other
/// methods (the OpenAPI document says which; an undocumented route, such as the docs'
/// assets, takes GET), else 404.
pub async fn unmatched(
    state: State,
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return Err(ApiError::NotFound);
    };
    let allow = state
        .allowed_methods
        .get(&pattern)
        .cloned()
        .unwrap_or_else(|| "GET".into());
    if allow.split(", ").any(|m| m == req.method().as_str()) {
        return Err(ApiError::NotFound);
    }
    Err(ApiError::MethodNotAllowed { allow })
}

/// A page of a list: `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says another page
    /// follows, and the cursor names the last row kept.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        cursor: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next_cursor = if more { rows.last().map(&cursor) } else { None };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The page size asked for, between 1 and [`MAX_LIMIT`].
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "The cursor is not one this API gave out.")
}

/// Opaque cursors: a row's position, base64url-encoded.
pub mod cursor {
    use super::*;

    pub fn of_id(id: &Uuid) -> String {
        URL_SAFE_NO_PAD.encode(id.as_bytes())
    }

    pub fn id(raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
        raw.map(|raw| {
            let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
            Uuid::from_slice(&bytes).map_err(|_| bad_cursor())
        })
        .transpose()
    }

    pub fn of_pair(at: &DateTime<Utc>, id: &Uuid) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.timestamp_micros()))
    }

    pub fn pair(raw: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
        raw.map(|raw| {
            let text = URL_SAFE_NO_PAD
                .decode(raw)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(bad_cursor)?;
            let (micros, id) = text.split_once('|').ok_or_else(bad_cursor)?;
            let at = micros
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(bad_cursor)?;
            Ok((at, Uuid::parse_str(id).map_err(|_| bad_cursor())?))
        })
        .transpose()
    }
}

/// For PATCH bodies: a field left out stays as it is (`None`); `null` clears it
/// (`Some(None)`); a value sets it (`Some(Some(v))`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// What an instant field expects, said in the error of one that does not parse.
pub const INSTANT_EXPECTED: &str =
    "expected an RFC 3339 instant with its offset, such as 2026-12-10T19:00:00-05:00 or 2026-12-11T00:00:00Z";

fn parse_instant<E: serde::de::Error>(raw: &str) -> Result<DateTime<Utc>, E> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| E::custom(format!("{raw:?} is not an instant: {INSTANT_EXPECTED}")))
}

/// For an optional instant field: the error of a time without its offset (a frequent
/// mistake, `2026-12-10T19:00`) says what is expected, where chrono would only say
/// "premature end of input".
pub fn instant<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer)?
        .map(|raw| parse_instant(&raw))
        .transpose()
}

/// [`instant`] for a PATCH field where `null` clears the value (see [`nullable`]).
pub fn nullable_instant<'de, D>(deserializer: D) -> Result<Option<Option<DateTime<Utc>>>, D::Error>
where
    D: Deserializer<'de>,
{
    instant(deserializer).map(Some)
}

/// For a nested object field: derived structs also accept a JSON array, filled by position
/// (`"card": ["headline", "org"]`); this takes only an object (or `null`: left as it is),
/// and reads it in place so errors inside still name their field.
pub fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(ObjectOnly(std::marker::PhantomData))
}

/// A client-chosen id (UUIDv7 made offline) or a new one.
pub fn id_or_new(id: Option<Uuid>) -> Uuid {
    id.unwrap_or_else(Uuid::now_v7)
}

/// The answer when a client-chosen id is already used: the same for one's own record and
/// another user's, so nothing about the other record is revealed.
pub fn id_taken() -> ApiError {
    ApiError::Conflict {
        code: "id_taken",
        detail: "A record with this id already exists.".into(),
    }
}
