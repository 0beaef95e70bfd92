//! Sending: validation, the pipelined append, and what a retry gets.

use natter_projections::history::queries::{self};
use natter_schemas::event::{EventBody, MessagePosted};
use natter_schemas::files::AttachmentRef;
use natter_schemas::frames::SendReply;
use natter_schemas::rest::SendMessageRequest;
use natter_schemas::text::Format;
use natter_schemas::{Event, ids};
use uuid::Uuid;

use super::access::{not_archived, not_muted};
use crate::Actions;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;
use crate::sent::Sent;
use crate::validate;

/// [`send_bound`] under the default resend bound.
pub const SEND_BOUND: std::time::Duration =
    natter_bus::RESEND_BOUND.saturating_add(std::time::Duration::from_secs(5));

/// The longest a send waits (its checks, its keys, its append and the log's ack) before it is
/// answered `unavailable`: the log's own bound for sending an undecided append again, and a
/// margin. A send answered so may still be stored; the client sends it again with the same
/// `client_msg_id`, which is safe.
pub fn send_bound(state: &Actions) -> std::time::Duration {
    state
        .bus()
        .resend_bound()
        .saturating_add(std::time::Duration::from_secs(5))
}

/// `work`, unless `deadline` comes first (then `unavailable`).
pub async fn by<T>(
    deadline: tokio::time::Instant,
    work: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::unavailable(
                "the event log did not answer in time; send it again with the same client_msg_id",
            ))
        })
}

/// Posts a message and waits for the log's ack, for at most [`send_bound`]. See the module
/// docs for what a retry does.
pub async fn send_message(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    req: &SendMessageRequest,
) -> ApiResult<SendReply> {
    by(tokio::time::Instant::now() + send_bound(state), async {
        match publish_message(state, actor, room, req).await? {
            Published::Answered(reply) => Ok(reply),
            Published::Pending(pending) => pending.ack().await,
        }
    })
    .await
}

/// A send whose event is on its way to the log.
pub enum Published {
    /// Answered without appending (a retry of a message the read model has).
    Answered(SendReply),
    /// Sent to the log; [`PendingSend::ack`] waits for the log's answer.
    Pending(PendingSend),
}

pub struct PendingSend {
    state: Actions,
    room: Uuid,
    actor: Uuid,
    /// The seq of the log the send's check saw (the post's `checked_at`).
    checked_at: u64,
    message_id: Uuid,
    ack: natter_bus::PendingAppend,
    started: std::time::Instant,
}

impl PendingSend {
    pub async fn ack(self) -> ApiResult<SendReply> {
        let appended = self.ack.await?;
        metrics::histogram!("natter_send_seconds").record(self.started.elapsed().as_secs_f64());
        if appended.duplicate {
            // Inside the dedupe window JetStream answers with the first message under this
            // id: make sure it was this send, not the same client_msg_id in another room.
            let original =
                Event::from_bytes(&self.state.bus().get(appended.seq).await?).map_err(|e| {
                    ApiError::internal(&format_args!(
                        "the original of a repeated send at seq {}: {e}",
                        appended.seq
                    ))
                })?;
            if original.room_id != Some(self.room) {
                return Err(reused_client_msg_id());
            }
        }
        // A duplicate answered to a send the bus sent again is its own first try, which landed:
        // this send's post, checked as one.
        let repeat = appended.duplicate && !appended.resent;
        if !repeat {
            metrics::counter!("natter_messages_sent_total").increment(1);
            let hub = self.state.hub();
            hub.appended(self.room, appended.seq).await;
            // The sender lost the right to post after the check and before the post landed,
            // and this gateway's feed of the room already shows it: the post is void, and the
            // sender is told so rather than acked.
            if hub
                .known_void(self.room, self.actor, self.checked_at, appended.seq)
                .await
            {
                return Err(ApiError::forbidden(
                    "you lost the right to post in this room before your message arrived: it is not shown",
                ));
            }
        }
        Ok(SendReply {
            message_id: self.message_id,
            seq: appended.seq,
            duplicate: repeat,
        })
    }
}

