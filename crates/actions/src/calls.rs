//! Calls: WebRTC signalling between members of a room, relayed over core NATS and never
//! stored; the call's record in Redis ([`store`]) while it lasts, and its summary
//! (`call.ended`) in the room's log once someone hangs up; the ICE servers clients are given
//! ([`ice`]).
//!
//! A `call` frame is checked (the sender is a member who may post: not muted, the room not
//! archived; at most [`MAX_CALL_MEMBERS`] members; `offer`, `answer` and `candidate` only
//! between people in the call), rate-limited, and published to each recipient's
//! `deliver.user.<id>` subject as a ready `call` frame, which every gateway holding their
//! sockets passes on as it is.
//!
//! Crash and retry: signalling is best effort, like the network it sets up (clients retry an
//! unanswered invite and hang up a call that went quiet). A hang-up takes its sender out of
//! the call; once at most one person is left in it, the call is over: its summary is appended
//! with the call's `Nats-Msg-Id` and only then is its record dropped, so a failed append is
//! made again by the next hang-up, and a repeated one is dropped by the log (history keeps one
//! summary per call either way).

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::calls::{CallAction, CallEnded};
use natter_schemas::consent::{Reach, Verdict};
use natter_schemas::event::EventBody;
use natter_schemas::frames::ServerFrame;
use natter_schemas::model::RoomKind;
use uuid::Uuid;

pub use natter_realtime::calls::{CallStore, CallsConfig, ice, store};
pub use natter_realtime::lua::StoreError;
use store::Touched;

use crate::Actions;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;

/// Most members a room may have for calls in it: an invite rings every one of them.
pub const MAX_CALL_MEMBERS: usize = 100;
/// Largest `data` of a frame that goes to every other member (`offer`, `answer` and
/// `candidate`, to one member, may be as large as a frame).
pub const MAX_BROADCAST_DATA: usize = 4096;

/// A `call` frame from `from`.
pub struct Signal {
    pub room: Uuid,
    pub call: Uuid,
    pub action: CallAction,
    pub to: Option<Uuid>,
    pub data: Option<serde_json::Value>,
}

