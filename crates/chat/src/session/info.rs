//! Looking around and showing oneself: pins, edit histories, how far a message got, members,
//! one's status, and telling the room one is typing.

use std::collections::HashSet;

use anyhow::anyhow;
use natter_schemas::frames::{ClientFrame, PresenceStatus, TypingState};
use natter_schemas::rest::{PinRequest, UpdateMeRequest};
use uuid::Uuid;

use super::Session;
use crate::view;

impl Session {
    pub(super) fn room_or_err(&self) -> anyhow::Result<Uuid> {
        self.open_room()
            .ok_or_else(|| anyhow!("open a conversation first: /rooms, /join NAME, /dm USER"))
    }

    pub(super) async fn pins(&mut self) -> anyhow::Result<()> {
        let room = self.room_or_err()?;
        let pins = self.api.get(&format!("/v1/rooms/{room}/pins")).await?;
        let pins = pins["pins"].as_array().cloned().unwrap_or_default();
        if pins.is_empty() {
            self.say("nothing is pinned here");
        }
        for p in &pins {
            let line = view::message_line(0, &p["message"], &self.names, self.me);
            self.say(format!(
                "📌 {line}  (pinned by {})",
                view::name(&p["pinned_by"], &self.names)
            ));
        }
        Ok(())
    }

    pub(super) async fn pin(&mut self, n: usize, on: bool) -> anyhow::Result<()> {
        let room = self.room_or_err()?;
        let (id, _) = self.numbered(n)?;
        let answer = if on {
            let path = format!("/v1/rooms/{room}/pins");
            self.api.post(&path, &PinRequest { message_id: id }).await?
        } else {
            self.api
                .delete(&format!("/v1/rooms/{room}/pins/{id}"))
                .await?
        };
        let done = if on { "pinned" } else { "unpinned" };
        self.say(match answer["changed"].as_bool() {
            Some(false) => format!("{n} was already {done}"),
            _ => format!("{n} {done}"),
        });
        Ok(())
    }

    pub(super) async fn edits(&mut self, n: usize) -> anyhow::Result<()> {
        let (id, _) = self.numbered(n)?;
        let history = self.api.get(&format!("/v1/messages/{id}/edits")).await?;
        let versions = history["versions"].as_array().cloned().unwrap_or_default();
        if versions.is_empty() {
            self.say(format!("{n} has no history (deleted)"));
        }
        for (i, v) in versions.iter().enumerate() {
            let label = if i == 0 {
                "original".to_owned()
            } else {
                format!("edit {i}")
            };
            let at = view::clock(&v["at"]);
            self.say(format!(
                "  {label} {at}: {}",
                crate::safe::text(v["body"].as_str().unwrap_or(""))
            ));
        }
        Ok(())
    }

    pub(super) async fn seen(&mut self, n: usize) -> anyhow::Result<()> {
        let room = self.room_or_err()?;
        let (_, seq) = self.numbered(n)?;
        let receipts = self
            .api
            .get(&format!("/v1/rooms/{room}/receipts?seq={seq}"))
            .await?;
        self.say(format!(
            "{n}: delivered to {}, read by {}",
            receipts["delivered_count"].as_i64().unwrap_or(0),
            receipts["read_count"].as_i64().unwrap_or(0)
        ));
        Ok(())
    }

    pub(super) async fn members(&mut self) -> anyhow::Result<()> {
        let room = self.room_or_err()?;
        let members = self.api.get(&format!("/v1/rooms/{room}/members")).await?;
        let present = self
            .api
            .get(&format!("/v1/rooms/{room}/presence?limit=100"))
            .await?;
        let online: HashSet<&str> = present["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["user_id"].as_str())
            .collect();
        let members = members["members"].as_array().cloned().unwrap_or_default();
        self.say(format!(
            "{} members, {} online",
            members.len(),
            present["online"].as_u64().unwrap_or(0)
        ));
        for m in &members {
            let here = m["user_id"].as_str().is_some_and(|id| online.contains(id));
            self.say(format!(
                "  {} (@{}, {}){}",
                view::name_of(m),
                m["username"].as_str().unwrap_or("?"),
                m["role"].as_str().unwrap_or("member"),
                if here { " online" } else { "" }
            ));
        }
        Ok(())
    }

    pub(super) async fn status(&mut self, state: PresenceStatus, text: &str) -> anyhow::Result<()> {
        let text = (!text.is_empty()).then_some(text);
        self.api
            .patch(
                "/v1/me",
                &UpdateMeRequest {
                    status_text: text.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await?;
        self.link
            .request(super::outgoing::presence_frame(state, text))
            .await?;
        self.status = Some((state, text.map(str::to_owned)));
        self.say(format!(
            "you show as {}{}",
            state.as_str(),
            text.map(|t| format!(": {t}")).unwrap_or_default()
        ));
        Ok(())
    }

    /// Follows people's presence (the members of the rooms opened): their changes show as
    /// lines. Followed again after each reconnect.
    pub(super) async fn follow_people(&mut self, people: Vec<Uuid>) {
        let fresh: Vec<Uuid> = people
            .into_iter()
            .filter(|id| *id != self.me && self.following.insert(*id))
            .take(100)
            .collect();
        if !fresh.is_empty() && self.online {
            let frame = ClientFrame::PresenceSubscribe { user_ids: fresh };
            if let Ok(reply) = self.link.request(frame).await {
                self.note_unseen(&reply);
            }
        }
    }

    /// Who the server does not show (offline without `last_seen`): asked again when they
    /// write, since writing in a room makes it theirs (see [`Session::seen_writing`]).
    fn note_unseen(&mut self, reply: &serde_json::Value) {
        for p in reply["users"].as_array().into_iter().flatten() {
            let Some(id) = p["user_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else {
                continue;
            };
            if p["status"] == "offline" && p["last_seen"].is_null() {
                self.unseen.insert(id);
            } else {
                self.unseen.remove(&id);
            }
        }
    }

    /// `who` wrote: if the server did not show them, they are followed again a moment later,
    /// once it has taken the post in.
    pub(super) fn seen_writing(&mut self, who: Uuid) {
        if !self.unseen.remove(&who) {
            return;
        }
        let link = self.link.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let frame = ClientFrame::PresenceSubscribe {
                user_ids: vec![who],
            };
            let _ = link.request(frame).await;
        });
    }

    /// After a reconnect: everyone followed, again.
    pub(super) async fn follow_again(&mut self) {
        let all: Vec<Uuid> = self.following.iter().copied().collect();
        for chunk in all.chunks(100) {
            let frame = ClientFrame::PresenceSubscribe {
                user_ids: chunk.to_vec(),
            };
            if let Ok(reply) = self.link.request(frame).await {
                self.note_unseen(&reply);
            }
        }
    }

    /// The line being typed is a message (not a command): the open room is told, if online.
    pub async fn typing(&mut self) {
        if let (Some(room), true) = (self.open_room(), self.online) {
            self.link
                .tell(ClientFrame::Typing {
                    room_id: room,
                    state: TypingState::Start,
                })
                .await;
        }
    }
}
