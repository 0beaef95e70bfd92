//! The roles a process runs ([`Role`]), each on the connections it needs, together or alone
//! ([`serve`]).

use natter_common::config::{Checks, Connections, InvalidConfig};
use natter_common::{Ready, Shutdown};
use natter_fanout::FanoutConfig;
use natter_gateway::AppState;
use natter_gateway::files::Files;
use natter_previews::PreviewsConfig;
use natter_projector::ProjectorConfig;

use crate::{
    StreamArgs, UpConfig, connect_redis, gateway_deps, open_log, open_log_and_keys,
    open_read_models, thread,
};

/// A role a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// REST and WebSocket.
    Gateway,
    /// Delivers the log's events to the gateways.
    Fanout,
    /// Builds the read models.
    Projector,
    /// Previews the links of messages (with the gateways' file settings).
    Previews,
    /// Calls the push webhook for people who are not connected (idle unless configured).
    Push,
}

impl UpConfig {
    /// The settings `roles` use that cannot work, each named; checked before anything starts.
    pub fn check(&self, conn: &Connections, roles: &[Role]) -> Result<(), InvalidConfig> {
        let mut checks = Checks::default();
        conn.check(&mut checks);
        self.stream.check(&mut checks);
        for role in roles {
            match role {
                Role::Gateway => self.gateway.check(&mut checks),
                Role::Fanout => self.fanout.check(&mut checks),
                Role::Projector => self.projector.check(&mut checks),
                Role::Previews => {
                    self.previews.check(&mut checks);
                    self.gateway.files.check(&mut checks);
                }
                Role::Push => self.push.check(&mut checks),
            }
        }
        checks.finish()
    }
}

impl Role {
    /// What `natter up` runs.
    pub const ALL: [Role; 5] = [
        Role::Gateway,
        Role::Fanout,
        Role::Projector,
        Role::Previews,
        Role::Push,
    ];
}

/// Runs `roles` in this process until `shutdown`, or until one of them fails: the first role
/// to end stops the others, and every role is awaited, so that the gateway's drain and the
/// projector's last commit finish before this returns (with the first error, if any).
/// `listener` is the gateway's (bound by the caller, so tests can use port 0). `ready` counts
/// each role once it has started: `natter up`, each single role and the test kit all start
/// roles through here.
pub async fn serve(
    conn: &Connections,
    roles: &[Role],
    config: UpConfig,
    listener: Option<tokio::net::TcpListener>,
    shutdown: Shutdown,
    ready: Ready,
) -> anyhow::Result<()> {
    config.check(conn, roles)?;
    let UpConfig {
        gateway,
        fanout: fanout_config,
        projector: projector_config,
        previews: previews_config,
        push: push_config,
        stream,
    } = config;
    // The previews' files are the gateways'.
    let preview_files = roles
        .contains(&Role::Previews)
        .then(|| (gateway.files.clone(), gateway.jwt_secret().to_owned()));
    let mut tasks = tokio::task::JoinSet::new();
    // The gateway's state first: if it cannot start, nothing else has.
    if roles.contains(&Role::Gateway) {
        let listener =
            listener.ok_or_else(|| anyhow::anyhow!("the gateway role needs a listener"))?;
        let deps = gateway_deps(conn, &stream, "natter-gateway").await?;
        let state = AppState::new(gateway, deps, shutdown.clone()).await?;
        let run = natter_gateway::run(listener, state, shutdown.clone(), ready.clone());
        tasks.spawn(async move { run.await.map_err(anyhow::Error::from) });
    }
    if roles.contains(&Role::Fanout) {
        // With a gateway, the fan-out stays on its runtime, where it measured better than on
        // a thread of its own (`1x50`'s p99 was longer), on a NATS connection of its own.
        let (conn, stream, shutdown, ready) = (
            conn.clone(),
            stream.clone(),
            shutdown.clone(),
            ready.clone(),
        );
        tasks.spawn(async move { fanout(&conn, fanout_config, &stream, shutdown, ready).await });
    }
    if roles.contains(&Role::Projector) {
        let (conn, stream, shutdown, ready) = (
            conn.clone(),
            stream.clone(),
            shutdown.clone(),
            ready.clone(),
        );
        if roles.contains(&Role::Gateway) {
            // Beside a gateway, on a thread of its own (see `thread`).
            tasks.spawn(thread::spawn_role("projector", move || async move {
                projector(&conn, projector_config, &stream, shutdown, ready).await
            }));
        } else {
            tasks.spawn(async move {
                projector(&conn, projector_config, &stream, shutdown, ready).await
            });
        }
    }
    if let Some((files, jwt_secret)) = preview_files {
        let (conn, stream, shutdown, ready) = (
            conn.clone(),
            stream.clone(),
            shutdown.clone(),
            ready.clone(),
        );
        let files = Files::open(files, &jwt_secret)?;
        let files = natter_previews::PreviewFiles {
            limits: files.config.image_limits(),
            store: files.store,
            signer: files.signer,
        };
        tasks.spawn(async move {
            previews(&conn, previews_config, files, &stream, shutdown, ready).await
        });
    }
    if roles.contains(&Role::Push) {
        let (conn, stream, shutdown, ready) = (
            conn.clone(),
            stream.clone(),
            shutdown.clone(),
            ready.clone(),
        );
        tasks.spawn(async move { push(&conn, push_config, &stream, shutdown, ready).await });
    }
    let mut result = Ok(());
    while let Some(ended) = tasks.join_next().await {
        shutdown.trigger();
        let ended = ended.map_err(anyhow::Error::from).and_then(|r| r);
        match ended {
            Err(e) if result.is_ok() => result = Err(e),
            // Only the first failure is returned; the others are not dropped unheard.
            Err(e) => tracing::error!(error = %format!("{e:#}"), "another role failed too"),
            Ok(()) => {}
        }
    }
    result
}

async fn fanout(
    conn: &Connections,
    config: FanoutConfig,
    stream: &StreamArgs,
    shutdown: Shutdown,
    ready: Ready,
) -> anyhow::Result<()> {
    let bus = open_log(conn, stream, "natter-fanout").await?;
    natter_fanout::run(bus, config, shutdown, ready).await?;
    Ok(())
}

async fn previews(
    conn: &Connections,
    config: PreviewsConfig,
    files: natter_previews::PreviewFiles,
    stream: &StreamArgs,
    shutdown: Shutdown,
    ready: Ready,
) -> anyhow::Result<()> {
    let bus = open_log(conn, stream, "natter-previews").await?;
    let pool = open_read_models(conn, &bus, 4).await?;
    natter_previews::run(bus, pool, files, config, shutdown, ready).await?;
    Ok(())
}

async fn push(
    conn: &Connections,
    config: natter_push::PushConfig,
    stream: &StreamArgs,
    shutdown: Shutdown,
    ready: Ready,
) -> anyhow::Result<()> {
    let bus = open_log(conn, stream, "natter-push").await?;
    let pool = open_read_models(conn, &bus, 4).await?;
    let redis = connect_redis(conn).await?;
    natter_push::run(bus, pool, redis, config, shutdown, ready).await?;
    Ok(())
}

async fn projector(
    conn: &Connections,
    config: ProjectorConfig,
    stream: &StreamArgs,
    shutdown: Shutdown,
    ready: Ready,
) -> anyhow::Result<()> {
    let (bus, vault) = open_log_and_keys(conn, stream, "natter-projector").await?;
    let pool = open_read_models(conn, &bus, 4).await?;
    natter_projector::run(bus, pool, config, Some(vault), shutdown, ready).await?;
    Ok(())
}
