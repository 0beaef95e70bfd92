//! `natter`: one binary, every role.

use std::process::ExitCode;

/// mimalloc returns freed memory to the system promptly: with glibc's allocator, bursts of
/// 19 MiB argon2 buffers and per-socket buffers stayed resident long after use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use natter::{Role, StartError, StreamArgs, UpConfig};
use natter_common::config::Connections;
use natter_common::{Ready, Shutdown, telemetry};
use natter_fanout::FanoutConfig;
use natter_gateway::GatewayConfig;
use natter_previews::PreviewsConfig;
use natter_projector::ProjectorConfig;

#[derive(Parser)]
#[command(
    name = "natter",
    version,
    about = "Event-sourced real-time chat on NATS JetStream, PostgreSQL and Redis"
)]
struct Cli {
    /// Log format: `text` or `json`. Levels come from NATTER_LOG (or RUST_LOG), default `info`.
    #[arg(long, env = "NATTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role (gateway, fan-out, projector, link previews, push hook) in one process.
    Up(UpArgs),
    /// Run a gateway (REST + WebSocket).
    Gateway(GatewayArgs),
    /// Run the fan-out worker.
    Fanout(FanoutArgs),
    /// Run the projectors (Postgres read models).
    Projector(ProjectorArgs),
    /// Run the link preview worker (it takes the gateways' settings, for their file store).
    Previews(PreviewsArgs),
    /// Run the push hook (mentions and direct messages of people not connected, to a webhook).
    Push(PushArgs),
    /// The keys personal data is sealed with: `natter keys rotate` (see `natter keys --help`).
    Keys(natter::keys::KeysArgs),
    /// Inspect, rebuild and verify the read models (see `natter projections --help`).
    Projections(natter::ops::ProjectionsArgs),
    /// Look into the log: follow, dump, count (see `natter events --help`).
    Events(natter::inspect::EventsArgs),
    /// A room's state at any seq of the log (see `natter rooms --help`).
    Rooms(natter::inspect::RoomsArgs),
    /// Load-test a running natter over its public REST and WebSocket surface.
    Bench(natter_bench::BenchArgs),
    /// Chat in the terminal: `natter chat --user alice` (see `natter chat --help`).
    Chat(natter_chat::ChatArgs),
}

/// What every role takes: the servers and the stream settings, plus the role's own config.
#[derive(Args)]
struct RoleArgs<T: Args> {
    #[command(flatten)]
    conn: Connections,
    #[command(flatten)]
    stream: StreamArgs,
    #[command(flatten)]
    role: T,
}

#[derive(Args)]
struct AllRoles {
    #[command(flatten)]
    gateway: GatewayConfig,
    #[command(flatten)]
    fanout: FanoutConfig,
    #[command(flatten)]
    projector: ProjectorConfig,
    #[command(flatten)]
    previews: PreviewsConfig,
    #[command(flatten)]
    push: natter_push::PushConfig,
}

#[derive(Args)]
struct PreviewsRole {
    #[command(flatten)]
    gateway: GatewayConfig,
    #[command(flatten)]
    previews: PreviewsConfig,
}

type UpArgs = RoleArgs<AllRoles>;
type GatewayArgs = RoleArgs<GatewayConfig>;
type FanoutArgs = RoleArgs<FanoutConfig>;
type ProjectorArgs = RoleArgs<ProjectorConfig>;
type PreviewsArgs = RoleArgs<PreviewsRole>;
type PushArgs = RoleArgs<natter_push::PushConfig>;

fn warn_dev_secret(config: &GatewayConfig) {
    if config.jwt_secret.is_none() {
        tracing::warn!(
            "NATTER_JWT_SECRET is not set: using a built-in development secret. Anyone can forge tokens. Set NATTER_JWT_SECRET before exposing natter"
        );
        eprintln!(
            "\n  WARNING: NATTER_JWT_SECRET is not set; tokens are signed with a public development secret.\n  Set NATTER_JWT_SECRET to a long random string before exposing natter to anyone.\n"
        );
    }
}

