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

use crate::event::Credentials;

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

/// When a session began, from its id (natter's are UUIDv7), in ms since the epoch.
fn began_ms(session: Uuid) -> Option<i64> {
    let (secs, nanos) = session.get_timestamp()?.to_unix();
    Some(i64::try_from(secs).ok()? * 1000 + i64::from(nanos / 1_000_000))
}

/// Whether `event` ends a token of `session` (when it has one) issued at `issued` (seconds
/// since the epoch), and why: what a socket open with that token checks against the user's
/// events as they arrive.
pub fn ends(event: &crate::Event, session: Option<Uuid>, issued: u64) -> Option<EndReason> {
    use crate::event::EventBody;
    let before = |at: DateTime<Utc>| match session.and_then(began_ms) {
        Some(began) => began <= at.timestamp_millis(),
        None => i64::try_from(issued).unwrap_or(0) <= at.timestamp(),
    };
    match &event.body {
        EventBody::SessionEnded(e) => (session == Some(e.session_id)).then_some(e.reason),
        EventBody::SessionsEnded(e) => {
            ((e.keep.is_none() || session != e.keep) && before(e.before)).then_some(e.reason)
        }
        EventBody::PasswordChanged(p) => (session != Some(p.session.session_id)
            && before(event.occurred_at))
        .then_some(EndReason::PasswordChanged),
        EventBody::UserErased(_) => Some(EndReason::Erased),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBody;

    #[test]
    fn an_end_reaches_the_tokens_it_names_and_no_later_sign_in() {
        let user = Uuid::now_v7();
        let (old, kept) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let one = crate::Event::new(
            user,
            None,
            EventBody::SessionEnded(SessionEnded {
                session_id: old,
                reason: EndReason::Logout,
            }),
        );
        assert_eq!(ends(&one, Some(old), secs), Some(EndReason::Logout));
        assert_eq!(ends(&one, Some(kept), secs), None);
        let all = crate::Event::new(
            user,
            None,
            EventBody::SessionsEnded(SessionsEnded {
                before: now,
                keep: Some(kept),
                reason: EndReason::LogoutAll,
            }),
        );
        assert_eq!(ends(&all, Some(old), secs), Some(EndReason::LogoutAll));
        assert_eq!(ends(&all, Some(kept), secs), None);
        assert_eq!(ends(&all, None, secs), Some(EndReason::LogoutAll));
        assert_eq!(ends(&all, None, secs + 5), None, "issued after");
        let later = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs + 5, 0));
        assert_eq!(ends(&all, Some(later), secs + 5), None, "a later sign-in");
    }
}
