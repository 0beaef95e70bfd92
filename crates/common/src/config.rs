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
    /// How often to ping the NATS server, in seconds: one that stops answering (hung, or
    /// its machine gone without closing the connection) is left for another of the cluster
    /// after two unanswered pings.
    #[arg(long, env = "NATS_PING_INTERVAL_SECS", default_value_t = 2)]
    pub nats_ping_interval_secs: u64,
    /// A NATS credentials file (the user's JWT and nkey seed, as `nsc` writes it), for
    /// servers run with an operator and accounts. User and password go in `NATS_URL`
    /// (`nats://user:password@host:4222`).
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// A file holding a NATS user's nkey seed (`SU...`), for servers that know users by nkey.
    #[arg(long, env = "NATS_NKEY_FILE")]
    pub nats_nkey_file: Option<std::path::PathBuf>,
    /// The CA certificate(s) (PEM) that signed the NATS servers' certificates; with it, TLS is
    /// required (as with `tls://` in `NATS_URL`).
    #[arg(long, env = "NATS_TLS_CA")]
    pub nats_tls_ca: Option<std::path::PathBuf>,
    /// A client certificate (PEM) for NATS servers that verify their clients, with
    /// `NATS_TLS_KEY`.
    #[arg(long, env = "NATS_TLS_CERT")]
    pub nats_tls_cert: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "NATS_TLS_KEY")]
    pub nats_tls_key: Option<std::path::PathBuf>,
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
            nats_ping_interval_secs: 2,
            nats_creds: None,
            nats_nkey_file: None,
            nats_tls_ca: None,
            nats_tls_cert: None,
            nats_tls_key: None,
        }
    }

    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn nats_ping_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.nats_ping_interval_secs)
    }
}

/// A setting that cannot work, named as the operator sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Its environment variable (the flag is the same name, lower case, without `NATTER_`).
    pub env: &'static str,
    pub why: String,
}

/// Every unusable setting found at start; natter refuses to start with them.
#[derive(Debug, thiserror::Error)]
pub struct InvalidConfig(pub Vec<Invalid>);

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration:")?;
        for Invalid { env, why } in &self.0 {
            write!(f, "\n  {env} (--{}): {why}", flag_of(env))?;
        }
        Ok(())
    }
}

/// The flag of a setting read from `env`: `NATTER_MAX_FRAME_BYTES` is `max-frame-bytes`.
fn flag_of(env: &str) -> String {
    env.strip_prefix("NATTER_")
        .unwrap_or(env)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Collects the problems of a configuration: each config type checks its own settings into
/// one of these, and the composition refuses to start when any was found.
#[derive(Debug, Default)]
pub struct Checks(Vec<Invalid>);

impl Checks {
    /// Records that the setting read from `env` cannot work unless `ok`, saying `why`.
    pub fn require(&mut self, ok: bool, env: &'static str, why: impl FnOnce() -> String) {
        if !ok {
            self.0.push(Invalid { env, why: why() });
        }
    }

    /// Every problem found, or none.
    pub fn finish(self) -> Result<(), InvalidConfig> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(self.0))
        }
    }
}

impl Connections {
    /// Adds the problems of the server settings to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        let schemes = |url: &str, allowed: &[&str]| {
            url.split(',').all(|one| {
                let one = one.trim();
                !one.is_empty() && allowed.iter().any(|s| one.starts_with(&format!("{s}://")))
            })
        };
        // A bare host:port is accepted by the NATS client, as are its own schemes.
        let nats_ok = self.nats_url.split(',').all(|one| {
            let one = one.trim();
            !one.is_empty() && (!one.contains("://") || schemes(one, &["nats", "tls", "ws", "wss"]))
        });
        checks.require(
            (1..=300).contains(&self.nats_ping_interval_secs),
            "NATS_PING_INTERVAL_SECS",
            || format!("{} s: use 1 to 300", self.nats_ping_interval_secs),
        );
        let readable = |path: &Option<std::path::PathBuf>| {
            path.as_ref().is_none_or(|p| std::fs::File::open(p).is_ok())
        };
        for (env, path) in [
            ("NATS_CREDS", &self.nats_creds),
            ("NATS_NKEY_FILE", &self.nats_nkey_file),
            ("NATS_TLS_CA", &self.nats_tls_ca),
            ("NATS_TLS_CERT", &self.nats_tls_cert),
            ("NATS_TLS_KEY", &self.nats_tls_key),
        ] {
            checks.require(readable(path), env, || {
                format!(
                    "cannot read `{}`",
                    path.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            });
        }
        checks.require(
            self.nats_creds.is_none() || self.nats_nkey_file.is_none(),
            "NATS_NKEY_FILE",
            || {
                "set NATS_CREDS or NATS_NKEY_FILE, not both (a credentials file holds its own nkey)"
                    .into()
            },
        );
        checks.require(
            self.nats_tls_cert.is_some() == self.nats_tls_key.is_some(),
            "NATS_TLS_KEY",
            || "NATS_TLS_CERT and NATS_TLS_KEY go together".into(),
        );
        checks.require(nats_ok, "NATS_URL", || {
            format!(
                "`{}` is not a list of NATS servers (nats://host:port, comma-separated)",
                redact_url(&self.nats_url)
            )
        });
        checks.require(
            schemes(&self.database_url, &["postgres", "postgresql"]),
            "DATABASE_URL",
            || {
                format!(
                    "`{}` is not a PostgreSQL URL (postgres://user@host:port/database)",
                    redact_url(&self.database_url)
                )
            },
        );
        checks.require(
            schemes(&self.redis_url, &["redis", "rediss", "unix", "redis+unix"]),
            "REDIS_URL",
            || {
                format!(
                    "`{}` is not a Redis URL (redis://host:port)",
                    redact_url(&self.redis_url)
                )
            },
        );
        checks.require(
            (100..=600_000).contains(&self.connect_timeout_ms),
            "NATTER_CONNECT_TIMEOUT_MS",
            || format!("{} ms: use 100 to 600000", self.connect_timeout_ms),
        );
    }
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        // A list (`NATS_URL` of a cluster): each address on its own.
        return url.split(',').map(redact_url).collect::<Vec<_>>().join(",");
    }
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
    fn problems_name_the_variable_and_the_flag() {
        use super::{Checks, Connections, defaults};
        let mut conn: Connections = defaults();
        let mut checks = Checks::default();
        conn.check(&mut checks);
        assert!(checks.finish().is_ok(), "the defaults are valid");
        conn.database_url = "mysql://u:secret@h/db".into();
        conn.connect_timeout_ms = 0;
        conn.nats_url = "127.0.0.1:4222,nats://h:4222".into();
        let mut checks = Checks::default();
        conn.check(&mut checks);
        let text = checks.finish().expect_err("two problems").to_string();
        assert!(text.contains("DATABASE_URL (--database-url)"), "{text}");
        assert!(
            text.contains("NATTER_CONNECT_TIMEOUT_MS (--connect-timeout-ms)"),
            "{text}"
        );
        assert!(!text.contains("secret"), "passwords stay out: {text}");
        assert!(!text.contains("NATS_URL"), "{text}");
    }

    #[test]
    fn redacts_passwords_only() {
        use super::redact_url;
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://root@h/db"), "postgres://root@h/db");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            redact_url("nats://a:pw@n1:4222,nats://n2:4222,nats://b:pw2@n3:4222"),
            "nats://a:***@n1:4222,nats://n2:4222,nats://b:***@n3:4222"
        );
    }
}