async fn bind(config: &GatewayConfig) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (NATTER_HTTP_ADDR): {e}",
                config.http_addr
            )
        })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals();
    match cli.command {
        Command::Up(args) => {
            warn_dev_secret(&args.role.gateway);
            let config = UpConfig {
                gateway: args.role.gateway,
                fanout: args.role.fanout,
                projector: args.role.projector,
                previews: args.role.previews,
                push: args.role.push,
                stream: args.stream,
            };
            // Named before anything is bound or connected.
            config.check(&args.conn, &Role::ALL)?;
            let listener = bind(&config.gateway).await?;
            natter::serve(
                &args.conn,
                &Role::ALL,
                config,
                Some(listener),
                shutdown,
                Ready::new(),
            )
            .await
        }
        Command::Gateway(args) => {
            warn_dev_secret(&args.role);
            let config = UpConfig {
                gateway: args.role,
                stream: args.stream,
                ..UpConfig::default()
            };
            let roles = [Role::Gateway];
            config.check(&args.conn, &roles)?;
            let listener = bind(&config.gateway).await?;
            natter::serve(
                &args.conn,
                &roles,
                config,
                Some(listener),
                shutdown,
                Ready::new(),
            )
            .await
        }
        Command::Fanout(args) => {
            let config = UpConfig {
                fanout: args.role,
                stream: args.stream,
                ..UpConfig::default()
            };
            natter::serve(
                &args.conn,
                &[Role::Fanout],
                config,
                None,
                shutdown,
                Ready::new(),
            )
            .await
        }
        Command::Projector(args) => {
            let config = UpConfig {
                projector: args.role,
                stream: args.stream,
                ..UpConfig::default()
            };
            let roles = [Role::Projector];
            natter::serve(&args.conn, &roles, config, None, shutdown, Ready::new()).await
        }
        Command::Previews(args) => {
            let config = UpConfig {
                gateway: args.role.gateway,
                previews: args.role.previews,
                stream: args.stream,
                ..UpConfig::default()
            };
            let roles = [Role::Previews];
            config.check(&args.conn, &roles)?;
            natter::serve(&args.conn, &roles, config, None, shutdown, Ready::new()).await
        }
        Command::Push(args) => {
            let config = UpConfig {
                push: args.role,
                stream: args.stream,
                ..UpConfig::default()
            };
            let roles = [Role::Push];
            config.check(&args.conn, &roles)?;
            natter::serve(&args.conn, &roles, config, None, shutdown, Ready::new()).await
        }
        Command::Projections(args) => natter::ops::projections(args, shutdown).await,
        Command::Keys(args) => natter::keys::keys(args).await,
        Command::Events(args) => natter::inspect::events(args, shutdown).await,
        Command::Rooms(args) => natter::inspect::rooms(args).await,
        Command::Bench(args) => natter_bench::run(args).await.map(drop),
        Command::Chat(args) => natter_chat::run(args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    natter_common::tls::install_crypto();
    let cli = Cli::parse();
    // The bench prints its own report; keep its output clean of info logs.
    // Operator commands print their results on stdout: their logs go to stderr.
    match cli.command {
        // The chat prints its own lines; logs would garble the line editor.
        Command::Bench(_) | Command::Chat(_) => {}
        Command::Projections(_) | Command::Events(_) | Command::Rooms(_) | Command::Keys(_) => {
            telemetry::init_to(cli.log_format == LogFormat::Json, true)
        }
        _ => telemetry::init(cli.log_format == LogFormat::Json),
    }
    let cli_json = cli.log_format == LogFormat::Json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Said on stderr, where whoever started natter sees it; with JSON logs (read by
            // machines) an unreachable server is logged as fields too, not twice as text.
            if let (true, Some(start)) = (cli_json, e.downcast_ref::<StartError>()) {
                tracing::error!(server = start.server, url = %start.url, cause = %start.cause, "cannot start");
            }
            eprintln!("natter: {e}");
            if e.downcast_ref::<natter::ops::Mismatch>().is_some() {
                return ExitCode::from(1);
            }
            ExitCode::from(2)
        }
    }
}
