//! The write paths, shared by REST and WebSocket: validate against the read models, append an
//! event, and (for writes that answer with the new state) wait until the read model has it.
//!
//! Crash and retry, per path:
//! - Registration and room creation append on a subject that may hold one event only
//!   (expected-last-subject-sequence 0): a retry after a crash is `conflict`, never a second
//!   account or room. A DM is a room whose id derives from its members, so opening one twice
//!   (even concurrently, on two gateways) answers the same room.
//! - A send derives its message id from (sender, client_msg_id) and appends with
//!   `Nats-Msg-Id = <sender>:<client_msg_id>`: a retry inside JetStream's dedupe window is
//!   answered from the log, a later one from the read model; the history projection keys
//!   messages by that id, so a retry is stored once either way.
//! - Membership and profile changes are idempotent facts (joining twice is answered without a
//!   second event).
//! - Changes to messages: see [`messages`]. Read positions only move forward: a repeated
//!   `read` appends nothing, and a repeated event moves nothing.

pub mod messages;
pub mod reading;

use natter_projections::history::queries::{self, RoomAccess};
use natter_schemas::event::{
    Credentials, EventBody, MemberChanged, MemberMuted, MemberRemoved, MessagePosted, RoomArchived,
    RoomCreated, RoomMember, RoomUpdated, UserProfileUpdated, UserRegistered,
};
use natter_schemas::frames::SendReply;
use natter_schemas::model::{Member, Role, Room, RoomKind, User, Visibility};
use natter_schemas::rest::{
    AuthResponse, CreateRoomRequest, SendMessageRequest, UpdateMeRequest, UpdateRoomRequest,
};
use natter_schemas::{Event, ids};
use uuid::Uuid;

