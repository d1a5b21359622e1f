//! The one error policy of the API.
//!
//! Handlers, the domain rules and sync return [`ApiError`]; the data layer (`crate::db`)
//! returns diesel's `QueryResult` and knows nothing of HTTP. `ApiError` is the only type that
//! becomes an HTTP error answer, always as `application/problem+json` (RFC 9457) with a stable `code`.
//! - Parse failures of user input become 422 `validation_failed` with per-field `errors`
//!   (see [`FieldErrors`]). That includes a JSON body of the wrong shape (a wrong type, an
//!   unknown or missing field, an array where an object is expected, a date without its
//!   offset): [`extract::json`] names the field from where parsing stopped. Text holding a
//!   NUL character is refused the same way, field named, before it reaches PostgreSQL
//!   (which cannot store it). Malformed JSON is 400, a wrong content type 415, a body over
//!   the limit 413.
//! - The HTTP layer's refusals answered by the app are problems too: an unknown method on
//!   a known path is 405 with `Allow`, oversized headers 431, an overlong URL 414 (see
//!   [`crate::input`]); what the HTTP parser itself refuses is rewritten into a problem on
//!   its way out (see [`crate::http_layer`]).
//! - A record that does not exist *or belongs to someone else* is 404 `not_found`: callers
//!   cannot tell the two apart, and nothing of the record leaks.
//! - diesel's `NotFound` maps to 404 in one `From`; every other database, pool or internal
//!   failure is a 500 whose body says nothing more than "internal error" and carries the
//!   request id; the cause is logged, never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// One field that failed to parse.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in the request body or query (`card.email`, `emails[2]`).
    pub field: String,
    /// A stable code such as `required`, `too_long`, `invalid_email`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// Collects field errors while a request body is parsed into domain types.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, InvalidValue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(InvalidValue { code, message }) => {
                self.add(field, code, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no error was recorded, else the 422 answer.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    /// `Ok(value)` when no error was recorded, else the 422 answer.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::Validation(self.0));
        }
        value().ok_or_else(|| ApiError::internal("validated value missing"))
    }
}

/// Why one value was refused: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    pub code: &'static str,
    pub message: String,
}

impl InvalidValue {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("not found")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType { detail: String },
    /// 422 with its own code (a request well-formed but refused as a whole, or one pushed
    /// mutation refused).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 410: what the request names is gone for good (an expired sync cursor).
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// 426: the client speaks a version the server no longer supports.
    #[error("{detail}")]
    UpgradeRequired { code: &'static str, detail: String },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 405: the path exists, not with this method; `allow` lists those it has.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// 414: the request target is longer than the server reads.
    #[error("URI too long")]
    UriTooLong { limit: usize },
    /// 431: the request's headers are larger than the server reads.
    #[error("request headers too large")]
    HeadersTooLarge { limit: usize },
    #[error("service unavailable")]
    Unavailable,
    /// 503 with its own code: up, but unable to do its work (a provider nobody can send to).
    #[error("{detail}")]
    NotReady { code: &'static str, detail: String },
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn internal(message: &'static str) -> Self {
        ApiError::Internal(anyhow::anyhow!(message))
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    /// A single-field validation failure.
    pub fn invalid(field: &str, error: InvalidValue) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            code: error.code.into(),
            message: error.message,
        }])
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::UpgradeRequired { code, .. }
            | ApiError::NotReady { code, .. } => code,
            ApiError::NotFound => "not_found",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] if one.field.is_empty() => one.message.clone(),
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            ApiError::BadRequest { detail, .. }
            | ApiError::Unauthorized { detail, .. }
            | ApiError::Conflict { detail, .. }
            | ApiError::Unprocessable { detail, .. }
            | ApiError::Gone { detail, .. }
            | ApiError::UpgradeRequired { detail, .. }
            | ApiError::NotReady { detail, .. }
            | ApiError::UnsupportedMediaType { detail } => detail.clone(),
            ApiError::NotFound => "No such resource.".into(),
            ApiError::PayloadTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("Too many attempts; try again in {retry_after_secs} seconds.")
            }
            ApiError::MethodNotAllowed { allow } => {
                format!("This path does not take this method; it takes {allow}.")
            }
            ApiError::UriTooLong { limit } => {
                format!("The request URI is longer than the limit of {limit} bytes.")
            }
            ApiError::HeadersTooLarge { limit } => {
                format!("The request headers are larger than the limit of {limit} bytes.")
            }
            ApiError::Unavailable => "The service is temporarily unavailable.".into(),
            ApiError::Internal(_) => "An internal error occurred.".into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: format!("urn:carnet:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().to_string(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::UpgradeRequired { .. } => StatusCode::UPGRADE_REQUIRED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unavailable | ApiError::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => ApiError::NotFound,
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        tracing::error!(error = %error, "no database connection available");
        ApiError::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}

