//! Changes to posted messages: edit, delete, react, pin. Each checks the message's current
//! state in the read model first, so asking for the state it already has appends nothing
//! (`changed: false`): retries are harmless.
//!
//! Crash and retry: an edit is appended with a dedupe key of (message, the version it
//! replaces, new body), so a retried edit inside the log's window is one event; deletes use
//! `delete:<message>`. Reactions and pins are sets in the read model: a repeated add or remove
//! that slips past the state check (two racing requests) changes nothing there.

use natter_projections::history::MAX_PINS;
use natter_projections::history::queries::{self, MessageState};
use natter_schemas::event::{EventBody, MessageEdited, MessageRef, ReactionChanged};
use natter_schemas::keys::Encrypted;
use natter_schemas::rest::ChangeReply;
use natter_schemas::text::Format;
use natter_schemas::{Event, ids};
use uuid::Uuid;

use crate::Actions;
use crate::commands::{
    admin_of, member_room, message_state, not_archived, not_muted, resolve_mentions,
};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;
use crate::validate;

/// A message the caller may change: it exists, is in a room they are a member of, and the room
/// is not archived. A message in a room they cannot read is `not_found`.
async fn changeable(
    state: &Actions,
    actor: Uuid,
    message: Uuid,
    emoji: Option<&str>,
) -> ApiResult<(
    MessageState,
    natter_projections::history::queries::RoomAccess,
)> {
    let m = message_state(state, message, actor, emoji)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let access = match member_room(state, m.room_id, actor).await {
        Err(e) if e.code() == natter_schemas::ErrorCode::NotFound => {
            return Err(ApiError::not_found("message"));
        }
        other => other?,
    };
    not_archived(&access)?;
    Ok((m, access))
}

/// Appends a change to a message's room and waits until history has it.
async fn append(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    message: Uuid,
    body: EventBody,
    key: Option<String>,
) -> ApiResult<ChangeReply> {
    let mut event = Event::new(actor, Some(room), body);
    let subject = super::room_subject(state, room, &event);
    state.vault().seal_event(&mut event).await?;
    let appended = state
        .bus()
        .append(subject, &event, key.as_deref(), false)
        .await?;
    state.projected(appended.seq).await?;
    Ok(ChangeReply {
        message_id: message,
        seq: Some(appended.seq),
        changed: true,
    })
}

fn unchanged(message: Uuid) -> ChangeReply {
    ChangeReply {
        message_id: message,
        seq: None,
        changed: false,
    }
}

fn gone() -> ApiError {
    ApiError::conflict("the message is deleted")
}

/// The author changes the body. Mentions are resolved again (they are not notified again).
pub async fn edit(
    state: &Actions,
    actor: Uuid,
    message: Uuid,
    body: &str,
    format: Option<Format>,
    encrypted: Option<&Encrypted>,
) -> ApiResult<ChangeReply> {
    let max_chars = state.limits().max_message_chars;
    let encrypted = validate::encrypted(encrypted, body, format.unwrap_or_default(), max_chars)?;
    let body = match encrypted {
        Some(_) => String::new(),
        None => validate::body(body, max_chars)?,
    };
    state.blocklist().check(&body)?;
    let (m, access) = changeable(state, actor, message, None).await?;
    if m.sender_id != actor {
        return Err(ApiError::forbidden("only the author can edit a message"));
    }
    not_muted(&access)?;
    if m.deleted {
        return Err(gone());
    }
    validate::encrypted_here(access.e2ee, encrypted.is_some())?;
    let current = Format::from_name(m.format.as_deref());
    let format = format.unwrap_or(current);
    if encrypted.is_none() && m.body.as_deref() == Some(body.as_str()) && format == current {
        return Ok(unchanged(message));
    }
    let (mentions, mention_names) =
        resolve_mentions(state, m.room_id, actor, &body, format).await?;
    // An encrypted edit's key is its ciphertext's: a retry sends the same one.
    let keyed = encrypted
        .as_ref()
        .map_or(body.as_str(), |e| e.ciphertext.as_str());
    let key = ids::edit_key(message, m.version_seq, keyed, format);
    let change = EventBody::MessageEdited(MessageEdited {
        message_id: message,
        body,
        mentions,
        format,
        mention_names,
        encrypted,
    });
    append(state, actor, m.room_id, message, change, Some(key)).await
}

/// The author, or a room owner or admin, deletes a message.
pub async fn delete(state: &Actions, actor: Uuid, message: Uuid) -> ApiResult<ChangeReply> {
    let (m, access) = changeable(state, actor, message, None).await?;
    if m.sender_id != actor && !access.role.is_some_and(|r| r.is_admin()) {
        return Err(ApiError::forbidden(
            "only the author or a room owner or admin can delete a message",
        ));
    }
    if m.deleted {
        return Ok(unchanged(message));
    }
    let change = EventBody::MessageDeleted(MessageRef {
        message_id: message,
    });
    let key = format!("delete:{message}");
    append(state, actor, m.room_id, message, change, Some(key)).await
}

/// Adds (`on`) or removes the caller's reaction with `emoji`.
pub async fn react(
    state: &Actions,
    actor: Uuid,
    message: Uuid,
    emoji: &str,
    on: bool,
) -> ApiResult<ChangeReply> {
    let emoji = validate::emoji(emoji)?;
    state
        .limiter()
        .check(Action::Reaction, &actor.to_string())
        .await?;
    let (m, access) = changeable(state, actor, message, Some(&emoji)).await?;
    not_muted(&access)?;
    if m.deleted {
        return Err(gone());
    }
    if m.reacted == on {
        return Ok(unchanged(message));
    }
    let change = ReactionChanged {
        message_id: message,
        emoji,
    };
    let body = if on {
        EventBody::ReactionAdded(change)
    } else {
        EventBody::ReactionRemoved(change)
    };
    append(state, actor, m.room_id, message, body, None).await
}

/// A room owner or admin pins (`on`) or unpins a message of `room`.
pub async fn pin(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    message: Uuid,
    on: bool,
) -> ApiResult<ChangeReply> {
    let access = member_room(state, room, actor).await?;
    admin_of(&access)?;
    not_archived(&access)?;
    let m = message_state(state, message, actor, None)
        .await?
        .filter(|m| m.room_id == room)
        .ok_or_else(|| ApiError::not_found("message"))?;
    if m.pinned == on {
        return Ok(unchanged(message));
    }
    let change = MessageRef {
        message_id: message,
    };
    let body = if on {
        if m.deleted {
            return Err(gone());
        }
        if queries::pin_count(state.pool(), room).await? >= MAX_PINS {
            return Err(ApiError::conflict(format!(
                "a room pins at most {MAX_PINS} messages: unpin one first"
            )));
        }
        EventBody::MessagePinned(change)
    } else {
        EventBody::MessageUnpinned(change)
    };
    append(state, actor, room, message, body, None).await
}
