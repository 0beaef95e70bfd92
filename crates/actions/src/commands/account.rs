//! Accounts: registration, sign-in, one's own profile.

use natter_projections::history::queries::{self};
use natter_schemas::Event;
use natter_schemas::event::{Credentials, EventBody, UserProfileUpdated, UserRegistered};
use natter_schemas::model::User;
use natter_schemas::rest::{AuthResponse, UpdateMeRequest};
use uuid::Uuid;

use crate::Actions;
use crate::auth::{hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::validate;

pub async fn register(
    state: &Actions,
    (username, password): (&str, &str),
    display_name: Option<&str>,
    device: Option<String>,
) -> ApiResult<AuthResponse> {
    let username = validate::username(username)?;
    validate::password("password", password)?;
    let display_name = match display_name {
        Some(d) => validate::name("display_name", d, 1, 64)?,
        None => username.clone(),
    };
    let password_hash = hash_password(password.to_owned()).await?;
    let user_id = Uuid::now_v7();
    let mut event = Event::new(
        user_id,
        None,
        EventBody::UserRegistered(UserRegistered {
            user_id,
            username: username.clone(),
            display_name,
            credentials: Credentials::Password {
                hash: password_hash,
            },
        }),
    );
    state.vault().seal_event(&mut event).await?;
    let token = state.vault().name_token(&username).await?;
    let subject = state.bus().subjects().username_claim(&token);
    let taken = || ApiError::conflict("username is taken");
    let appended = match state
        .bus()
        .append(subject.clone(), &event, None, true)
        .await
    {
        Ok(appended) => appended,
        Err(e) if e.kind == natter_bus::BusErrorKind::Conflict => {
            // A name whose user was erased is free again: claimed after its release (and
            // only if nothing came after it meanwhile).
            let last = state.bus().last_on_subject(&subject).await?;
            let released = last.as_ref().is_some_and(|(_, bytes)| {
                matches!(
                    Event::from_bytes(bytes).map(|e| e.body),
                    Ok(EventBody::NameReleased(_))
                )
            });
            let Some((seq, _)) = last.filter(|_| released) else {
                return Err(taken());
            };
            state
                .bus()
                .append_if_last(subject, &event, seq)
                .await
                .map_err(|e| match e.kind {
                    natter_bus::BusErrorKind::Conflict => taken(),
                    _ => e.into(),
                })?
        }
        Err(e) => return Err(e.into()),
    };
    state.projected(appended.seq).await?;
    let user = queries::user(state.pool(), user_id)
        .await?
        .ok_or_else(|| ApiError::unavailable("the account is not readable yet; retry"))?
        .with_urls(state.file_urls());
    let tokens = super::start_session(state, user_id, device).await?;
    Ok(AuthResponse {
        user,
        token: tokens.token,
        refresh_token: tokens.refresh_token,
        session_id: tokens.session_id,
    })
}

pub async fn login(
    state: &Actions,
    (username, password): (&str, &str),
    device: Option<String>,
) -> ApiResult<AuthResponse> {
    let bad = || ApiError::unauthorized("invalid username or password");
    let Ok(username) = validate::username(username) else {
        return Err(bad());
    };
    let Some(creds) = queries::credentials_by_username(state.pool(), &username).await? else {
        return Err(bad());
    };
    if !verify_password(password.to_owned(), creds.password_hash.clone()).await {
        return Err(bad());
    }
    let tokens = super::start_session(state, creds.id, device).await?;
    Ok(AuthResponse {
        user: creds.user().with_urls(state.file_urls()),
        token: tokens.token,
        refresh_token: tokens.refresh_token,
        session_id: tokens.session_id,
    })
}

pub async fn update_me(state: &Actions, actor: Uuid, req: &UpdateMeRequest) -> ApiResult<User> {
    let display_name = req
        .display_name
        .as_deref()
        .map(|d| validate::name("display_name", d, 1, 64))
        .transpose()?;
    let status_text = req
        .status_text
        .as_deref()
        .map(|s| validate::text("status_text", s, 0, 140))
        .transpose()?;
    let avatar_id = match req.avatar_id {
        Some(Some(file)) => Some(avatar(state, actor, file).await?),
        _ => None,
    };
    let change = UserProfileUpdated {
        user_id: actor,
        display_name,
        status_text,
        avatar_id,
        clear_avatar: req.avatar_id == Some(None),
    };
    if change
        != (UserProfileUpdated {
            user_id: actor,
            ..Default::default()
        })
    {
        let mut event = Event::new(actor, None, EventBody::UserProfileUpdated(change));
        state.vault().seal_event(&mut event).await?;
        let subject = state.bus().subjects().user_event(actor, event.type_name());
        let appended = state.bus().append(subject, &event, None, false).await?;
        state.projected(appended.seq).await?;
    }
    queries::user(state.pool(), actor)
        .await?
        .map(|u| u.with_urls(state.file_urls()))
        .ok_or_else(|| ApiError::not_found("user"))
}

/// `file`, when it is one of `owner`'s uploaded images (it has a thumbnail).
async fn avatar(state: &Actions, owner: Uuid, file: Uuid) -> ApiResult<Uuid> {
    let own = queries::own_files(state.pool(), owner, &[file]).await?;
    match own.first() {
        Some(f) if f.thumbnail.is_some() => Ok(file),
        _ => Err(ApiError::invalid(
            "avatar_id",
            "the avatar must be an image you uploaded (POST /v1/uploads)",
        )),
    }
}
