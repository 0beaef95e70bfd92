//! Errors answered over HTTP: an [`ApiError`] of the actions as a status, the error body of
//! PROTOCOL.md and, when rate limited, `Retry-After`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use natter_actions::error::{ApiError, ApiResult};
use natter_schemas::ErrorBody;

/// An [`ApiError`] as a REST handler answers it.
#[derive(Debug)]
pub struct Refusal(pub ApiError);

/// What a REST handler answers.
pub type HttpResult<T> = Result<T, Refusal>;

/// `?` in a handler answers any error the actions know how to answer.
macro_rules! refusal_from {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Refusal {
            fn from(e: $error) -> Self {
                Self(ApiError::from(e))
            }
        }
    )*};
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

refusal_from!(
    natter_bus::BusError,
    sqlx::Error,
    natter_projections::ProjectionError,
    natter_vault::VaultError,
    natter_realtime::lua::StoreError,
    natter_realtime::presence::PresenceError,
);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let error = self.0.0;
        let status = StatusCode::from_u16(error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = error.retry_after_ms;
        let mut response = (status, Json(ErrorBody { error })).into_response();
        if let Some(ms) = retry {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