/// Maps actix's body and query extraction failures to problems (wired in `startup`).
/// Running data-layer work from the async layers: on the blocking thread pool, with the
/// data layer's errors (a query, the pool, the blocking pool) mapped here, once.
impl crate::db::Db {
    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::PgConnection) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool().clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Runs `f` inside one transaction: all of it commits, or nothing does.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::PgConnection) -> Result<T, ApiError> + Send + 'static,
    {
        use diesel::Connection;
        self.run(move |conn| conn.transaction(f)).await
    }
}

pub mod extract {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::web::Bytes;
    use actix_web::{HttpMessage, HttpRequest};

    use super::{ApiError, FieldError};

    /// A JSON body as received, kept in the request's extensions by [`crate::input`] so
    /// that a parse failure can be located in it.
    #[derive(Clone)]
    pub struct RawJson(pub Bytes);

    pub fn json(error: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
        let api = match error {
            JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
                ApiError::PayloadTooLarge { limit }
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType {
                detail: "Send the body as application/json.".into(),
            },
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                let body = req.extensions().get::<RawJson>().cloned();
                ApiError::Validation(vec![shape_error(&e, body.as_ref().map(|b| &b.0[..]))])
            }
            JsonPayloadError::Deserialize(e) => {
                ApiError::bad_request("malformed_json", format!("The body is not valid JSON: {e}"))
            }
            other => ApiError::bad_request("malformed_body", other.to_string()),
        };
        api.into()
    }

    /// The field error for a body that is JSON but not of the expected shape: the field is
    /// the one being read where serde stopped, the message serde's, without its position.
    pub fn shape_error(error: &serde_json::Error, body: Option<&[u8]>) -> FieldError {
        let full = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        // serde reports a missing field at the end of its object, naming it in the message.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let at = |b: &[u8]| path_at(b, offset_of(b, error.line(), error.column()), missing.is_some());
        let mut field = body.map(at).unwrap_or_default();
        if let Some(name) = missing {
            field = join(&field, name);
        }
        let code = [
            ("invalid type", "invalid_type"),
            ("invalid value", "invalid_value"),
            ("invalid length", "invalid_length"),
            ("unknown field", "unknown_field"),
            ("unknown variant", "invalid_choice"),
            ("missing field", "required"),
            ("duplicate field", "duplicate_field"),
        ]
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, code)| *code)
        .unwrap_or("invalid_format");
        FieldError {
            field,
            code: code.into(),
            message,
        }
    }

    fn join(parent: &str, name: &str) -> String {
        if parent.is_empty() {
            name.to_string()
        } else {
            format!("{parent}.{name}")
        }
    }

    /// The byte offset of serde_json's (1-based line, 1-based byte column).
    fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
        let mut start = 0;
        for _ in 1..line {
            match body[start..].iter().position(|b| *b == b'\n') {
                Some(i) => start += i + 1,
                None => break,
            }
        }
        (start + column)
            .saturating_sub(1)
            .min(body.len().saturating_sub(1))
    }

    /// Where in the document the byte at `offset` is, as a field path (`card.email`,
    /// `emails[2]`; empty for the top level), or with `container`, the path of the object
    /// holding it. Walks the JSON text up to there keeping only the open containers, so it
    /// needs no second parse and works at any nesting depth.
    pub fn path_at(body: &[u8], offset: usize, container: bool) -> String {
        enum Frame {
            Object {
                key: Option<String>,
                expecting_key: bool,
            },
            Array {
                index: usize,
            },
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut i = 0;
        let end = offset.min(body.len().saturating_sub(1));
        while i <= end && i < body.len() {
            match body[i] {
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < body.len() && body[i] != b'"' {
                        i += if body[i] == b'\\' { 2 } else { 1 };
                    }
                    if let Some(Frame::Object {
                        key,
                        expecting_key: true,
                    }) = stack.last_mut()
                    {
                        let raw = &body[start..(i + 1).min(body.len())];
                        *key =
                            Some(serde_json::from_slice::<String>(raw).unwrap_or_else(|_| {
                                String::from_utf8_lossy(raw).trim_matches('"').to_string()
                            }));
                    }
                }
                // An error at a bracket is about the container it opens or closes (a wrong
                // type, a missing field): the container's own path.
                b'{' if i < end => stack.push(Frame::Object {
                    key: None,
                    expecting_key: true,
                }),
                b'[' if i < end => stack.push(Frame::Array { index: 0 }),
                b'}' | b']' if i < end => {
                    stack.pop();
                }
                b':' => {
                    if let Some(Frame::Object { expecting_key, .. }) = stack.last_mut() {
                        *expecting_key = false;
                    }
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Object { key, expecting_key }) => {
                        *key = None;
                        *expecting_key = true;
                    }
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                },
                _ => {}
            }
            i += 1;
        }
        if container {
            if let Some(Frame::Object { key, .. }) = stack.last_mut() {
                *key = None;
            }
        }
        let mut path = String::new();
        for frame in &stack {
            match frame {
                Frame::Object { key: Some(key), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object { key: None, .. } => break,
                Frame::Array { index } => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }

    pub fn query(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::bad_request("invalid_query", format!("Invalid query string: {error}")).into()
    }

    /// A path that does not parse (say, an id that is not a UUID) names no resource.
    pub fn path(_error: PathError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::NotFound.into()
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use super::*;

        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Card {
            email: Option<String>,
            links: Option<Vec<String>>,
        }

        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            starts_at: Option<chrono::DateTime<chrono::Utc>>,
            card: Option<Card>,
            tags: Option<Vec<String>>,
        }

        fn field_of(body: &str) -> FieldError {
            let error = serde_json::from_str::<Body>(body).unwrap_err();
            assert!(error.is_data(), "{error}");
            shape_error(&error, Some(body.as_bytes()))
        }

        #[test]
        fn shape_errors_name_their_field() {
            let e = field_of(r#"{"name": "N", "starts_at": "2026-12-10T19:00"}"#);
            assert_eq!(e.field, "starts_at");
            assert!(!e.message.contains("line 1"), "{}", e.message);
            let e = field_of(r#"{"name": 42}"#);
            assert_eq!((e.field.as_str(), e.code.as_str()), ("name", "invalid_type"));
            let e =
                field_of("{\n  \"name\": \"N\",\n  \"card\": {\"email\": \"a\", \"links\": [\"x\", 3]}\n}");
            assert_eq!(e.field, "card.links[1]");
            let e = field_of(r#"{"name": "N", "card": {"twitter": "@lise"}}"#);
            assert_eq!(
                (e.field.as_str(), e.code.as_str()),
                ("card.twitter", "unknown_field")
            );
            let e = field_of(r#"{"card": {}, "tags": ["a", "b"]}"#);
            assert_eq!((e.field.as_str(), e.code.as_str()), ("name", "required"));
            let e = field_of(r#"{"name": "N", "tags": ["a", {"k": "\"}]"}]}"#);
            assert_eq!(e.field, "tags[1]");
            let e = field_of(r#"{"name": "N", "tags": {"a": "b"}}"#);
            assert_eq!((e.field.as_str(), e.code.as_str()), ("tags", "invalid_type"));
            let e = field_of(r#"{"na\u006de": "N", "starts_at": 5}"#);
            assert_eq!(e.field, "starts_at");
        }
    }
}
