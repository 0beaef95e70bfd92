//! One error type for the actions, mapped to the public error codes in one place; the gateway
//! answers it over REST (status, body, `Retry-After`) or WebSocket (`reply.error`).

use natter_bus::{BusError, BusErrorKind};
use natter_schemas::{ErrorCode, ErrorDetail};

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorDetail);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<natter_vault::VaultError> for ApiError {
    fn from(e: natter_vault::VaultError) -> Self {
        tracing::warn!(error = %e, "the key bucket");
        ApiError::unavailable("the keys are unavailable right now; retry shortly")
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorDetail::new(code, message))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self(ErrorDetail::invalid(field, message))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn content_rejected(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ContentRejected, message)
    }

    /// `rate_limited`, with when to retry (also sent as `Retry-After` on REST).
    pub fn rate_limited(message: impl Into<String>, retry_after_ms: u64) -> Self {
        Self(ErrorDetail {
            retry_after_ms: Some(retry_after_ms),
            ..ErrorDetail::new(ErrorCode::RateLimited, message)
        })
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }

    /// An internal failure: `cause` is logged here, where it is answered; the client hears
    /// only that it was internal.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl From<BusError> for ApiError {
    fn from(err: BusError) -> Self {
        match err.kind {
            BusErrorKind::Conflict => Self::conflict("it already exists"),
            BusErrorKind::TooLarge => Self::too_large("the event is too large for the log"),
            BusErrorKind::Full => Self::unavailable(
                "the event log is full and takes nothing new until an operator makes room",
            ),
            BusErrorKind::Lost => Self::unavailable(
                "the event log this server started on is gone; an operator must restart it",
            ),
            BusErrorKind::Unavailable => {
                tracing::warn!(error = %err, "event log unavailable");
                Self::unavailable("the event log is unavailable; retry shortly")
            }
            BusErrorKind::Other => {
                tracing::error!(error = %err, "event log error");
                Self::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %err, "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly")
            }
            _ => {
                tracing::error!(error = %err, "database error");
                Self::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<natter_projections::ProjectionError> for ApiError {
    fn from(err: natter_projections::ProjectionError) -> Self {
        match err {
            natter_projections::ProjectionError::Db(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<natter_realtime::lua::StoreError> for ApiError {
    /// Redis holds what may be lost: answered as `unavailable`, its cause logged.
    fn from(e: natter_realtime::lua::StoreError) -> Self {
        tracing::warn!(error = %e, "redis");
        ApiError::unavailable("this is unavailable right now; retry shortly")
    }
}

impl From<natter_realtime::presence::PresenceError> for ApiError {
    fn from(e: natter_realtime::presence::PresenceError) -> Self {
        match e {
            natter_realtime::presence::PresenceError::Store(e) => e.into(),
            natter_realtime::presence::PresenceError::Database(e) => e.into(),
        }
    }
}