use crate::auth::{hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Action;
use crate::state::AppState;
use crate::validate;

/// Most members named when a room is created.
const MAX_INITIAL_MEMBERS: usize = 100;
/// Most participants of a direct conversation besides the caller.
const MAX_DM_OTHERS: usize = 8;

pub async fn register(
    state: &AppState,
    username: &str,
    password: &str,
    display_name: Option<&str>,
) -> ApiResult<AuthResponse> {
    let username = validate::username(username)?;
    validate::password(password)?;
    let display_name = match display_name {
        Some(d) => validate::name("display_name", d, 1, 64)?,
        None => username.clone(),
    };
    let password_hash = hash_password(password.to_owned()).await?;
    let user_id = Uuid::now_v7();
    let event = Event::new(
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
    let subject = state.bus().subjects().username_claim(&username);
    let appended = state
        .bus()
        .append(subject, &event, None, true)
        .await
        .map_err(|e| match e.kind {
            natter_bus::BusErrorKind::Conflict => ApiError::conflict("username is taken"),
            _ => e.into(),
        })?;
    state.projected(appended.seq).await?;
    let user = queries::user(state.pool(), user_id)
        .await?
        .ok_or_else(|| ApiError::unavailable("the account is not readable yet; retry"))?;
    let token = state.tokens().issue(user_id)?;
    Ok(AuthResponse { user, token })
}

pub async fn login(state: &AppState, username: &str, password: &str) -> ApiResult<AuthResponse> {
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
    let token = state.tokens().issue(creds.id)?;
    Ok(AuthResponse {
        user: creds.user(),
        token,
    })
}

pub async fn update_me(state: &AppState, actor: Uuid, req: &UpdateMeRequest) -> ApiResult<User> {
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
    if display_name.is_some() || status_text.is_some() {
        let event = Event::new(
            actor,
            None,
            EventBody::UserProfileUpdated(UserProfileUpdated {
                user_id: actor,
                display_name,
                status_text,
            }),
        );
        let subject = state.bus().subjects().user_event(actor, event.type_name());
        let appended = state.bus().append(subject, &event, None, false).await?;
        state.projected(appended.seq).await?;
    }
    queries::user(state.pool(), actor)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// The caller's view of a room, or `not_found` when they may not see it (a private room they
/// are not in is indistinguishable from no room); `forbidden` for a public room they are
/// banned from.
pub async fn readable_room(state: &AppState, room: Uuid, actor: Uuid) -> ApiResult<RoomAccess> {
    match queries::room_access(state.pool(), room, actor).await? {
        Some(access) if access.can_read() => Ok(access),
        Some(access) if access.visibility == Visibility::Public && access.banned_visitor() => {
            Err(ApiError::forbidden("you are banned from this room"))
        }
        _ => Err(ApiError::not_found("room")),
    }
}

/// Like [`readable_room`], and the caller must be a member.
pub async fn member_room(state: &AppState, room: Uuid, actor: Uuid) -> ApiResult<RoomAccess> {
    let access = readable_room(state, room, actor).await?;
    if access.role.is_none() {
        return Err(ApiError::forbidden("you are not a member of this room"));
    }
    Ok(access)
}

pub(crate) fn admin_of(access: &RoomAccess) -> ApiResult<Role> {
    match access.role {
        Some(role) if role.is_admin() => Ok(role),
        _ => Err(ApiError::forbidden("this needs a room owner or admin")),
    }
}

fn not_dm(access: &RoomAccess) -> ApiResult<()> {
    if access.kind == RoomKind::Dm {
        Err(ApiError::forbidden(
            "direct conversations have a fixed set of members",
        ))
    } else {
        Ok(())
    }
}

/// An archived room is read-only: members read it, move their read positions and may leave;
/// nothing else changes in it (messages, reactions, pins, typing, members, roles, moderation).
pub(crate) fn not_archived(access: &RoomAccess) -> ApiResult<()> {
    if access.archived {
        Err(ApiError::forbidden("the room is archived"))
    } else {
        Ok(())
    }
}

/// A muted member reads, marks read, deletes their own messages and may leave; until the mute
/// ends they do not send, edit, react or type.
pub(crate) fn not_muted(access: &RoomAccess) -> ApiResult<()> {
    match access.muted_until.filter(|u| *u > chrono::Utc::now()) {
        Some(until) => Err(ApiError::forbidden(format!(
            "you are muted in this room until {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        None => Ok(()),
    }
}

/// A room the caller may show as typing in: a member, not muted, not archived.
pub async fn typing_room(state: &AppState, room: Uuid, actor: Uuid) -> ApiResult<()> {
    let access = member_room(state, room, actor).await?;
    not_archived(&access)?;
    not_muted(&access)
}

/// Appends a room event and waits until the history and unread models have applied it (so that
/// a join or leave shows in `GET /v1/unread` as soon as it is answered).
async fn append_room_event(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    body: EventBody,
) -> ApiResult<u64> {
    let event = Event::new(actor, Some(room), body);
    let subject = state.bus().subjects().room_event(room, event.type_name());
    let appended = state.bus().append(subject, &event, None, false).await?;
    state.projected_rooms(appended.seq).await?;
    Ok(appended.seq)
}

async fn room_view(state: &AppState, room: Uuid, actor: Uuid) -> ApiResult<Room> {
    queries::room(state.pool(), room, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("room"))
}

/// Dedupes `ids`, drops the caller, and checks that every one is a user.
async fn other_users(
    state: &AppState,
    actor: Uuid,
    ids: &[Uuid],
    field: &str,
) -> ApiResult<Vec<Uuid>> {
    let mut others: Vec<Uuid> = ids.iter().copied().filter(|id| *id != actor).collect();
    others.sort_unstable();
    others.dedup();
    let found = queries::existing_users(state.pool(), &others).await?;
    if found.len() != others.len() {
        return Err(ApiError::invalid(field, "some of these users do not exist"));
    }
    Ok(others)
}

pub async fn create_room(
    state: &AppState,
    actor: Uuid,
    req: &CreateRoomRequest,
) -> ApiResult<Room> {
    let name = validate::name("name", &req.name, 1, 80)?;
    let topic = req
        .topic
        .as_deref()
        .map(|t| validate::text("topic", t, 0, 500))
        .transpose()?
        .filter(|t| !t.is_empty());
    let requested = req.member_ids.as_deref().unwrap_or_default();
    if requested.len() > MAX_INITIAL_MEMBERS {
        return Err(ApiError::invalid(
            "member_ids",
            format!("at most {MAX_INITIAL_MEMBERS} members"),
        ));
    }
    let others = other_users(state, actor, requested, "member_ids").await?;
    state
        .limiter()
        .check(Action::RoomCreate, &actor.to_string())
        .await?;
    let mut members = vec![RoomMember {
        user_id: actor,
        role: Role::Owner,
    }];
    members.extend(others.into_iter().map(|user_id| RoomMember {
        user_id,
        role: Role::Member,
    }));
    let room = Uuid::now_v7();
    let event = Event::new(
        actor,
        Some(room),
        EventBody::RoomCreated(RoomCreated {
            kind: RoomKind::Room,
            name,
            visibility: req.visibility,
            topic,
            members,
        }),
    );
    let subject = state.bus().subjects().room_created(room);
    let appended = state.bus().append(subject, &event, None, true).await?;
    state.projected_rooms(appended.seq).await?;
    room_view(state, room, actor).await
}

/// Opens the direct conversation between the caller and `user_ids`, or returns the existing
/// one. `true` when this call created it.
pub async fn open_dm(state: &AppState, actor: Uuid, user_ids: &[Uuid]) -> ApiResult<(Room, bool)> {
    let others = other_users(state, actor, user_ids, "user_ids").await?;
    if others.is_empty() || others.len() > MAX_DM_OTHERS {
        return Err(ApiError::invalid(
            "user_ids",
            format!("name 1 to {MAX_DM_OTHERS} other users"),
        ));
    }
    let mut everyone = others;
    everyone.push(actor);
    let room = ids::dm_room_id(&everyone);
    if let Some(existing) = queries::room(state.pool(), room, actor).await? {
        return Ok((existing, false));
    }
    state
        .limiter()
        .check(Action::RoomCreate, &actor.to_string())
        .await?;
    let event = Event::new(
        actor,
        Some(room),
        EventBody::RoomCreated(RoomCreated {
            kind: RoomKind::Dm,
            name: String::new(),
            visibility: Visibility::Private,
            topic: None,
            members: everyone
                .iter()
                .map(|&user_id| RoomMember {
                    user_id,
                    role: Role::Member,
                })
                .collect(),
        }),
    );
    let subject = state.bus().subjects().room_created(room);
    let (seq, created) = match state.bus().append(subject, &event, None, true).await {
        Ok(appended) => (appended.seq, true),
        // Someone opened it first (another device, another gateway): it is in the log, so the
        // read model will have it once it reaches the head.
        Err(e) if e.kind == natter_bus::BusErrorKind::Conflict => {
            (state.bus().last_seq().await?, false)
        }
        Err(e) => return Err(e.into()),
    };
    state.projected_rooms(seq).await?;
    Ok((room_view(state, room, actor).await?, created))
}

pub async fn update_room(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    req: &UpdateRoomRequest,
) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    admin_of(&access)?;
    not_dm(&access)?;
    not_archived(&access)?;
    let update = RoomUpdated {
        name: req
            .name
            .as_deref()
            .map(|n| validate::name("name", n, 1, 80))
            .transpose()?,
        topic: req
            .topic
            .as_deref()
            .map(|t| validate::text("topic", t, 0, 500))
            .transpose()?,
        visibility: req.visibility,
    };
    if update.name.is_some() || update.topic.is_some() || update.visibility.is_some() {
        append_room_event(state, actor, room, EventBody::RoomUpdated(update)).await?;
    }
    room_view(state, room, actor).await
}

pub async fn archive_room(state: &AppState, actor: Uuid, room: Uuid) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    admin_of(&access)?;
    not_dm(&access)?;
    if !access.archived {
        append_room_event(state, actor, room, EventBody::RoomArchived(RoomArchived {})).await?;
    }
    room_view(state, room, actor).await
}

/// Archives any room (an administrator's action: no membership needed).
pub async fn archive_as_admin(state: &AppState, actor: Uuid, room: Uuid) -> ApiResult<()> {
    let access = queries::room_access(state.pool(), room, actor)
        .await?
        .ok_or_else(|| ApiError::not_found("room"))?;
    if !access.archived {
        append_room_event(state, actor, room, EventBody::RoomArchived(RoomArchived {})).await?;
    }
    Ok(())
}

pub async fn join(state: &AppState, actor: Uuid, room: Uuid) -> ApiResult<Room> {
    let access = readable_room(state, room, actor).await?;
    if access.role.is_none() {
        if access.visibility != Visibility::Public {
            return Err(ApiError::forbidden("private rooms need an invite"));
        }
        if access.banned {
            return Err(ApiError::forbidden("you are banned from this room"));
        }
        not_archived(&access)?;
        let body = EventBody::MemberJoined(MemberChanged {
            user_id: actor,
            role: Role::Member,
        });
        append_room_event(state, actor, room, body).await?;
    }
    room_view(state, room, actor).await
}

pub async fn leave(state: &AppState, actor: Uuid, room: Uuid) -> ApiResult<()> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    if access.role == Some(Role::Owner)
        && matches!(queries::role_counts(state.pool(), room).await?, (1, n) if n > 1)
    {
        return Err(ApiError::conflict(
            "you are the last owner: make someone else owner first",
        ));
    }
    let body = EventBody::MemberLeft(MemberRemoved { user_id: actor });
    append_room_event(state, actor, room, body).await?;
    Ok(())
}

async fn member_of(state: &AppState, room: Uuid, user: Uuid) -> ApiResult<Option<Member>> {
    Ok(queries::member(state.pool(), room, user).await?)
}

/// Adds `user` to the room. In private rooms only admins may; in public rooms any member.
/// `true` when the user was added by this call.
pub async fn invite(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
) -> ApiResult<(Member, bool)> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    not_archived(&access)?;
    if access.visibility == Visibility::Private {
        admin_of(&access)?;
    }
    if let Some(existing) = member_of(state, room, user).await? {
        return Ok((existing, false));
    }
    if queries::user(state.pool(), user).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if queries::banned(state.pool(), room, user).await? {
        return Err(ApiError::conflict(
            "the user is banned from this room: unban them first",
        ));
    }
    let body = EventBody::MemberInvited(MemberChanged {
        user_id: user,
        role: Role::Member,
    });
    append_room_event(state, actor, room, body).await?;
    let member = member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::unavailable("the member is not readable yet; retry"))?;
    Ok((member, true))
}

/// A moderator (owner or admin) acting on `user`: not themselves, and not someone of their
/// own rank or above (an owner acts on anyone else). Returns the target when a member.
async fn moderate(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
) -> ApiResult<(RoomAccess, Option<Member>)> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    let actor_role = admin_of(&access)?;
    not_archived(&access)?;
    if user == actor {
        return Err(ApiError::invalid(
            "user_id",
            "moderators do not moderate themselves",
        ));
    }
    let target = member_of(state, room, user).await?;
    match target.as_ref().map(|t| t.role) {
        Some(Role::Owner) if actor_role != Role::Owner => {
            Err(ApiError::forbidden("only an owner can do this to an owner"))
        }
        Some(Role::Admin) if actor_role == Role::Admin => Err(ApiError::forbidden(
            "an admin cannot do this to another admin",
        )),
        _ => Ok((access, target)),
    }
}

