//! Who may read a file.
//!
//! Until a message carries it, only its uploader (and whoever holds a URL minted for them).
//! From then on, whoever may read a live message that carries it: members of its rooms, and
//! readers of a public room's history; a signed URL, while such a message exists. When no
//! live message carries it any more, nobody may. A file that is someone's avatar, anyone
//! signed in may read (and a signed URL). A removed file is gone for everyone. Anyone who may
//! not read a file gets the same 404 as for no file.

use natter_projections::history::queries::{self, FileRow};
use natter_schemas::ErrorCode;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use natter_actions::Actions;

/// Who asks for a file.
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    User(Uuid),
    /// A holder of a valid signed URL.
    SignedUrl,
}

/// Rooms looked at per file: a file shown in more rooms is readable if one of these lets.
const ROOMS_LOOKED_AT: i64 = 50;

/// The file, when `reader` may read it; `not_found` otherwise.
pub async fn readable(state: &Actions, file: Uuid, reader: Reader) -> ApiResult<FileRow> {
    let not_found = || ApiError::not_found("file");
    let row = queries::file(state.pool(), file)
        .await?
        .filter(|f| !f.removed)
        .ok_or_else(not_found)?;
    match shown(state, row, reader).await {
        Err((e, row)) if e.code() == ErrorCode::NotFound => {
            if queries::is_avatar(state.pool(), file).await? {
                Ok(row)
            } else {
                Err(e)
            }
        }
        other => other.map_err(|(e, _)| e),
    }
}

/// The file, when `reader` may read it as its uploader or a reader of a message carrying it;
/// the file back with the error otherwise.
async fn shown(
    state: &Actions,
    row: FileRow,
    reader: Reader,
) -> Result<FileRow, (ApiError, FileRow)> {
    let not_found = || ApiError::not_found("file");
    if !row.attached {
        return match reader {
            Reader::User(user) if user == row.owner_id => Ok(row),
            Reader::SignedUrl => Ok(row),
            Reader::User(_) => Err((not_found(), row)),
        };
    }
    let rooms = match queries::rooms_showing(state.pool(), row.id, ROOMS_LOOKED_AT).await {
        Ok(rooms) => rooms,
        Err(e) => return Err((e.into(), row)),
    };
    let user = match reader {
        Reader::SignedUrl if !rooms.is_empty() => return Ok(row),
        Reader::SignedUrl => return Err((not_found(), row)),
        Reader::User(user) => user,
    };
    for room in rooms {
        match natter_actions::commands::readable_room(state, room, user).await {
            Ok(_) => return Ok(row),
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::Forbidden) => {}
            Err(e) => return Err((e, row)),
        }
    }
    Err((not_found(), row))
}
