//! Read positions.

use natter_projections::unread::queries as unread;
use natter_schemas::Event;
use natter_schemas::event::{EventBody, ReadUpdated};
use natter_schemas::frames::ReadReply;
use natter_schemas::model::RoomUnread;
use uuid::Uuid;

use crate::Actions;
use crate::commands::{member_room, readable_room};
use crate::error::{ApiError, ApiResult};

/// Moves the caller's read position in `room` forward to `seq` and answers with the room's
/// counts after it. A `seq` past the room's newest event is taken as the newest event (a
/// position in the future would hide messages not yet posted); one at or before the current
/// position changes nothing and appends nothing.
pub async fn read(state: &Actions, actor: Uuid, room: Uuid, seq: u64) -> ApiResult<ReadReply> {
    let mut access = member_room(state, room, actor).await?;
    if seq > access.last_seq {
        // The client may have the event live before the read model does: wait (briefly) for
        // the read model to reach it, or the log's head when `seq` is beyond that.
        let head = state.bus().last_seq().await?;
        if state
            .history()
            .wait_for(seq.min(head), state.limits().read_wait)
            .await
        {
            access = readable_room(state, room, actor).await?;
        }
    }
    let target = seq.min(access.last_seq);
    let current = counts(state, actor, room).await?;
    if target <= u64::try_from(current.last_read_seq).unwrap_or(0) {
        return Ok(reply(current));
    }
    let event = Event::new(
        actor,
        Some(room),
        EventBody::ReadUpdated(ReadUpdated { seq: target }),
    );
    let subject = state.bus().subjects().room_event(room, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    state.projected_unread(appended.seq).await?;
    Ok(reply(counts(state, actor, room).await?))
}

async fn counts(state: &Actions, actor: Uuid, room: Uuid) -> ApiResult<RoomUnread> {
    unread::room_unread(state.pool(), actor, room)
        .await?
        .ok_or_else(|| ApiError::unavailable("the read position is not readable yet; retry"))
}

fn reply(counts: RoomUnread) -> ReadReply {
    ReadReply {
        room_id: counts.room_id,
        last_read_seq: u64::try_from(counts.last_read_seq).unwrap_or(0),
        unread: counts.unread,
        mentions: counts.mentions,
    }
}
