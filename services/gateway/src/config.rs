//! The gateway's configuration: flags and env vars, validated once.

use std::net::SocketAddr;
use std::time::Duration;

use natter_common::config::Checks;

/// Used when `NATTER_JWT_SECRET` is not set; `natter` warns loudly when it is.
pub const DEV_JWT_SECRET: &str = "natter-dev-secret-do-not-use-in-production";

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayConfig {
    /// Address for REST and WebSocket.
    #[arg(long, env = "NATTER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// HS256 secret for tokens. Unset: an insecure development secret, with a warning.
    #[arg(long, env = "NATTER_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, env = "NATTER_TOKEN_TTL_SECS", default_value_t = 86_400)]
    pub token_ttl_secs: u64,
    /// Refresh token lifetime in seconds: a session not refreshed for this long signs in again.
    #[arg(long, env = "NATTER_REFRESH_TTL_SECS", default_value_t = 30 * 86_400)]
    pub refresh_ttl_secs: u64,
    /// Longest a token ended through another gateway is still accepted over REST here, in ms:
    /// how long a gateway caches whether a session is good. 0: never cached. Sockets of an
    /// ended session close as soon as its end reaches their gateway.
    #[arg(long, env = "NATTER_REVOCATION_CACHE_MS", default_value_t = 5000)]
    pub revocation_cache_ms: u64,
    /// How often each gateway records the delivery receipts (`delivered` frames) it was told,
    /// in ms: one `delivered.updated` event per room told anything in the interval.
    #[arg(long, env = "NATTER_DELIVERED_FLUSH_MS", default_value_t = 1000)]
    pub delivered_flush_ms: u64,
    /// Largest WebSocket frame (and message) accepted, in bytes; larger closes with 1009.
    #[arg(long, env = "NATTER_MAX_FRAME_BYTES", default_value_t = 65_536)]
    pub max_frame_bytes: usize,
    /// Largest REST JSON body, in bytes; larger is 413.
    #[arg(long, env = "NATTER_MAX_JSON_BYTES", default_value_t = 65_536)]
    pub max_json_bytes: usize,
    /// Longest message body, in characters; longer is `payload_too_large`.
    #[arg(long, env = "NATTER_MAX_MESSAGE_CHARS", default_value_t = 4000)]
    pub max_message_chars: usize,
    /// Frames queued per socket before the socket is closed as too slow (4008).
    #[arg(long, env = "NATTER_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Most missed events replayed on `subscribe` with `since`; more answers `recovered: false`.
    #[arg(long, env = "NATTER_MAX_REPLAY", default_value_t = 5000)]
    pub max_replay: u64,
    /// How often clients should send a frame (announced in `hello`); a socket silent for three
    /// times this is closed.
    #[arg(long, env = "NATTER_HEARTBEAT_MS", default_value_t = 30_000)]
    pub heartbeat_ms: u64,
    /// How long a socket opened without a token may take to send its `auth` frame, in ms;
    /// then it is closed with 4001.
    #[arg(long, env = "NATTER_WS_AUTH_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_auth_timeout_ms: u64,
    /// Longest wait for the read models to reach a seq (`min_seq`, and writes that answer with
    /// the new state), in milliseconds.
    #[arg(long, env = "NATTER_READ_WAIT_MS", default_value_t = 5000)]
    pub read_wait_ms: u64,
    /// Check sends against this gateway's memory of the room (kept from its delivery feed)
    /// and of the sender's message ids, instead of a PostgreSQL query per send, where that
    /// memory can be vouched for. Either way a post whose sender lost the right to post after
    /// the check is void (README, "A send races a removal").
    #[arg(long, env = "NATTER_SEND_CHECK_FROM_MEMORY", default_value_t = true, action = clap::ArgAction::Set)]
    pub send_check_from_memory: bool,
    /// Most sockets one user may hold open on one gateway; more are refused with 429.
    #[arg(long, env = "NATTER_MAX_CONNECTIONS_PER_USER", default_value_t = 20)]
    pub max_connections_per_user: usize,
    /// Most rooms one socket may subscribe to.
    #[arg(long, env = "NATTER_MAX_SUBSCRIPTIONS", default_value_t = 1000)]
    pub max_subscriptions: usize,
    /// Origins allowed to open WebSockets (`https://app.example.com`, comma-separated). Empty:
    /// any. Browsers send `Origin`; set this so that other sites' pages cannot use a
    /// visitor's credentials on natter (cross-site WebSocket hijacking). Requests without an
    /// `Origin` (native apps, bots) are not affected.
    #[arg(long, env = "NATTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Users who may use the admin API (`/v1/admin/...`), comma-separated ids. Tokens with
    /// `"admin": true` (from an identity provider) may too.
    #[arg(long, env = "NATTER_ADMIN_USER_IDS", value_delimiter = ',')]
    pub admin_user_ids: Vec<uuid::Uuid>,
    /// Serve the web client at `/` (its files are in the binary).
    #[arg(long, env = "NATTER_WEB_CLIENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub web_client: bool,
    /// Who can be found with `GET /v1/users` (and looked up by id or name): `all`, or
    /// `shared_rooms` (those who share a room or direct conversation with the caller).
    #[arg(long, env = "NATTER_USER_DIRECTORY", value_enum, default_value_t = UserDirectory::All)]
    pub user_directory: UserDirectory,
    #[command(flatten)]
    pub net: crate::net::NetConfig,
    #[command(flatten)]
    pub presence: natter_realtime::presence::PresenceConfig,
    #[command(flatten)]
    pub rate: natter_actions::ratelimit::RateLimits,
    #[command(flatten)]
    pub moderation: natter_actions::moderation::ModerationConfig,
    #[command(flatten)]
    pub files: crate::files::FilesConfig,
    #[command(flatten)]
    pub calls: natter_realtime::calls::ice::CallsConfig,
    #[command(flatten)]
    pub gifs: crate::gifs::provider::GifConfig,
}

