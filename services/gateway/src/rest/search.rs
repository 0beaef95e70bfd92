//! Full-text search.

use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use natter_projections::search::queries::{self, Has, SearchQuery};
use natter_schemas::rest::SearchPage;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, HttpResult};
use crate::openapi::{Api, Doc};
use crate::rest::extract::Query;
use natter_actions::Actions;
use natter_actions::validate;

pub fn routes() -> Api {
    Api::default().route(
        "/v1/search",
        get(search),
        Doc::get("Search messages in the rooms one belongs to: most relevant first, then newest")
            .query(
                "q",
                "string",
                "words, \"a phrase\", `or`, `-word` (web-search syntax); required",
            )
            .query("room_id", "string", "only this room")
            .query("sender_id", "string", "only this sender's messages")
            .query(
                "after",
                "string",
                "only messages posted after this time (RFC 3339, or a date)",
            )
            .query(
                "before",
                "string",
                "only messages posted before this time (RFC 3339, or a date)",
            )
            .query(
                "has",
                "string",
                "`attachment`, `image` or `link`: only messages with files, images or web links",
            )
            .query("limit", "integer", "1 to 50, default 20")
            .query("cursor", "string", "`next_cursor` of the previous page")
            .query(
                "min_seq",
                "integer",
                "wait (bounded) until the search index has this seq",
            )
            .ok::<SearchPage>(200, "a page of results"),
    )
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    room_id: Option<Uuid>,
    sender_id: Option<Uuid>,
    after: Option<String>,
    before: Option<String>,
    has: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    min_seq: Option<u64>,
}

/// RFC 3339, or a plain date (midnight UTC).
fn time(field: &str, raw: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(raw) = raw else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| ApiError::invalid(field, format!("{field} is an RFC 3339 time or a date")))
}

/// A cursor is the last hit's rank (its exact bits) and seq.
fn encode_cursor(rank: f32, seq: i64) -> String {
    format!("{:08x}.{seq}", rank.to_bits())
}

fn decode_cursor(raw: &str) -> ApiResult<(f32, i64)> {
    raw.split_once('.')
        .and_then(|(bits, seq)| {
            Some((
                f32::from_bits(u32::from_str_radix(bits, 16).ok()?),
                seq.parse().ok()?,
            ))
        })
        .filter(|(rank, _)| rank.is_finite())
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from this search"))
}

async fn search(
    State(state): State<Actions>,
    user: AuthUser,
    Query(p): Query<SearchParams>,
) -> HttpResult<axum::Json<SearchPage>> {
    let text = p.q.as_deref().unwrap_or_default().trim();
    if text.is_empty() {
        return Err(ApiError::invalid("q", "q must not be empty").into());
    }
    if text.chars().count() > 256 {
        return Err(ApiError::invalid("q", "q must be at most 256 characters").into());
    }
    let has =
        match p.has.as_deref() {
            None => None,
            Some(has) => Some(Has::parse(has).ok_or_else(|| {
                ApiError::invalid("has", "has is `attachment`, `image` or `link`")
            })?),
        };
    let query = SearchQuery {
        text: text.to_owned(),
        room_id: p.room_id,
        sender_id: p.sender_id,
        after: time("after", p.after.as_deref())?,
        before: time("before", p.before.as_deref())?,
        has,
        cursor: p.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: validate::search_limit(p.limit)?,
    };
    if let Some(seq) = p.min_seq {
        state.min_seq_reachable(seq).await?;
        // Hits come from the search index, their message objects from history: both must
        // have the seq (each projection moves at its own pace).
        let (search, history) = tokio::join!(state.projected_search(seq), state.projected(seq));
        search.and(history)?;
    }
    let (results, more) = queries::search(state.pool(), state.viewer(user.id), &query).await?;
    let next_cursor = more
        .then(|| results.last().map(|h| encode_cursor(h.rank, h.message.seq)))
        .flatten();
    Ok(axum::Json(SearchPage {
        results,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_exactly() {
        let rank = 0.1f32 / 3.0;
        assert_eq!(
            decode_cursor(&encode_cursor(rank, 42)).ok(),
            Some((rank, 42))
        );
        assert!(decode_cursor("nope").is_err());
        assert!(decode_cursor("7fc00000.1").is_err(), "NaN is not a rank");
    }
}
