//! Files in the log: an upload may begin (the uploader's rate and quota), is recorded once its
//! bytes are stored (`file.uploaded`), and a file nobody may read any more is recorded as
//! removed (`file.removed`) before its bytes go. The bytes themselves are the gateway's.
//!
//! Crash and retry: an upload's event is appended with `Nats-Msg-Id` = the file's id, so a
//! repeated append is dropped by the log; a crash before it leaves bytes no event names, which
//! the sweeper removes. A removal is appended with `file.removed:<id>` as its id: a sweep
//! that dies between the event and deleting the bytes records nothing twice when it runs again.

use natter_projections::history::queries;
use natter_schemas::event::{Event, EventBody};
use natter_schemas::files::{FileRemoved, FileUploaded, RemovalReason};
use uuid::Uuid;

use crate::Actions;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;

/// How many bytes `actor` may upload now (at most `quota` stored in all): refused when they
/// upload too fast or their files fill their quota.
pub async fn allowance(state: &Actions, actor: Uuid, quota: u64) -> ApiResult<u64> {
    state
        .limiter()
        .check(Action::Upload, &actor.to_string())
        .await?;
    let used = queries::stored_bytes(state.pool(), actor).await?;
    let room = quota.saturating_sub(used);
    if room == 0 {
        return Err(ApiError::too_large(format!(
            "your files take up your quota of {quota} bytes: delete messages with files you no longer need"
        )));
    }
    Ok(room)
}

/// Records `actor`'s upload, its bytes stored, and waits until the read model has it (a
/// message sent right after finds the file).
pub async fn uploaded(state: &Actions, actor: Uuid, uploaded: FileUploaded) -> ApiResult<()> {
    let id = uploaded.file_id;
    let mut event = Event::new(actor, None, EventBody::FileUploaded(uploaded));
    state.vault().seal_event(&mut event).await?;
    let subject = state.bus().subjects().user_event(actor, event.type_name());
    // When this fails, the append may have landed all the same (an ack lost with the
    // connection): the bytes stay, and the sweeper removes them if no event names them.
    let appended = state
        .bus()
        .append(subject, &event, Some(&id.to_string()), false)
        .await?;
    state.projected(appended.seq).await
}

/// Records that `file` is removed: on the subject its upload was on (its owner's, or its
/// room's for a preview image), so that every reader of the log applies the two in order.
pub async fn removed(
    state: &Actions,
    file: Uuid,
    owner: Uuid,
    room: Option<Uuid>,
    reason: RemovalReason,
) -> Result<(), natter_bus::BusError> {
    let event = Event::new(
        owner,
        room,
        EventBody::FileRemoved(FileRemoved {
            file_id: file,
            reason,
        }),
    );
    let subjects = state.bus().subjects();
    let subject = match room {
        Some(room) => subjects.room_event(room, event.type_name()),
        None => subjects.user_event(owner, event.type_name()),
    };
    let id = format!("file.removed:{file}");
    state
        .bus()
        .append(subject, &event, Some(&id), false)
        .await?;
    Ok(())
}
