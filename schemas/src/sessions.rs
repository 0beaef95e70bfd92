//! Sign-ins: sessions, refresh tokens, password changes, and how they end.
//!
//! Every login (and registration) starts a session, named by the `sid` of the tokens issued for
//! it. A session's events are on a subject of its own, so that a refresh can be appended only
//! if nothing else happened to the session since the refresh token it spends was issued: that
//! is what makes a refresh token good for one use, and a second use detectable. Whether a
//! token is still good is state in the log: these events, projected into the history read
//! model, and checked (with a bounded cache) wherever a token is accepted.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::accounts::Credentials;

/// `session.started`: the actor signed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionStarted {
    pub session_id: Uuid,
    /// What the client said it is (the login's `device`, else its `User-Agent`), cut to 128
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// `session.refreshed`: the session's refresh token `generation - 1` was spent for a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRefreshed {
    pub session_id: Uuid,
    /// The generation of the session's one good refresh token from now on.
    pub generation: u32,
}

/// `session.ended`: tokens of this session are refused from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionEnded {
    pub session_id: Uuid,
    pub reason: EndReason,
}

/// Why sessions ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `POST /v1/auth/logout`, from the session itself.
    Logout,
    /// `DELETE /v1/me/sessions/{id}`, from another session of the user.
    Ended,
    /// `POST /v1/auth/logout_all`.
    LogoutAll,
    /// The password changed.
    PasswordChanged,
    /// A refresh token was used twice: someone else may hold it, so its whole session ended.
    RefreshReused,
    /// The account was erased.
    Erased,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Ended => "ended",
            Self::LogoutAll => "logout_all",
            Self::PasswordChanged => "password_changed",
            Self::RefreshReused => "refresh_reused",
            Self::Erased => "erased",
        }
    }

    /// What a socket closed for this reason is told.
    pub fn close_reason(self) -> &'static str {
        match self {
            Self::Logout | Self::Ended | Self::LogoutAll => "the session was ended",
            Self::PasswordChanged => "the password was changed: sign in again",
            Self::RefreshReused => "the session's refresh token was used twice: sign in again",
            Self::Erased => "the account was erased",
        }
    }
}

/// `user.sessions_ended`: every session of the user that began before `before` ended (and
/// every token issued before then without a session of natter's, such as an identity
/// provider's), but `keep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionsEnded {
    pub before: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Uuid>,
    pub reason: EndReason,
}

/// `user.password_changed`: new credentials, every earlier session ended, and the session the
/// change was made from carried on as a new one (`session`), all in one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PasswordChanged {
    pub credentials: Credentials,
    pub session: SessionStarted,
}

/// `GET /v1/me/sessions`: the caller's sessions that have not ended, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// One sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    pub id: Uuid,
    pub device: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last time a token of the session was used (to the minute; kept in Redis, so it may
    /// be missing after Redis restarts).
    pub last_seen: Option<DateTime<Utc>>,
    /// The session of the token that asked.
    pub current: bool,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A new access token and the refresh token that replaces the one spent (or, after a
/// password change, those of the session that carries on).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    /// The tokens' session (`sid`).
    pub session_id: Uuid,
}

/// `POST /v1/me/password`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    pub old_password: String,
    /// 8 to 256 characters.
    pub new_password: String,
}
