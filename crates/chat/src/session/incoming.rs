//! What comes in from the socket: connection changes, resets, room events and other frames.

use serde_json::{Value, json};
use uuid::Uuid;

use super::Session;
use crate::link::Incoming;
use crate::view;

impl Session {
    /// Something from the socket.
    pub async fn incoming(&mut self, item: Incoming) {
        match item {
            Incoming::Online(true) => {
                if !self.online {
                    self.say("-- connected --");
                }
                self.online = true;
                self.follow_again().await;
                if let Some((status, text)) = self.status.clone() {
                    let mut frame = json!({"type": "presence", "status": status});
                    if let Some(text) = text {
                        frame["text"] = json!(text);
                    }
                    self.link.tell(frame).await;
                }
                for frame in std::mem::take(&mut self.outbox) {
                    if let Err(e) = self.link.request(frame.clone()).await {
                        self.say(format!("! not sent: {e}"));
                        if e.contains("connection") {
                            self.outbox.push(frame);
                        }
                    }
                }
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
            Incoming::Event { room, seq, event } => self.event(room, seq, &event).await,
            Incoming::Frame(frame) => {
                if let Some(line) = view::frame_line(&frame, self.open_room(), self.me, &self.names)
                {
                    self.say(line);
                }
            }
        }
    }

    async fn event(&mut self, room: Uuid, seq: u64, event: &Value) {
        let actor = event["actor_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .unwrap_or_default();
        if !self.names.contains_key(&actor)
            && let Ok(user) = self.api.get(&format!("/v1/users/{actor}")).await
        {
            self.names.insert(actor, view::name_of(&user));
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
                    .tell(json!({"type": "read", "room_id": room, "seq": seq}))
                    .await;
            }
            "message.edited" => self.say(format!(
                "* {who} edited {}: {}",
                number(&data["message_id"]),
                data["body"].as_str().unwrap_or("")
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
