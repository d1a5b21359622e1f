//! Register, log in, refresh, log out.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::me::{user_view, UserView};
use super::State;
use crate::auth::{
    hash_password, new_refresh_token, refresh_token_hash, verify_password, AuthUser, PasswordCheck,
};
use crate::db::sessions::Rotation;
use crate::db::{self, users::NewUser};
use crate::domain::{required_text, Email, Limits, Region, TimeZone};
use crate::error::{ApiError, FieldErrors, InvalidValue};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout);
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "lise@example.org")]
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    #[schema(example = "Lise Cardinal")]
    pub display_name: String,
    /// IANA zone; `UTC` when absent.
    #[schema(example = "America/Montreal")]
    pub timezone: Option<String>,
    /// BCP 47 locale such as `fr-CA`; its region is the default for phone numbers.
    #[schema(example = "fr-CA")]
    pub locale: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens for a session: a short-lived JWT and the refresh token that renews it once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: UserView,
}

fn password(raw: &str) -> Result<&str, InvalidValue> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(InvalidValue::new("too_short", "must be at least 8 characters"));
    }
    if n > 128 {
        return Err(InvalidValue::new("too_long", "must be at most 128 characters"));
    }
    Ok(raw)
}

pub fn locale(raw: &str) -> Result<String, InvalidValue> {
    let value = raw.trim();
    let ok = !value.is_empty()
        && value.len() <= 35
        && value
            .split(['-', '_'])
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(value.replace('_', "-"))
    } else {
        Err(InvalidValue::new(
            "invalid_locale",
            format!("{raw:?} is not a locale such as fr-CA"),
        ))
    }
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect())
}

async fn issue_tokens(
    state: &State,
    user_id: Uuid,
    agent: Option<String>,
) -> Result<(String, String, Uuid), ApiError> {
    let (refresh_token, hash) = new_refresh_token();
    let expires = Utc::now() + state.settings.refresh_token_ttl;
    let session_id = state
        .db
        .run(move |conn| {
            Ok(db::sessions::open(
                conn,
                user_id,
                agent.as_deref(),
                &hash,
                expires,
            )?)
        })
        .await?;
    let access = state.jwt.issue(user_id, session_id)?;
    Ok((access, refresh_token, session_id))
}

/// Creates an account and logs it in.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = TokenResponse),
    (status = 409, description = "Email already registered", body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/auth/register")]
async fn register(
    state: State,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&body.email));
    let password = errors
        .check("password", password(&body.password))
        .map(str::to_string);
    let display_name = errors.check("display_name", required_text(&body.display_name, Limits::NAME));
    let timezone = match body.timezone.as_deref() {
        Some(tz) => errors
            .check("timezone", TimeZone::parse(tz))
            .map(|z| z.name().to_string()),
        None => Some("UTC".to_string()),
    };
    let locale = match body.locale.as_deref() {
        Some(l) => errors.check("locale", locale(l)),
        None => Some("en".to_string()),
    };
    let (email, password, display_name, timezone, locale) =
        errors.finish(|| Some((email?, password?, display_name?, timezone?, locale?)))?;
    let region = Region::from_locale(&locale).map(|r| r.code().to_string());

    let hash = web::block(move || hash_password(&password)).await??;
    let created = state
        .db
        .run(move |conn| {
            Ok(db::users::create(
                conn,
                &NewUser {
                    id: Uuid::now_v7(),
                    email: email.as_str(),
                    password_hash: &hash,
                    display_name: &display_name,
                    timezone: &timezone,
                    locale: &locale,
                    region: region.as_deref(),
                },
            )?)
        })
        .await?;
    let user = created.ok_or_else(|| ApiError::Conflict {
        code: "email_taken",
        detail: "An account already uses this email; log in instead.".into(),
    })?;
    let user_id = user.id;
    let card = state
        .db
        .run(move |conn| Ok(db::users::find_card(conn, user_id)?))
        .await?;
    let (access_token, refresh_token, _) = issue_tokens(&state, user.id, user_agent(&req)).await?;
    Ok(HttpResponse::Created().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
        user: user_view(user, card),
    }))
}

