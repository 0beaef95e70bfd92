//! The worker: reads posted and edited messages from the log (its own durable consumer, acked
//! cumulatively: its checkpoint), previews their first links, and appends what it found.
//!
//! Fairness: each message is handled as soon as it is read, `NATTER_PREVIEW_CONCURRENCY` at
//! once, and one sender's messages take at most half of those turns (see
//! [`natter_bus::Fair`]): someone posting many slow links delays nobody else's preview by more
//! than what is already being fetched.
//!
//! Crash and redelivery: the checkpoint is acked up to the lowest message not handled yet; a
//! crash handles again what was in flight and what came after it. A preview appended twice is kept once (history keeps
//! one preview per URL per message), and its image file from the first time is no longer
//! shown, so the sweeper removes it. Nothing is appended for a message that is deleted, or
//! no longer has the body the event gave it (an edit since brings its own previews): both are
//! checked against history once it has read the log as far as it went when the check began.

use std::time::Duration;

use natter_bus::{Bus, BusError, Fair, WorkerConsumer};
use natter_common::{Ready, Shutdown};
use natter_files::{ImageLimits, Signer, Store, Variant};
use natter_projections::history::History;
use natter_projections::history::queries;
use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::files::{FileUploaded, ImageMeta};
use natter_schemas::previews::{PreviewAdded, PreviewImage, PreviewRef};
use natter_schemas::text::{self, Format};
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

use crate::fetch::{Fetcher, Kind};
use crate::page;

/// The durable consumer's role name.
pub const ROLE: &str = "previews";

/// How long a message may wait unacked before JetStream delivers it again: a message's links
/// can take a minute or more (each page and image within the time limit, and waits for
/// history), and a message waits for those ahead of it to be acked.
const ACK_WAIT: Duration = Duration::from_secs(600);
/// Messages read per batch, per job running at once.
pub(crate) const BATCH_PER_JOB: usize = 4;
/// Messages read ahead and waiting for a turn, per job running at once.
const AHEAD_PER_JOB: usize = 64;

/// Where preview images go, and how they are made.
pub struct PreviewFiles {
    pub store: Store,
    /// Keys the files' hashes, as uploads' are.
    pub signer: Signer,
    pub limits: ImageLimits,
}

/// Why the worker stopped handling a batch: it is read again from the last ack.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("history: {0}")]
    Db(#[from] natter_projections::ProjectionError),
    #[error("history: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("history has not reached seq {0}")]
    Behind(u64),
}

/// What a job needs.
pub(crate) struct Worker {
    pub bus: Bus,
    pub pool: PgPool,
    pub files: PreviewFiles,
    pub fetcher: Fetcher,
    pub links: usize,
    pub concurrency: usize,
    /// Preview images decoded at once (each may take the decoder's whole allowance).
    pub decoding: tokio::sync::Semaphore,
}

/// A message as an event gave it.
struct Seen<'a> {
    seq: u64,
    room: Uuid,
    sender: Uuid,
    message_id: Uuid,
    body: &'a str,
    format: Format,
}

impl Worker {
    /// Handles batches until `shutdown`.
    pub async fn run(self, shutdown: Shutdown, ready: Ready) -> Result<(), BusError> {
        // Only posts and edits with links; a new deployment previews no old message.
        let consumer = WorkerConsumer {
            role: ROLE,
            filter: self.bus.subjects().messages_with_links(),
            ack_wait: ACK_WAIT,
            batch: self.concurrency * BATCH_PER_JOB,
        };
        let fair = Fair {
            concurrency: self.concurrency,
            share: (self.concurrency / 2).max(1),
            ahead: self.concurrency * AHEAD_PER_JOB,
        };
        let this = &self;
        consumer
            .run_fair(
                &self.bus,
                &shutdown,
                ready,
                fair,
                |event: &Event| event.actor_id,
                |seq, event| this.handle(seq, event),
            )
            .await
    }

    /// Previews one post or edit.
    async fn handle(&self, seq: u64, event: Event) -> Result<(), WorkerError> {
        match seen(seq, &event) {
            Some(seen) => self.preview(seen).await,
            None => Ok(()),
        }
    }

    /// Previews one message's first links.
    async fn preview(&self, seen: Seen<'_>) -> Result<(), WorkerError> {
        let links = text::links(seen.body, seen.format, self.links);
        if links.is_empty() || !self.still_shows(&seen, seen.seq).await? {
            return Ok(());
        }
        for (i, link) in links.iter().enumerate() {
            let Some(preview) = self.make(link, seen.sender, seen.room).await? else {
                continue;
            };
            // Checked again just before: the message may have been deleted or edited while
            // the page was fetched.
            let head = self.bus.last_seq().await?;
            if !self.still_shows(&seen, head).await? {
                metrics::counter!("natter_previews_total", "outcome" => "gone").increment(1);
                return Ok(());
            }
            let event = Event::new(
                seen.sender,
                Some(seen.room),
                EventBody::PreviewAdded(PreviewAdded {
                    message_id: seen.message_id,
                    preview,
                }),
            );
            let subject = self.bus.subjects().room_event(seen.room, event.type_name());
            let key = format!("preview:{}:{}:{i}", seen.message_id, seen.seq);
            self.bus.append(subject, &event, Some(&key), false).await?;
            metrics::counter!("natter_previews_total", "outcome" => "added").increment(1);
        }
        Ok(())
    }