pub async fn kick(state: &AppState, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_none() {
        return Err(ApiError::not_found("member"));
    }
    let body = EventBody::MemberKicked(MemberRemoved { user_id: user });
    append_room_event(state, actor, room, body).await?;
    Ok(())
}

/// Mutes a member for `minutes` (they cannot send until then).
pub async fn mute(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
    minutes: u32,
) -> ApiResult<Member> {
    if !(1..=43_200).contains(&minutes) {
        return Err(ApiError::invalid(
            "minutes",
            "minutes must be 1 to 43200 (30 days)",
        ));
    }
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_none() {
        return Err(ApiError::not_found("member"));
    }
    let until = chrono::Utc::now() + chrono::Duration::minutes(i64::from(minutes));
    let body = EventBody::MemberMuted(MemberMuted {
        user_id: user,
        until,
    });
    append_room_event(state, actor, room, body).await?;
    member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

pub async fn unmute(state: &AppState, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    let (_, target) = moderate(state, actor, room, user).await?;
    if target.is_some_and(|t| t.muted_until.is_some()) {
        let body = EventBody::MemberUnmuted(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

/// Bans `user` (a member or not): removed from the room, and unable to join it again.
pub async fn ban(state: &AppState, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    moderate(state, actor, room, user).await?;
    if queries::user(state.pool(), user).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if !queries::banned(state.pool(), room, user).await? {
        let body = EventBody::MemberBanned(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

pub async fn unban(state: &AppState, actor: Uuid, room: Uuid, user: Uuid) -> ApiResult<()> {
    moderate(state, actor, room, user).await?;
    if queries::banned(state.pool(), room, user).await? {
        let body = EventBody::MemberUnbanned(MemberRemoved { user_id: user });
        append_room_event(state, actor, room, body).await?;
    }
    Ok(())
}

/// Owners set roles. The last owner cannot step down.
pub async fn set_role(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    user: Uuid,
    role: Role,
) -> ApiResult<Member> {
    let access = member_room(state, room, actor).await?;
    not_dm(&access)?;
    if access.role != Some(Role::Owner) {
        return Err(ApiError::forbidden("only an owner can change roles"));
    }
    not_archived(&access)?;
    let target = member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == role {
        return Ok(target);
    }
    if target.role == Role::Owner && queries::role_counts(state.pool(), room).await?.0 == 1 {
        return Err(ApiError::conflict("a room needs at least one owner"));
    }
    let body = EventBody::MemberRoleChanged(MemberChanged {
        user_id: user,
        role,
    });
    append_room_event(state, actor, room, body).await?;
    member_of(state, room, user)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// Posts a message and waits for the log's ack. See the module docs for what a retry does.
pub async fn send_message(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    req: &SendMessageRequest,
) -> ApiResult<SendReply> {
    match publish_message(state, actor, room, req).await? {
        Published::Answered(reply) => Ok(reply),
        Published::Pending(pending) => pending.ack().await,
    }
}

/// A send whose event is on its way to the log.
pub enum Published {
    /// Answered without appending (a retry of a message the read model has).
    Answered(SendReply),
    /// Sent to the log; [`PendingSend::ack`] waits for the log's answer.
    Pending(PendingSend),
}

pub struct PendingSend {
    state: AppState,
    room: Uuid,
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
            let original = Event::from_bytes(&self.state.bus().get(appended.seq).await?)
                .map_err(|e| ApiError::new(natter_schemas::ErrorCode::Internal, e.to_string()))?;
            if original.room_id != Some(self.room) {
                return Err(reused_client_msg_id());
            }
        } else {
            metrics::counter!("natter_messages_sent_total").increment(1);
        }
        Ok(SendReply {
            message_id: self.message_id,
            seq: appended.seq,
            duplicate: appended.duplicate,
        })
    }
}

/// Validates a send (one read-model query) and sends its event to the log without waiting for
/// the ack, so that one socket's sends are pipelined, in order.
pub async fn publish_message(
    state: &AppState,
    actor: Uuid,
    room: Uuid,
    req: &SendMessageRequest,
) -> ApiResult<Published> {
    let started = std::time::Instant::now();
    validate::client_msg_id(&req.client_msg_id)?;
    let body = validate::body(&req.body, state.config().max_message_chars)?;
    state.blocklist().check(&body)?;
    // Before anything is looked up or appended: a refused send is never stored.
    state
        .limiter()
        .check(Action::Message, &actor.to_string())
        .await?;
    let message_id = ids::message_id(actor, &req.client_msg_id);
    let check = queries::send_check(state.pool(), room, actor, message_id)
        .await?
        .filter(|c| c.access.can_read())
        .ok_or_else(|| ApiError::not_found("room"))?;
    if check.access.role.is_none() {
        return Err(ApiError::forbidden("you are not a member of this room"));
    }
    not_muted(&check.access)?;
    not_archived(&check.access)?;
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
    let mentions = resolve_mentions(state, room, actor, &body).await?;
    let event = Event::new(
        actor,
        Some(room),
        EventBody::MessagePosted(MessagePosted {
            message_id,
            client_msg_id: req.client_msg_id.clone(),
            body,
            thread_root_id,
            mentions,
        }),
    );
    let subject = state.bus().subjects().room_event(room, event.type_name());
    let msg_id = format!("{actor}:{}", req.client_msg_id);
    let ack = state
        .bus()
        .append_pipelined(subject, &event, Some(&msg_id), false)
        .await?;
    Ok(Published::Pending(PendingSend {
        state: state.clone(),
        room,
        message_id,
        ack,
        started,
    }))
}

/// A message's state for a change that names it. A message just sent is in the log before it
/// is in the read model: when the id is unknown, wait (bounded) for the read model to reach
/// the log's head and look again, so that "send, then edit (or reply, react, pin)" works.
pub(crate) async fn message_state(
    state: &AppState,
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
        .wait_for(head, state.config().read_wait())
        .await
    {
        return Ok(None);
    }
    Ok(queries::message_state(state.pool(), id, actor, emoji).await?)
}

/// Most distinct users one message can mention.
const MAX_MENTIONS: usize = 50;

/// The members of `room` that `body` mentions by `@username`, besides the author.
pub(crate) async fn resolve_mentions(
    state: &AppState,
    room: Uuid,
    actor: Uuid,
    body: &str,
) -> ApiResult<Vec<Uuid>> {
    let names = validate::mentioned_usernames(body, MAX_MENTIONS);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = queries::members_named(state.pool(), room, &names).await?;
    ids.retain(|id| *id != actor);
    Ok(ids)
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