/// Logs in. Unknown email and wrong password get the same answer; repeated failures for
/// one email or one client address are refused for a while with 429.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = crate::error::Problem),
    (status = 429, body = crate::error::Problem),
))]
#[post("/auth/login")]
async fn login(
    state: State,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email_lower = crate::domain::login_key(&body.email);
    let client_ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let window = state.settings.login_window;
    let since = Utc::now() - window;
    let (limit_email, limit_ip) = (
        state.settings.login_max_failures_per_email,
        state.settings.login_max_failures_per_ip,
    );

    let (lookup_email, lookup_ip) = (email_lower.clone(), client_ip.clone());
    let (user, throttled) = state
        .db
        .run(move |conn| {
            let (by_email, by_ip) = db::sessions::recent_failures(conn, &lookup_email, &lookup_ip, since)?;
            let user = db::users::find_by_email(conn, &lookup_email)?;
            Ok((user, by_email >= limit_email || by_ip >= limit_ip))
        })
        .await?;
    if throttled {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: window.as_secs(),
        });
    }
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = body.password;
    let check = web::block(move || verify_password(&password, stored.as_deref())).await?;
    let user = match (check, user) {
        (PasswordCheck::Match, Some(user)) => user,
        _ => {
            state
                .db
                .run(move |conn| Ok(db::sessions::record_failure(conn, &email_lower, &client_ip)?))
                .await?;
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "The email or the password is wrong.",
            ));
        }
    };
    let (user_id, cleared) = (user.id, email_lower.clone());
    let card = state
        .db
        .run(move |conn| {
            db::sessions::clear_failures(conn, &cleared)?;
            Ok(db::users::find_card(conn, user_id)?)
        })
        .await?;
    let (access_token, refresh_token, _) = issue_tokens(&state, user.id, user_agent(&req)).await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
        user: user_view(user, card),
    }))
}

/// Trades a refresh token for new tokens. Each refresh token works once; presenting one
/// that was already used ends the whole session (someone copied it), except the retry of
/// a phone that lost the answer: the token rotated last, presented again within
/// `CARNET_REFRESH_REUSE_GRACE_SECS`, gets the same new refresh token again.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = crate::error::Problem),
))]
#[post("/auth/refresh")]
async fn refresh(state: State, body: web::Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let presented_token = body.refresh_token.trim();
    let presented = refresh_token_hash(presented_token);
    let refresh_token = state.refresh_key.successor(presented_token);
    let successor = refresh_token_hash(&refresh_token);
    let expires = Utc::now() + state.settings.refresh_token_ttl;
    let grace = state.settings.refresh_reuse_grace;
    let outcome = state
        .db
        .run(move |conn| {
            Ok(db::sessions::rotate(
                conn, &presented, &successor, expires, grace,
            )?)
        })
        .await?;
    let (session_id, user_id) = match outcome {
        Rotation::Rotated { session_id, user_id } => (session_id, user_id),
        Rotation::Retried { session_id, user_id } => {
            tracing::info!(%session_id, "refresh retried within the reuse grace; same successor answered");
            (session_id, user_id)
        }
        Rotation::Invalid => {
            return Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "The refresh token is invalid or expired.",
            ))
        }
        Rotation::Reused => {
            tracing::warn!("refresh token reused; session revoked");
            return Err(ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session has been ended. Log in again.",
            ));
        }
    };
    let (user, card) = state
        .db
        .run(move |conn| {
            Ok((
                db::users::find(conn, user_id)?,
                db::users::find_card(conn, user_id)?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: state.jwt.issue(user_id, session_id)?,
        token_type: "Bearer",
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
        user: user_view(user, card),
    }))
}

/// Ends the current session: its access and refresh tokens stop working.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "Logged out"),
    (status = 401, body = crate::error::Problem),
))]
#[post("/auth/logout")]
async fn logout(state: State, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    state
        .db
        .run(move |conn| Ok(db::sessions::revoke(conn, auth.session_id, "logout")?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
