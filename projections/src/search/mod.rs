//! The search read model: live messages with a text-search vector, in its own projection so
//! that it can be rebuilt alone (for example under another text-search configuration) and so
//! that its GIN index, the slowest thing to write, never holds up history or unread counts.
//!
//! [`queries`] reads it for the gateway.

pub mod queries;

use natter_schemas::Event;
use natter_schemas::event::EventBody;
use natter_schemas::text::{self, Format};
use sqlx::PgConnection;

use crate::{Projection, Step, seq_i64, steps};

/// The search projection, with the Postgres text-search configuration its vectors are built
/// with (`english` by default; queries must use the same one).
#[derive(Debug, Clone)]
pub struct Search {
    config: String,
}

impl Search {
    pub const NAME: &'static str = "search";
    pub const DEFAULT_CONFIG: &'static str = "english";

    pub fn new(config: impl Into<String>) -> Self {
        Self {
            config: config.into(),
        }
    }

    pub fn config(&self) -> &str {
        &self.config
    }
}

impl Default for Search {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CONFIG)
    }
}

impl Projection for Search {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn deferred_indexes(&self) -> &'static [&'static str] {
        &[
            "search_messages_tsv",
            "search_messages_room",
            "search_messages_seq",
        ]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "search_messages",
            "search_settings",
            "search_posting_losses",
        ]
    }

    async fn prepare(&self, pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        self.record_config(pool).await
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(u64, Event)],
    ) -> Result<(), sqlx::Error> {
        // Only messages, edits, deletes and posting losses matter here; runs of messages go
        // in one insert.
        let ignored = |e: &Event| {
            !matches!(
                e.body,
                EventBody::MessagePosted(_)
                    | EventBody::MessageEdited(_)
                    | EventBody::MessageDeleted(_)
                    | EventBody::UserErased(_)
            ) && e.body.posting_loss().is_none()
        };
        let bulk = |_: u64, e: &Event| matches!(e.body, EventBody::MessagePosted(_));
        for step in steps(events, ignored, bulk) {
            let event = match step {
                Step::Bulk(run) => {
                    self.messages_posted(conn, &run).await?;
                    continue;
                }
                Step::One(seq, event) => {
                    if crate::losses::record(conn, "search_posting_losses", seq, event).await? {
                        continue;
                    }
                    event
                }
            };
            match &event.body {
                EventBody::MessageEdited(e) => {
                    sqlx::query(
                        "UPDATE search_messages SET tsv = to_tsvector($4::regconfig, $3),
                                has_link = $5
                         WHERE message_id = $1 AND room_id = $2",
                    )
                    .bind(e.message_id)
                    .bind(event.room_id)
                    .bind(text::searchable(&e.body, e.format))
                    .bind(&self.config)
                    .bind(has_link(&e.body, e.format))
                    .execute(&mut *conn)
                    .await?;
                }
                // Nothing of an erased user's messages is found any more.
                EventBody::UserErased(e) => {
                    sqlx::query("DELETE FROM search_messages WHERE sender_id = $1")
                        .bind(e.user_id)
                        .execute(&mut *conn)
                        .await?;
                }
                EventBody::MessageDeleted(d) => {
                    sqlx::query(
                        "DELETE FROM search_messages WHERE message_id = $1 AND room_id = $2",
                    )
                    .bind(d.message_id)
                    .bind(event.room_id)
                    .execute(&mut *conn)
                    .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Search {
    /// Checks the configuration exists in Postgres and records it for searches. An index that
    /// already holds vectors built with another configuration keeps them until it is rebuilt.
    pub async fn record_config(&self, pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT $1::regconfig")
            .bind(&self.config)
            .execute(pool)
            .await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT config FROM search_settings WHERE id = 1")
                .fetch_optional(pool)
                .await?;
        if previous.as_deref() == Some(self.config.as_str()) {
            return Ok(());
        }
        let indexed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM search_messages)")
            .fetch_one(pool)
            .await?;
        if indexed {
            tracing::warn!(
                was = previous.as_deref().unwrap_or(Self::DEFAULT_CONFIG),
                now = %self.config,
                "the search configuration changed: rebuild the search projection to re-index old messages"
            );
        }
        sqlx::query(
            "INSERT INTO search_settings (id, config) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config",
        )
        .bind(&self.config)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// A run of posts in one multi-row insert. Keyed by message id: a send appended twice is
    /// indexed once.
    async fn messages_posted(
        &self,
        conn: &mut PgConnection,
        events: &[(u64, &Event)],
    ) -> Result<(), sqlx::Error> {
        let n = events.len();
        let (mut ids, mut rooms, mut seqs, mut senders, mut times, mut bodies) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut checked = Vec::with_capacity(n);
        let (mut files, mut images, mut links) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (seq, event) in events {
            let (EventBody::MessagePosted(p), Some(room)) = (&event.body, event.room_id) else {
                continue;
            };
            // End-to-end encrypted messages are not searchable: the server cannot read them.
            if p.encrypted.is_some() {
                continue;
            }
            files.push(!p.attachments.is_empty());
            images.push(p.attachments.iter().any(|a| a.is_image()));
            links.push(has_link(&p.body, p.format));
            ids.push(p.message_id);
            rooms.push(room);
            seqs.push(seq_i64(*seq));
            senders.push(event.actor_id);
            times.push(event.occurred_at);
            bodies.push(text::searchable(&p.body, p.format));
            checked.push(crate::losses::checked_at(event));
        }
        // Void posts are not indexed.
        let void = crate::losses::void_sql(
            "search_posting_losses",
            "t.room_id",
            "t.sender_id",
            "t.checked",
            "t.seq",
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO search_messages (message_id, room_id, seq, sender_id, created_at, tsv,
                                          has_attachment, has_image, has_link)
             SELECT id, room_id, seq, sender_id, created_at, to_tsvector($7::regconfig, body),
                    has_attachment, has_image, has_link
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::timestamptz[],
                         $6::text[], $8::bigint[], $9::bool[], $10::bool[], $11::bool[])
                  AS t(id, room_id, seq, sender_id, created_at, body, checked, has_attachment,
                       has_image, has_link)
             WHERE NOT {void}
             ON CONFLICT DO NOTHING"
        )))
        .bind(&ids)
        .bind(&rooms)
        .bind(&seqs)
        .bind(&senders)
        .bind(&times)
        .bind(&bodies)
        .bind(&self.config)
        .bind(&checked)
        .bind(&files)
        .bind(&images)
        .bind(&links)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Whether a message's text holds a web link (`has=link`).
pub fn has_link(body: &str, format: Format) -> bool {
    !text::links(body, format, 1).is_empty()
}
