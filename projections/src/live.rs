//! The live read models as one type, so that one projector can hold them together.

use natter_schemas::Event;
use sqlx::{PgConnection, PgPool};

use crate::Projection;
use crate::history::History;
use crate::search::Search;
use crate::unread::Unread;

/// One of the live read models.
#[derive(Debug, Clone)]
pub enum Live {
    History(History),
    Unread(Unread),
    Search(Search),
}

impl Live {
    /// Every live read model, in the order the projector applies them (history first: it is
    /// what readers wait for most).
    pub fn all(search: Search) -> Vec<Live> {
        vec![
            Live::History(History),
            Live::Unread(Unread),
            Live::Search(search),
        ]
    }
}

impl Projection for Live {
    fn name(&self) -> &'static str {
        match self {
            Live::History(p) => p.name(),
            Live::Unread(p) => p.name(),
            Live::Search(p) => p.name(),
        }
    }

    fn tables(&self) -> &'static [&'static str] {
        match self {
            Live::History(p) => p.tables(),
            Live::Unread(p) => p.tables(),
            Live::Search(p) => p.tables(),
        }
    }

    fn queues(&self) -> &'static [&'static str] {
        match self {
            Live::History(p) => p.queues(),
            Live::Unread(p) => p.queues(),
            Live::Search(p) => p.queues(),
        }
    }

    fn deferred_indexes(&self) -> &'static [&'static str] {
        match self {
            Live::History(p) => p.deferred_indexes(),
            Live::Unread(p) => p.deferred_indexes(),
            Live::Search(p) => p.deferred_indexes(),
        }
    }

    async fn prepare(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        match self {
            Live::History(p) => p.prepare(pool).await,
            Live::Unread(p) => p.prepare(pool).await,
            Live::Search(p) => p.prepare(pool).await,
        }
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[(u64, Event)],
    ) -> Result<(), sqlx::Error> {
        match self {
            Live::History(p) => p.apply(conn, events).await,
            Live::Unread(p) => p.apply(conn, events).await,
            Live::Search(p) => p.apply(conn, events).await,
        }
    }
}