/// Checks and relays a `call` frame from `from`.
pub async fn signal(state: &Actions, from: Uuid, signal: Signal) -> ApiResult<()> {
    state
        .limiter()
        .check(Action::Call, &from.to_string())
        .await?;
    let access = crate::commands::typing_room(state, signal.room, from).await?;
    let data_len = signal.data.as_ref().map_or(0, |d| d.to_string().len());
    if !signal.action.is_directed() && data_len > MAX_BROADCAST_DATA {
        return Err(ApiError::invalid(
            "data",
            format!("at most {MAX_BROADCAST_DATA} bytes of data go to the whole room"),
        ));
    }
    let members: Vec<Uuid> = queries::members(state.pool(), signal.room)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if members.len() > MAX_CALL_MEMBERS {
        return Err(ApiError::forbidden(format!(
            "calls are for rooms of at most {MAX_CALL_MEMBERS} members"
        )));
    }
    let everyone = members;
    // Leaving a call is never refused (a block or a request that came in the meantime must not
    // keep anyone in it): it only reaches fewer people.
    let leaving = matches!(signal.action, CallAction::Hangup | CallAction::Decline);
    // A signal to one person (offer, answer, candidate: most of a call's frames) is checked
    // for that person only.
    let scope: Vec<Uuid> = match (signal.action.is_directed(), signal.to) {
        (true, Some(to)) => everyone
            .iter()
            .copied()
            .filter(|m| *m == to || *m == from)
            .collect(),
        _ => everyone.clone(),
    };
    let members = if leaving {
        in_reach(state, from, &scope, signal.room).await?
    } else {
        reachable(state, from, &scope, signal.room, access.kind).await?
    };
    let calls = state.calls();
    // What others do in a call reaches only those its caller may reach too: someone the caller
    // may not ring is not told of it, and cannot take part in it.
    let with_caller = async |call: &store::Call| -> ApiResult<Vec<Uuid>> {
        if call.caller == from {
            return Ok(members.clone());
        }
        let callers = in_reach(state, call.caller, &everyone, signal.room).await?;
        if !leaving && !callers.contains(&from) {
            return Err(no_call());
        }
        // The caller is in `callers`; they hear from `from` only if they may reach them.
        Ok(members
            .iter()
            .copied()
            .filter(|m| callers.contains(m) && (*m != call.caller || callers.contains(&from)))
            .collect())
    };
    let recipients: Vec<Uuid> = match signal.action {
        CallAction::Invite => match calls.invite(signal.call, signal.room, from).await? {
            Touched::OtherRoom => return Err(other_room()),
            Touched::NotYours => {
                return Err(ApiError::forbidden("only the caller rings for a call"));
            }
            _ => others(&members, from),
        },
        CallAction::Accept => {
            let told = with_caller(&in_room(calls.get(signal.call).await?, signal.room)?).await?;
            match calls.accept(signal.call, signal.room, from).await? {
                Touched::Missing => return Err(no_call()),
                Touched::OtherRoom => return Err(other_room()),
                _ => others(&told, from),
            }
        }
        CallAction::Decline => {
            let told = with_caller(&in_room(calls.get(signal.call).await?, signal.room)?).await?;
            others(&told, from)
        }
        CallAction::Offer | CallAction::Answer | CallAction::Candidate => {
            let call = in_room(calls.get(signal.call).await?, signal.room)?;
            let to = signal
                .to
                .ok_or_else(|| ApiError::invalid("to", "say whom this is for: `to`"))?;
            if !call.includes(from) {
                return Err(ApiError::forbidden(
                    "you are not in this call: accept it first",
                ));
            }
            if to == from || !members.contains(&to) || !call.includes(to) {
                return Err(ApiError::invalid("to", "not someone else in this call"));
            }
            vec![to]
        }
        CallAction::Hangup => {
            // A call already ended (the other side hung up first) ends again quietly.
            let Some(call) = calls.get(signal.call).await? else {
                return Ok(());
            };
            let call = in_room(Some(call), signal.room)?;
            // Someone who was in it (a repeated hang-up finishes what a failed one began).
            if call.caller != from && !call.participants.contains(&from) {
                return Err(ApiError::forbidden("you are not in this call"));
            }
            let recipients = others(&with_caller(&call).await?, from);
            relay(state, from, &signal, &recipients).await?;
            // Over once at most one person is left in it: the summary is appended (with the
            // call's key, so a retry appends nothing more) before the record goes.
            let over = calls.leave(signal.call, from).await?;
            if let Some((call, ended_at)) = over {
                summarise(state, from, signal.call, &call, ended_at).await?;
                calls.forget(signal.call).await?;
            }
            return Ok(());
        }
    };
    relay(state, from, &signal, &recipients).await
}

/// The members a call of `from`'s may reach (see [`natter_schemas::consent`]): nobody who
/// blocks them or whom they block, nobody whose membership waits for their acceptance; in a
/// direct conversation, a call nobody may be rung in is refused as a post would be.
async fn reachable(
    state: &Actions,
    from: Uuid,
    members: &[Uuid],
    room: Uuid,
    kind: RoomKind,
) -> ApiResult<Vec<Uuid>> {
    let verdicts = call_verdicts(state, from, members, room).await?;
    if kind == RoomKind::Dm {
        if verdicts.iter().any(|(_, _, standing)| standing.blocked()) {
            return Err(ApiError::forbidden(
                "a block stands between you and this conversation: no call can be made here",
            ));
        }
        if verdicts
            .iter()
            .any(|(_, verdict, _)| *verdict == Verdict::No)
        {
            return Err(ApiError::forbidden(
                "this conversation waits for acceptance: no call until it is accepted",
            ));
        }
    }
    Ok(yes(from, verdicts))
}