/// Validates a send (one read-model query) and sends its event to the log without waiting for
/// the ack, so that one socket's sends are pipelined, in order.
pub async fn publish_message(
    state: &Actions,
    actor: Uuid,
    room: Uuid,
    req: &SendMessageRequest,
) -> ApiResult<Published> {
    let started = std::time::Instant::now();
    validate::client_msg_id(&req.client_msg_id)?;
    let attachment_ids = attachment_ids(req.attachment_ids.as_deref())?;
    let max_chars = state.limits().max_message_chars;
    let encrypted = validate::encrypted(req.encrypted.as_ref(), &req.body, req.format, max_chars)?;
    // A message may be its files alone (or, encrypted, have no body at all).
    let body = if encrypted.is_none() && (attachment_ids.is_empty() || !req.body.trim().is_empty())
    {
        validate::body(&req.body, max_chars)?
    } else {
        String::new()
    };
    state.blocklist().check(&body)?;
    // Before anything is looked up or appended: a refused send is never stored.
    state
        .limiter()
        .check(Action::Message, &actor.to_string())
        .await?;
    let message_id = ids::message_id(actor, &req.client_msg_id);
    let check = send_check(state, room, actor, message_id)
        .await?
        .filter(|c| c.access.can_read())
        .ok_or_else(|| ApiError::not_found("room"))?;
    if check.access.role.is_none() {
        return Err(ApiError::forbidden("you are not a member of this room"));
    }
    not_muted(&check.access)?;
    not_archived(&check.access)?;
    if check.access.kind == natter_schemas::model::RoomKind::Dm
        && queries::blocked_in_room(state.pool(), room, actor).await?
    {
        return Err(ApiError::forbidden(
            "a block stands between you and this conversation: nothing can be sent here",
        ));
    }
    validate::encrypted_here(check.access.e2ee, encrypted.is_some())?;
    // A retry after JetStream's dedupe window: answer from the read model.
    if let Some((existing_room, seq)) = check.existing {
        if existing_room != room {
            return Err(reused_client_msg_id());
        }
        return Ok(Published::Answered(SendReply {
            message_id,
            seq,
            duplicate: true,
        }));
    }
    let thread_root_id = match req.thread_root_id {
        None => None,
        Some(root_id) => {
            let root = message_state(state, root_id, actor, None)
                .await?
                .filter(|m| m.room_id == room)
                .ok_or_else(|| {
                    ApiError::invalid("thread_root_id", "no such message in this room")
                })?;
            // A reply to a reply belongs to the root's thread.
            Some(root.thread_root_id.unwrap_or(root_id))
        }
    };
    let (mentions, mention_names) = resolve_mentions(state, room, actor, &body, req.format).await?;
    let attachments = resolve_attachments(state, actor, &attachment_ids).await?;
    let mut event = Event::new(
        actor,
        Some(room),
        EventBody::MessagePosted(MessagePosted {
            message_id,
            client_msg_id: req.client_msg_id.clone(),
            body,
            thread_root_id,
            mentions,
            checked_at: Some(check.checked_at),
            attachments,
            format: req.format,
            mention_names,
            encrypted,
        }),
    );
    // The subject says whether the body has links: named before the body is sealed.
    let subject = super::room_subject(state, room, &event);
    state.vault().seal_event(&mut event).await?;
    let msg_id = format!("{actor}:{}", req.client_msg_id);
    let ack = state
        .bus()
        .append_pipelined(subject, &event, Some(&msg_id), false)
        .await?;
    Ok(Published::Pending(PendingSend {
        state: state.clone(),
        room,
        actor,
        checked_at: check.checked_at,
        message_id,
        ack,
        started,
    }))
}

