//! What comes in from the socket: connection changes, resets, room events and other frames.

use natter_schemas::frames::ClientFrame;
use serde_json::Value;
use uuid::Uuid;

use super::Session;
use super::outgoing::presence_frame;
use crate::link::{Incoming, LinkError};
use crate::view;

impl Session {
    /// Something from the socket; false when the session has ended (the client stops).
    pub async fn incoming(&mut self, item: Incoming) -> bool {
        match item {
            Incoming::Online(true) => {
                if !self.online {
                    self.say("-- connected --");
                }
                self.online = true;
                self.follow_again().await;
                if let Some((status, text)) = self.status.clone() {
                    self.link
                        .tell(presence_frame(status, text.as_deref()))
                        .await;
                }
                self.send_outbox().await;
            }
            Incoming::Online(false) => {
                if self.online {
                    self.say("-- connection lost; reconnecting --");
                }
                self.online = false;
            }
            Incoming::Reset(room) => {
                if let Some(open) = self.open_room().filter(|open| *open == room)
                    && let Ok(r) = self.api.get(&format!("/v1/rooms/{open}")).await
                {
                    self.say("-- too much was missed: history reloaded --");
                    let _ = self.open(&r).await;
                }
            }
            Incoming::Unfollowed(room, why) => {
                let name = if self.open_room() == Some(room) {
                    "this room"
                } else {
                    "a room"
                };
                self.say(format!("! {name} is not followed any more: {why}"));
            }
            Incoming::SignedOut(why) => {
                self.say(format!(
                    "! signed out: {why}; run natter chat again to sign in"
                ));
                self.warn_unsent();
                return false;
            }
            Incoming::Event { room, seq, event } => self.event(room, seq, &event).await,
            Incoming::Frame(frame) => {
                // A notice names who did it (a mention, being added to a conversation).
                if frame["type"] == "notice" {
                    self.learn_name(&frame["event"]["actor_id"]).await;
                }
                if let Some(line) = view::frame_line(&frame, self.open_room(), self.me, &self.names)
                {
                    self.say(line);
                }
            }
        }
        true
    }

    /// What was typed offline, in order: sent until the first that cannot be (the connection
    /// dropped again), which waits with those after it.
    async fn send_outbox(&mut self) {
        while let Some(frame) = self.outbox.first().cloned() {
            match self.link.request(frame).await {
                Err(LinkError::Lost) => return,
                Err(LinkError::Refused(why)) => self.say(format!("! not sent: {why}")),
                Ok(_) => {}
            }
            self.outbox.remove(0);
        }
    }

    /// Looks up the name of someone not met yet (not a gateway's receipts, whose actor is
    /// nil), once; returns the id.
    async fn learn_name(&mut self, actor: &Value) -> Uuid {
        let actor = actor
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .unwrap_or_default();
        if !actor.is_nil() && !self.names.contains_key(&actor) {
            let name = match self.api.get(&format!("/v1/users/{actor}")).await {
                Ok(user) => view::name_of(&user),
                Err(_) => "someone".into(),
            };
            self.names.insert(actor, name);
        }
        actor
    }

    async fn event(&mut self, room: Uuid, seq: u64, event: &Value) {
        let actor = self.learn_name(&event["actor_id"]).await;
        if event["type"] == "message.posted" {
            self.seen_writing(actor);
        }
        if self.open_room() != Some(room) {
            if event["type"] == "message.posted" {
                self.say(format!(
                    "[elsewhere] {}",
                    view::message_line(0, &event["data"], &self.names, self.me)
                ));
            }
            return;
        }
        let data = &event["data"];
        let number = |id: &Value| {
            let id = id.as_str().and_then(|s| s.parse::<Uuid>().ok());
            self.shown
                .iter()
                .position(|(m, _)| Some(*m) == id)
                .map_or("?".into(), |i| (i + 1).to_string())
        };
        let who = self
            .names
            .get(&actor)
            .cloned()
            .unwrap_or_else(|| "someone".into());
        match event["type"].as_str().unwrap_or_default() {
            "message.posted" => {
                let in_thread = data["thread_root_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok());
                if in_thread.is_some() && in_thread != self.thread {
                    self.say(format!(
                        "* {who} replied in the thread of {}",
                        number(&data["thread_root_id"])
                    ));
                } else {
                    self.show(data);
                }
                // Read as it is shown.
                self.link
                    .tell(ClientFrame::Read { room_id: room, seq })
                    .await;
            }
            "message.edited" => self.say(format!(
                "* {who} edited {}: {}",
                number(&data["message_id"]),
                crate::safe::text(data["body"].as_str().unwrap_or(""))
            )),
            "message.deleted" => self.say(format!("* {} was deleted", number(&data["message_id"]))),
            "reaction.added" => self.say(format!(
                "* {who} reacted {} to {}",
                data["emoji"].as_str().unwrap_or(""),
                number(&data["message_id"])
            )),
            "reaction.removed" => self.say(format!(
                "* {who} took back {} on {}",
                data["emoji"].as_str().unwrap_or(""),
                number(&data["message_id"])
            )),
            "member.joined" => self.say(format!("* {who} joined")),
            "member.left" => self.say(format!("* {who} left")),
            _ => {}
        }
    }
}
