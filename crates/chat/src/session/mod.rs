//! The chat itself: the open room and what is shown of it, the commands, and what comes in.

use std::collections::HashMap;

use anyhow::anyhow;
use natter_schemas::frames::{ClientFrame, PresenceStatus};
use natter_schemas::model::Visibility;
use natter_schemas::rest::{CreateRoomRequest, OpenDmRequest, ReadRequest};
use serde_json::{Value, json};
use uuid::Uuid;

mod incoming;
mod info;
mod outgoing;
mod requests;

use crate::api::Api;
use crate::commands::{HELP, Line};
use crate::link::Link;
use crate::view;

/// Where lines go (above the prompt).
pub type Out = Box<dyn Fn(String) + Send>;

pub struct Session {
    api: Api,
    link: Link,
    me: Uuid,
    out: Out,
    names: HashMap<Uuid, String>,
    room: Option<(Uuid, String)>,
    /// The messages shown in the open room, numbered from 1 for `/react N` and the like.
    shown: Vec<(Uuid, u64)>,
    thread: Option<Uuid>,
    /// Sends made while offline, sent again (same client id) once back.
    outbox: Vec<ClientFrame>,
    online: bool,
    /// As set by `/status`: shown again after each reconnect.
    status: Option<(PresenceStatus, Option<String>)>,
    /// People whose presence changes are shown.
    following: std::collections::HashSet<Uuid>,
    /// Followed people the server does not show (yet).
    unseen: std::collections::HashSet<Uuid>,
    /// The requests last listed (`/requests`), numbered from 1.
    requests: Vec<Value>,
}

impl Session {
    pub fn new(api: Api, link: Link, me: &Value, out: Out) -> Self {
        let id = me["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        let mut names = HashMap::new();
        names.insert(id, view::name_of(me));
        Self {
            api,
            link,
            me: id,
            out,
            names,
            room: None,
            shown: Vec::new(),
            thread: None,
            outbox: Vec::new(),
            online: false,
            status: None,
            following: Default::default(),
            unseen: Default::default(),
            requests: Vec::new(),
        }
    }

    /// Where lines go from now on.
    pub fn set_out(&mut self, out: Out) {
        self.out = out;
    }

    /// Prints a line, its control characters made visible (see [`crate::safe`]).
    fn say(&self, line: impl Into<String>) {
        (self.out)(crate::safe::line(&line.into()));
    }

    fn open_room(&self) -> Option<Uuid> {
        self.room.as_ref().map(|(r, _)| *r)
    }

    /// The prompt: the open room (and thread).
    pub fn prompt(&self) -> String {
        let prompt = match (&self.room, self.thread) {
            (Some((_, title)), Some(_)) => format!("{title} (thread)> "),
            (Some((_, title)), None) => format!("{title}> "),
            (None, _) => "> ".into(),
        };
        crate::safe::one_line(&prompt)
    }

    /// Handles a typed line; false to quit.
    pub async fn line(&mut self, line: &str) -> bool {
        let result = match crate::commands::parse(line) {
            Line::Say(text) if text.is_empty() => Ok(()),
            Line::Say(text) => self.send(text, Vec::new()).await,
            Line::Rooms => self.rooms().await,
            Line::Join(name) => self.join(&name).await,
            Line::Dm(user) => self.dm(&user).await,
            Line::React(n, emoji) => {
                self.on_message(n, |message_id| ClientFrame::React {
                    message_id,
                    emoji,
                    on: true,
                })
                .await
            }
            Line::Edit(n, body) => {
                self.on_message(n, |message_id| ClientFrame::Edit {
                    message_id,
                    body,
                    format: None,
                    encrypted: None,
                })
                .await
            }
            Line::Delete(n) => {
                self.on_message(n, |message_id| ClientFrame::Delete { message_id })
                    .await
            }
            Line::Thread(n) => self.thread(n).await,
            Line::Search(q) => self.search(&q).await,
            Line::Upload(path) => self.upload(&path).await,
            Line::More => self.more().await,
            Line::Pins => self.pins().await,
            Line::Pin(n, on) => self.pin(n, on).await,
            Line::Edits(n) => self.edits(n).await,
            Line::Seen(n) => self.seen(n).await,
            Line::Members => self.members().await,
            Line::Status(state, text) => self.status(state, &text).await,
            Line::Requests(on) => self.requests(on).await,
            Line::Accept(n, yes) => self.answer_request(n, yes).await,
            Line::Help => {
                self.say(HELP);
                Ok(())
            }
            Line::Quit => {
                self.warn_unsent();
                return false;
            }
            Line::Bad(why) => {
                self.say(why);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.say(format!("! {e}"));
        }
        true
    }

    pub async fn rooms(&mut self) -> anyhow::Result<()> {
        let list = self.api.get("/v1/rooms?limit=50").await?;
        let rooms = list["rooms"].as_array().cloned().unwrap_or_default();
        if rooms.is_empty() {
            self.say("no conversations yet: /join NAME or /dm USER");
        }
        for r in &rooms {
            self.learn_members(r);
            self.say(view::room_line(r, &self.names));
        }
        self.requests_waiting().await;
        Ok(())
    }

    async fn open(&mut self, room: &Value) -> anyhow::Result<()> {
        let id: Uuid = room["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no such room"))?;
        self.learn_members(room);
        let mut others = Vec::new();
        let mut people = Vec::new();
        if let Ok(members) = self.api.get(&format!("/v1/rooms/{id}/members")).await {
            for m in members["members"].as_array().into_iter().flatten() {
                if let Some(uid) = m["user_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) {
                    self.names.insert(uid, view::name_of(m));
                    people.push(uid);
                    if uid != self.me {
                        others.push(view::name_of(m));
                    }
                }
            }
        }
        self.follow_people(people).await;
        let title = if room["kind"] == "dm" && !others.is_empty() {
            view::dm_title(&others)
        } else {
            view::title(room)
        };
        self.room = Some((id, title.clone()));
        self.thread = None;
        self.shown.clear();
        let followed = self.link.follow(id, None).await?;
        let min = followed["last_seq"].as_u64().unwrap_or(0);
        let page = self
            .api
            .get(&format!("/v1/rooms/{id}/messages?limit=20&min_seq={min}"))
            .await?;
        self.say(format!("-- {title} --"));
        for m in page["messages"].as_array().into_iter().flatten() {
            self.show(m);
        }
        if let Some(last) = page["messages"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|m| m["seq"].as_u64())
        {
            let _ = self
                .api
                .post(&format!("/v1/rooms/{id}/read"), &ReadRequest { seq: last })
                .await;
        }
        Ok(())
    }

    fn show(&mut self, m: &Value) {
        if m["thread_root_id"].is_string() && self.thread.is_none() {
            return; // in its thread
        }
        let (Some(id), Some(seq)) = (
            m["id"].as_str().and_then(|s| s.parse().ok()),
            m["seq"].as_u64(),
        ) else {
            return;
        };
        // A post both on the page read at opening and live after it: shown once.
        if self.shown.iter().any(|(shown, _)| *shown == id) {
            return;
        }
        self.shown.push((id, seq));
        self.say(view::message_line(
            self.shown.len(),
            m,
            &self.names,
            self.me,
        ));
    }

    fn learn_members(&mut self, room: &Value) {
        for m in room["members"].as_array().into_iter().flatten() {
            if let Some(uid) = m["user_id"].as_str().and_then(|s| s.parse().ok()) {
                self.names.insert(uid, view::name_of(m));
            }
        }
    }

    async fn join(&mut self, name: &str) -> anyhow::Result<()> {
        let joined = self.api.get("/v1/rooms").await?;
        let find = |list: &Value| {
            list["rooms"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == name)
                .cloned()
        };
        if let Some(room) = find(&joined) {
            return self.open(&room).await;
        }
        let public = self.api.get("/v1/rooms?scope=public").await?;
        let room = match find(&public) {
            Some(room) => {
                self.api
                    .post(
                        &format!("/v1/rooms/{}/join", room["id"].as_str().unwrap_or_default()),
                        &json!({}),
                    )
                    .await?;
                room
            }
            None => {
                self.say(format!("no room {name}: created it"));
                self.api
                    .post(
                        "/v1/rooms",
                        &CreateRoomRequest {
                            name: name.to_owned(),
                            visibility: Visibility::Public,
                            topic: None,
                            member_ids: None,
                            e2ee: false,
                        },
                    )
                    .await?
            }
        };
        self.open(&room).await
    }

    async fn dm(&mut self, username: &str) -> anyhow::Result<()> {
        let user = self
            .api
            .get(&format!("/v1/users/by-name/{}", urlencode(username)))
            .await?;
        let id: Uuid = user["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no id for {username}"))?;
        self.names.insert(id, view::name_of(&user));
        let user_ids = vec![id];
        let room = self
            .api
            .post("/v1/dms", &OpenDmRequest { user_ids })
            .await?;
        self.open(&room).await
    }

