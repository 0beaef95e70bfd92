use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natter::{StreamArgs, UpConfig};
use natter_common::config::Connections;
use natter_common::{Namespace, Ready, Shutdown};

use natter_gateway::GatewayConfig;
use natter_previews::PreviewsConfig;
use tokio::task::JoinHandle;

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs go to the test's captured output (shown when it fails): warnings and errors by default,
/// `RUST_LOG` for more.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A fresh namespace on the local NATS, Postgres and Redis.
pub struct TestEnv {
    pub conn: Connections,
}

fn base_database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/natter".into())
}

fn database_url_for(namespace: &str) -> String {
    let base = base_database_url();
    match base.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/natter_{namespace}", &base[..i]),
        _ => format!("{base}/natter_{namespace}"),
    }
}

impl TestEnv {
    pub async fn new() -> Self {
        init_logs();
        natter_common::tls::install_crypto();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!("t_{now}_{:08x}", rand::random::<u32>());
        let namespace = Namespace::new(name.clone()).expect("test namespace");
        let conn = Connections::local(namespace, database_url_for(&name));
        sweep_stale(&conn).await;
        Self { conn }
    }

    /// Connections to a server that is not there, for the config-error tests.
    pub fn unreachable(mut self, which: &str) -> Self {
        match which {
            "nats" => self.conn.nats_url = "nats://127.0.0.1:1".into(),
            "postgres" => self.conn.database_url = "postgres://root@127.0.0.1:1/natter".into(),
            "redis" => self.conn.redis_url = "redis://127.0.0.1:1".into(),
            other => panic!("unknown server {other}"),
        }
        self.conn.connect_timeout_ms = 2000;
        self
    }

    /// Reaches PostgreSQL through `127.0.0.1:<port>` (a [`crate::Proxy`] to it).
    pub fn database_via(mut self, port: u16) -> Self {
        let url = &self.conn.database_url;
        let (Some(at), Some(scheme)) = (url.find('@'), url.find("://")) else {
            panic!("cannot reroute {url}");
        };
        let start = at.max(scheme + 2) + 1;
        let end = url[start..].find('/').map_or(url.len(), |i| start + i);
        self.conn.database_url = format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..]);
        self
    }

    /// The log of this namespace, opened as the roles open it.
    pub async fn bus(&self) -> natter_bus::Bus {
        natter::open_log(&self.conn, &StreamArgs::default(), "natter-test")
            .await
            .expect("nats")
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        natter_projections::db::connect_and_migrate(
            &self.conn.database_url,
            4,
            Duration::from_secs(5),
        )
        .await
        .expect("postgres")
    }

    /// Where this namespace's uploads are kept (a directory of its own under the system's
    /// temporary directory).
    pub fn upload_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
            .join("natter-tests")
            .join(self.conn.namespace.as_str())
    }

    /// Deletes the namespace's stream, key bucket, database and uploads.
    pub async fn cleanup(self) {
        cleanup(&self.conn).await;
        let _ = std::fs::remove_dir_all(self.upload_dir());
    }
}

async fn cleanup(conn: &Connections) {
    if let Ok(client) =
        async_nats::connect(natter_bus::server_list(&conn.nats_url).unwrap_or_default()).await
    {
        let js = async_nats::jetstream::new(client);
        let subjects = natter_bus::Subjects::new(&conn.namespace);
        let _ = js.delete_stream(&subjects.stream_name()).await;
        let _ = js
            .delete_stream(format!("KV_{}", subjects.key_bucket()))
            .await;
    }
    let _ = natter_projections::db::drop_database(&conn.database_url).await;
}

/// Removes namespaces that crashed tests left behind (older than an hour).
async fn sweep_stale(conn: &Connections) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stale = |name: &str| -> Option<String> {
        let rest = name.strip_prefix("t_")?;
        let (secs, _) = rest.split_once('_')?;
        let secs: u64 = secs.parse().ok()?;
        (secs + 3600 < now).then(|| name.to_owned())
    };
    if let Ok(client) =
        async_nats::connect(natter_bus::server_list(&conn.nats_url).unwrap_or_default()).await
    {
        use futures::StreamExt;
        let js = async_nats::jetstream::new(client);
        let mut names = js.stream_names();
        let mut old = Vec::new();
        while let Some(Ok(name)) = names.next().await {
            let ns = name
                .strip_suffix("_EVENTS")
                .or_else(|| {
                    name.strip_prefix("KV_")
                        .and_then(|n| n.strip_suffix("_KEYS"))
                })
                .map(str::to_lowercase);
            if ns.as_deref().and_then(stale).is_some() {
                old.push(name);
            }
        }
        for name in old {
            let _ = js.delete_stream(&name).await;
        }
    }
    if let Ok(pool) = natter_projections::db::connect(
        &base_database_url().replace("/natter", "/postgres"),
        1,
        Duration::from_secs(2),
    )
    .await
    {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'natter_t\\_%'")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
        for db in names {
            if db.strip_prefix("natter_").and_then(stale).is_some() {
                let _ = natter_projections::db::drop_database(&database_url_for(
                    &db["natter_".len()..],
                ))
                .await;
            }
        }
    }
}

