//! Signed file URLs and keyed content hashes, both from one secret.
//!
//! A signed URL names a file, a variant (the file or its thumbnail) and an expiry, and works
//! for whoever holds it until then. Expiries are rounded up to the end of a window, so that
//! every reader of a message within one window gets the same URL (an event is still encoded
//! once per gateway, not once per viewer): a URL lives between one and two windows.
//!
//! The content hash is an HMAC of the bytes, not a plain digest, so that nobody who reads the
//! log can confirm a guess about what a file holds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Which bytes of a file a URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::Original => b"file",
            Self::Thumbnail => b"thumb",
        }
    }
}

/// Signs and checks file URLs, and hashes file contents.
#[derive(Clone)]
pub struct Signer {
    url_key: [u8; 32],
    hash_key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// A key for one purpose, derived from the secret (HMAC with the purpose as message).
pub fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = mac_of(secret);
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn mac_of(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// The HMAC-SHA256 of `data` under `key`, base64url without padding.
pub fn tag(key: &[u8], data: &[u8]) -> String {
    let mut mac = mac_of(key);
    mac.update(data);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `tag` is [`tag`] of `data` under `key`, compared in constant time.
pub fn tag_matches(key: &[u8], data: &[u8], tag: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    let mut mac = mac_of(key);
    mac.update(data);
    mac.verify_slice(&tag).is_ok()
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            url_key: derive(secret, b"natter file urls v1"),
            hash_key: derive(secret, b"natter file content v1"),
        }
    }

    fn url_mac(&self, file: Uuid, variant: Variant, expires: u64) -> HmacSha256 {
        let mut mac = mac_of(&self.url_key);
        mac.update(variant.tag());
        mac.update(&[0]);
        mac.update(file.as_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The signature of `file`'s `variant` until `expires` (seconds since the epoch).
    pub fn sign(&self, file: Uuid, variant: Variant, expires: u64) -> String {
        let tag = self.url_mac(file, variant, expires).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// Whether `signature` is this server's for `file`'s `variant` until `expires`, and
    /// `expires` has not passed at `now`. Compared in constant time.
    pub fn verify(
        &self,
        file: Uuid,
        variant: Variant,
        expires: u64,
        signature: &str,
        now: u64,
    ) -> bool {
        if expires < now {
            return false;
        }
        let Ok(tag) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.url_mac(file, variant, expires)
            .verify_slice(&tag)
            .is_ok()
    }

    /// A running keyed hash of a file's bytes.
    pub fn content_hasher(&self) -> ContentHasher {
        ContentHasher(mac_of(&self.hash_key))
    }
}

/// Hashes a file's bytes as they stream by.
pub struct ContentHasher(HmacSha256);

impl ContentHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash, as lowercase hex.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The expiry of URLs minted at `now` with a lifetime of at least `ttl` seconds: the end of
/// the window after the current one, so that URLs minted within one window are the same.
pub fn window_expiry(now: u64, ttl: u64) -> u64 {
    let ttl = ttl.max(1);
    (now / ttl + 2) * ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_file_variant_and_expiry_only() {
        let signer = Signer::new(b"a secret of the server, long enough");
        let (file, other) = (Uuid::now_v7(), Uuid::now_v7());
        let sig = signer.sign(file, Variant::Original, 1_000);
        assert!(signer.verify(file, Variant::Original, 1_000, &sig, 999));
        assert!(signer.verify(file, Variant::Original, 1_000, &sig, 1_000));
        assert!(
            !signer.verify(file, Variant::Original, 1_000, &sig, 1_001),
            "expired"
        );
        assert!(
            !signer.verify(file, Variant::Thumbnail, 1_000, &sig, 0),
            "variant"
        );
        assert!(
            !signer.verify(other, Variant::Original, 1_000, &sig, 0),
            "file"
        );
        assert!(
            !signer.verify(file, Variant::Original, 2_000, &sig, 0),
            "expiry"
        );
        assert!(!signer.verify(file, Variant::Original, 1_000, "not base64!", 0));
        let other_server = Signer::new(b"another secret");
        assert!(!other_server.verify(file, Variant::Original, 1_000, &sig, 0));
    }

    #[test]
    fn urls_minted_in_one_window_are_the_same_and_live_one_to_two_windows() {
        assert_eq!(window_expiry(3_600, 3_600), 3 * 3_600);
        assert_eq!(window_expiry(7_199, 3_600), 3 * 3_600);
        assert_eq!(window_expiry(7_200, 3_600), 4 * 3_600);
        for now in [0, 1, 3_599, 3_600, 10_000] {
            let exp = window_expiry(now, 3_600);
            assert!(exp - now > 3_600 && exp - now <= 7_200, "{now} -> {exp}");
        }
    }

    #[test]
    fn content_hashes_are_keyed() {
        let hash = |secret: &[u8], bytes: &[u8]| {
            let mut h = Signer::new(secret).content_hasher();
            h.update(bytes);
            h.finish()
        };
        assert_eq!(hash(b"k", b"abc"), hash(b"k", b"abc"));
        assert_ne!(hash(b"k", b"abc"), hash(b"j", b"abc"));
        assert_eq!(hash(b"k", b"abc").len(), 64);
    }
}
