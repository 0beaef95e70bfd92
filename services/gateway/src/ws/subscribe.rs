//! `subscribe`: access, live delivery, the replay of what was missed, and the switch between
//! them with no gap and no duplicate.

use natter_bus::Replay;
use natter_schemas::Event;
use natter_schemas::frames::{RequestId, ServerFrame, SubscribeReply};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::ws::ctx::SessionCtx;
use natter_actions::commands;
use natter_realtime::hub::{Outbound, ReplayEnd, encode};
use natter_realtime::wire::to_value;

/// `subscribe`: check access, start live delivery (buffered), replay what was missed, then
/// switch to live, with no gap and no duplicate:
///
/// 1. the writer starts buffering the room's live events;
/// 2. the gateway's NATS subscription for the room is active on the server;
/// 3. the missed range is read from the log, up to its head *after* step 2, so every event is
///    either in the replay or arrives live (or both);
/// 4. the writer sends the reply, the replayed events, then the buffered live events newer than
///    the last replayed one, and goes live.
pub(crate) async fn subscribe(
    ctx: &mut SessionCtx,
    id: Option<RequestId>,
    room: Uuid,
    since: Option<u64>,
    epoch: Option<String>,
) -> ApiResult<()> {
    let state = ctx.state.clone();
    // The server may have ended subscriptions this socket still counts (a kick, an archive).
    if ctx.rooms.len() >= state.config().max_subscriptions || ctx.rooms.contains(&room) {
        let mut ended = Vec::new();
        for &r in &ctx.rooms {
            if !state.actions().hub().has_session(r, ctx.info.id).await {
                ended.push(r);
            }
        }
        for r in ended {
            ctx.rooms.remove(&r);
        }
    }
    let max = state.config().max_subscriptions;
    if ctx.rooms.len() >= max && !ctx.rooms.contains(&room) {
        return Err(ApiError::invalid(
            "room_id",
            format!("at most {max} subscriptions per socket: unsubscribe from one first"),
        ));
    }
    let access = commands::readable_room(state.actions(), room, ctx.info.user).await?;
    let newly = ctx.rooms.insert(room);
    ctx.queue(Outbound::ReplayBegin { room }).await;
    let started = start(ctx, room, since, epoch, &access).await;
    let (data, floor, events) = match started {
        Ok(started) => started,
        Err(e) => {
            // A refusal ends the subscription even when the socket had one: the re-check found
            // that the caller lost access.
            let refused = matches!(
                e.code(),
                natter_schemas::ErrorCode::NotFound | natter_schemas::ErrorCode::Forbidden
            );
            if newly || refused {
                ctx.rooms.remove(&room);
                state
                    .actions()
                    .hub()
                    .unsubscribe_room(room, ctx.info.id)
                    .await;
                ctx.queue(Outbound::Forget { room, notice: None }).await;
            } else {
                // Keep the subscription the socket already had.
                ctx.queue(Outbound::ReplayEnd(Box::new(ReplayEnd {
                    room,
                    reply: None,
                    floor: 0,
                    events: Vec::new(),
                })))
                .await;
            }
            return Err(e);
        }
    };
    metrics::counter!("natter_gateway_replayed_events_total").increment(events.len() as u64);
    let reply = id.map(|id| {
        encode(&ServerFrame::Reply {
            id,
            ok: true,
            data: Some(to_value(&data)),
            error: None,
        })
    });
    ctx.queue(Outbound::ReplayEnd(Box::new(ReplayEnd {
        room,
        reply,
        floor,
        events,
    })))
    .await;
    Ok(())
}

