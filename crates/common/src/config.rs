//! Connection settings shared by every role. Each role's own config flattens [`Connections`].

use clap::Args;

use crate::Namespace;

#[derive(Debug, Clone, Args)]
pub struct Connections {
    /// Namespace for the stream, subjects, consumers and Redis keys.
    #[arg(long, env = "NATTER_NAMESPACE", default_value = "natter")]
    pub namespace: Namespace,
    /// NATS server(s) with JetStream, comma-separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// PostgreSQL database for the read models; created when missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/natter"
    )]
    pub database_url: String,
    /// Redis, for ephemeral state only.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// How long to wait for each server when connecting, in milliseconds.
    #[arg(long, env = "NATTER_CONNECT_TIMEOUT_MS", default_value_t = 5000)]
    pub connect_timeout_ms: u64,
}

impl Connections {
    /// Settings for the local default servers in the given namespace (tests, tools).
    pub fn local(namespace: Namespace, database_url: String) -> Self {
        Self {
            namespace,
            nats_url: std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
            database_url,
            redis_url: std::env::var("REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            connect_timeout_ms: 5000,
        }
    }

    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.connect_timeout_ms)
    }
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `T` with the defaults its clap attributes declare, environment ignored: the one place a
/// setting's default is written, so that `Default` cannot drift from the flags. Panics only if
/// `T` has a required setting without a default, which its `Default` test shows at once.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let parsed = command
        .try_get_matches_from(["defaults"])
        .and_then(|matches| T::from_arg_matches(&matches));
    match parsed {
        Ok(config) => config,
        Err(e) => panic!(
            "{} has a setting without a default: {e}",
            std::any::type_name::<T>()
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        use super::redact_url;
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://root@h/db"), "postgres://root@h/db");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }
}
