//! Where the preview fetcher may go: web URLs only, to hosts the allow and deny lists let
//! through, at addresses on the public internet (unless private ones are allowed, for tests).
//!
//! The address check is what stops server-side request forgery: a message linking to
//! `http://169.254.169.254/` (a cloud's metadata service), `http://localhost:6379/` or a host
//! whose DNS answers `10.0.0.5` must not make natter fetch it. Every address a name resolves
//! to is checked, and the connection is made only to the checked ones (see
//! [`crate::fetch`]), so a DNS answer that changes between check and connect gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use url::Url;

/// Why a URL is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an http or https URL")]
    Scheme,
    #[error("the URL has credentials in it")]
    Credentials,
    #[error("port {0} is not allowed")]
    Port(u16),
    #[error("host {0} is not allowed")]
    Host(String),
    #[error("address {0} is not public")]
    Address(IpAddr),
    #[error("{0} resolves to no allowed address")]
    NoAddress(String),
}

/// The fetcher's rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// When not empty, only these hosts (and their subdomains).
    pub allow_hosts: Vec<String>,
    /// Never these hosts (and their subdomains).
    pub deny_hosts: Vec<String>,
    /// Also fetch from loopback, private and link-local addresses: for tests, never in
    /// production.
    pub allow_private: bool,
    /// The only ports fetched from (a link to another port of a public host may be a service
    /// that was never meant to be reached from a message); empty: any.
    pub ports: Vec<u16>,
}

impl Policy {
    /// Whether `url` may be fetched, as far as can be told without resolving it: its scheme,
    /// its host's name, and its address when the host is an IP literal.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.ports.is_empty() && !self.ports.contains(&port) {
            return Err(Refused::Port(port));
        }
        match url.host() {
            None => Err(Refused::Host(String::new())),
            Some(url::Host::Ipv4(ip)) => self
                .check_name(&ip.to_string())
                .and_then(|()| self.check_ip(ip.into())),
            Some(url::Host::Ipv6(ip)) => self
                .check_name(&ip.to_string())
                .and_then(|()| self.check_ip(ip.into())),
            Some(url::Host::Domain(name)) => self.check_name(name),
        }
    }

    /// Whether the allow and deny lists let `host` through.
    pub fn check_name(&self, host: &str) -> Result<(), Refused> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let listed = |list: &[String]| list.iter().any(|entry| matches_host(&host, entry));
        if listed(&self.deny_hosts) || (!self.allow_hosts.is_empty() && !listed(&self.allow_hosts))
        {
            return Err(Refused::Host(host));
        }
        Ok(())
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(Refused::Address(ip))
        }
    }
}

/// `host` is `entry` or one of its subdomains.
fn matches_host(host: &str, entry: &str) -> bool {
    let entry = entry.trim_start_matches("*.").trim_end_matches('.');
    host == entry
        || host
            .strip_suffix(entry)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Whether `ip` is an ordinary address on the public internet: not loopback, private,
/// link-local (cloud metadata services live there), carrier-grade NAT, multicast, broadcast,
/// documentation, benchmarking or reserved space, nor an IPv6 form of one of those (mapped,
/// NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: &[&str] = &[
        "0.0.0.0/8",       // this network
        "10.0.0.0/8",      // private
        "100.64.0.0/10",   // carrier-grade NAT
        "127.0.0.0/8",     // loopback
        "169.254.0.0/16",  // link-local, cloud metadata
        "172.16.0.0/12",   // private
        "192.0.0.0/24",    // protocol assignments
        "192.0.2.0/24",    // documentation
        "192.88.99.0/24",  // 6to4 relays
        "192.168.0.0/16",  // private
        "198.18.0.0/15",   // benchmarking
        "198.51.100.0/24", // documentation
        "203.0.113.0/24",  // documentation
        "224.0.0.0/4",     // multicast
        "240.0.0.0/4",     // reserved, broadcast
    ];
    !BLOCKED.iter().any(|net| {
        net.parse::<Ipv4Net>()
            .is_ok_and(|net: Ipv4Net| net.contains(&ip))
    })
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16) carry an
    // IPv4 address; local NAT64 prefixes reach whatever the site's translator reaches.
    if segments[..3] == [0x64, 0xff9b, 1] {
        return false;
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return public_v4(Ipv4Addr::new(a, b, c, d));
    }
    const BLOCKED: &[&str] = &[
        "::/128",        // unspecified
        "::1/128",       // loopback
        "::/96",         // IPv4-compatible (deprecated)
        "100::/64",      // discard
        "2001::/32",     // Teredo
        "2001:db8::/32", // documentation
        "fc00::/7",      // unique local (private)
        "fe80::/10",     // link-local
        "fec0::/10",     // site-local (deprecated)
        "ff00::/8",      // multicast
    ];
    !BLOCKED.iter().any(|net| {
        net.parse::<Ipv6Net>()
            .is_ok_and(|net: Ipv6Net| net.contains(&ip))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private} passed");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public} refused");
        }
    }

    #[test]
    fn urls_are_checked_before_resolving() {
        let policy = Policy::default();
        assert_eq!(
            policy.check_url(&url("ftp://example.com/")),
            Err(Refused::Scheme)
        );
        assert_eq!(
            policy.check_url(&url("file:///etc/passwd")),
            Err(Refused::Scheme)
        );
        assert_eq!(
            policy.check_url(&url("https://user:pw@example.com/")),
            Err(Refused::Credentials)
        );
        // IP literals, in every spelling the URL parser accepts.
        for literal in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            assert!(
                matches!(policy.check_url(&url(literal)), Err(Refused::Address(_))),
                "{literal}"
            );
        }
        assert_eq!(policy.check_url(&url("https://example.com/a")), Ok(()));
        let web = Policy {
            ports: vec![80, 443],
            ..Policy::default()
        };
        assert_eq!(web.check_url(&url("http://example.com/")), Ok(()));
        assert_eq!(
            web.check_url(&url("http://example.com:8222/varz")),
            Err(Refused::Port(8222))
        );
        let tests = Policy {
            allow_private: true,
            ..Policy::default()
        };
        assert_eq!(tests.check_url(&url("http://127.0.0.1:8080/")), Ok(()));
    }

    #[test]
    fn allow_and_deny_lists_take_subdomains() {
        let policy = Policy {
            allow_hosts: vec!["example.com".into()],
            deny_hosts: vec!["secret.example.com".into()],
            ..Policy::default()
        };
        assert!(policy.check_name("example.com").is_ok());
        assert!(policy.check_name("WWW.Example.com.").is_ok());
        assert!(policy.check_name("a.secret.example.com").is_err());
        assert!(policy.check_name("notexample.com").is_err());
        assert!(policy.check_name("example.com.evil.net").is_err());
    }
}
