//! The one error policy of the API.
//!
//! Handlers, the domain rules and sync return [`ApiError`]; the data layer (`crate::db`)
//! returns diesel's `QueryResult` and knows nothing of HTTP. `ApiError` is the only type that
//! becomes an HTTP error answer, always as `application/problem+json` (RFC 9457) with a stable `code`.
//! - Parse failures of user input become 422 `validation_failed` with per-field `errors`
//!   (see [`FieldErrors`]); malformed JSON is 400, a wrong content type 415, a body over the
//!   limit 413.
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
    #[error("service unavailable")]
    Unavailable,
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
            | ApiError::UpgradeRequired { code, .. } => code,
            ApiError::NotFound => "not_found",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            ApiError::BadRequest { detail, .. }
            | ApiError::Unauthorized { detail, .. }
            | ApiError::Conflict { detail, .. }
            | ApiError::Unprocessable { detail, .. }
            | ApiError::Gone { detail, .. }
            | ApiError::UpgradeRequired { detail, .. }
            | ApiError::UnsupportedMediaType { detail } => detail.clone(),
            ApiError::NotFound => "No such resource.".into(),
            ApiError::PayloadTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("Too many attempts; try again in {retry_after_secs} seconds.")
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
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
pub mod extract {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::HttpRequest;

    use super::ApiError;

    pub fn json(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
        let api = match error {
            JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
                ApiError::PayloadTooLarge { limit }
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType {
                detail: "Send the body as application/json.".into(),
            },
            JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::bad_request(
                "invalid_body",
                format!("The body does not match the expected shape: {e}"),
            ),
            JsonPayloadError::Deserialize(e) => {
                ApiError::bad_request("malformed_json", format!("The body is not valid JSON: {e}"))
            }
            other => ApiError::bad_request("malformed_body", other.to_string()),
        };
        api.into()
    }

    pub fn query(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::bad_request("invalid_query", format!("Invalid query string: {error}")).into()
    }

    /// A path that does not parse (say, an id that is not a UUID) names no resource.
    pub fn path(_error: PathError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::NotFound.into()
    }
}
