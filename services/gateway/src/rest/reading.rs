//! Read positions, unread counts, receipts.

use axum::extract::State;
use axum::routing::{get, post};
use natter_projections::unread::queries as unread;
use natter_schemas::frames::ReadReply;
use natter_schemas::rest::{ReadRequest, ReceiptList, UnreadSummary};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::HttpResult;
use crate::openapi::{Api, Doc};
use crate::rest::extract::{Json, Path, Query};
use natter_actions::Actions;
use natter_actions::commands;

pub fn routes() -> Api {
    Api::default()
        .route(
            "/v1/rooms/{id}/read",
            post(read),
            Doc::post(
                "Move one's read position forward (never backwards); answers the room's counts",
            )
            .body::<ReadRequest>()
            .ok::<ReadReply>(200, "the position and counts"),
        )
        .route(
            "/v1/unread",
            get(summary),
            Doc::get("Unread and mention counts of every joined room")
                .query(
                    "min_seq",
                    "integer",
                    "wait (bounded) until the unread model has this seq",
                )
                .ok::<UnreadSummary>(200, "the counts"),
        )
        .route(
            "/v1/rooms/{id}/receipts",
            get(receipts),
            Doc::get("Who has read up to `seq` (members only; at most 1000, furthest first)")
                .query(
                    "seq",
                    "integer",
                    "members whose position is at or after it; all when absent",
                )
                .query(
                    "min_seq",
                    "integer",
                    "wait (bounded) until the unread model has this seq",
                )
                .ok::<ReceiptList>(200, "the receipts"),
        )
}

async fn read(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<ReadRequest>,
) -> HttpResult<axum::Json<ReadReply>> {
    Ok(axum::Json(
        commands::reading::read(&state, user.id, id, req.seq).await?,
    ))
}

#[derive(Deserialize)]
struct SummaryQuery {
    min_seq: Option<u64>,
}

async fn summary(
    State(state): State<Actions>,
    user: AuthUser,
    Query(q): Query<SummaryQuery>,
) -> HttpResult<axum::Json<UnreadSummary>> {
    if let Some(seq) = q.min_seq {
        state.min_seq_reachable(seq).await?;
        state.projected_unread(seq).await?;
    }
    let rooms = unread::unread(state.pool(), user.id).await?;
    Ok(axum::Json(UnreadSummary {
        total_unread: rooms.iter().map(|r| r.unread).sum(),
        total_mentions: rooms.iter().map(|r| r.mentions).sum(),
        rooms,
    }))
}

#[derive(Deserialize)]
struct ReceiptQuery {
    seq: Option<u64>,
    min_seq: Option<u64>,
}

async fn receipts(
    State(state): State<Actions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ReceiptQuery>,
) -> HttpResult<axum::Json<ReceiptList>> {
    commands::member_room(&state, id, user.id).await?;
    if let Some(seq) = q.min_seq {
        state.min_seq_reachable(seq).await?;
        state.projected_unread(seq).await?;
    }
    let (delivered_count, read_count) = match q.seq {
        Some(seq) => {
            let (delivered, read) = unread::receipt_counts(state.pool(), id, seq, user.id).await?;
            (Some(delivered), Some(read))
        }
        None => (None, None),
    };
    Ok(axum::Json(ReceiptList {
        receipts: unread::receipts(state.pool(), id, q.seq.unwrap_or(0)).await?,
        delivered_count,
        read_count,
    }))
}
