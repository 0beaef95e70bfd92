//! Which of a user's events end a token of theirs: what a socket open with that token checks
//! against the user's events as they arrive.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Event, EventBody};
use crate::sessions::EndReason;

/// When a session began, from its id (natter's are UUIDv7), in ms since the epoch.
fn began_ms(session: Uuid) -> Option<i64> {
    let (secs, nanos) = session.get_timestamp()?.to_unix();
    Some(i64::try_from(secs).ok()? * 1000 + i64::from(nanos / 1_000_000))
}

/// Whether `event` ends a token of `session` (when it has one) issued at `issued` (seconds
/// since the epoch), and why: what a socket open with that token checks against the user's
/// events as they arrive.
pub fn ends(event: &Event, session: Option<Uuid>, issued: u64) -> Option<EndReason> {
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
    use crate::sessions::{SessionEnded, SessionsEnded};

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