    /// The message numbered `n` in what is shown: its id and seq.
    fn numbered(&self, n: usize) -> anyhow::Result<(Uuid, u64)> {
        self.shown
            .get(n - 1)
            .copied()
            .ok_or_else(|| anyhow!("no message {n} here"))
    }

    async fn thread(&mut self, n: Option<usize>) -> anyhow::Result<()> {
        let Some(n) = n else {
            self.thread = None;
            self.say("-- back in the room --");
            return Ok(());
        };
        let (id, _) = self.numbered(n)?;
        let thread = self
            .api
            .get(&format!("/v1/messages/{id}/thread?limit=50"))
            .await?;
        self.thread = Some(id);
        self.say(format!(
            "-- thread of {n} (what you type replies; /thread to leave) --"
        ));
        self.show(&thread["root"]);
        for m in thread["replies"].as_array().into_iter().flatten() {
            self.show(m);
        }
        Ok(())
    }

    async fn search(&mut self, q: &str) -> anyhow::Result<()> {
        let path = format!("/v1/search?q={}&limit=20", urlencode(q));
        let found = self.api.get(&path).await?;
        let results = found["results"].as_array().cloned().unwrap_or_default();
        if results.is_empty() {
            self.say("nothing found");
        }
        for r in &results {
            self.say(view::search_line(r, &self.names));
        }
        Ok(())
    }

    async fn more(&mut self) -> anyhow::Result<()> {
        let (Some(room), Some(first)) =
            (self.open_room(), self.shown.iter().map(|(_, s)| *s).min())
        else {
            return Err(anyhow!("nothing older"));
        };
        let page = self
            .api
            .get(&format!(
                "/v1/rooms/{room}/messages?before={first}&limit=20"
            ))
            .await?;
        self.say("-- older --");
        for m in page["messages"].as_array().into_iter().flatten() {
            self.show(m);
        }
        Ok(())
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
