//! Full-text search over the rooms a user belongs to.

use chrono::{DateTime, Utc};
use natter_schemas::rest::SearchHit;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::history::queries::{MESSAGE_COLUMNS, MessageRow, Viewer};

/// What to search for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Web-search syntax: words, `"a phrase"`, `or`, `-word`.
    pub text: String,
    pub room_id: Option<Uuid>,
    pub sender_id: Option<Uuid>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    /// Only messages with attachments, images or links.
    pub has: Option<Has>,
    /// Continue after this hit: (rank, seq) of the last hit of the previous page.
    pub cursor: Option<(f32, i64)>,
    pub limit: usize,
}

/// What a hit must carry (`has=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    Attachment,
    Image,
    Link,
}

impl Has {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "attachment" => Some(Self::Attachment),
            "image" => Some(Self::Image),
            "link" => Some(Self::Link),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Image => "image",
            Self::Link => "link",
        }
    }
}

#[derive(FromRow)]
struct HitRow {
    #[sqlx(flatten)]
    message: MessageRow,
    rank: f32,
    highlight: String,
}

/// Most matches ranked per search: the newest this many matches in the caller's rooms (after
/// the filters) are ranked by relevance. A term rarer than that is ranked over all of its
/// matches; a very common one over its most recent ones, so that a search costs at most this
/// many rows, not every message that contains the word.
pub const CANDIDATES: i64 = 200;

/// The text-search configuration the index was built with (`english` before any was
/// recorded), and the rooms `viewer` belongs to: what a search needs before it is planned.
async fn scope(pool: &PgPool, viewer: Uuid) -> Result<(String, Vec<Uuid>), sqlx::Error> {
    let (config, rooms): (Option<String>, Vec<Uuid>) = sqlx::query_as(
        "SELECT (SELECT config FROM search_settings WHERE id = 1),
                ARRAY(SELECT room_id FROM members WHERE user_id = $1)",
    )
    .bind(viewer)
    .fetch_one(pool)
    .await?;
    Ok((
        config.unwrap_or_else(|| crate::search::Search::DEFAULT_CONFIG.to_owned()),
        rooms,
    ))
}

/// Hits in rooms `viewer` is a member of, most relevant first, then newest, among the newest
/// [`CANDIDATES`] matches. Returns the page and whether more follow.
pub async fn search(
    pool: &PgPool,
    viewer: Viewer<'_>,
    query: &SearchQuery,
) -> Result<(Vec<SearchHit>, bool), sqlx::Error> {
    let (config, mut rooms) = scope(pool, viewer.id).await?;
    if let Some(room) = query.room_id {
        rooms.retain(|r| *r == room);
    }
    if rooms.is_empty() {
        return Ok((Vec::new(), false));
    }
    // Planned with the actual values (not a cached generic plan), with the rooms as a value
    // rather than a subquery: how common the terms are in these rooms decides between the GIN
    // index and reading the newest messages first.
    let rows: Vec<HitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH candidates AS (
            SELECT s.message_id, s.seq, s.tsv
            FROM search_messages s
            WHERE s.tsv @@ websearch_to_tsquery($2::regconfig, $3)
              AND s.room_id = ANY($5)
              AND ($6::uuid IS NULL OR s.sender_id = $6)
              AND ($7::timestamptz IS NULL OR s.created_at > $7)
              AND ($8::timestamptz IS NULL OR s.created_at < $8)
              AND ($9::text IS NULL OR ($9 = 'attachment' AND s.has_attachment)
                   OR ($9 = 'image' AND s.has_image) OR ($9 = 'link' AND s.has_link))
            ORDER BY s.seq DESC
            LIMIT $12),
         ranked AS (
            SELECT c.message_id, c.seq,
                   ts_rank_cd(c.tsv, websearch_to_tsquery($2::regconfig, $3)) AS rank
            FROM candidates c),
         page AS (
            SELECT * FROM ranked
            WHERE $10::real IS NULL OR rank < $10 OR (rank = $10 AND seq < $11)
            ORDER BY rank DESC, seq DESC
            LIMIT $4)
         SELECT {MESSAGE_COLUMNS}, page.rank,
                ts_headline($2::regconfig, m.body, websearch_to_tsquery($2::regconfig, $3),
                            'StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=15, MaxFragments=2')
                    AS highlight
         FROM page JOIN messages m ON m.id = page.message_id AND NOT m.deleted
         ORDER BY page.rank DESC, page.seq DESC"
    )))
    .persistent(false)
    .bind(viewer.id)
    .bind(&config)
    .bind(&query.text)
    .bind(i64::try_from(query.limit + 1).unwrap_or(i64::MAX))
    .bind(&rooms)
    .bind(query.sender_id)
    .bind(query.after)
    .bind(query.before)
    .bind(query.has.map(Has::as_str))
    .bind(query.cursor.map(|c| c.0))
    .bind(query.cursor.map_or(0, |c| c.1))
    .bind(CANDIDATES)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > query.limit;
    let hits = rows
        .into_iter()
        .take(query.limit)
        .map(|r| {
            let message = r.message.into_message(viewer.urls);
            SearchHit {
                room_id: message.room_id,
                message,
                highlight: r.highlight,
                rank: r.rank,
            }
        })
        .collect();
    Ok((hits, more))
}
