//! The cipher: XChaCha20-Poly1305 with a random 24-byte nonce before each ciphertext, and what
//! a ciphertext is bound to given as associated data. Message bodies take a key derived from
//! their owner's key and their slot's (HKDF-SHA256), so that destroying either one erases them.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// A 256-bit key, wiped from memory when dropped.
pub type Key = Zeroizing<[u8; 32]>;

const NONCE: usize = 24;

/// A fresh random key.
pub fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    key
}

/// `plain` sealed under `key`, bound to `ad`: nonce, then ciphertext and tag.
pub fn seal(key: &[u8; 32], ad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE];
    rand::rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plain,
        aad: ad,
    };
    // Encryption fails only for inputs beyond 256 GiB.
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), payload)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// What [`seal`] sealed, when `key` and `ad` are the ones it was sealed with.
pub fn open(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().ok()?;
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: ad,
            },
        )
        .ok()
}

/// The key of one message version: from its owner's key and its slot's.
pub fn body_key(user_key: &[u8; 32], slot_key: &[u8; 32]) -> Key {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(slot_key), user_key);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit.
    let _ = hk.expand(b"natter message body v1", key.as_mut());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_binding() {
        let key = random_key();
        let sealed = seal(&key, b"event-1:body", b"hello");
        assert_eq!(
            open(&key, b"event-1:body", &sealed).as_deref(),
            Some(&b"hello"[..])
        );
        assert!(
            open(&key, b"event-2:body", &sealed).is_none(),
            "another event"
        );
        assert!(
            open(&key, b"event-1:name", &sealed).is_none(),
            "another field"
        );
        assert!(open(&random_key(), b"event-1:body", &sealed).is_none());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(open(&key, b"event-1:body", &tampered).is_none());
        assert_ne!(
            seal(&key, b"a", b"x"),
            seal(&key, b"a", b"x"),
            "fresh nonces"
        );
    }

    #[test]
    fn a_body_key_needs_both_keys() {
        let (user, slot) = (random_key(), random_key());
        let key = body_key(&user, &slot);
        assert_eq!(*key, *body_key(&user, &slot));
        assert_ne!(*key, *body_key(&random_key(), &slot));
        assert_ne!(*key, *body_key(&user, &random_key()));
    }
}
