//! Full-text search over the rooms a user belongs to.

use chrono::{DateTime, Utc};
use natter_schemas::rest::SearchHit;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::history::queries::{MESSAGE_COLUMNS, MessageRow};

/// What to search for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Web-search syntax: words, `"a phrase"`, `or`, `-word`.
    pub text: String,
    pub room_id: Option<Uuid>,
    pub sender_id: Option<Uuid>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub has_attachment: bool,
    /// Continue after this hit: (rank, seq) of the last hit of the previous page.
    pub cursor: Option<(f32, i64)>,
    pub limit: usize,
}

#[derive(FromRow)]
struct HitRow {
    #[sqlx(flatten)]
    message: MessageRow,
    rank: f32,
    highlight: String,
}

/// Hits in rooms `viewer` is a member of, most relevant first, then newest. Returns the page
/// and whether more follow. The query is parsed with the configuration the index was built
/// with.
pub async fn search(
    pool: &PgPool,
    viewer: Uuid,
    query: &SearchQuery,
) -> Result<(Vec<SearchHit>, bool), sqlx::Error> {
    // The GIN index finds the matches; rank and membership narrow them; only the returned
    // page gets message objects and highlights.
    let rows: Vec<HitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH cfg AS (SELECT COALESCE((SELECT config FROM search_settings WHERE id = 1), $2)::regconfig AS c),
         q AS (SELECT cfg.c, websearch_to_tsquery(cfg.c, $3) AS q FROM cfg),
         hits AS (
            SELECT s.message_id, s.seq, s.body, ts_rank_cd(s.tsv, q.q) AS rank
            FROM search_messages s CROSS JOIN q
            JOIN members mem ON mem.room_id = s.room_id AND mem.user_id = $1
            WHERE s.tsv @@ q.q
              AND ($5::uuid IS NULL OR s.room_id = $5)
              AND ($6::uuid IS NULL OR s.sender_id = $6)
              AND ($7::timestamptz IS NULL OR s.created_at > $7)
              AND ($8::timestamptz IS NULL OR s.created_at < $8)
              AND (NOT $9 OR s.has_attachment)
              AND ($10::real IS NULL OR ts_rank_cd(s.tsv, q.q) < $10
                   OR (ts_rank_cd(s.tsv, q.q) = $10 AND s.seq < $11))
            ORDER BY rank DESC, s.seq DESC
            LIMIT $4)
         SELECT {MESSAGE_COLUMNS}, hits.rank,
                ts_headline(q.c, hits.body, q.q,
                            'StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=15, MaxFragments=2')
                    AS highlight
         FROM hits JOIN messages m ON m.id = hits.message_id CROSS JOIN q
         ORDER BY hits.rank DESC, hits.seq DESC"
    )))
    .bind(viewer)
    .bind(crate::search::Search::DEFAULT_CONFIG)
    .bind(&query.text)
    .bind(i64::try_from(query.limit + 1).unwrap_or(i64::MAX))
    .bind(query.room_id)
    .bind(query.sender_id)
    .bind(query.after)
    .bind(query.before)
    .bind(query.has_attachment)
    .bind(query.cursor.map(|c| c.0))
    .bind(query.cursor.map_or(0, |c| c.1))
    .fetch_all(pool)
    .await?;
    let more = rows.len() > query.limit;
    let hits = rows
        .into_iter()
        .take(query.limit)
        .map(|r| {
            let message: natter_schemas::model::Message = r.message.into();
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
