//! What the send path asks of the hub: the sender's access from a room's rules, whether a
//! post just appended is already known to be void, and that the feed owes it the post.

use uuid::Uuid;

use std::sync::Arc;

use super::Hub;
use super::rules::{Rules, Verdict};
use natter_projections::history::queries::RoomAccess;

impl Hub {
    /// `user`'s access to `room` from this gateway's memory of the room's events, when it can
    /// vouch for it (see [`rules`]); None sends the caller to PostgreSQL. The first call for
    /// a room starts reading its rules, once the history read model has reached the room's
    /// feed.
    pub async fn send_access(
        &self,
        room: Uuid,
        user: Uuid,
        history: &crate::readwait::ProjectionWatch,
        wait: std::time::Duration,
    ) -> Option<RoomAccess> {
        let rules = self.rules_of(room)?;
        match rules.check(user) {
            Verdict::Known(access) => Some(access),
            Verdict::Unknown { load } => {
                if load {
                    let (pool, history) = (self.0.pool.clone(), history.clone());
                    tokio::spawn(async move {
                        if history.wait_for(rules.load_from(), wait).await {
                            rules.load(&pool, room).await;
                        } else {
                            rules.load_failed();
                        }
                    });
                }
                None
            }
        }
    }

    /// Whether this gateway's feed of `room` already shows that `sender` lost the right to
    /// post there after `checked_at` and before `seq` (so their post at `seq` is void). False
    /// when it does not know of such a loss.
    pub async fn known_void(&self, room: Uuid, sender: Uuid, checked_at: u64, seq: u64) -> bool {
        self.rules_of(room)
            .is_some_and(|rules| rules.known_void(sender, checked_at, seq))
    }

    /// This gateway appended an event to `room` at `seq`: its feed owes it (a feed that
    /// falls behind is not trusted for sends).
    pub async fn appended(&self, room: Uuid, seq: u64) {
        if let Some(rules) = self.rules_of(room) {
            rules.appended(seq);
        }
    }

    /// The rules of the room's entry here (without waiting on the entries' lock).
    fn rules_of(&self, room: Uuid) -> Option<Arc<Rules>> {
        self.0
            .rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&room)
            .cloned()
    }
}
