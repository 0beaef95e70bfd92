//! Client frames: parse, dispatch, answer with exactly one `reply` when the frame has an `id`.

use natter_bus::Replay;
use natter_schemas::Event;
use natter_schemas::frames::{
    ClientFrame, PresenceStatus, RequestId, ServerFrame, SubscribeReply, TypingState,
};
use natter_schemas::rest::SendMessageRequest;
use serde_json::Value;
use uuid::Uuid;

use crate::commands;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Outbound, encode};
use crate::ws::session::SessionCtx;

pub enum Handled {
    Continue,
    Close,
}

/// Handles one text frame. Bad JSON, unknown types and missing fields are answered with an
/// `invalid` error; the session stays open.
pub async fn handle_text(ctx: &mut SessionCtx, text: &str) -> Handled {
    let value: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            error_frame(
                ctx,
                None,
                ApiError::invalid("type", "a frame is a JSON object"),
            )
            .await;
            return Handled::Continue;
        }
        Err(e) => {
            error_frame(
                ctx,
                None,
                ApiError::invalid("frame", format!("invalid JSON: {e}")),
            )
            .await;
            return Handled::Continue;
        }
    };
    let id = match value.get("id") {
        None | Some(Value::Null) => None,
        Some(raw) => match serde_json::from_value::<RequestId>(raw.clone()) {
            Ok(id) => Some(id),
            Err(_) => {
                error_frame(
                    ctx,
                    None,
                    ApiError::invalid("id", "id must be a string or an integer"),
                )
                .await;
                return Handled::Continue;
            }
        },
    };
    // PostgreSQL's text cannot hold NUL: refused here, naming the field, whatever the frame.
    if let Err(e) = crate::validate::no_nul_in(&value) {
        error_frame(ctx, id, e).await;
        return Handled::Continue;
    }
    let frame = match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => frame,
        Err(e) => {
            let message = format!("{e} (frame types: {})", ClientFrame::TYPES.join(", "));
            error_frame(ctx, id, ApiError::invalid("type", message)).await;
            return Handled::Continue;
        }
    };
    let reply_id = id.clone();
    let result: ApiResult<Option<Value>> = match frame {
        ClientFrame::Ping => {
            ctx.send(&ServerFrame::Pong).await;
            Ok(Some(Value::Object(Default::default())))
        }
        ClientFrame::Subscribe {
            room_id,
            since,
            epoch,
        } => {
            // The reply travels with the replayed events, so `subscribe` sends it.
            subscribe(ctx, id, room_id, since, epoch)
                .await
                .map(|()| None)
        }
        ClientFrame::Unsubscribe { room_id } => {
            if ctx.rooms.remove(&room_id) {
                ctx.state.hub().unsubscribe_room(room_id, ctx.info.id).await;
                ctx.queue(Outbound::Forget {
                    room: room_id,
                    notice: None,
                })
                .await;
            }
            Ok(Some(Value::Object(Default::default())))
        }
        ClientFrame::Edit { message_id, body } => {
            commands::messages::edit(&ctx.state, ctx.info.user, message_id, &body)
                .await
                .map(|r| Some(to_value(&r)))
        }
        ClientFrame::Delete { message_id } => {
            commands::messages::delete(&ctx.state, ctx.info.user, message_id)
                .await
                .map(|r| Some(to_value(&r)))
        }
        ClientFrame::React {
            message_id,
            emoji,
            on,
        } => commands::messages::react(&ctx.state, ctx.info.user, message_id, &emoji, on)
            .await
            .map(|r| Some(to_value(&r))),
        ClientFrame::Read { room_id, seq } => {
            commands::reading::read(&ctx.state, ctx.info.user, room_id, seq)
                .await
                .map(|r| Some(to_value(&r)))
        }
        ClientFrame::Presence { status, text } => presence_set(ctx, status, text.as_deref()).await,
        ClientFrame::PresenceSubscribe { user_ids } => presence_subscribe(ctx, user_ids).await,
        ClientFrame::Auth { token } => match ctx.state.tokens().verify(&token) {
            Ok(claims) if claims.sub == ctx.info.user => {
                ctx.token_exp.send_replace(claims.exp);
                Ok(Some(serde_json::json!({"expires_at": claims.exp})))
            }
            Ok(_) => Err(ApiError::forbidden("the token is for another user")),
            Err(e) => Err(e),
        },
        ClientFrame::Typing { room_id, state } => 'typing: {
            if let Err(e) = ctx
                .state
                .limiter()
                .check(crate::ratelimit::Action::Typing, &ctx.info.user.to_string())
                .await
            {
                break 'typing Err(e);
            }
            let typing = ctx.state.typing().clone();
            match state {
                TypingState::Start => {
                    // Membership is checked when a start is published, not on every repeat.
                    let checked = if typing.is_recent(ctx.info.user, room_id) {
                        Ok(())
                    } else {
                        commands::typing_room(&ctx.state, room_id, ctx.info.user).await
                    };
                    match checked {
                        Ok(()) => {
                            typing.start(ctx.info.id, ctx.info.user, room_id).await;
                            Ok(Some(Value::Object(Default::default())))
                        }
                        Err(e) => Err(e),
                    }
                }
                TypingState::Stop => {
                    typing.stop(ctx.info.user, room_id).await;
                    Ok(Some(Value::Object(Default::default())))
                }
            }
        }
        ClientFrame::Send {
            room_id,
            client_msg_id,
            body,
            thread_root_id,
            attachment_ids,
        } => {
            let req = SendMessageRequest {
                body,
                client_msg_id,
                thread_root_id,
                attachment_ids,
            };
            // Sends are pipelined: the event goes to the log now, in frame order, and the
            // reply follows the log's ack without holding up the next frame.
            match commands::publish_message(&ctx.state, ctx.info.user, room_id, &req).await {
                Ok(commands::Published::Answered(reply)) => Ok(Some(to_value(&reply))),
                Ok(commands::Published::Pending(pending)) => {
                    let tx = ctx.tx.clone();
                    tokio::spawn(async move {
                        let frame = match (pending.ack().await, reply_id) {
                            (Ok(reply), Some(id)) => ServerFrame::Reply {
                                id,
                                ok: true,
                                data: Some(to_value(&reply)),
                                error: None,
                            },
                            (Err(e), Some(id)) => ServerFrame::Reply {
                                id,
                                ok: false,
                                data: None,
                                error: Some(e.0),
                            },
                            (Err(e), None) => ServerFrame::Error { error: e.0 },
                            (Ok(_), None) => return,
                        };
                        let _ = tx.send(Outbound::Frame(encode(&frame))).await;
                    });
                    return Handled::Continue;
                }
                Err(e) => Err(e),
            }
        }
    };
    match (result, reply_id) {
        (Ok(Some(data)), Some(id)) => {
            ctx.send(&ServerFrame::Reply {
                id,
                ok: true,
                data: Some(data),
                error: None,
            })
            .await;
        }
        (Ok(_), _) => {}
        (Err(e), id) => error_frame(ctx, id, e).await,
    }
    Handled::Continue
}