/// Which roles to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Gateway, fan-out and projector in one (`natter up`).
    All,
    Gateway,
    Fanout,
    Projector,
}

/// Roles running in this process.
pub struct Natter {
    /// `http://127.0.0.1:<port>` for roles with a gateway.
    pub base: String,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The gateway config tests start from: defaults, without rate limits (tests send fast; the
/// rate-limit tests set their own).
pub fn gateway_config() -> GatewayConfig {
    GatewayConfig {
        rate: natter_actions::ratelimit::RateLimits::off(),
        ..GatewayConfig::default()
    }
}

impl Natter {
    /// Starts `natter up` and waits until it is ready.
    pub async fn start(env: &TestEnv) -> Self {
        Self::start_role(env, Role::All, gateway_config()).await
    }

    /// Starts one role (or all) with a gateway config (its `http_addr` is ignored: port 0),
    /// and waits until each has said it started. Link previews are off: tests post links to
    /// hosts that do not exist (the previews tests turn them on, with [`Natter::start_config`]).
    pub async fn start_role(env: &TestEnv, role: Role, gateway: GatewayConfig) -> Self {
        let config = UpConfig {
            gateway,
            previews: PreviewsConfig {
                link_previews: false,
                ..PreviewsConfig::default()
            },
            ..UpConfig::default()
        };
        Self::start_config(env, role, config).await
    }

    /// Starts one role (or all) with `config`, as [`Natter::start_role`].
    pub async fn start_config(env: &TestEnv, role: Role, mut config: UpConfig) -> Self {
        // Uploads go to the namespace's own directory, unless the test chose a place.
        if config.gateway.files.store == natter_files::StoreConfig::default() {
            config.gateway.files.store.upload_dir = Some(env.upload_dir());
        }
        let shutdown = Shutdown::new();
        let ready = Ready::new();
        let conn = env.conn.clone();
        let roles: Vec<natter::Role> = match role {
            Role::All => natter::Role::ALL.to_vec(),
            Role::Gateway => vec![natter::Role::Gateway],
            Role::Fanout => vec![natter::Role::Fanout],
            Role::Projector => vec![natter::Role::Projector],
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let listener = roles.contains(&natter::Role::Gateway).then_some(listener);
        let (stop, told) = (shutdown.clone(), ready.clone());
        let count = roles.len();
        let mut task = tokio::spawn(async move {
            let ended = natter::serve(&conn, &roles, config, listener, stop, told).await;
            // A role that fails in a test is otherwise silent until something times out.
            if let Err(e) = &ended {
                eprintln!("role {role:?} ended with an error: {e:#}");
            }
            ended
        });
        tokio::select! {
            () = ready.wait(count) => {}
            ended = &mut task => panic!("natter {role:?} ended before it was ready: {ended:?}"),
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("natter {role:?} was not ready after 30 s"),
        }
        Self {
            base,
            shutdown,
            task,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.base.replacen("http", "ws", 1))
    }

    /// Graceful stop: shutdown, then wait for the roles to finish.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }

    /// Hard stop: the task is aborted at whatever await it is in, like a killed process (no
    /// drain, no acks).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Every event of a (small) test log, in order, one read per event.
pub async fn log_events(bus: &natter_bus::Bus) -> Vec<(u64, natter_schemas::Event)> {
    let head = bus.last_seq().await.expect("the log's head");
    let mut events = Vec::new();
    for seq in 1..=head {
        let bytes = bus.get(seq).await.expect("an event");
        events.push((
            seq,
            natter_schemas::Event::from_bytes(&bytes).expect("decodes"),
        ));
    }
    events
}
