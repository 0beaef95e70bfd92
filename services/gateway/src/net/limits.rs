//! Caps on open connections: in all, and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections; each admitted one holds a [`Permit`] for as long as it is open
/// (a WebSocket's permit moves with its socket when the request upgrades).
#[derive(Clone)]
pub struct Conns(Arc<Inner>);

struct Inner {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The gateway holds its most connections.
    Full,
    /// This client address holds its most connections.
    PerAddress,
}

/// One open connection; dropping it frees its place.
pub struct Permit {
    conns: Conns,
    ip: Option<IpAddr>,
    counted_total: bool,
}

impl Conns {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self(Arc::new(Inner {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        }))
    }

    /// Admits a TCP connection from `ip` (`None`: a trusted proxy, held to the total only).
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<Permit, Refused> {
        self.take(ip, true)
    }

    /// Admits a client behind a trusted proxy (its TCP connection was admitted as the
    /// proxy's): counted per address, not again in the total.
    pub fn admit_forwarded(&self, ip: IpAddr) -> Result<Permit, Refused> {
        self.take(Some(ip), false)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn take(&self, ip: Option<IpAddr>, total: bool) -> Result<Permit, Refused> {
        let mut counts = self.lock();
        if total && counts.total >= self.0.max_total {
            return Err(Refused::Full);
        }
        if let Some(ip) = ip {
            let n = counts.per_ip.entry(ip).or_default();
            if *n >= self.0.max_per_ip {
                return Err(Refused::PerAddress);
            }
            *n += 1;
        }
        if total {
            counts.total += 1;
        }
        Ok(Permit {
            conns: self.clone(),
            ip,
            counted_total: total,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.conns.lock();
        if self.counted_total {
            counts.total = counts.total.saturating_sub(1);
        }
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let conns = Conns::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = conns.admit(Some(a)).expect("first");
        let _second = conns.admit(Some(a)).expect("second");
        assert_eq!(conns.admit(Some(a)).err(), Some(Refused::PerAddress));
        let _proxy = conns.admit(None).expect("a proxy counts in the total only");
        assert_eq!(conns.admit(Some(b)).err(), Some(Refused::Full));
        drop(first);
        let _third = conns.admit(Some(a)).expect("a freed place");
        // Behind a proxy: per address, never in the total.
        let _f1 = conns.admit_forwarded(b).expect("forwarded");
        let _f2 = conns.admit_forwarded(b).expect("forwarded");
        assert_eq!(conns.admit_forwarded(b).err(), Some(Refused::PerAddress));
        assert_eq!(conns.open(), 3);
    }
}