/// The members `actor` may ring in `room`, and `actor`.
async fn in_reach(
    state: &Actions,
    actor: Uuid,
    members: &[Uuid],
    room: Uuid,
) -> ApiResult<Vec<Uuid>> {
    Ok(yes(
        actor,
        call_verdicts(state, actor, members, room).await?,
    ))
}

async fn call_verdicts(
    state: &Actions,
    actor: Uuid,
    members: &[Uuid],
    room: Uuid,
) -> ApiResult<Vec<(Uuid, Verdict, natter_schemas::consent::Standing)>> {
    let others = others(members, actor);
    crate::commands::consent::verdicts(state, actor, &others, Some(room), Reach::Call).await
}

fn yes(
    actor: Uuid,
    verdicts: Vec<(Uuid, Verdict, natter_schemas::consent::Standing)>,
) -> Vec<Uuid> {
    let mut reachable: Vec<Uuid> = verdicts
        .into_iter()
        .filter(|(_, verdict, _)| *verdict == Verdict::Yes)
        .map(|(user, _, _)| user)
        .collect();
    reachable.push(actor);
    reachable
}

fn others(members: &[Uuid], from: Uuid) -> Vec<Uuid> {
    members.iter().copied().filter(|m| *m != from).collect()
}

fn in_room(call: Option<store::Call>, room: Uuid) -> ApiResult<store::Call> {
    match call {
        Some(call) if call.room == room => Ok(call),
        Some(_) => Err(other_room()),
        None => Err(no_call()),
    }
}

fn no_call() -> ApiError {
    ApiError::not_found("call")
}

fn other_room() -> ApiError {
    ApiError::invalid("call_id", "this call is in another room")
}

/// Publishes the frame to each recipient's user subject (their gateways pass it on).
async fn relay(state: &Actions, from: Uuid, signal: &Signal, recipients: &[Uuid]) -> ApiResult<()> {
    let frame = ServerFrame::Call {
        room_id: signal.room,
        call_id: signal.call,
        from,
        action: signal.action,
        data: signal.data.clone(),
    };
    let payload = Bytes::from(serde_json::to_vec(&frame).unwrap_or_default());
    let bus = state.bus();
    for user in recipients {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(natter_bus::FRAME_HEADER, "call");
        bus.notify(
            bus.subjects().deliver_user(*user),
            Some(headers),
            payload.clone(),
        )
        .await?;
    }
    metrics::counter!("natter_call_signals_total", "action" => action_name(signal.action))
        .increment(1);
    Ok(())
}

/// Appends the call's `call.ended` to the room's log.
async fn summarise(
    state: &Actions,
    from: Uuid,
    call_id: Uuid,
    call: &store::Call,
    ended_at: i64,
) -> ApiResult<()> {
    let started_at = Utc
        .timestamp_millis_opt(call.invited_at)
        .single()
        .unwrap_or_else(Utc::now);
    let duration_ms = call.answered_at.map_or(0, |a| (ended_at - a).max(0));
    let event = Event::new(
        from,
        Some(call.room),
        EventBody::CallEnded(CallEnded {
            call_id,
            caller: call.caller,
            participants: call.participants.clone(),
            started_at,
            duration_secs: u64::try_from(duration_ms / 1000).unwrap_or(0),
            answered: call.answered_at.is_some(),
        }),
    );
    let subject = state
        .bus()
        .subjects()
        .room_event(call.room, event.type_name());
    let key = format!("call.ended:{call_id}");
    state
        .bus()
        .append(subject, &event, Some(&key), false)
        .await?;
    Ok(())
}

fn action_name(action: CallAction) -> &'static str {
    match action {
        CallAction::Invite => "invite",
        CallAction::Accept => "accept",
        CallAction::Decline => "decline",
        CallAction::Offer => "offer",
        CallAction::Answer => "answer",
        CallAction::Candidate => "candidate",
        CallAction::Hangup => "hangup",
    }
}
