//! Client frames: parse, dispatch, answer with exactly one `reply` when the frame has an `id`.

use natter_schemas::frames::{ClientFrame, RequestId, ServerFrame, TypingState};
use natter_schemas::rest::SendMessageRequest;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::ws::ctx::SessionCtx;
use natter_actions::commands;
use natter_realtime::hub::Outbound;
use natter_realtime::wire::to_value;

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
                ApiError::invalid("frame", "a frame is a JSON object"),
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
    if let Err(e) = natter_actions::validate::no_nul_in(&value) {
        error_frame(ctx, id, e).await;
        return Handled::Continue;
    }
    let frame = match natter_actions::validate::fit::<ClientFrame>(&value) {
        Ok(frame) => frame,
        Err((field, message)) => {
            let known = value
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| ClientFrame::TYPES.contains(&t));
            let error = if known {
                ApiError::invalid(field.as_deref().unwrap_or("frame"), message)
            } else {
                let types = ClientFrame::TYPES.join(", ");
                ApiError::invalid("type", format!("{message} (frame types: {types})"))
            };
            error_frame(ctx, id, error).await;
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
            super::subscribe::subscribe(ctx, id, room_id, since, epoch)
                .await
                .map(|()| None)
        }
        ClientFrame::Unsubscribe { room_id } => {
            if ctx.rooms.remove(&room_id) {
                ctx.state
                    .actions()
                    .hub()
                    .unsubscribe_room(room_id, ctx.info.id)
                    .await;
                ctx.queue(Outbound::Forget {
                    room: room_id,
                    notice: None,
                })
                .await;
            }
            Ok(Some(Value::Object(Default::default())))
        }
        ClientFrame::Edit {
            message_id,
            body,
            format,
            encrypted,
        } => {
            let (user, encrypted) = (ctx.info.user, encrypted.as_ref());
            commands::messages::edit(
                ctx.state.actions(),
                user,
                message_id,
                &body,
                format,
                encrypted,
            )
            .await
            .map(|r| Some(to_value(&r)))
        }
        ClientFrame::Delete { message_id } => {
            commands::messages::delete(ctx.state.actions(), ctx.info.user, message_id)
                .await
                .map(|r| Some(to_value(&r)))
        }
        ClientFrame::React {
            message_id,
            emoji,
            on,
        } => commands::messages::react(ctx.state.actions(), ctx.info.user, message_id, &emoji, on)
            .await
            .map(|r| Some(to_value(&r))),
        ClientFrame::Read { room_id, seq } => {
            commands::reading::read(ctx.state.actions(), ctx.info.user, room_id, seq)
                .await
                .map(|r| Some(to_value(&r)))
        }
        ClientFrame::Delivered { room_id, seq } => {
            // Only a member's socket subscribed to the room has been given its events.
            if ctx.rooms.contains(&room_id)
                && ctx
                    .state
                    .actions()
                    .hub()
                    .subscribed_member(room_id, ctx.info.id)
                    .await
            {
                ctx.state.delivered().record(room_id, ctx.info.user, seq);
                Ok(Some(
                    serde_json::json!({"room_id": room_id, "delivered_seq": seq}),
                ))
            } else {
                Err(ApiError::forbidden(
                    "subscribe to the room as a member first: only its events can be delivered",
                ))
            }
        }
        ClientFrame::Presence { status, text } => {
            super::presence::presence_set(ctx, status, text.as_deref()).await
        }
        ClientFrame::PresenceSubscribe { user_ids } => {
            super::presence::presence_subscribe(ctx, user_ids).await
        }
        // A fresh token for this socket: checked as every token is (the handshake's too).
        ClientFrame::Auth { token } => {
            match natter_actions::auth::Caller::from_token(ctx.state.actions(), &token).await {
                Ok(user) if user.id == ctx.info.user => {
                    ctx.handle.set_token(user.token);
                    ctx.token_exp.send_replace(user.exp);
                    Ok(Some(serde_json::json!({"expires_at": user.exp})))
                }
                Ok(_) => Err(ApiError::forbidden("the token is for another user")),
                Err(e) => Err(e),
            }
        }
        ClientFrame::Call {
            room_id,
            call_id,
            action,
            to,
            data,
        } => {
            let signal = natter_actions::calls::Signal {
                room: room_id,
                call: call_id,
                action,
                to,
                data,
            };
            natter_actions::calls::signal(ctx.state.actions(), ctx.info.user, signal)
                .await
                .map(|()| Some(Value::Object(Default::default())))
        }
        ClientFrame::Typing { room_id, state } => 'typing: {
            if let Err(e) = ctx
                .state
                .actions()
                .limiter()
                .check(
                    natter_actions::ratelimit::Action::Typing,
                    &ctx.info.user.to_string(),
                )
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
                        commands::typing_room(ctx.state.actions(), room_id, ctx.info.user)
                            .await
                            .map(|_| ())
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
            format,
            encrypted,
        } => {
            let req = SendMessageRequest {
                body,
                client_msg_id,
                thread_root_id,
                attachment_ids,
                format,
                encrypted,
            };
            // Sends are pipelined on the socket's send task: to the log in frame order,
            // each reply after the log's ack, none holding up the frames read after it.
            if let Some(sends) = &mut ctx.sends {
                sends.push(room_id, req, reply_id).await;
            }
            return Handled::Continue;
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
