//! Who may send in a room, kept in memory from the room's delivery feed, so that a send to a
//! room with a socket on this gateway needs no PostgreSQL query.
//!
//! The rules (the room's kind, visibility and archive flag; its members' roles, mutes and
//! bans) are read from the history read model once, at a seq `h` that is at least where the
//! room's feed began, and every access change the feed delivered after `h` is applied on top;
//! from then on the feed applies each change as it arrives. The feed is gap-checked (every
//! delivery names the room's previous seq, and a hole is read from the log), so the rules are
//! those of the log at the feed's position. They stop being used when that cannot be
//! vouched for:
//! - the feed broke (a hole it could not fill, a lost NATS connection, its task ended);
//! - the feed fell behind: an event this gateway appended to the room has not come back on
//!   the feed within [`BEHIND`] (the fan-out is down or slow), so changes appended elsewhere
//!   may be missing too.
//!
//! Then, and until the rules are loaded, sends are checked against PostgreSQL as before. Either
//! way the check sees the log as of some recent seq, and a removal appended after that seq but
//! before the send's own event is not seen: the README's "Access, privacy and limits" says how
//! far that goes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_projections::history::queries::RoomAccess;
use natter_schemas::Event;
use natter_schemas::posting::PostingLoss;
use sqlx::PgPool;
use uuid::Uuid;

mod room;

use room::{Change, RoomRules, read};

/// How long an event this gateway appended may take to come back on the room's feed before
/// the feed counts as behind.
pub(crate) const BEHIND: Duration = Duration::from_millis(500);
/// Most access changes held while the rules load; past it the room is checked in PostgreSQL.
const MAX_PENDING: usize = 10_000;
/// `losses_from` while nothing is known (after a break, until the next delivery).
const UNKNOWN: u64 = u64::MAX;
/// Most posting losses remembered for void posts; past it the older half is asked of the
/// history read model instead.
const MAX_LOSSES: usize = 10_000;
enum State {
    /// Not loaded yet: the access changes the feed delivered since it began.
    Loading {
        pending: Vec<(u64, Change)>,
        started: bool,
    },
    Ready {
        rules: RoomRules,
        /// Changes at or below this seq are in the rules already.
        as_of: u64,
    },
    /// Not to be trusted any more (or never: a room too large).
    Off,
}

/// One room's rules on this gateway, fed by its delivery task.
pub(crate) struct Rules {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The feed began after this seq: every room event above it comes through the feed.
    began: u64,
    /// The newest seq the feed delivered.
    fed: u64,
    /// The feed has delivered an event, its previous seq checked: nothing between its start
    /// and its position is missing. (Before that, an event appended while the subscription
    /// was being made may not have come, in a cluster where interest takes a moment to
    /// spread.)
    proven: bool,
    /// The newest seq this gateway appended to the room and the feed has not delivered yet,
    /// and since when the feed owes one.
    owed: Option<(u64, Instant)>,
    /// The room's posting losses the feed delivered after `losses_from` (for void posts).
    losses: Vec<(u64, PostingLoss)>,
    losses_from: u64,
}

/// What a send check gets from the rules.
pub(crate) enum Verdict {
    /// The sender's access, as of the feed's position.
    Known(RoomAccess),
    /// Ask PostgreSQL; `load` says the caller should start loading the rules.
    Unknown { load: bool },
}

