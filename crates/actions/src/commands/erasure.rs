//! Erasing an account: `user.erased` is appended, the read models drop what they derived, and
//! the user's key is destroyed, which makes everything they wrote unreadable wherever the log
//! is read.
//!
//! Crash and retry: the key is destroyed right after the event is projected; the projector
//! records the erasure with it and its reaper destroys the key (and releases the username)
//! until that is done, so a crash in between leaves nothing behind. Erasing again finds no
//! account: 404.

use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::people::UserErased;
use uuid::Uuid;

use crate::Actions;
use crate::auth::verify_password;
use crate::error::{ApiError, ApiResult};

/// `user` erases their own account, confirming with their password.
pub async fn erase_self(state: &Actions, user: Uuid, password: &str) -> ApiResult<()> {
    let creds = queries::credentials(state.pool(), user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if !verify_password(password.to_owned(), creds.password_hash.clone()).await {
        return Err(ApiError::forbidden("the password is wrong"));
    }
    erase(state, user, user).await
}

/// `actor` (the user, or an administrator) erases `user`.
pub async fn erase(state: &Actions, actor: Uuid, user: Uuid) -> ApiResult<()> {
    let creds = queries::credentials(state.pool(), user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let name_token = state.vault().name_token(&creds.username).await?;
    let rooms = queries::member_rooms(state.pool(), user).await?;
    let event = Event::new(
        actor,
        None,
        EventBody::UserErased(UserErased {
            user_id: user,
            name_token: Some(name_token),
            rooms,
        }),
    );
    let subject = state.bus().subjects().user_event(user, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    state.projected_rooms(appended.seq).await?;
    if let Err(e) = state.vault().keys().destroy_user(user).await {
        tracing::warn!(%user, error = %e, "the erased user's key is destroyed later, by the projector");
    }
    state.auth().revocations.forget(user);
    Ok(())
}

/// Everything of `user`'s own: what they take with them before they leave.
pub async fn export(
    state: &Actions,
    user: Uuid,
    current: Option<Uuid>,
) -> ApiResult<natter_schemas::people::UserExport> {
    let pool = state.pool();
    let urls = state.file_urls();
    let profile = queries::user(pool, user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?
        .with_urls(urls);
    let viewer = queries::Viewer { id: user, urls };
    let mut rooms = queries::joined_rooms(pool, user, None, false).await?;
    rooms.extend(queries::joined_rooms(pool, user, None, true).await?);
    let files = queries::exported_files(pool, user)
        .await?
        .into_iter()
        .map(
            |(id, name, size, content_type, uploaded_at)| natter_schemas::people::ExportedFile {
                id,
                name,
                size,
                content_type,
                uploaded_at,
                url: urls.url(id, false),
            },
        )
        .collect();
    Ok(natter_schemas::people::UserExport {
        exported_at: chrono::Utc::now(),
        user: profile,
        settings: super::people::settings(state, user).await?,
        sessions: super::sessions::list(state, user, current).await?.sessions,
        blocks: queries::blocks_of(pool, user).await?,
        device_keys: queries::user_keys(pool, user).await?,
        rooms,
        messages: queries::own_messages(pool, viewer).await?,
        files,
    })
}
