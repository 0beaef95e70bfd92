//! A namespace: the prefix of one deployment's stream, subjects, consumers and Redis keys.

use std::fmt;
use std::str::FromStr;

/// The deployment's namespace: `[a-z][a-z0-9_]{0,31}`. Every NATS stream, subject and consumer,
/// the Postgres database (by default) and every Redis key derive from it, so that tests and
/// deployments can share servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

#[derive(Debug, thiserror::Error)]
#[error("namespace {0:?} is invalid: use 1 to 32 of a-z, 0-9 and _, starting with a letter")]
pub struct NamespaceError(String);

impl Namespace {
    pub fn new(name: impl Into<String>) -> Result<Self, NamespaceError> {
        let name = name.into();
        let mut chars = name.chars();
        let ok = name.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(name))
        } else {
            Err(NamespaceError(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names_and_refuses_subject_breakers() {
        assert!(Namespace::new("natter").is_ok());
        assert!(Namespace::new("t_0193ab").is_ok());
        for bad in [
            "",
            "Natter",
            "a.b",
            "a*",
            "a>",
            "a b",
            "1abc",
            &"x".repeat(33),
        ] {
            assert!(Namespace::new(bad).is_err(), "{bad:?}");
        }
    }
}