impl Rules {
    pub(crate) fn new(began: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Loading {
                    pending: Vec::new(),
                    started: false,
                },
                began,
                fed: began,
                proven: false,
                owed: None,
                losses: Vec::new(),
                losses_from: began,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The feed delivered `event` at `seq` (in seq order, after any hole was filled).
    pub(crate) fn feed(&self, seq: u64, event: &Event) {
        let mut inner = self.lock();
        inner.fed = inner.fed.max(seq);
        inner.proven = true;
        if inner.losses_from == UNKNOWN {
            // After a break: what came before this delivery is not known here.
            inner.losses_from = seq - 1;
        }
        if inner.owed.is_some_and(|(owed, _)| owed <= seq) {
            inner.owed = None;
        }
        if let Some(loss) = event.body.posting_loss() {
            if inner.losses.len() >= MAX_LOSSES {
                let older: Vec<_> = inner.losses.drain(..MAX_LOSSES / 2).collect();
                inner.losses_from = older.last().map_or(inner.losses_from, |(seq, _)| *seq);
            }
            inner.losses.push((seq, loss));
        }
        let Some(change) = Change::of(event) else {
            return;
        };
        match &mut inner.state {
            State::Loading { pending, .. } => {
                if pending.len() >= MAX_PENDING {
                    inner.state = State::Off;
                } else {
                    pending.push((seq, change));
                }
            }
            State::Ready { rules, as_of } => {
                if seq > *as_of {
                    rules.apply(&change);
                    *as_of = seq;
                }
            }
            State::Off => {}
        }
    }

    /// This gateway appended an event to the room at `seq`: the feed owes it.
    pub(crate) fn appended(&self, seq: u64) {
        let mut inner = self.lock();
        if seq > inner.fed {
            let since = inner.owed.map_or_else(Instant::now, |(_, since)| since);
            let owed = inner.owed.map_or(seq, |(owed, _)| owed.max(seq));
            inner.owed = Some((owed, since));
        }
    }

    /// The room's posting losses the feed delivered, and the seq after which it has them all.
    pub(crate) fn losses_from(&self) -> u64 {
        self.lock().losses_from
    }

    /// Whether the post by `sender` at `seq` whose check saw `checked` is void, by the losses
    /// the feed delivered; None when some of `(checked, seq)` is before what it knows.
    pub(crate) fn void(&self, sender: Uuid, checked: u64, seq: u64) -> Option<bool> {
        let inner = self.lock();
        if checked < inner.losses_from {
            return None;
        }
        Some(lost_between(&inner.losses, sender, checked, seq))
    }

    /// Like [`Rules::void`], only once the feed has delivered every room event before `seq`
    /// (`prev`, the room's event before it, as the fan-out said; so that no loss in between
    /// can still be on its way): for readers beside the feed.
    pub(crate) fn void_once_fed(
        &self,
        sender: Uuid,
        checked: u64,
        seq: u64,
        prev: Option<u64>,
    ) -> Option<bool> {
        let fed = self.lock().fed;
        if fed + 1 < seq && prev.is_none_or(|prev| fed < prev) {
            return None;
        }
        self.void(sender, checked, seq)
    }

    /// Whether the feed already delivered a loss of `sender`'s right to post after `checked`
    /// and before `seq` (false when it knows of none, which proves nothing).
    pub(crate) fn known_void(&self, sender: Uuid, checked: u64, seq: u64) -> bool {
        lost_between(&self.lock().losses, sender, checked, seq)
    }

    /// Adds the room's losses in `(after, losses_from]`, read elsewhere (the log), so that
    /// the feed knows them all after `after`.
    pub(crate) fn add_older_losses(&self, after: u64, older: Vec<(u64, PostingLoss)>) {
        let mut inner = self.lock();
        if after >= inner.losses_from || inner.losses_from == UNKNOWN {
            return;
        }
        let from = inner.losses_from;
        let mut losses: Vec<_> = older
            .into_iter()
            .filter(|(at, _)| after < *at && *at <= from)
            .collect();
        losses.append(&mut inner.losses);
        inner.losses = losses;
        inner.losses_from = after;
    }

    /// The feed can no longer be vouched for: its rules are not used again, and the losses it
    /// knows start over at its next delivery (there may be a hole before it).
    pub(crate) fn broke(&self) {
        let mut inner = self.lock();
        inner.state = State::Off;
        inner.losses.clear();
        inner.losses_from = UNKNOWN;
    }

    pub(crate) fn check(&self, user: Uuid) -> Verdict {
        let mut inner = self.lock();
        let behind = inner
            .owed
            .is_some_and(|(_, since)| since.elapsed() > BEHIND);
        let trusted = inner.proven && !behind;
        let fed = inner.fed;
        match &mut inner.state {
            State::Ready { rules, as_of } if trusted => {
                Verdict::Known(rules.access(user, fed.max(*as_of)))
            }
            State::Loading { started, .. } if !*started => {
                *started = true;
                Verdict::Unknown { load: true }
            }
            _ => Verdict::Unknown { load: false },
        }
    }

    /// The seq the history read model must reach before the rules are read: the feed's
    /// position, so that every change between the read and the feed is in `pending`.
    pub(crate) fn load_from(&self) -> u64 {
        self.lock().fed
    }

    /// Reads the rules from the history read model and installs them; when that fails they
    /// stay unloaded and the next check tries again.
    pub(crate) async fn load(&self, pool: &PgPool, room: Uuid) {
        match read(pool, room).await {
            Ok(Some((rules, at))) => self.install(rules, at),
            Ok(None) => self.lock().state = State::Off,
            Err(e) => {
                tracing::debug!(%room, error = %e, "cannot read the room's rules");
                self.load_failed();
            }
        }
    }

    /// Loading could not start (the history read model did not reach the feed in time): the
    /// next check tries again.
    pub(crate) fn load_failed(&self) {
        if let State::Loading { started, .. } = &mut self.lock().state {
            *started = false;
        }
    }

    fn install(&self, mut rules: RoomRules, at: u64) {
        let mut inner = self.lock();
        if at < inner.began {
            // Changes between the read and the feed's start were never seen: try again later.
            drop(inner);
            self.load_failed();
            return;
        }
        let State::Loading { pending, .. } = &mut inner.state else {
            return;
        };
        for (_, change) in pending.iter().filter(|(seq, _)| *seq > at) {
            rules.apply(change);
        }
        let as_of = pending.last().map_or(at, |(seq, _)| at.max(*seq));
        inner.state = State::Ready { rules, as_of };
    }
}

/// Whether `losses` hold one of `sender`'s right to post strictly between `checked` and `seq`.
fn lost_between(losses: &[(u64, PostingLoss)], sender: Uuid, checked: u64, seq: u64) -> bool {
    losses
        .iter()
        .any(|(at, loss)| checked < *at && *at < seq && loss.concerns(sender))
}

#[cfg(test)]
mod tests;
