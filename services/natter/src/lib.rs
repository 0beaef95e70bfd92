//! The `natter` binary's composition: connecting to the servers (with errors that say what to
//! do), and running roles together or one at a time ([`roles`]). The test kit starts roles
//! through here.

pub mod inspect;
pub mod keys;
pub mod ops;
mod roles;
mod thread;

pub use roles::{Role, serve};

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use natter_bus::{Bus, StreamSettings};
use natter_common::config::{Checks, Connections, redact_url};
use natter_fanout::FanoutConfig;
use natter_gateway::{Deps, GatewayConfig};
use natter_previews::PreviewsConfig;
use natter_projections::identity::{self, IdentityError, LogIdentity};
use natter_projector::ProjectorConfig;
use sqlx::PgPool;

/// Stream settings, for the roles that create the stream.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Replicas of the event stream when it is created (3 on a NATS cluster).
    #[arg(long, env = "NATTER_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// JetStream's window for dropping a repeated send (`Nats-Msg-Id`), in seconds. Repeats
    /// after it are caught by the read model.
    #[arg(long, env = "NATTER_DEDUPE_WINDOW_SECS", default_value_t = 120)]
    pub dedupe_window_secs: u64,
    /// How long an append whose answer is undecided (a leader being elected, the connection
    /// lost) is sent again, with the same bytes and id, before the client hears
    /// `unavailable`, in seconds. Must stay inside the dedupe window, less its margin.
    #[arg(long, env = "NATTER_APPEND_RETRY_SECS", default_value_t = 15)]
    pub append_retry_secs: u64,
    /// The key-encryption keys (a file of `<id> <32 bytes, base64>` lines, the current one
    /// first) that wrap the keys personal data in the log is sealed with. Unset: a built-in
    /// development key, with a warning. Keep it outside NATS and its backups.
    #[arg(long, env = "NATTER_KEK_FILE")]
    pub kek_file: Option<std::path::PathBuf>,
    /// How long a process trusts a key it read from the key bucket, in seconds: a key
    /// destroyed through another process (an erasure, a delete) may still be used here for
    /// this long.
    #[arg(long, env = "NATTER_KEY_CACHE_SECS", default_value_t = 60)]
    pub key_cache_secs: u64,
}

impl Default for StreamArgs {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl StreamArgs {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        checks.require(
            (1..=5).contains(&self.stream_replicas),
            "NATTER_STREAM_REPLICAS",
            || format!("{}: JetStream keeps 1 to 5 replicas", self.stream_replicas),
        );
        checks.require(
            (1..=7 * 86_400).contains(&self.dedupe_window_secs),
            "NATTER_DEDUPE_WINDOW_SECS",
            || format!("{} s: use 1 to 604800", self.dedupe_window_secs),
        );
        // A resend after the window could be stored twice; the margin is the gateway's own
        // (its filter of sent ids trusts the window less 10 s, or a quarter of a short one).
        let margin =
            natter_bus::dedupe_margin(Duration::from_secs(self.dedupe_window_secs)).as_secs();
        checks.require(
            (1..=60).contains(&self.append_retry_secs)
                && self.append_retry_secs + margin < self.dedupe_window_secs,
            "NATTER_APPEND_RETRY_SECS",
            || {
                format!(
                    "{} s: use 1 to 60, and less than NATTER_DEDUPE_WINDOW_SECS ({} s) minus {margin} s",
                    self.append_retry_secs, self.dedupe_window_secs
                )
            },
        );
        checks.require(self.key_cache_secs <= 3600, "NATTER_KEY_CACHE_SECS", || {
            format!("{} s: use 0 to 3600", self.key_cache_secs)
        });
        if let Some(path) = &self.kek_file
            && let Err(e) = natter_vault::Keks::from_file(path)
        {
            checks.require(false, "NATTER_KEK_FILE", || e.to_string());
        }
    }

    /// The key-encryption keys: the file's, or the development key (with a warning, once per
    /// process however many roles it runs).
    pub fn keks(&self) -> Result<natter_vault::Keks, natter_vault::KekError> {
        static WARNED: std::sync::Once = std::sync::Once::new();
        match &self.kek_file {
            Some(path) => natter_vault::Keks::from_file(path),
            None => {
                WARNED.call_once(|| {
                    tracing::warn!(
                        "NATTER_KEK_FILE is not set: the keys that seal personal data in the log are wrapped with a built-in development key. Set NATTER_KEK_FILE before storing anyone's data"
                    );
                });
                Ok(natter_vault::Keks::development())
            }
        }
    }

    pub fn settings(&self) -> StreamSettings {
        StreamSettings {
            replicas: self.stream_replicas,
            duplicate_window: Duration::from_secs(self.dedupe_window_secs),
            resend_bound: Duration::from_secs(self.append_retry_secs),
        }
    }
}

