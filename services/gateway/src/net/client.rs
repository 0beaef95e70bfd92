//! The client's address: the peer's, or behind a trusted proxy, the one it forwarded.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::error::Refusal;
use crate::state::AppState;

/// Who is asking, for per-address limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The request came through a trusted proxy (`ip` is from `X-Forwarded-For`).
    pub forwarded: bool,
}

/// The client address of a request from `peer`: the peer itself unless it is one of the
/// `trusted` proxies; then the right-most address in `X-Forwarded-For` that is not a trusted
/// proxy (every hop appends the address it saw, so addresses to the left of the last untrusted
/// one may be forged by the client).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return ClientAddr {
            ip: peer,
            forwarded: false,
        };
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    match hops.into_iter().rev().find(|ip| !is_trusted(ip)) {
        Some(ip) => ClientAddr {
            ip,
            forwarded: true,
        },
        // Only proxies (or nothing usable): the proxy is the client.
        None => ClientAddr {
            ip: peer,
            forwarded: false,
        },
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        Ok(client_addr(
            peer,
            &parts.headers,
            &state.config().net.trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        // A stranger cannot claim another address.
        assert_eq!(
            client_addr(stranger, &headers("198.51.100.1"), &trusted).ip,
            stranger
        );
        // Through the proxy: the last address it did not add itself, past other proxies.
        let seen = client_addr(proxy, &headers("1.1.1.1, 198.51.100.7, 10.9.9.9"), &trusted);
        assert_eq!(seen.ip, "198.51.100.7".parse::<IpAddr>().expect("ip"));
        assert!(seen.forwarded);
        // No header: the proxy itself.
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted).ip, proxy);
        assert_eq!(client_addr(proxy, &headers("garbage"), &trusted).ip, proxy);
    }
}
