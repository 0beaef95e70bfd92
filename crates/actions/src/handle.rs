//! [`Actions`]: what the chat actions work with, put together once by the service that runs
//! them and handed to each action: the log and the read models, the guards in front of them
//! (limits, moderation, the sender's message ids), who is who (tokens and sessions), and the
//! live pieces an action tells (the hub, calls in progress).

use std::sync::Arc;
use std::time::Duration;

use natter_bus::Bus;
use natter_projections::history::queries::Viewer;
use natter_realtime::calls::CallStore;
use natter_realtime::hub::Hub;
use natter_realtime::readwait::ProjectionWatch;
use natter_schemas::files::FileUrls;
use natter_vault::Vault;
use sqlx::PgPool;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::moderation::Blocklist;
use crate::ratelimit::Limiter;
use crate::sent::SentIds;

/// The actions' settings (the service's flags carry them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest message body, in characters.
    pub max_message_chars: usize,
    /// Check sends against the hub's memory of the room where it can vouch for it.
    pub send_check_from_memory: bool,
    /// Longest wait for the read models to reach a seq.
    pub read_wait: Duration,
    /// Who may be found in the user directory.
    pub directory: natter_projections::history::queries::Findable,
}

/// The read models an action waits for, and how what is read names its files.
#[derive(Clone)]
pub struct Reads {
    pub history: ProjectionWatch,
    pub unread: ProjectionWatch,
    pub search: ProjectionWatch,
    /// Signed URLs of the current window, for messages read now.
    pub urls: Arc<dyn FileUrls>,
}

/// What guards the log: rate limits and moderation.
pub struct Guards {
    pub limiter: Limiter,
    pub blocklist: Blocklist,
    pub limits: Limits,
}

/// What the chat actions work with. Cheap to clone.
#[derive(Clone)]
pub struct Actions(Arc<Parts>);

/// The live pieces an action tells.
#[derive(Clone)]
pub struct Live {
    pub hub: Hub,
    pub calls: CallStore,
}

/// What [`Actions`] is put together from ([`Actions::start`]).
pub(crate) struct Parts {
    pub bus: Bus,
    pub pool: PgPool,
    pub vault: Vault,
    pub reads: Reads,
    pub guards: Guards,
    pub sent: SentIds,
    pub auth: Auth,
    pub live: Live,
}

impl Actions {
    pub(crate) fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    pub fn bus(&self) -> &Bus {
        &self.0.bus
    }
    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }
    pub fn vault(&self) -> &Vault {
        &self.0.vault
    }
    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }
    pub fn hub(&self) -> &Hub {
        &self.0.live.hub
    }
    pub fn calls(&self) -> &CallStore {
        &self.0.live.calls
    }
    pub fn limiter(&self) -> &Limiter {
        &self.0.guards.limiter
    }
    pub fn blocklist(&self) -> &Blocklist {
        &self.0.guards.blocklist
    }
    pub fn limits(&self) -> Limits {
        self.0.guards.limits
    }
    pub fn sent(&self) -> &SentIds {
        &self.0.sent
    }
    pub fn history(&self) -> &ProjectionWatch {
        &self.0.reads.history
    }
    /// How messages read now name their files (signed URLs of the current window).
    pub fn file_urls(&self) -> &dyn FileUrls {
        &*self.0.reads.urls
    }
    /// A reader of messages: `user`, with these file URLs.
    pub fn viewer(&self, user: uuid::Uuid) -> Viewer<'_> {
        Viewer {
            id: user,
            urls: self.file_urls(),
        }
    }

    /// Waits until the history read model has applied `seq` (read-your-writes), or answers
    /// `unavailable` after `NATTER_READ_WAIT_MS`.
    pub async fn projected(&self, seq: u64) -> ApiResult<()> {
        self.wait(&self.0.reads.history, seq).await
    }

    /// Like [`Actions::projected`], for history and unread both: what a change of rooms or
    /// membership needs before `GET /v1/rooms` and `GET /v1/unread` both show it.
    pub async fn projected_rooms(&self, seq: u64) -> ApiResult<()> {
        let (history, unread) = tokio::join!(self.projected(seq), self.projected_unread(seq));
        history.and(unread)
    }

    /// Like [`Actions::projected`], for the unread model.
    pub async fn projected_unread(&self, seq: u64) -> ApiResult<()> {
        self.wait(&self.0.reads.unread, seq).await
    }

    /// Like [`Actions::projected`], for the search index.
    pub async fn projected_search(&self, seq: u64) -> ApiResult<()> {
        self.wait(&self.0.reads.search, seq).await
    }

    /// A client's `min_seq`, refused at once when past the log's head (it could never be
    /// reached), naming the head.
    pub async fn min_seq_reachable(&self, seq: u64) -> ApiResult<()> {
        if seq <= self.0.reads.history.current() {
            return Ok(());
        }
        let head = self.bus().last_seq().await?;
        if seq <= head {
            return Ok(());
        }
        Err(ApiError::invalid(
            "min_seq",
            format!("the log's head is seq {head}: min_seq cannot be past it"),
        ))
    }

    async fn wait(&self, watch: &ProjectionWatch, seq: u64) -> ApiResult<()> {
        if watch.wait_for(seq, self.limits().read_wait).await {
            Ok(())
        } else {
            Err(ApiError::unavailable(format!(
                "the read models have not reached seq {seq} yet; retry shortly"
            )))
        }
    }
}