/// The sender's access to the room and whether the message exists already: from this
/// gateway's memory when it can vouch for both (the room's rules kept from its delivery feed,
/// and the sender's posted ids: see [`natter_realtime::hub`] and [`crate::sent`]), else in one query.
async fn send_check(
    state: &Actions,
    room: Uuid,
    actor: Uuid,
    message_id: Uuid,
) -> ApiResult<Option<queries::SendCheck>> {
    if !state.limits().send_check_from_memory {
        return Ok(queries::send_check(state.pool(), room, actor, message_id).await?);
    }
    let sent = state.sent().check(actor, message_id);
    let access = state
        .hub()
        .send_access(room, actor, state.history(), state.limits().read_wait)
        .await;
    if let (Some(access), Sent::New) = (access, sent) {
        metrics::counter!("natter_send_checks_total", "from" => "memory").increment(1);
        return Ok(Some(queries::SendCheck {
            // The rules are the log's as of this seq (the feed's position, or their read).
            checked_at: access.last_seq,
            access,
            existing: None,
        }));
    }
    metrics::counter!("natter_send_checks_total", "from" => "database").increment(1);
    Ok(queries::send_check(state.pool(), room, actor, message_id).await?)
}

/// A message's state for a change that names it. A message just sent is in the log before it
/// is in the read model: when the id is unknown, wait (bounded) for the read model to reach
/// the log's head and look again, so that "send, then edit (or reply, react, pin)" works.
pub(crate) async fn message_state(
    state: &Actions,
    id: Uuid,
    actor: Uuid,
    emoji: Option<&str>,
) -> ApiResult<Option<queries::MessageState>> {
    if let Some(found) = queries::message_state(state.pool(), id, actor, emoji).await? {
        return Ok(Some(found));
    }
    // Look again once the read model has the head, even when it already had it by the time
    // we asked: it may have reached it just after the first look.
    let head = state.bus().last_seq().await?;
    if !state
        .history()
        .wait_for(head, state.limits().read_wait)
        .await
    {
        return Ok(None);
    }
    Ok(queries::message_state(state.pool(), id, actor, emoji).await?)
}

/// Most files one message can carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// The distinct ids of `ids`, in order, at most [`MAX_ATTACHMENTS`].
fn attachment_ids(ids: Option<&[Uuid]>) -> ApiResult<Vec<Uuid>> {
    let mut distinct: Vec<Uuid> = Vec::new();
    for id in ids.unwrap_or_default() {
        if !distinct.contains(id) {
            distinct.push(*id);
        }
    }
    if distinct.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid(
            "attachment_ids",
            format!("a message carries at most {MAX_ATTACHMENTS} files"),
        ));
    }
    Ok(distinct)
}

/// The sender's own uploads named by `ids`, in order, as the message will carry them; any
/// id that is not one of them (someone else's, removed, unknown) refuses the send.
async fn resolve_attachments(
    state: &Actions,
    actor: Uuid,
    ids: &[Uuid],
) -> ApiResult<Vec<AttachmentRef>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = queries::own_files(state.pool(), actor, ids).await?;
    ids.iter()
        .map(|id| {
            found
                .iter()
                .find(|f| f.id == *id)
                .map(queries::FileRow::attachment_ref)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "attachment_ids",
                        format!(
                            "{id} is not one of your uploads: upload it with POST /v1/uploads first"
                        ),
                    )
                })
        })
        .collect()
}

/// Most distinct users one message can mention.
const MAX_MENTIONS: usize = 50;

/// The members of `room` that `body` mentions by `@username`, besides the author; and, for
/// Markdown (which renders them as links), their usernames in the same order.
pub(crate) async fn resolve_mentions(
    state: &Actions,
    room: Uuid,
    actor: Uuid,
    body: &str,
    format: Format,
) -> ApiResult<(Vec<Uuid>, Vec<String>)> {
    let names = validate::mentioned_usernames(body, MAX_MENTIONS);
    if names.is_empty() {
        return Ok(Default::default());
    }
    let mut members = queries::members_named(state.pool(), room, &names).await?;
    members.retain(|(id, _)| *id != actor);
    let (ids, mut names): (Vec<Uuid>, Vec<String>) = members.into_iter().unzip();
    if format.is_plain() {
        names.clear();
    }
    Ok((ids, names))
}

fn reused_client_msg_id() -> ApiError {
    ApiError(natter_schemas::ErrorDetail {
        field: Some("client_msg_id".into()),
        ..natter_schemas::ErrorDetail::new(
            natter_schemas::ErrorCode::Conflict,
            "this client_msg_id was already used for a message in another room",
        )
    })
}
