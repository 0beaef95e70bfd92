//! May one person reach another: the one rule behind blocks and conversation requests.
//!
//! What stands between an actor and the person their action would reach is a [`Standing`],
//! read from the history read model where a user acts (the gateway's write paths) and from
//! the socket's own block list where something reaches a socket (the gateway's hub); what it
//! allows is [`decide`], for every kind of [`Reach`]. PROTOCOL.md's "Blocks and requests"
//! table is this function in words.

/// What stands between an actor and one person their action would reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// The person reached blocks the actor.
    pub blocks_actor: bool,
    /// The actor blocks the person reached.
    pub blocked_by_actor: bool,
    /// The person reached wants conversations from people they have not accepted to wait as
    /// requests (`dm_requests`).
    pub wants_requests: bool,
    /// The person reached has accepted the actor: they share a room or conversation whose
    /// membership the person chose (created, joined, accepted or posted in).
    pub accepted: bool,
    /// The person's membership of the room the action is in waits for their acceptance.
    pub pending_here: bool,
}

impl Standing {
    /// A block stands between the two, either way.
    pub fn blocked(&self) -> bool {
        self.blocks_actor || self.blocked_by_actor
    }
}

/// What an action does to the person it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Content of the actor's in a room both are in: a message, an edit, a reaction, a link
    /// preview of their message, their typing.
    Content,
    /// A call's ring or signalling (invite, accept, decline, offer, answer, candidate,
    /// hang-up).
    Call,
    /// Putting the person in a room or conversation (creating it with them, adding them).
    Add,
    /// The actor seeing the person: presence and status, device keys, profile changes.
    See,
}

/// What [`decide`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    /// Only as a request the person accepts first (an add).
    AsRequest,
    No,
}

/// Whether an action of the actor's may reach a person standing as `standing` says.
///
/// - A block stops everything either way, but content: the blocker's own messages still reach
///   the person they block in a room they share (a block hides the blocked, it does not gag the
///   blocker).
/// - A person who has not accepted the actor is added only as a request when they asked for
///   requests, is never rung by them while the membership waits, and is not seen by them.
pub fn decide(standing: Standing, reach: Reach) -> Verdict {
    let yes = |allowed: bool| if allowed { Verdict::Yes } else { Verdict::No };
    match reach {
        Reach::Content => yes(!standing.blocks_actor),
        Reach::Call => yes(!standing.blocked() && !standing.pending_here),
        Reach::See => yes(!standing.blocked() && standing.accepted),
        Reach::Add if standing.blocked() => Verdict::No,
        Reach::Add if standing.wants_requests && !standing.accepted => Verdict::AsRequest,
        Reach::Add => Verdict::Yes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_stops_everything_but_the_blockers_own_content() {
        let blocker_reached = Standing {
            blocks_actor: true,
            accepted: true,
            ..Standing::default()
        };
        let blocked_reached = Standing {
            blocked_by_actor: true,
            accepted: true,
            ..Standing::default()
        };
        for reach in [Reach::Call, Reach::Add, Reach::See] {
            assert_eq!(decide(blocker_reached, reach), Verdict::No, "{reach:?}");
            assert_eq!(decide(blocked_reached, reach), Verdict::No, "{reach:?}");
        }
        assert_eq!(decide(blocker_reached, Reach::Content), Verdict::No);
        assert_eq!(decide(blocked_reached, Reach::Content), Verdict::Yes);
    }

    #[test]
    fn someone_not_accepted_is_added_as_a_request_not_rung_and_not_seen() {
        let stranger = Standing {
            wants_requests: true,
            ..Standing::default()
        };
        assert_eq!(decide(stranger, Reach::Add), Verdict::AsRequest);
        assert_eq!(decide(stranger, Reach::See), Verdict::No);
        let waiting = Standing {
            pending_here: true,
            ..stranger
        };
        assert_eq!(decide(waiting, Reach::Call), Verdict::No);
        let open = Standing::default();
        assert_eq!(
            decide(open, Reach::Add),
            Verdict::Yes,
            "no requests asked for"
        );
        assert_eq!(
            decide(open, Reach::See),
            Verdict::No,
            "nothing chosen together"
        );
        let friend = Standing {
            accepted: true,
            ..stranger
        };
        assert_eq!(decide(friend, Reach::Add), Verdict::Yes);
        assert_eq!(decide(friend, Reach::See), Verdict::Yes);
        assert_eq!(decide(friend, Reach::Call), Verdict::Yes);
    }
}
