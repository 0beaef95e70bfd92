//! Requests: conversations and rooms from people one has not answered, waiting (when one asked
//! for that: `/requests on`) until accepted or declined.

use anyhow::anyhow;
use serde_json::{Value, json};

use super::Session;
use crate::view;

impl Session {
    /// Says how many requests wait, if any (after the conversation list).
    pub(super) async fn requests_waiting(&mut self) {
        let Ok(list) = self.api.get("/v1/rooms?scope=requests&limit=50").await else {
            return;
        };
        let n = list["rooms"].as_array().map_or(0, Vec::len);
        if n > 0 {
            self.say(format!(
                "{n} request{} waiting: /requests",
                if n == 1 { "" } else { "s" }
            ));
        }
    }

    /// Lists the requests, numbered; with `on`, first asks for (or stops) requests.
    pub(super) async fn requests(&mut self, on: Option<bool>) -> anyhow::Result<()> {
        if let Some(on) = on {
            self.api
                .patch("/v1/me/settings", &json!({ "dm_requests": on }))
                .await?;
            self.say(if on {
                "conversations and rooms from people you have not answered now wait here"
            } else {
                "conversations and rooms reach you directly"
            });
        }
        let list = self.api.get("/v1/rooms?scope=requests&limit=50").await?;
        self.requests = list["rooms"].as_array().cloned().unwrap_or_default();
        if self.requests.is_empty() {
            self.say("no requests");
        }
        for (i, r) in self.requests.iter().enumerate() {
            let line = format!("  {}. {}", i + 1, view::title(r));
            self.say(line);
        }
        Ok(())
    }

    /// Accepts (or declines) request `n` of the last list: accepted, it opens; declined, a
    /// room is left and a conversation's other people are blocked (a conversation cannot be
    /// left).
    pub(super) async fn answer_request(&mut self, n: usize, accept: bool) -> anyhow::Result<()> {
        let room: Value = self
            .requests
            .get(n - 1)
            .cloned()
            .ok_or_else(|| anyhow!("no request {n}: /requests lists them"))?;
        let id = room["id"].as_str().unwrap_or_default().to_owned();
        if accept {
            self.api
                .post(&format!("/v1/rooms/{id}/accept"), &json!({}))
                .await?;
            self.say(format!("accepted {}", view::title(&room)));
            return self.open(&room).await;
        }
        if room["kind"] == "dm" {
            for m in room["members"].as_array().into_iter().flatten() {
                let user = m["user_id"].as_str().unwrap_or_default();
                self.api.put(&format!("/v1/me/blocks/{user}")).await?;
            }
        } else {
            self.api
                .post(&format!("/v1/rooms/{id}/leave"), &json!({}))
                .await?;
        }
        self.say(format!("declined {}", view::title(&room)));
        Ok(())
    }
}