/// A server that could not be reached, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {server} at {url}: {cause}\n  {hint}")]
pub struct StartError {
    pub server: &'static str,
    pub url: String,
    pub cause: String,
    pub hint: &'static str,
}

const NATS_HINT: &str = "start it with JetStream enabled, e.g. `nats-server -js` (Debian: start-stop-daemon --start --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server), or set NATS_URL";
const REPLICAS_HINT: &str = "is JetStream enabled (`-js`)? NATTER_STREAM_REPLICAS must not exceed the JetStream nodes that answer: 1 with a single server; on a cluster with a node down, start the node again (or make the log with fewer replicas)";
const PG_HINT: &str = "start it, e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set DATABASE_URL";
const REDIS_HINT: &str = "start it, e.g. `redis-server --daemonize yes`, or set REDIS_URL";

pub async fn connect_nats(conn: &Connections, name: &str) -> Result<Bus, StartError> {
    Bus::connect(conn, name).await.map_err(|e| StartError {
        server: "NATS",
        url: redact_url(&conn.nats_url),
        cause: e.to_string(),
        hint: NATS_HINT,
    })
}

pub async fn ensure_stream(
    bus: &Bus,
    conn: &Connections,
    stream: &StreamArgs,
) -> Result<(), StartError> {
    bus.ensure_stream(&stream.settings())
        .await
        .map_err(|e| StartError {
            server: "NATS JetStream",
            url: redact_url(&conn.nats_url),
            cause: e.to_string(),
            hint: REPLICAS_HINT,
        })
}

pub async fn connect_postgres(conn: &Connections, max: u32) -> Result<PgPool, StartError> {
    natter_projections::db::connect_and_migrate(&conn.database_url, max, conn.connect_timeout())
        .await
        .map_err(|e| StartError {
            server: "PostgreSQL",
            url: redact_url(&conn.database_url),
            cause: e.to_string(),
            hint: PG_HINT,
        })
}

pub async fn connect_redis(
    conn: &Connections,
) -> Result<redis::aio::ConnectionManager, StartError> {
    let err = |cause: String| StartError {
        server: "Redis",
        url: redact_url(&conn.redis_url),
        cause,
        hint: REDIS_HINT,
    };
    let client = redis::Client::open(conn.redis_url.as_str()).map_err(|e| err(e.to_string()))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(conn.connect_timeout()))
        .set_number_of_retries(1);
    let mut manager = tokio::time::timeout(
        conn.connect_timeout(),
        redis::aio::ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| err("timed out".into()))?
    .map_err(|e| err(e.to_string()))?;
    redis::cmd("PING")
        .query_async::<String>(&mut manager)
        .await
        .map_err(|e| err(e.to_string()))?;
    Ok(manager)
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .clone()
}

/// Everything `natter up` runs, configured.
#[derive(Debug, Clone, Default)]
pub struct UpConfig {
    pub gateway: GatewayConfig,
    pub fanout: FanoutConfig,
    pub projector: ProjectorConfig,
    pub previews: PreviewsConfig,
    pub push: natter_push::PushConfig,
    pub stream: StreamArgs,
}

/// The log, opened: connected, with the stream ensured, and its keys (events read through the
/// bus are unsealed).
pub async fn open_log(conn: &Connections, stream: &StreamArgs, name: &str) -> anyhow::Result<Bus> {
    Ok(open_log_and_keys(conn, stream, name).await?.0)
}

/// [`open_log`], creating the log even where the read models record one that is gone: for
/// `natter projections rebuild all`, which takes them over.
pub async fn open_log_taking_over(
    conn: &Connections,
    stream: &StreamArgs,
    name: &str,
) -> anyhow::Result<Bus> {
    let bus = connect_nats(conn, name).await?;
    Ok(open_keys(conn, stream, bus).await?.0)
}

/// [`open_log`], with the vault (for the roles that seal what they append).
pub async fn open_log_and_keys(
    conn: &Connections,
    stream: &StreamArgs,
    name: &str,
) -> anyhow::Result<(Bus, natter_vault::Vault)> {
    let bus = connect_nats(conn, name).await?;
    refuse_a_new_log_for_old_read_models(conn, &bus).await?;
    open_keys(conn, stream, bus).await
}