    /// Whether history, once it has read the log through `seq`, shows the message with the
    /// body the event gave it.
    async fn still_shows(&self, seen: &Seen<'_>, seq: u64) -> Result<bool, WorkerError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while natter_projections::checkpoint(&self.pool, History::NAME).await? < seq {
            if tokio::time::Instant::now() > deadline {
                return Err(WorkerError::Behind(seq));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let state = queries::message_state(&self.pool, seen.message_id, seen.sender, None).await?;
        Ok(state.is_some_and(|m| {
            !m.deleted
                && m.body.as_deref() == Some(seen.body)
                && Format::from_name(m.format.as_deref()) == seen.format
        }))
    }

    /// The preview of `link`, with its image stored as a file of `owner`; `None` when the page
    /// cannot be fetched or says nothing.
    async fn make(
        &self,
        link: &str,
        owner: Uuid,
        room: Uuid,
    ) -> Result<Option<PreviewRef>, WorkerError> {
        let Ok(url) = Url::parse(link) else {
            return Ok(None);
        };
        let fetched = match self.fetcher.fetch(url, Kind::Page).await {
            Ok(fetched) => fetched,
            Err(e) => {
                tracing::debug!(%link, error = %e, "no preview");
                metrics::counter!("natter_previews_total", "outcome" => "unfetched").increment(1);
                return Ok(None);
            }
        };
        // Parsing is CPU work: off the runtime the gateway shares.
        let (bytes, base) = (fetched.bytes, fetched.url);
        let read = tokio::task::spawn_blocking(move || {
            page::read(&String::from_utf8_lossy(&bytes), &base)
        });
        let Ok(found) = read.await else {
            return Ok(None);
        };
        if found.is_empty() {
            metrics::counter!("natter_previews_total", "outcome" => "empty").increment(1);
            return Ok(None);
        }
        let image = match found.image {
            Some(image) => self.image(image, owner, room).await?,
            None => None,
        };
        Ok(Some(PreviewRef {
            url: link.to_owned(),
            title: found.title,
            description: found.description,
            site_name: found.site_name,
            image,
        }))
    }

    /// A page's image, fetched, re-encoded small (nothing of the third party's bytes is
    /// served) and stored as a file of `owner`, recorded in the log on the room's subject
    /// (its preview follows it there, so that every reader of the room's events, a
    /// partitioned rebuild among them, has the file before the preview that shows it).
    async fn image(
        &self,
        url: Url,
        owner: Uuid,
        room: Uuid,
    ) -> Result<Option<PreviewImage>, WorkerError> {
        let fetched = match self.fetcher.fetch(url.clone(), Kind::Image).await {
            Ok(fetched) => fetched,
            Err(e) => {
                tracing::debug!(%url, error = %e, "no preview image");
                return Ok(None);
            }
        };
        let Some(kind) = natter_files::detect(&fetched.bytes).image else {
            return Ok(None);
        };
        let limits = self.files.limits;
        let bytes = fetched.bytes;
        let Ok(turn) = self.decoding.acquire().await else {
            return Ok(None);
        };
        let processed =
            tokio::task::spawn_blocking(move || natter_files::image::process(kind, bytes, limits))
                .await
                .ok();
        drop(turn);
        let Some(thumbnail) = processed.and_then(|p| p.thumbnail) else {
            return Ok(None);
        };
        let file_id = Uuid::now_v7();
        if let Err(e) = self
            .files
            .store
            .put(file_id, Variant::Original, thumbnail.bytes.clone())
            .await
        {
            tracing::warn!(error = %e, "cannot store a preview image");
            return Ok(None);
        }
        let uploaded = uploaded(file_id, &thumbnail, &self.files.signer);
        let event = Event::new(owner, Some(room), EventBody::FileUploaded(uploaded));
        let subject = self.bus.subjects().room_event(room, event.type_name());
        self.bus.append(subject, &event, None, false).await?;
        Ok(Some(PreviewImage {
            file_id,
            width: thumbnail.width,
            height: thumbnail.height,
        }))
    }
}

/// The `file.uploaded` of a preview image.
fn uploaded(file_id: Uuid, image: &natter_files::Thumbnail, signer: &Signer) -> FileUploaded {
    let mut hasher = signer.content_hasher();
    hasher.update(&image.bytes);
    let extension = if image.content_type == "image/jpeg" {
        "jpg"
    } else {
        "png"
    };
    FileUploaded {
        file_id,
        name: format!("link-preview.{extension}"),
        size: image.bytes.len() as u64,
        content_type: image.content_type.to_owned(),
        image: Some(ImageMeta {
            width: image.width,
            height: image.height,
            thumbnail: None,
        }),
        hash: hasher.finish(),
    }
}

/// The message a post or an edit gives.
fn seen(seq: u64, event: &Event) -> Option<Seen<'_>> {
    let room = event.room_id?;
    let (message_id, body, format) = match &event.body {
        EventBody::MessagePosted(p) => (p.message_id, p.body.as_str(), p.format),
        EventBody::MessageEdited(e) => (e.message_id, e.body.as_str(), e.format),
        _ => return None,
    };
    Some(Seen {
        seq,
        room,
        sender: event.actor_id,
        message_id,
        body,
        format,
    })
}