async fn presence_set(
    ctx: &SessionCtx,
    status: PresenceStatus,
    text: Option<&str>,
) -> ApiResult<Option<Value>> {
    if status == PresenceStatus::Offline {
        return Err(ApiError::invalid(
            "status",
            "choose online, away, busy or invisible (invisible looks offline to others)",
        ));
    }
    let text = text
        .map(|t| crate::validate::text("text", t, 0, 140))
        .transpose()?;
    let now = ctx
        .state
        .presence()
        .set(ctx.info.user, status, text.as_deref())
        .await?;
    Ok(Some(to_value(&now)))
}

/// Most users one `presence_subscribe` names, and one socket follows.
const MAX_FOLLOW_PER_FRAME: usize = 100;
const MAX_FOLLOWED: usize = 500;

async fn presence_subscribe(
    ctx: &mut SessionCtx,
    mut users: Vec<Uuid>,
) -> ApiResult<Option<Value>> {
    users.sort_unstable();
    users.dedup();
    if users.len() > MAX_FOLLOW_PER_FRAME {
        return Err(ApiError::invalid(
            "user_ids",
            format!("at most {MAX_FOLLOW_PER_FRAME} users per presence_subscribe"),
        ));
    }
    let new = users.iter().filter(|u| !ctx.followed.contains(u)).count();
    if ctx.followed.len() + new > MAX_FOLLOWED {
        return Err(ApiError::invalid(
            "user_ids",
            format!("a socket follows at most {MAX_FOLLOWED} users"),
        ));
    }
    // Only those the caller shares a room with (others look offline and are not followed).
    let visible = ctx
        .state
        .presence()
        .visible_to(ctx.state.pool(), ctx.info.user, &users)
        .await?;
    for &user in &visible {
        if ctx.followed.insert(user) {
            ctx.state
                .hub()
                .follow_presence(user, ctx.handle.clone())
                .await?;
        }
    }
    // Subscribed first, read second: a change in between arrives as a frame after the reply.
    let now = ctx
        .state
        .presence()
        .read_for(ctx.state.pool(), ctx.info.user, &users)
        .await?;
    Ok(Some(serde_json::json!({ "users": now })))
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// A `reply` with `ok: false` when the frame had an id, else an `error` frame.
async fn error_frame(ctx: &SessionCtx, id: Option<RequestId>, error: ApiError) {
    let frame = match id {
        Some(id) => ServerFrame::Reply {
            id,
            ok: false,
            data: None,
            error: Some(error.0),
        },
        None => ServerFrame::Error { error: error.0 },
    };
    ctx.send(&frame).await;
}

/// `subscribe`: check access, start live delivery (buffered), replay what was missed, then
/// switch to live, with no gap and no duplicate:
///
/// 1. the writer starts buffering the room's live events;
/// 2. the gateway's NATS subscription for the room is active on the server;
/// 3. the missed range is read from the log, up to its head *after* step 2, so every event is
///    either in the replay or arrives live (or both);
/// 4. the writer sends the reply, the replayed events, then the buffered live events newer than
///    the last replayed one, and goes live.
async fn subscribe(
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
            if !state.hub().has_session(r, ctx.info.id).await {
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
    let access = commands::readable_room(&state, room, ctx.info.user).await?;
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
                state.hub().unsubscribe_room(room, ctx.info.id).await;
                ctx.queue(Outbound::Forget { room, notice: None }).await;
            } else {
                // Keep the subscription the socket already had.
                ctx.queue(Outbound::ReplayEnd {
                    room,
                    reply: None,
                    floor: 0,
                    events: Vec::new(),
                })
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
    ctx.queue(Outbound::ReplayEnd {
        room,
        reply,
        floor,
        events,
    })
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
        .hub()
        .subscribe_room(room, ctx.handle.clone(), member)
        .await?;
    // Every room event after `seen` reaches this socket live, and goes through the removals
    // it makes (a kick ends the subscription). One at or below it may have been a removal
    // that the first check did not see yet (the read model lags the log): wait until the read
    // model has `seen`, then check again. Whatever the interleaving, a removal is either seen
    // here or delivered after.
    let seen = state.hub().room_last_seq(room).await;
    if seen > 0 {
        state.projected(seen).await?;
        member = commands::readable_room(&state, room, ctx.info.user)
            .await?
            .role
            .is_some();
        state
            .hub()
            .set_member(room, ctx.info.id, member, seen)
            .await;
    }
    let reader = if member {
        crate::wire::Reader::Member
    } else {
        crate::wire::Reader::Visitor
    };
    let server_epoch = state.bus().epoch().to_owned();
    let mut last_seq = access.last_seq.max(seen);
    let (recovered, floor, events) = match since {
        None => (true, 0, Vec::new()),
        Some(_) if epoch.as_deref().is_some_and(|e| e != server_epoch) => (false, 0, Vec::new()),
        Some(since) => {
            state
                .limiter()
                .check(crate::ratelimit::Action::Replay, &ctx.info.user.to_string())
                .await?;
            let head = state.bus().last_seq().await?;
            if since > head {
                // Seqs from the future: not this log.
                (false, 0, Vec::new())
            } else {
                let timeout = state.config().read_wait();
                match state
                    .bus()
                    .replay_room(room, since, state.config().max_replay, timeout)
                    .await?
                {
                    Replay::Events(raw) => {
                        state
                            .limiter()
                            .charge(
                                crate::ratelimit::Action::Replay,
                                &ctx.info.user.to_string(),
                                raw.len() as u64,
                            )
                            .await;
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
                        (
                            true,
                            since,
                            crate::wire::replay_frames(room, &events, reader),
                        )
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
