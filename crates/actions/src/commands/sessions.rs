//! Sessions: begun at sign-in, refreshed, ended one at a time or all at once, and renewed by a
//! password change.
//!
//! Crash and retry:
//! - Every change is one event; the command answers once the read model has it (so the next
//!   request, on any gateway, sees it) and forgets this gateway's cached standing of the user.
//! - A session's own events are on its own subject, and a refresh is appended only if the
//!   subject's last event is the one the read model knows: two uses of one refresh token
//!   cannot both succeed, and the loser ends the session (theft detection). A refresh whose
//!   answer is lost therefore ends its session when the client retries with the spent token:
//!   it signs in again, nothing else is lost.
//! - Ending is idempotent: ending an ended session appends a second end that changes nothing.

use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::event::{Credentials, EventBody};
use natter_schemas::sessions::{
    EndReason, PasswordChanged, SessionEnded, SessionInfo, SessionList, SessionRefreshed,
    SessionStarted, SessionsEnded, TokenPair,
};
use uuid::Uuid;

use crate::Actions;
use crate::auth::{Caller, hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::validate;

/// Longest device description kept, in characters.
const DEVICE_CHARS: usize = 128;

/// What a client says it is: `device` when given, else its `User-Agent`; without control
/// characters or bidi overrides ([`natter_schemas::text::shown`]), cut to [`DEVICE_CHARS`].
pub fn device(given: Option<&str>, user_agent: Option<&str>) -> Option<String> {
    let raw = given.or(user_agent)?;
    let clean: String = natter_schemas::text::shown(raw)
        .chars()
        .take(DEVICE_CHARS)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// Begins a session for `user` and issues its tokens.
pub async fn start_session(
    state: &Actions,
    user: Uuid,
    device: Option<String>,
) -> ApiResult<TokenPair> {
    let session = Uuid::now_v7();
    let mut event = Event::new(
        user,
        None,
        EventBody::SessionStarted(SessionStarted {
            session_id: session,
            device,
        }),
    );
    state.vault().seal_event(&mut event).await?;
    let subject = state.bus().subjects().session_event(user, session);
    let appended = state.bus().append(subject, &event, None, true).await?;
    state.projected(appended.seq).await?;
    tokens(state, user, session, 0)
}

fn tokens(state: &Actions, user: Uuid, session: Uuid, generation: u32) -> ApiResult<TokenPair> {
    Ok(TokenPair {
        token: state.auth().tokens.issue(user, session)?,
        refresh_token: state.auth().refresh.issue(session, generation),
        session_id: session,
    })
}

/// Spends a refresh token for a new access token and the next refresh token.
pub async fn refresh(state: &Actions, refresh_token: &str) -> ApiResult<TokenPair> {
    let spent = state.auth().refresh.parse(refresh_token)?;
    let Some(session) = queries::session_state(state.pool(), spent.session).await? else {
        return Err(ApiError::unauthorized("the refresh token is invalid"));
    };
    if session.ended {
        return Err(ApiError::unauthorized(
            "the refresh token's session has ended: sign in again",
        ));
    }
    let reused = || async {
        end(
            state,
            session.user_id,
            spent.session,
            EndReason::RefreshReused,
        )
        .await?;
        Err::<TokenPair, _>(ApiError::unauthorized(
            "the refresh token was already used, so its session has ended: sign in again",
        ))
    };
    if spent.generation != session.generation {
        return reused().await;
    }
    let next = spent.generation.saturating_add(1);
    let event = Event::new(
        session.user_id,
        None,
        EventBody::SessionRefreshed(SessionRefreshed {
            session_id: spent.session,
            generation: next,
        }),
    );
    let subject = state
        .bus()
        .subjects()
        .session_event(session.user_id, spent.session);
    match state
        .bus()
        .append_if_last(subject, &event, session.last_seq)
        .await
    {
        Ok(appended) => state.projected(appended.seq).await?,
        // Something happened to the session since: another use of this token, or its end.
        Err(e) if e.kind == natter_bus::BusErrorKind::Conflict => return reused().await,
        Err(e) => return Err(e.into()),
    }
    tokens(state, session.user_id, spent.session, next)
}

/// Ends `user`'s `session` (404 when it is not theirs).
pub async fn end(state: &Actions, user: Uuid, session: Uuid, reason: EndReason) -> ApiResult<()> {
    match queries::session_state(state.pool(), session).await? {
        Some(s) if s.user_id == user => {}
        _ => return Err(ApiError::not_found("session")),
    }
    let event = Event::new(
        user,
        None,
        EventBody::SessionEnded(SessionEnded {
            session_id: session,
            reason,
        }),
    );
    let subject = state.bus().subjects().session_event(user, session);
    let appended = state.bus().append(subject, &event, None, false).await?;
    ended(state, user, appended.seq, &[session]).await
}

/// Ends every session of `user` begun so far.
pub async fn end_all(state: &Actions, user: Uuid) -> ApiResult<()> {
    let live: Vec<Uuid> = queries::live_sessions(state.pool(), user)
        .await?
        .into_iter()
        .map(|s| s.0)
        .collect();
    let event = Event::new(
        user,
        None,
        EventBody::SessionsEnded(SessionsEnded {
            before: chrono::Utc::now(),
            keep: None,
            reason: EndReason::LogoutAll,
        }),
    );
    let subject = state.bus().subjects().user_event(user, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    ended(state, user, appended.seq, &live).await
}

/// After an end: the read model has it before the answer, and nothing here remembers the
/// ended sessions as good.
async fn ended(state: &Actions, user: Uuid, seq: u64, sessions: &[Uuid]) -> ApiResult<()> {
    state.projected(seq).await?;
    state.auth().revocations.forget(user);
    state.auth().seen.forget(user, sessions).await;
    Ok(())
}

/// Changes `caller`'s password: every session ends, and the caller carries on in a new one.
pub async fn change_password(
    state: &Actions,
    caller: &Caller,
    (old_password, new_password): (&str, &str),
    device: Option<String>,
) -> ApiResult<TokenPair> {
    validate::password("new_password", new_password)?;
    let creds = queries::credentials(state.pool(), caller.id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if !verify_password(old_password.to_owned(), creds.password_hash.clone()).await {
        return Err(ApiError::forbidden("the old password is wrong"));
    }
    let live: Vec<Uuid> = queries::live_sessions(state.pool(), caller.id)
        .await?
        .into_iter()
        .map(|s| s.0)
        .collect();
    let hash = hash_password(new_password.to_owned()).await?;
    // The new session is the caller's, on the same device.
    let device = match caller.token.session {
        Some(current) => queries::session_device(state.pool(), current)
            .await?
            .or(device),
        None => device,
    };
    let session = Uuid::now_v7();
    let mut event = Event::new(
        caller.id,
        None,
        EventBody::PasswordChanged(PasswordChanged {
            credentials: Credentials::Password { hash },
            session: SessionStarted {
                session_id: session,
                device,
            },
        }),
    );
    state.vault().seal_event(&mut event).await?;
    let subject = state
        .bus()
        .subjects()
        .user_event(caller.id, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    ended(state, caller.id, appended.seq, &live).await?;
    tokens(state, caller.id, session, 0)
}

/// `user`'s sessions that have not ended, newest first, `current` marking the caller's.
pub async fn list(state: &Actions, user: Uuid, current: Option<Uuid>) -> ApiResult<SessionList> {
    let live = queries::live_sessions(state.pool(), user).await?;
    // What Redis forgot is shown as unknown, not as a failure.
    let seen = state.auth().seen.of(user).await.unwrap_or_default();
    Ok(SessionList {
        sessions: live
            .into_iter()
            .map(|(id, device, created_at)| SessionInfo {
                id,
                device,
                created_at,
                last_seen: seen.get(&id).copied(),
                current: Some(id) == current,
            })
            .collect(),
    })
}