/// The steps of [`subscribe`] after the writer buffers: live subscription, access re-check,
/// replay. Returns the reply's data, the floor and the replayed frames.
async fn start(
    ctx: &mut SessionCtx,
    room: Uuid,
    since: Option<u64>,
    epoch: Option<String>,
    access: &natter_projections::history::queries::RoomAccess,
) -> ApiResult<(
    SubscribeReply,
    u64,
    Vec<(u64, axum::extract::ws::Utf8Bytes)>,
)> {
    let state = ctx.state.clone();
    let mut member = access.role.is_some();
    state
        .actions()
        .hub()
        .subscribe_room(room, ctx.handle.clone(), member)
        .await?;
    // Every room event after `seen` reaches this socket live, and goes through the removals
    // it makes (a kick ends the subscription). One at or below it may have been a removal
    // that the first check did not see yet (the read model lags the log): wait until the read
    // model has `seen`, then check again. Whatever the interleaving, a removal is either seen
    // here or delivered after.
    let seen = state.actions().hub().room_last_seq(room).await;
    if seen > 0 {
        state.actions().projected(seen).await?;
        member = commands::readable_room(state.actions(), room, ctx.info.user)
            .await?
            .role
            .is_some();
        state
            .actions()
            .hub()
            .set_member(room, ctx.info.id, member, seen)
            .await;
    }
    let reader = if member {
        natter_realtime::wire::Reader::Member
    } else {
        natter_realtime::wire::Reader::Visitor
    };
    let server_epoch = state.actions().bus().epoch().to_owned();
    let mut last_seq = access.last_seq.max(seen);
    let (recovered, floor, events) = match since {
        None => (true, 0, Vec::new()),
        Some(_) if epoch.as_deref().is_some_and(|e| e != server_epoch) => (false, 0, Vec::new()),
        Some(since) => {
            // `seen` is in the log: only a `since` past it makes the stream be asked.
            let head = if since <= seen {
                seen
            } else {
                state.actions().bus().last_seq().await?
            };
            if since > head {
                // Seqs from the future: not this log.
                (false, 0, Vec::new())
            } else {
                let timeout = state.config().read_wait();
                let max = state.config().max_replay;
                let limiter = state.actions().limiter();
                let (action, user) = (
                    natter_actions::ratelimit::Action::Replay,
                    ctx.info.user.to_string(),
                );
                // One event is counted before anything is read, so that a user past the limit
                // makes no read; the rest once the replay's size is known.
                limiter.check_cost(action, &user, 1).await?;
                // Every room event after `seen` reaches this socket live (0: not known): the
                // stretch up to it is read once for all the sockets that ask for it at once.
                let live_after = (seen > 0).then_some(seen);
                let replay = state
                    .actions()
                    .bus()
                    .replay_room(room, since, live_after, max, timeout)
                    .await?;
                if let Replay::Events(raw) = &replay
                    && raw.len() > 1
                {
                    limiter
                        .check_cost(action, &user, raw.len() as u64 - 1)
                        .await?;
                }
                match replay {
                    Replay::Events(raw) => {
                        let mut events = Vec::with_capacity(raw.len());
                        for (seq, bytes) in raw {
                            match Event::from_bytes(&bytes) {
                                Ok(event) => events.push((seq, event)),
                                Err(e) => {
                                    tracing::error!(%room, seq, error = %e, "undecodable event in replay")
                                }
                            }
                            last_seq = last_seq.max(seq);
                        }
                        state
                            .actions()
                            .bus()
                            .unseal_all(&mut events)
                            .await
                            .map_err(|e| ApiError::unavailable(format!("unseal: {e}")))?;
                        // Void posts are left out: for those whose check saw the log before
                        // the stretch, the room's losses before it are read back too.
                        let before = match natter_realtime::void::needs_before(&events, since) {
                            None => Vec::new(),
                            Some(lowest) => {
                                natter_realtime::void::losses_from_log(
                                    state.actions().bus(),
                                    room,
                                    lowest,
                                    since,
                                )
                                .await?
                            }
                        };
                        let void = natter_realtime::void::void_in(&events, &before);
                        // Nor what people the user blocks said, as live.
                        let blocked = &ctx.handle.blocked;
                        events.retain(|(seq, e)| !void.contains(seq) && !blocked.hides(e));
                        let deleted_before = natter_realtime::wire::previewed_and_deleted(
                            state.actions().pool(),
                            events.iter().map(|(_, e)| e),
                        )
                        .await;
                        let urls = state.actions().file_urls();
                        let frames = natter_realtime::wire::replay_frames(
                            room,
                            &events,
                            reader,
                            urls,
                            &deleted_before,
                        );
                        (true, since, frames)
                    }
                    Replay::TooMany { missed } => {
                        tracing::debug!(%room, missed, "too many missed events to replay");
                        (false, 0, Vec::new())
                    }
                }
            }
        }
    };
    let data = SubscribeReply {
        last_seq,
        epoch: server_epoch,
        recovered,
        replayed: events.len() as u64,
    };
    Ok((data, floor, events))
}