/// The stream ensured on `bus`, and the vault opened on it.
async fn open_keys(
    conn: &Connections,
    stream: &StreamArgs,
    bus: Bus,
) -> anyhow::Result<(Bus, natter_vault::Vault)> {
    ensure_stream(&bus, conn, stream).await?;
    let vault = natter_vault::Vault::open(
        &bus,
        stream.keks()?,
        stream.stream_replicas,
        Duration::from_secs(stream.key_cache_secs),
    )
    .await
    .map_err(|e| match e.kind {
        // The bucket is there but not the log's (or gone): said as it is.
        natter_bus::BusErrorKind::Other => anyhow::anyhow!(e.message),
        _ => StartError {
            server: "NATS JetStream (the key bucket)",
            url: redact_url(&conn.nats_url),
            cause: e.to_string(),
            hint: REPLICAS_HINT,
        }
        .into(),
    })?;
    Ok((bus, vault))
}

/// The read models' database is another log's (see [`natter_projections::identity`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "the database {database} holds another log's read models: {cause}. Give this log a database of its own (DATABASE_URL), or rebuild the read models from this log with `natter projections rebuild all` (the other log's read models are then gone)"
)]
pub struct LogMismatch {
    pub database: String,
    pub cause: IdentityError,
}

/// The read models' log is gone from NATS (see [`refuse_a_new_log_for_old_read_models`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "the log the read models in {database} were built from ({recorded}) is not in NATS at {nats}: NATS lost its store, or NATS_URL names another NATS. Nothing was created. Point NATS_URL at the NATS that holds it; or start a new log, either with an empty database (DATABASE_URL) or by rebuilding these read models from it with `natter projections rebuild all` (what they hold of the old log is then gone)"
)]
pub struct LogGone {
    pub database: String,
    pub nats: String,
    pub recorded: LogIdentity,
}

/// Nothing creates a stream (or its key bucket) before the identity check has passed: where
/// the stream is missing but the read models record this namespace's log, a new empty log
/// would be served under old read models, so start refuses before creating anything.
async fn refuse_a_new_log_for_old_read_models(conn: &Connections, bus: &Bus) -> anyhow::Result<()> {
    let exists = bus.stream_exists().await.map_err(|e| StartError {
        server: "NATS JetStream",
        url: redact_url(&conn.nats_url),
        cause: e.to_string(),
        hint: REPLICAS_HINT,
    })?;
    if exists {
        return Ok(());
    }
    let pool = connect_postgres(conn, 1).await?;
    let recorded = identity::recorded(&pool).await;
    pool.close().await;
    match recorded {
        Ok(Some(recorded)) if recorded.stream == bus.subjects().stream_name() => Err(LogGone {
            database: redact_url(&conn.database_url),
            nats: redact_url(&conn.nats_url),
            recorded,
        }
        .into()),
        Ok(_) => Ok(()),
        Err(e) => Err(StartError {
            server: "PostgreSQL",
            url: redact_url(&conn.database_url),
            cause: e.to_string(),
            hint: PG_HINT,
        }
        .into()),
    }
}

/// The log `bus` reads, as the read models record it.
pub fn log_identity(bus: &Bus) -> LogIdentity {
    LogIdentity {
        stream: bus.subjects().stream_name(),
        epoch: bus.epoch().to_owned(),
    }
}

/// Checks that `pool`'s read models were built from the log `bus` reads (recording it on a new
/// database).
pub async fn check_read_models(conn: &Connections, bus: &Bus, pool: &PgPool) -> anyhow::Result<()> {
    let head = bus.last_seq().await.map_err(|e| StartError {
        server: "NATS JetStream",
        url: redact_url(&conn.nats_url),
        cause: e.to_string(),
        hint: NATS_HINT,
    })?;
    match identity::claim(pool, &log_identity(bus), head).await {
        Ok(()) => Ok(()),
        Err(IdentityError::Db(e)) => Err(StartError {
            server: "PostgreSQL",
            url: redact_url(&conn.database_url),
            cause: e.to_string(),
            hint: PG_HINT,
        }
        .into()),
        Err(cause) => Err(LogMismatch {
            database: redact_url(&conn.database_url),
            cause,
        }
        .into()),
    }
}

/// The read models' database, connected, migrated and checked to be this log's.
pub async fn open_read_models(conn: &Connections, bus: &Bus, max: u32) -> anyhow::Result<PgPool> {
    let pool = connect_postgres(conn, max).await?;
    check_read_models(conn, bus, &pool).await?;
    Ok(pool)
}

/// Everything a gateway connects to.
pub(crate) async fn gateway_deps(
    conn: &Connections,
    stream: &StreamArgs,
    name: &str,
) -> anyhow::Result<Deps> {
    let (bus, vault) = open_log_and_keys(conn, stream, name).await?;
    let pool = open_read_models(conn, &bus, 16).await?;
    Ok(Deps {
        bus,
        pool,
        redis: connect_redis(conn).await?,
        metrics: metrics_handle(),
        vault,
    })
}
