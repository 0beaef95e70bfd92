//! Consent where a user acts: how the people an action would reach stand towards the actor
//! (the read model's [`queries::standings_towards`]), decided by [`natter_schemas::consent`].

use natter_projections::history::queries;
use natter_schemas::consent::{Reach, Standing, Verdict, decide};
use uuid::Uuid;

use crate::Actions;
use crate::error::ApiResult;

/// What `reach` by `actor` (in `room`, when it is in one) may do to each of `others` (in no
/// particular order); people who are not users are left out.
pub(crate) async fn verdicts(
    state: &Actions,
    actor: Uuid,
    others: &[Uuid],
    room: Option<Uuid>,
    reach: Reach,
) -> ApiResult<Vec<(Uuid, Verdict, Standing)>> {
    Ok(
        queries::standings_towards(state.pool(), actor, others, room)
            .await?
            .into_iter()
            .map(|(user, standing)| (user, decide(standing, reach), standing))
            .collect(),
    )
}

/// Whom of `others` `actor` may put in a room, each with whether the membership waits for
/// their acceptance; None when someone may not be added at all (a block either way), which
/// callers answer exactly as they answer a user that does not exist, so that the answer does
/// not tell who blocks whom.
pub(crate) async fn additions(
    state: &Actions,
    actor: Uuid,
    others: &[Uuid],
) -> ApiResult<Option<Vec<(Uuid, bool)>>> {
    let verdicts = verdicts(state, actor, others, None, Reach::Add).await?;
    if verdicts.len() != others.len() {
        return Ok(None);
    }
    Ok(verdicts
        .into_iter()
        .map(|(user, verdict, _)| match verdict {
            Verdict::No => None,
            Verdict::AsRequest => Some((user, true)),
            Verdict::Yes => Some((user, false)),
        })
        .collect())
}
