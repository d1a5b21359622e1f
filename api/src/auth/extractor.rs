use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;

/// The authenticated caller. A handler that takes it cannot run without a valid access
/// token whose session is still open.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|t| t.trim().to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = bearer.ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "Send an access token as `Authorization: Bearer …`.",
                )
            })?;
            let claims = state.jwt.verify(&token).map_err(|_| {
                ApiError::unauthorized("invalid_token", "The access token is invalid or expired.")
            })?;
            let (user_id, session_id) = (claims.sub, claims.sid);
            let active = state
                .db
                .run(move |conn| Ok(crate::db::sessions::is_active(conn, session_id, user_id)?))
                .await?;
            if !active {
                return Err(ApiError::unauthorized(
                    "session_revoked",
                    "This session has ended; log in again.",
                ));
            }
            Ok(AuthUser { user_id, session_id })
        })
    }
}
