//! The ICE servers clients are given for calls: STUN and TURN URLs from configuration, and,
//! when a TURN secret is set, short-lived TURN credentials per user (the TURN REST API that
//! coturn's `use-auth-secret` checks: the username is `<expiry>:<user id>`, the password the
//! base64 of HMAC-SHA1 of the username under the shared secret).

use base64::Engine;
use hmac::{KeyInit, Mac};
use natter_common::config::Checks;
use natter_schemas::calls::{IceServer, IceServers};
use uuid::Uuid;

/// Calls' settings.
#[derive(Debug, Clone, clap::Args)]
pub struct CallsConfig {
    /// STUN servers handed to clients for calls (`stun:host:port`, comma-separated).
    #[arg(long, env = "NATTER_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,
    /// TURN servers handed to clients for calls (`turn:host:port?transport=udp`, `turns:...`).
    #[arg(long, env = "NATTER_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,
    /// Secret shared with the TURN server (coturn `static-auth-secret`): clients then get
    /// credentials of their own that expire. Unset: TURN URLs are handed out without any.
    #[arg(long, env = "NATTER_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Life of TURN credentials, in seconds.
    #[arg(long, env = "NATTER_TURN_TTL_SECS", default_value_t = 43_200)]
    pub turn_ttl_secs: u64,
}

impl Default for CallsConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl CallsConfig {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        for (env, urls, schemes) in [
            (
                "NATTER_STUN_URLS",
                &self.stun_urls,
                &["stun:", "stuns:"][..],
            ),
            (
                "NATTER_TURN_URLS",
                &self.turn_urls,
                &["turn:", "turns:"][..],
            ),
        ] {
            for url in urls {
                checks.require(schemes.iter().any(|s| url.starts_with(s)), env, || {
                    format!("`{url}`: write {}host:port", schemes[0])
                });
            }
        }
        checks.require(
            (60..=7 * 86_400).contains(&self.turn_ttl_secs),
            "NATTER_TURN_TTL_SECS",
            || format!("{} s: use 60 to 604800", self.turn_ttl_secs),
        );
        let secret_len = self.turn_secret.as_ref().map_or(usize::MAX, String::len);
        checks.require(secret_len >= 16, "NATTER_TURN_SECRET", || {
            format!("{secret_len} bytes: use at least 16 random bytes")
        });
    }

    /// The servers for `user`, with TURN credentials valid until `now + ttl`.
    pub fn ice_servers(&self, user: Uuid, now: u64) -> IceServers {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        let mut expires_at = None;
        if !self.turn_urls.is_empty() {
            let (username, credential) = match &self.turn_secret {
                Some(secret) => {
                    let expiry = now + self.turn_ttl_secs;
                    expires_at = Some(expiry);
                    let username = format!("{expiry}:{user}");
                    (
                        Some(username.clone()),
                        Some(turn_password(secret, &username)),
                    )
                }
                None => (None, None),
            };
            servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username,
                credential,
            });
        }
        IceServers {
            ice_servers: servers,
            expires_at,
        }
    }
}

/// The TURN REST API's password for `username`.
fn turn_password(secret: &str, username: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_follow_the_turn_rest_api() {
        let config = CallsConfig {
            stun_urls: vec!["stun:stun.example.com:3478".into()],
            turn_urls: vec!["turn:turn.example.com:3478?transport=udp".into()],
            turn_secret: Some("north-wind-blows-cold".into()),
            turn_ttl_secs: 3600,
        };
        let user = Uuid::nil();
        let servers = config.ice_servers(user, 1_000_000);
        assert_eq!(servers.expires_at, Some(1_003_600));
        assert_eq!(servers.ice_servers.len(), 2);
        let turn = &servers.ice_servers[1];
        let username = format!("1003600:{user}");
        assert_eq!(turn.username.as_deref(), Some(username.as_str()));
        assert_eq!(
            turn.credential.as_deref(),
            Some(turn_password("north-wind-blows-cold", &username).as_str())
        );
        // RFC 2202-style vector: HMAC-SHA1("key", "The quick brown fox...") in base64.
        assert_eq!(
            turn_password("key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk="
        );
        let mut checks = Checks::default();
        config.check(&mut checks);
        assert!(checks.finish().is_ok());
        let bad = CallsConfig {
            stun_urls: vec!["https://stun.example.com".into()],
            turn_secret: Some("short".into()),
            ..CallsConfig::default()
        };
        let mut checks = Checks::default();
        bad.check(&mut checks);
        let named = checks.finish().expect_err("invalid").to_string();
        assert!(
            named.contains("NATTER_STUN_URLS") && named.contains("NATTER_TURN_SECRET"),
            "{named}"
        );
    }
}
