//! The public error codes and the error body shared by REST and WebSocket.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
    PayloadTooLarge,
    RateLimited,
    ContentRejected,
    Unavailable,
    Internal,
    /// The path exists, not with this method (405).
    MethodNotAllowed,
    /// The request's headers are too many or too large (431).
    HeadersTooLarge,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Invalid => 400,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::ContentRejected => 422,
            Self::Unavailable => 503,
            Self::Internal => 500,
            Self::MethodNotAllowed => 405,
            Self::HeadersTooLarge => 431,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::ContentRejected => "content_rejected",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::HeadersTooLarge => "headers_too_large",
        }
    }
}

/// `{"error": {...}}`, the body of every REST error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A human sentence.
    pub message: String,
    /// The offending field, for `invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorDetail {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after_ms: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(ErrorCode::Invalid, message)
        }
    }
}
