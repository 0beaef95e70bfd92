//! Putting the actions together from the connections and the settings: what a gateway does
//! once at start, and what a test of the actions does without any server.

use std::sync::Arc;
use std::time::Duration;

use natter_bus::Bus;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_realtime::calls::CallStore;
use natter_realtime::hub::Hub;
use natter_realtime::readwait::{CheckpointFeed, ProjectionWatch};
use natter_schemas::files::FileUrls;
use natter_vault::Vault;
use sqlx::PgPool;

use crate::auth::refresh::RefreshTokens;
use crate::auth::revocation::Revocations;
use crate::auth::seen::Seen;
use crate::auth::{Auth, Tokens};
use crate::handle::{Actions, Guards, Limits, Live, Parts, Reads};
use crate::moderation::{Blocklist, ModerationConfig};
use crate::ratelimit::{Limiter, RateLimits};
use crate::sent::SentIds;

/// The connections the actions use.
pub struct Connections {
    pub bus: Bus,
    pub pool: PgPool,
    pub redis: redis::aio::ConnectionManager,
    /// The keys personal data is sealed with.
    pub vault: Vault,
}

/// What the actions are set up with (a gateway's flags carry it).
pub struct Settings {
    /// The HS256 secret natter's tokens and refresh tokens are signed with.
    pub jwt_secret: String,
    pub token_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Longest a session ended elsewhere is still taken as good here.
    pub revocation_cache: Duration,
    pub rate: RateLimits,
    pub moderation: ModerationConfig,
    pub limits: Limits,
}

impl Actions {
    /// The actions over `connections`, their files named by `urls`. The returned feed moves
    /// the read models' watches on: its owner runs it ([`CheckpointFeed::run`]) until
    /// shutdown. Fails when the settings name a file that cannot be read (the blocklist).
    pub async fn start(
        connections: Connections,
        settings: Settings,
        urls: Arc<dyn FileUrls>,
    ) -> std::io::Result<(Self, CheckpointFeed)> {
        let Connections {
            bus,
            pool,
            redis,
            vault,
        } = connections;
        let blocklist = Blocklist::from_config(&settings.moderation)?;
        let ([history, unread, search], checkpoints) = ProjectionWatch::start_all(
            &bus,
            pool.clone(),
            [History::NAME, Unread::NAME, Search::NAME],
        )
        .await;
        let sent = SentIds::new(
            bus.clone(),
            pool.clone(),
            history.clone(),
            bus.duplicate_window().unwrap_or_default(),
            settings.limits.read_wait,
        );
        let prefix = bus.subjects().redis_prefix();
        let secret = settings.jwt_secret.as_bytes();
        let auth = Auth {
            tokens: Tokens::new(secret, settings.token_ttl),
            refresh: RefreshTokens::new(secret, settings.refresh_ttl),
            revocations: Revocations::new(pool.clone(), settings.revocation_cache),
            seen: Seen::new(redis.clone(), prefix.clone()),
        };
        let live = Live {
            hub: Hub::new(bus.clone(), pool.clone(), urls.clone(), vault.clone()),
            calls: CallStore::new(redis.clone(), prefix.clone()),
        };
        let actions = Actions::new(Parts {
            reads: Reads {
                history,
                unread,
                search,
                urls,
            },
            guards: Guards {
                limiter: Limiter::new(settings.rate, redis, prefix),
                blocklist,
                limits: settings.limits,
            },
            sent,
            auth,
            live,
            bus,
            pool,
            vault,
        });
        Ok((actions, checkpoints))
    }
}
