//! The users and rooms a generated log starts with: six users, each with sessions begun,
//! refreshed and ended (all of them for one, by a password change for another) and device keys
//! published, replaced and withdrawn; three rooms, the last end-to-end encrypted.

use natter_schemas::Event;
use natter_schemas::event::{
    EventBody, RoomCreated, RoomMember, UserProfileUpdated, UserRegistered,
};
use natter_schemas::keys::{KeyPublished, KeyRevoked};
use natter_schemas::model::{Role, RoomKind, Visibility};
use natter_schemas::people::{Blocked, Notify, RoomMuted, SettingsUpdated};
use natter_schemas::sessions::{
    EndReason, PasswordChanged, SessionEnded, SessionRefreshed, SessionStarted, SessionsEnded,
};
use uuid::Uuid;

/// Appends the setup events to `events`; returns the users (id, name), the rooms, and each
/// room's members.
#[allow(clippy::type_complexity)]
pub(super) fn users_and_rooms(
    events: &mut Vec<Event>,
) -> (Vec<(Uuid, String)>, Vec<Uuid>, Vec<Vec<Uuid>>) {
    let users: Vec<(Uuid, String)> = (0..6)
        .map(|i| (Uuid::now_v7(), format!("user{i}")))
        .collect();
    let rooms: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (id, name) in &users {
        events.push(Event::new(
            *id,
            None,
            EventBody::UserRegistered(UserRegistered {
                user_id: *id,
                username: name.clone(),
                display_name: name.clone(),
                credentials: natter_schemas::event::Credentials::Password { hash: "x".into() },
            }),
        ));
        // Two device keys each; the first replaced, the second withdrawn.
        for (key, public_key) in [("a", "k1"), ("b", "k2"), ("a", "k3")] {
            events.push(Event::new(
                *id,
                None,
                EventBody::KeyPublished(KeyPublished {
                    key_id: key.into(),
                    algorithm: "x25519".into(),
                    public_key: public_key.into(),
                }),
            ));
        }
        events.push(Event::new(
            *id,
            None,
            EventBody::KeyRevoked(KeyRevoked { key_id: "b".into() }),
        ));
        sessions(events, *id);
        // A new name and an avatar; the avatar taken away again for every other user.
        events.push(Event::new(
            *id,
            None,
            EventBody::UserProfileUpdated(UserProfileUpdated {
                user_id: *id,
                display_name: Some(format!("{name} renamed")),
                avatar_id: Some(Uuid::now_v7()),
                ..Default::default()
            }),
        ));
        if name.ends_with(['0', '2', '4']) {
            events.push(Event::new(
                *id,
                None,
                EventBody::UserProfileUpdated(UserProfileUpdated {
                    user_id: *id,
                    clear_avatar: true,
                    ..Default::default()
                }),
            ));
        }
    }
    events.push(Event::new(
        users[0].0,
        None,
        EventBody::SessionsEnded(SessionsEnded {
            before: chrono::Utc::now(),
            keep: None,
            reason: EndReason::LogoutAll,
        }),
    ));
    // Blocks (one lifted again) and a setting.
    for (by, of) in [(0, 1), (2, 3), (2, 3)] {
        let body = if events.iter().any(|e| matches!(&e.body, EventBody::UserBlocked(b) if b.user_id == users[of].0 && e.actor_id == users[by].0)) {
            EventBody::UserUnblocked(Blocked { user_id: users[of].0 })
        } else {
            EventBody::UserBlocked(Blocked { user_id: users[of].0 })
        };
        events.push(Event::new(users[by].0, None, body));
    }
    events.push(Event::new(
        users[4].0,
        None,
        EventBody::SettingsUpdated(SettingsUpdated {
            dm_requests: Some(true),
            notify: Some(Notify::Mentions),
        }),
    ));
    for muted in [true, false, true] {
        events.push(Event::new(
            users[4].0,
            None,
            EventBody::RoomMuted(RoomMuted {
                room_id: rooms[usize::from(muted)],
                muted,
            }),
        ));
    }
    events.push(Event::new(
        users[1].0,
        None,
        EventBody::PasswordChanged(PasswordChanged {
            credentials: natter_schemas::event::Credentials::Password { hash: "y".into() },
            session: SessionStarted {
                session_id: Uuid::now_v7(),
                device: None,
            },
        }),
    ));
    // Room i starts with users 0..=i+1; user 0 owns every room.
    let mut members: Vec<Vec<Uuid>> = Vec::new();
    for (i, room) in rooms.iter().enumerate() {
        let initial: Vec<Uuid> = users[..i + 2].iter().map(|u| u.0).collect();
        events.push(Event::new(
            users[0].0,
            Some(*room),
            EventBody::RoomCreated(RoomCreated {
                kind: RoomKind::Room,
                name: format!("room{i}"),
                visibility: Visibility::Public,
                topic: None,
                members: initial
                    .iter()
                    .map(|&user_id| RoomMember {
                        user_id,
                        role: if user_id == users[0].0 {
                            Role::Owner
                        } else {
                            Role::Member
                        },
                        pending: false,
                    })
                    .collect(),
                // The last room is end-to-end encrypted (the read models take its posts as
                // they come: the gateway is what refuses plain text there).
                e2ee: i == 2,
            }),
        ));
        members.push(initial);
    }
    (users, rooms, members)
}

/// Two sessions of `user`: the first refreshed, the second ended.
fn sessions(events: &mut Vec<Event>, user: Uuid) {
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    for (session, device) in [(first, "laptop"), (second, "phone")] {
        events.push(Event::new(
            user,
            None,
            EventBody::SessionStarted(SessionStarted {
                session_id: session,
                device: Some(device.into()),
            }),
        ));
    }
    events.push(Event::new(
        user,
        None,
        EventBody::SessionRefreshed(SessionRefreshed {
            session_id: first,
            generation: 1,
        }),
    ));
    events.push(Event::new(
        user,
        None,
        EventBody::SessionEnded(SessionEnded {
            session_id: second,
            reason: EndReason::Logout,
        }),
    ));
}
