//! The key-encryption keys: kept outside NATS (a file named in config), they wrap every key
//! the bucket holds, so that a copy of the bucket alone opens nothing.
//!
//! The file has one key per line, `<id> <32 bytes, base64>` (`#` starts a comment): the first
//! is current (new keys are wrapped with it), the others are older ones still accepted while
//! a rotation rewraps the bucket. After a rotation, remove the old lines: what was wrapped
//! only by them (a destroyed key in an old backup of the bucket) cannot be opened any more.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::aead::{self, Key};

/// Format of a wrapped key: this byte, the wrapping key's id, then [`aead::seal`]'s output.
const FORMAT: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("cannot read the key file {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("line {line} of the key file: {what}")]
    Line { line: usize, what: &'static str },
    #[error("the key file holds no key")]
    Empty,
}

/// The key-encryption keys, the current one first.
pub struct Keks {
    keys: Vec<(u8, Key)>,
}

impl Keks {
    /// From the file's text (see the module docs).
    pub fn parse(text: &str) -> Result<Self, KekError> {
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |what| KekError::Line { line: i + 1, what };
            let (id, key) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("write `<id> <base64 key>`"))?;
            let id: u8 = id
                .parse()
                .map_err(|_| bad("the id is a number from 0 to 255"))?;
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(key.trim())
                    .map_err(|_| bad("the key is not base64"))?,
            );
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| bad("the key must be 32 bytes"))?;
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(bad("this id is used twice"));
            }
            keys.push((id, Zeroizing::new(key)));
        }
        if keys.is_empty() {
            return Err(KekError::Empty);
        }
        Ok(Self { keys })
    }

    pub fn from_file(path: &Path) -> Result<Self, KekError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|cause| KekError::Read {
                    path: path.display().to_string(),
                    cause,
                })?,
            );
        Self::parse(&text)
    }

    /// A key derived from a public string: for development only (natter warns when it is used).
    pub fn development() -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, b"natter development key-encryption key");
        let mut key = Zeroizing::new([0u8; 32]);
        let _ = hk.expand(b"natter kek v1", key.as_mut());
        Self {
            keys: vec![(0, key)],
        }
    }

    /// The current key's id.
    pub fn current(&self) -> u8 {
        self.keys.first().map_or(0, |k| k.0)
    }

    /// `plain` (the key stored under `name`) wrapped with the current key.
    pub fn wrap(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let Some((id, key)) = self.keys.first() else {
            return Vec::new();
        };
        let mut out = vec![FORMAT, *id];
        out.extend(aead::seal(key, name.as_bytes(), plain));
        out
    }

    /// What [`Keks::wrap`] wrapped under `name`, and the id of the key that wrapped it; None
    /// when no key here opens it (an unknown or removed key, another name, tampering).
    pub fn unwrap(&self, name: &str, wrapped: &[u8]) -> Option<(Zeroizing<Vec<u8>>, u8)> {
        let [FORMAT, id, sealed @ ..] = wrapped else {
            return None;
        };
        let (_, key) = self.keys.iter().find(|(k, _)| k == id)?;
        aead::open(key, name.as_bytes(), sealed).map(|p| (Zeroizing::new(p), *id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u8, byte: u8) -> String {
        format!("{id} {}\n", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn keys_wrap_under_the_current_one_and_unwrap_under_any_listed() {
        let old = Keks::parse(&line(1, 7)).expect("old");
        let wrapped = old.wrap("u.alice", b"secret");
        let rotated =
            Keks::parse(&format!("# rotated\n{}{}", line(2, 9), line(1, 7))).expect("both");
        assert_eq!(rotated.current(), 2);
        let (plain, by) = rotated
            .unwrap("u.alice", &wrapped)
            .expect("the old key opens it");
        assert_eq!((plain.as_slice(), by), (&b"secret"[..], 1));
        assert!(
            rotated.unwrap("u.bob", &wrapped).is_none(),
            "bound to its name"
        );
        let rewrapped = rotated.wrap("u.alice", &plain);
        let new_only = Keks::parse(&line(2, 9)).expect("new");
        assert!(
            new_only.unwrap("u.alice", &wrapped).is_none(),
            "the old key is gone"
        );
        assert!(new_only.unwrap("u.alice", &rewrapped).is_some());
    }

    #[test]
    fn a_bad_key_file_is_named() {
        for text in [
            "",
            "x abc",
            "1 notbase64!",
            "1 AAAA",
            &format!("{}{}", line(1, 1), line(1, 2)),
        ] {
            assert!(Keks::parse(text).is_err(), "{text:?}");
        }
    }
}