impl Default for GatewayConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl GatewayConfig {
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }

    pub fn ws_auth_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_auth_timeout_ms)
    }

    pub fn jwt_secret(&self) -> &str {
        self.jwt_secret.as_deref().unwrap_or(DEV_JWT_SECRET)
    }

    /// What the chat actions are set up with, from these flags.
    pub fn actions_settings(&self) -> natter_actions::Settings {
        natter_actions::Settings {
            jwt_secret: self.jwt_secret().to_owned(),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_ttl_secs),
            revocation_cache: Duration::from_millis(self.revocation_cache_ms),
            rate: self.rate.clone(),
            moderation: self.moderation.clone(),
            limits: natter_actions::Limits {
                max_message_chars: self.max_message_chars,
                send_check_from_memory: self.send_check_from_memory,
                read_wait: self.read_wait(),
                directory: match self.user_directory {
                    UserDirectory::All => natter_projections::history::queries::Findable::All,
                    UserDirectory::SharedRooms => {
                        natter_projections::history::queries::Findable::SharingARoom
                    }
                },
            },
        }
    }

    /// Adds the settings that cannot work to `checks` (what clap's parsing cannot see:
    /// ranges, and settings that must agree).
    pub fn check(&self, checks: &mut Checks) {
        const MIB: usize = 1024 * 1024;
        let within = |checks: &mut Checks, env, value: u64, lo: u64, hi: u64, unit: &str| {
            checks.require((lo..=hi).contains(&value), env, || {
                format!("{value} {unit}: use {lo} to {hi}")
            });
        };
        let secret_len = self.jwt_secret.as_ref().map_or(usize::MAX, String::len);
        checks.require(secret_len >= 32, "NATTER_JWT_SECRET", || {
            format!("{secret_len} bytes: use at least 32 random bytes (HS256 needs 256 bits)")
        });
        within(
            checks,
            "NATTER_TOKEN_TTL_SECS",
            self.token_ttl_secs,
            1,
            366 * 86_400,
            "s",
        );
        within(
            checks,
            "NATTER_REFRESH_TTL_SECS",
            self.refresh_ttl_secs,
            60,
            366 * 86_400,
            "s",
        );
        within(
            checks,
            "NATTER_REVOCATION_CACHE_MS",
            self.revocation_cache_ms,
            0,
            60_000,
            "ms",
        );
        within(
            checks,
            "NATTER_DELIVERED_FLUSH_MS",
            self.delivered_flush_ms,
            50,
            60_000,
            "ms",
        );
        let sizes = [
            ("NATTER_MAX_FRAME_BYTES", self.max_frame_bytes),
            ("NATTER_MAX_JSON_BYTES", self.max_json_bytes),
        ];
        for (env, value) in sizes {
            within(checks, env, value as u64, 1024, 64 * MIB as u64, "bytes");
        }
        checks.require(
            (1..=self.max_frame_bytes.max(1)).contains(&self.max_message_chars),
            "NATTER_MAX_MESSAGE_CHARS",
            || {
                format!(
                    "{} characters: use 1 to NATTER_MAX_FRAME_BYTES ({}), so that a message that long fits a frame",
                    self.max_message_chars, self.max_frame_bytes
                )
            },
        );
        let counts = [
            ("NATTER_OUTBOUND_QUEUE", self.outbound_queue, 1_000_000),
            (
                "NATTER_MAX_CONNECTIONS_PER_USER",
                self.max_connections_per_user,
                1_000_000,
            ),
            (
                "NATTER_MAX_SUBSCRIPTIONS",
                self.max_subscriptions,
                1_000_000,
            ),
            (
                "NATTER_MAX_CONNECTIONS",
                self.net.max_connections,
                10_000_000,
            ),
            (
                "NATTER_MAX_CONNECTIONS_PER_IP",
                self.net.max_connections_per_ip,
                10_000_000,
            ),
        ];
        for (env, value, hi) in counts {
            within(checks, env, value as u64, 1, hi, "");
        }
        within(
            checks,
            "NATTER_MAX_REPLAY",
            self.max_replay,
            0,
            10_000_000,
            "events",
        );
        within(
            checks,
            "NATTER_WS_AUTH_TIMEOUT_MS",
            self.ws_auth_timeout_ms,
            100,
            600_000,
            "ms",
        );
        within(
            checks,
            "NATTER_HEARTBEAT_MS",
            self.heartbeat_ms,
            100,
            3_600_000,
            "ms",
        );
        within(
            checks,
            "NATTER_READ_WAIT_MS",
            self.read_wait_ms,
            1,
            60_000,
            "ms",
        );
        within(
            checks,
            "NATTER_HEADER_TIMEOUT_MS",
            self.net.header_timeout_ms,
            100,
            600_000,
            "ms",
        );
        let header_bytes = self.net.max_header_bytes as u64;
        within(
            checks,
            "NATTER_MAX_HEADER_BYTES",
            header_bytes,
            1024,
            MIB as u64,
            "bytes",
        );
        let presence_ttl = self.presence.presence_ttl_secs;
        within(
            checks,
            "NATTER_PRESENCE_TTL_SECS",
            presence_ttl,
            1,
            86_400,
            "s",
        );
        self.files.check(checks);
        self.calls.check(checks);
        self.gifs.check(checks);
        for origin in &self.allowed_origins {
            checks.require(is_origin(origin), "NATTER_ALLOWED_ORIGINS", || {
                format!(
                    "`{origin}` is not an origin: write scheme://host[:port], as browsers send it (no path, no trailing slash)"
                )
            });
        }
    }
}

