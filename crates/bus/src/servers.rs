//! Where NATS is: `NATS_URL` as operators write it, one address or a comma-separated list
//! (`nats://n1:4222,nats://n2:4222,nats://n3:4222`), each with its own scheme and, where the
//! cluster asks for them, user and password. async-nats reads one string as one address, so
//! the list is split here; the client connects to any of them and learns the rest of the
//! cluster from the one it reaches. How natter proves who it is ([`authenticated`]): user and
//! password in the URL, an nkey, a credentials file; and TLS with a CA and a client
//! certificate.

use std::str::FromStr;

use async_nats::ServerAddr;

use async_nats::ConnectOptions;
use natter_common::config::Connections;

use crate::error::BusError;

/// `options` with the credentials and TLS settings of `conn`: user and password (or a token)
/// from the URL (async-nats parses them but does not send them), an nkey, a credentials file,
/// a CA and a client certificate.
pub(crate) async fn authenticated(
    mut options: ConnectOptions,
    conn: &Connections,
) -> Result<ConnectOptions, BusError> {
    let mut given: Option<(String, Option<String>)> = None;
    for addr in server_list(&conn.nats_url)? {
        let Some(user) = addr.username().filter(|u| !u.is_empty()) else {
            continue;
        };
        let this = (user.to_owned(), addr.password().map(str::to_owned));
        match &given {
            Some(earlier) if *earlier != this => {
                return Err(BusError::other(
                    "the addresses in NATS_URL name different users: name one user (or token) for the cluster",
                ));
            }
            _ => given = Some(this),
        }
    }
    options = match given {
        Some((user, Some(password))) => options.user_and_password(user, password),
        Some((token, None)) => options.token(token),
        None => options,
    };
    let unreadable = |what: &str, path: &std::path::Path, e: std::io::Error| {
        BusError::other(format!("{what} `{}`: {e}", path.display()))
    };
    if let Some(path) = &conn.nats_creds {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| unreadable("the NATS credentials file", path, e))?;
    }
    if let Some(path) = &conn.nats_nkey_file {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| unreadable("the NATS nkey seed file", path, e))?;
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(ca) = &conn.nats_tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&conn.nats_tls_cert, &conn.nats_tls_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// The addresses in `url`, in order; an entry that is not a NATS address is named (its
/// password hidden) with why.
pub fn server_list(url: &str) -> Result<Vec<ServerAddr>, BusError> {
    let entries: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(BusError::other("no NATS address given"));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            ServerAddr::from_str(entry).map_err(|e| {
                BusError::other(format!(
                    "address {} of {} ({}) is not a NATS address: {e}",
                    i + 1,
                    entries.len(),
                    natter_common::config::redact_url(entry)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_split_into_its_addresses() {
        let list = server_list("nats://127.0.0.1:4222, nats://u:p@127.0.0.2:4223 ,tls://h:4224")
            .expect("three addresses");
        let hosts: Vec<(String, u16)> = list
            .iter()
            .map(|a| (a.host().to_owned(), a.port()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1".to_owned(), 4222),
                ("127.0.0.2".to_owned(), 4223),
                ("h".to_owned(), 4224)
            ]
        );
        assert_eq!(list[1].username(), Some("u"));
        assert!(list[2].tls_required());
        assert_eq!(server_list("nats://one:4222").expect("one").len(), 1);
    }

    #[test]
    fn a_bad_entry_is_named_without_its_password() {
        let e = server_list("nats://a:4222,nats://u:secret@b:notaport").expect_err("a bad port");
        assert!(e.message.contains("address 2 of 2"), "{e}");
        assert!(!e.message.contains("secret"), "{e}");
        assert!(server_list(" , ").is_err());
    }
}
