//! The right to post, as every reader of the log judges it: which events take it away, and
//! when a post is void because its sender lost it between their check and the post.

use uuid::Uuid;

use crate::event::{EventBody, MessagePosted};

/// Whose right to post in a room an event takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingLoss {
    /// One user's: they left, were kicked, banned or muted.
    User(Uuid),
    /// Everyone's: the room was archived.
    Everyone,
}

impl PostingLoss {
    /// Whether this loss concerns posts by `sender`.
    pub fn concerns(self, sender: Uuid) -> bool {
        match self {
            Self::User(user) => user == sender,
            Self::Everyone => true,
        }
    }
}

impl EventBody {
    /// Whose right to post in the event's room this event takes away.
    pub fn posting_loss(&self) -> Option<PostingLoss> {
        match self {
            Self::MemberLeft(m) | Self::MemberKicked(m) | Self::MemberBanned(m) => {
                Some(PostingLoss::User(m.user_id))
            }
            Self::MemberMuted(m) => Some(PostingLoss::User(m.user_id)),
            Self::RoomArchived(_) => Some(PostingLoss::Everyone),
            _ => None,
        }
    }
}

impl MessagePosted {
    /// The rule every reader of the log applies to a post: it is **void** (no read model,
    /// delivery or replay shows it) when, between the seq its access check saw
    /// (`checked_at`) and its own `seq`, the log took its sender's right to post in the room
    /// ([`EventBody::posting_loss`]). `lost` lists the seqs of such losses for this sender in
    /// this room (every one below `seq` that the caller knows of, at least those above
    /// `checked_at`). A post without `checked_at` (written before 0.3) is never void.
    pub fn void_given(&self, seq: u64, lost: impl IntoIterator<Item = u64>) -> bool {
        let Some(checked) = self.checked_at else {
            return false;
        };
        lost.into_iter().any(|at| checked < at && at < seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_void_only_for_a_loss_strictly_between_its_check_and_itself() {
        let post = |checked_at| MessagePosted {
            message_id: Uuid::nil(),
            client_msg_id: "c".into(),
            body: "b".into(),
            thread_root_id: None,
            mentions: Vec::new(),
            checked_at,
            attachments: Vec::new(),
            format: Default::default(),
            mention_names: Vec::new(),
            encrypted: None,
        };
        // Post at 10, checked at 5.
        assert!(post(Some(5)).void_given(10, [7]));
        assert!(!post(Some(5)).void_given(10, [5]), "the check saw it");
        assert!(!post(Some(5)).void_given(10, [10, 12]), "after the post");
        assert!(!post(Some(5)).void_given(10, []));
        assert!(!post(None).void_given(10, [7]), "written before checked_at");
    }
}
