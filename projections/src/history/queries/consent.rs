//! What stands between people ([`Standing`]), read in one statement for any number of pairs,
//! and who may see whom by it: the read model's side of [`natter_schemas::consent`].

use natter_schemas::consent::{Reach, Standing, Verdict, decide};
use sqlx::PgPool;
use uuid::Uuid;

/// The standing of each `(actor, reached)` pair, for an action in `room` (None: none);
/// pairs whose `reached` is not a user are left out.
pub async fn standings(
    pool: &PgPool,
    pairs: &[(Uuid, Uuid)],
    room: Option<Uuid>,
) -> Result<Vec<((Uuid, Uuid), Standing)>, sqlx::Error> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let (actors, reached): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    type Row = (Uuid, Uuid, bool, bool, bool, bool, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.a, p.r,
                EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = p.r AND b.blocked_id = p.a),
                EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = p.a AND b.blocked_id = p.r),
                u.dm_requests,
                EXISTS (SELECT 1 FROM members o JOIN members v ON v.room_id = o.room_id
                        WHERE o.user_id = p.r AND o.accepted AND v.user_id = p.a),
                COALESCE((SELECT m.pending FROM members m
                          WHERE m.room_id = $3 AND m.user_id = p.r), false)
         FROM unnest($1::uuid[], $2::uuid[]) AS p(a, r) JOIN users u ON u.id = p.r",
    )
    .bind(&actors)
    .bind(&reached)
    .bind(room)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(a, r, blocks_actor, blocked_by_actor, wants, accepted, pending)| {
                let standing = Standing {
                    blocks_actor,
                    blocked_by_actor,
                    wants_requests: wants,
                    accepted,
                    pending_here: pending,
                };
                ((a, r), standing)
            },
        )
        .collect())
}

/// How each of `others` stands towards `actor` acting in `room` (users that do not exist left
/// out; in no particular order).
pub async fn standings_towards(
    pool: &PgPool,
    actor: Uuid,
    others: &[Uuid],
    room: Option<Uuid>,
) -> Result<Vec<(Uuid, Standing)>, sqlx::Error> {
    let pairs: Vec<(Uuid, Uuid)> = others.iter().map(|o| (actor, *o)).collect();
    Ok(standings(pool, &pairs, room)
        .await?
        .into_iter()
        .map(|((_, reached), standing)| (reached, standing))
        .collect())
}

/// Which of `viewed` `viewer` may see (presence and status, device keys, profile changes).
pub async fn seen_by(
    pool: &PgPool,
    viewer: Uuid,
    viewed: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let pairs: Vec<(Uuid, Uuid)> = viewed.iter().map(|v| (viewer, *v)).collect();
    Ok(visible(pool, &pairs)
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Which of `viewers` may see `viewed`.
pub async fn seeing(
    pool: &PgPool,
    viewed: Uuid,
    viewers: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let pairs: Vec<(Uuid, Uuid)> = viewers.iter().map(|v| (*v, viewed)).collect();
    Ok(visible(pool, &pairs)
        .await?
        .into_iter()
        .map(|(v, _)| v)
        .collect())
}

async fn visible(pool: &PgPool, pairs: &[(Uuid, Uuid)]) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    Ok(standings(pool, pairs, None)
        .await?
        .into_iter()
        .filter(|(_, standing)| decide(*standing, Reach::See) == Verdict::Yes)
        .map(|(pair, _)| pair)
        .collect())
}