/// Whether `s` is written as browsers send `Origin`: `scheme://host[:port]`.
fn is_origin(s: &str) -> bool {
    let Some((scheme, authority)) = s.split_once("://") else {
        return false;
    };
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.parse::<u16>().is_ok() {
                host
            } else {
                ""
            }
        });
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !host.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults come from the flags' declarations, environment ignored.
    #[test]
    fn defaults_are_the_declared_ones() {
        let config = GatewayConfig::default();
        assert_eq!(config.http_addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.max_frame_bytes, 65_536);
        assert!(config.send_check_from_memory);
        assert_eq!(config.net.max_connections_per_ip, 4096);
        assert_eq!(config.presence.presence_ttl_secs, 30);
        assert_eq!(
            config.rate.rate_messages,
            "30/10s".parse().expect("a limit")
        );
        assert!(config.allowed_origins.is_empty() && config.jwt_secret.is_none());
    }

    /// The defaults pass; each unusable setting is named once.
    #[test]
    fn unusable_settings_are_named() {
        let mut checks = Checks::default();
        GatewayConfig::default().check(&mut checks);
        assert!(checks.finish().is_ok());
        let config = GatewayConfig {
            jwt_secret: Some("short".into()),
            max_frame_bytes: 0,
            heartbeat_ms: 5,
            allowed_origins: vec![
                "https://app.example.com".into(),
                "http://127.0.0.1:8080".into(),
                "https://app.example.com/".into(),
                "app.example.com".into(),
            ],
            ..GatewayConfig::default()
        };
        let mut checks = Checks::default();
        config.check(&mut checks);
        let invalid = checks.finish().expect_err("invalid").0;
        let named: Vec<&str> = invalid.iter().map(|i| i.env).collect();
        assert_eq!(
            named,
            [
                "NATTER_JWT_SECRET",
                "NATTER_MAX_FRAME_BYTES",
                "NATTER_MAX_MESSAGE_CHARS",
                "NATTER_HEARTBEAT_MS",
                "NATTER_ALLOWED_ORIGINS",
                "NATTER_ALLOWED_ORIGINS",
            ]
        );
        assert!(invalid[0].why.starts_with("5 bytes"), "{invalid:?}");
        assert!(!invalid[0].why.contains("short"), "the secret stays out");
    }
}

/// Who can be found in the user directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserDirectory {
    All,
    SharedRooms,
}
