//! What goes out: messages (sent at once, or kept while offline and sent when back, in
//! order), changes to a shown message, files, and one's presence.

use anyhow::anyhow;
use natter_schemas::frames::{ClientFrame, PresenceStatus, TypingState};
use natter_schemas::text::Format;
use uuid::Uuid;

use super::Session;
use crate::link::LinkError;

impl Session {
    pub(super) async fn send(
        &mut self,
        body: String,
        attachments: Vec<Uuid>,
    ) -> anyhow::Result<()> {
        let room = self.room_or_err()?;
        let frame = ClientFrame::Send {
            room_id: room,
            client_msg_id: Uuid::new_v4().to_string(),
            body,
            thread_root_id: self.thread,
            attachment_ids: (!attachments.is_empty()).then_some(attachments),
            format: Format::Markdown,
            encrypted: None,
        };
        if !self.online {
            self.say("(offline: sent when back)");
            self.outbox.push(frame);
            return Ok(());
        }
        // Done typing this one: the next message says it is being typed at once.
        self.link
            .tell(ClientFrame::Typing {
                room_id: room,
                state: TypingState::Stop,
            })
            .await;
        match self.link.request(frame.clone()).await {
            Err(LinkError::Lost) => {
                self.say("(connection lost: sent when back)");
                self.outbox.push(frame);
                Ok(())
            }
            result => result.map(|_| ()).map_err(Into::into),
        }
    }

    /// Said when quitting with sends that never left.
    pub fn warn_unsent(&self) {
        if !self.outbox.is_empty() {
            self.say(format!(
                "! {} message(s) typed offline were not sent",
                self.outbox.len()
            ));
        }
    }

    pub(super) async fn on_message(
        &mut self,
        n: usize,
        frame: impl FnOnce(Uuid) -> ClientFrame,
    ) -> anyhow::Result<()> {
        let (id, _) = self.numbered(n)?;
        self.link.request(frame(id)).await?;
        Ok(())
    }

    pub(super) async fn upload(&mut self, path: &str) -> anyhow::Result<()> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| anyhow!("{path}: {e}"))?;
        let name = std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_owned();
        let file = self.api.upload(&name, bytes).await?;
        let id = file["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow!("the upload has no id"))?;
        self.send(name, vec![id]).await
    }
}

/// A `presence` frame: a status, and its text when there is one.
pub(super) fn presence_frame(status: PresenceStatus, text: Option<&str>) -> ClientFrame {
    ClientFrame::Presence {
        status,
        text: text.map(str::to_owned),
    }
}
